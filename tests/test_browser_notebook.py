"""The analyst's notebook in a browser: the executed notebook that ``python -m analysis investigate`` writes,
opened in JupyterLab (a real server on 127.0.0.1) and as ``notebook.html``, in headless Chromium.

Both must show the interactive tables (DataTables made by itables: the affected events, the requests
before and after, the timeline) and the interactive timeline figure (plotly), offline. JupyterLab runs
the tables' scripts only for a trusted notebook, so the test trusts it first (``jupyter trust``), as the
README tells a user to.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
CASE = ROOT / "sample_data" / "escalation_storm"
COUNTS_JS = ("JSON.stringify({figures: document.querySelectorAll('.js-plotly-plot').length,"
             " tables: document.querySelectorAll('table.dataTable').length,"
             " stuck: document.body.innerText.includes('Loading ITables')})")

pytestmark = pytest.mark.slow


@pytest.fixture(scope="module")
def report_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The escalation sample investigated through the command, as a user runs it."""
    out = tmp_path_factory.mktemp("escalation")
    subprocess.run([sys.executable, "-m", "analysis", "investigate", "--events", str(CASE / "events.parquet"),
                    "--changes", str(CASE / "changes.csv"), "--pattern", "escalation", "--out", str(out), "--quiet"],
                   cwd=ROOT, check=True, capture_output=True, timeout=600)
    return out


def _wait_for(page: Any, timeout: float = 90.0) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    counts: dict[str, Any] = {}
    while time.monotonic() < deadline:
        counts = json.loads(page.evaluate(COUNTS_JS))
        if counts["figures"] >= 1 and counts["tables"] >= 3:
            break
        time.sleep(1.0)
    return counts


def test_notebook_html_keeps_its_tables_and_figure_interactive_offline(chromium: Any, report_dir: Path) -> None:
    page = chromium.load((report_dir / "notebook.html").as_uri())
    try:
        counts = _wait_for(page, timeout=30.0)
        plotly = page.evaluate("typeof window.Plotly")
    finally:
        page.close()
    assert counts["tables"] >= 3 and counts["figures"] >= 1 and not counts["stuck"], counts
    assert plotly == "object"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def lab(report_dir: Path, tmp_path_factory: pytest.TempPathFactory):
    """A JupyterLab server on 127.0.0.1 serving the report directory, with its own config and data dirs."""
    home = tmp_path_factory.mktemp("jupyter")
    env = {**os.environ, "JUPYTER_DATA_DIR": str(home / "data"), "JUPYTER_CONFIG_DIR": str(home / "config"),
           "JUPYTER_RUNTIME_DIR": str(home / "runtime"), "JUPYTERLAB_SETTINGS_DIR": str(home / "settings"),
           "JUPYTERLAB_WORKSPACES_DIR": str(home / "workspaces")}
    jupyter = [sys.executable, "-m", "jupyter"]
    subprocess.run([*jupyter, "trust", str(report_dir / "escalation_storm.ipynb")], env=env, check=True, capture_output=True,
                   timeout=120)
    port, token = _free_port(), "forensics-test"
    log = open(home / "server.log", "wb")
    server = subprocess.Popen([*jupyter, "lab", "--no-browser", "--allow-root", "--ip", "127.0.0.1", f"--port={port}",
                               f"--IdentityProvider.token={token}", f"--ServerApp.root_dir={report_dir}"],
                              env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/status?token={token}", timeout=2):
                    break
            except OSError:
                if time.monotonic() > deadline or server.poll() is not None:
                    raise RuntimeError(f"JupyterLab did not start: {(home / 'server.log').read_text()[-2000:]}")
                time.sleep(0.5)
        yield f"http://127.0.0.1:{port}", token
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
        log.close()


def test_the_executed_notebook_in_jupyterlab_shows_its_interactive_tables_and_figure(chromium: Any, lab: Any) -> None:
    url, token = lab
    page = chromium.load(f"{url}/lab/tree/escalation_storm.ipynb?token={token}", timeout=60.0)
    try:
        counts = _wait_for(page)
    finally:
        page.close()
    assert counts["tables"] >= 3 and counts["figures"] >= 1 and not counts["stuck"], counts
