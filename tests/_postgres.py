"""A throw-away PostgreSQL cluster on 127.0.0.1 for the tests and the fixture scripts (standard library only).

Uses Debian's server binaries (``/usr/lib/postgresql/<version>/bin``: ``initdb``, ``pg_ctl``,
``psql``, ``pg_dump``). The cluster lives in a temporary folder, listens on a free TCP port of the
loopback interface only (no Unix socket outside its folder), asks for a password
(``scram-sha-256``), logs every statement (:attr:`Cluster.log`) and is removed by
:meth:`Cluster.stop`. The server refuses to run as root, so under root the cluster belongs to the
``postgres`` system user (``runuser -u postgres``).

Used by ``tests/conftest.py`` (the ``postgres`` fixture) and by
``tests/fixtures/make_phoenix_pg.py`` (which runs in a side virtual environment: keep this module
free of the kit's and third-party imports).
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path

USER = "forensics"
PASSWORD = "forensics-test"  # a throw-away cluster on loopback only


def server_bin() -> Path | None:
    """The newest ``/usr/lib/postgresql/<version>/bin`` holding ``initdb`` and ``pg_ctl``, or None."""
    found = [Path(d) for d in glob.glob("/usr/lib/postgresql/*/bin") if (Path(d) / "initdb").is_file() and (Path(d) / "pg_ctl").is_file()]
    return max(found, key=lambda p: int(p.parent.name) if p.parent.name.isdigit() else 0) if found else None


def why_not() -> str | None:
    """Why no cluster can be started here (None: it can)."""
    if server_bin() is None:
        return "PostgreSQL's server binaries are not installed (/usr/lib/postgresql/*/bin/initdb; Debian: apt-get install postgresql)"
    if os.geteuid() == 0:
        if shutil.which("runuser") is None:
            return "running as root without `runuser` to start PostgreSQL as its own user"
        try:
            import pwd

            pwd.getpwnam("postgres")
        except KeyError:
            return "running as root and there is no `postgres` system user to own the cluster"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@dataclass
class Cluster:
    """A running cluster: ``url(db)`` connects to database ``db`` as :data:`USER`."""

    bindir: Path
    root: Path
    port: int

    @property
    def data(self) -> Path:
        return self.root / "data"

    @property
    def log(self) -> Path:
        """The server's log: every statement it ran (``log_statement=all``), for the tests to read."""
        return self.root / "server.log"

    def url(self, db: str = USER) -> str:
        return f"postgresql://{USER}:{PASSWORD}@127.0.0.1:{self.port}/{db}"

    def env(self) -> dict[str, str]:
        """Client environment (``psql``, ``pg_dump``): host, port, user and password of the cluster."""
        return dict(os.environ, PGHOST="127.0.0.1", PGPORT=str(self.port), PGUSER=USER, PGPASSWORD=PASSWORD)

    def client(self, tool: str, *args: str, check: bool = True) -> subprocess.CompletedProcess:
        """Run a client program (``psql``, ``pg_dump``, ``createdb``) against the cluster."""
        return subprocess.run([str(self.bindir / tool), *args], env=self.env(), capture_output=True, text=True, check=check)

    def createdb(self, name: str) -> str:
        """A new empty database; returns its URL."""
        self.client("createdb", name)
        return self.url(name)

    def restore(self, dump: Path, name: str) -> str:
        """A new database restored from a plain ``pg_dump`` (``.sql`` or ``.sql.gz``); returns its URL."""
        url = self.createdb(name)
        sql = dump
        if dump.suffix == ".gz":
            import gzip

            sql = self.root / (dump.stem)
            sql.write_bytes(gzip.decompress(dump.read_bytes()))
        r = self.client("psql", "-q", "-X", "-v", "ON_ERROR_STOP=1", "-d", name, "-f", str(sql), check=False)
        if r.returncode != 0:
            raise RuntimeError(f"restoring {dump} failed: {r.stderr.strip()[-2000:]}")
        return url

    def stop(self) -> None:
        """Stop the server and remove the cluster's folder."""
        subprocess.run(_as_owner([str(self.bindir / "pg_ctl"), "-D", str(self.data), "-m", "fast", "-w", "stop"]),
                       capture_output=True, check=False)
        shutil.rmtree(self.root, ignore_errors=True)


def _as_owner(cmd: list[str]) -> list[str]:
    return ["runuser", "-u", "postgres", "--", *cmd] if os.geteuid() == 0 else cmd


def start() -> Cluster:
    """Start a new cluster (raises RuntimeError with the server's log when it does not start)."""
    why = why_not()
    if why:
        raise RuntimeError(why)
    bindir = server_bin()
    assert bindir is not None
    root = Path(tempfile.mkdtemp(prefix="forensics-pg-"))
    pwfile = root / "pw"
    pwfile.write_text(PASSWORD + "\n")
    if os.geteuid() == 0:
        shutil.chown(root, "postgres", "postgres")
        shutil.chown(pwfile, "postgres", "postgres")
    cluster = Cluster(bindir, root, _free_port())
    log = cluster.log
    try:
        subprocess.run(_as_owner([str(bindir / "initdb"), "-D", str(cluster.data), "-U", USER, f"--pwfile={pwfile}",
                                  "--auth=scram-sha-256", "-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]),
                       capture_output=True, text=True, check=True)
        opts = f"-c listen_addresses=127.0.0.1 -p {cluster.port} -k {root} -c fsync=off -c timezone=UTC -c log_statement=all"
        subprocess.run(_as_owner([str(bindir / "pg_ctl"), "-D", str(cluster.data), "-l", str(log), "-o", opts, "-w",
                                  "-t", "60", "start"]), capture_output=True, text=True, check=True)
    except subprocess.CalledProcessError as e:
        text = (e.stderr or "") + (log.read_text() if log.exists() else "")
        cluster.stop()
        raise RuntimeError(f"PostgreSQL did not start: {text.strip()[-2000:]}") from None
    for _ in range(50):
        if cluster.client("psql", "-X", "-d", "postgres", "-c", "SELECT 1", check=False).returncode == 0:
            return cluster
        time.sleep(0.2)
    cluster.stop()
    raise RuntimeError("PostgreSQL started but does not accept connections")
