"""Headless Chromium driven over the DevTools protocol, for the browser tests and the README's screenshots.

Uses Debian's ``chromium`` (``apt-get install chromium``; ``chromium-browser`` and ``google-chrome``
are found too) and the ``websocket-client`` package. :func:`open_browser` starts one browser with
a throw-away profile and DevTools on a free port of 127.0.0.1; :meth:`Browser.load` opens a page at
a given viewport, waits for its load event, and returns a :class:`Page` holding the console errors
and uncaught exceptions it raised, from which :meth:`Page.evaluate` reads the DOM (element
positions) and :meth:`Page.screenshot` takes the viewport's PNG.

Real time, not ``--virtual-time-budget``: a page is read after its load event (FORMATS.md,
"Pitfalls").
"""

from __future__ import annotations

import base64
import json
import shutil
import subprocess
import tempfile
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

#: Flags for a quiet, reproducible headless run: no network beyond the page, no GPU, no sandbox (CI runs as root).
FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", "--no-first-run", "--hide-scrollbars", "--disable-extensions", "--mute-audio")


def binary() -> str | None:
    """The Chromium executable on PATH, or None."""
    for name in ("chromium", "chromium-browser", "google-chrome"):
        path = shutil.which(name)
        if path:
            return path
    return None


def why_not() -> str | None:
    """Why no browser can be driven here (None: it can)."""
    if binary() is None:
        return "Chromium is not installed (Debian: apt-get install chromium)"
    try:
        import websocket  # noqa: F401
    except ImportError:
        return "the websocket-client package is not installed"
    return None


@dataclass
class Page:
    """One loaded page: its DevTools connection and what it logged as errors."""

    ws: Any
    errors: list[str] = field(default_factory=list)
    _next: int = 100

    def call(self, method: str, **params: Any) -> dict[str, Any]:
        """Send one DevTools command and return its result, collecting the error events read meanwhile."""
        self._next += 1
        self.ws.send(json.dumps({"id": self._next, "method": method, "params": params}))
        while True:
            msg = json.loads(self.ws.recv())
            if msg.get("id") == self._next:
                if "error" in msg:
                    raise RuntimeError(f"{method}: {msg['error']}")
                return msg.get("result", {})
            _collect(msg, self.errors)

    def evaluate(self, expression: str) -> Any:
        """The value of a JavaScript expression (returned by value: JSON-like)."""
        res = self.call("Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True)
        if "exceptionDetails" in res:
            raise RuntimeError(f"evaluating {expression[:80]!r}: {res['exceptionDetails']}")
        return res["result"].get("value")

    def screenshot(self, path: str | Path) -> Path:
        """The viewport as a PNG file."""
        data = self.call("Page.captureScreenshot", format="png")["data"]
        out = Path(path)
        out.write_bytes(base64.b64decode(data))
        return out

    def close(self) -> None:
        self.ws.close()


def _collect(msg: dict[str, Any], errors: list[str]) -> None:
    """Console errors, uncaught exceptions and error log entries (failed loads, CSP, ...)."""
    method, params = msg.get("method"), msg.get("params", {})
    if method == "Runtime.consoleAPICalled" and params.get("type") in ("error", "assert"):
        errors.append("console: " + " ".join(str(a.get("value", a.get("description", ""))) for a in params.get("args", [])))
    elif method == "Runtime.exceptionThrown":
        errors.append("exception: " + str(params.get("exceptionDetails", {}).get("text")))
    elif method == "Log.entryAdded" and params.get("entry", {}).get("level") == "error":
        errors.append("log: " + str(params["entry"].get("text")))


@dataclass
class Browser:
    """A headless Chromium with DevTools on ``port``; :meth:`close` stops it and removes its profile."""

    process: subprocess.Popen[bytes]
    port: int
    profile: Path

    def load(self, url: str, *, width: int = 1280, height: int = 800, timeout: float = 30.0) -> Page:
        """Open ``url`` in a new tab at a ``width`` x ``height`` viewport, after its load event."""
        import websocket

        req = urllib.request.Request(f"http://127.0.0.1:{self.port}/json/new?about:blank", method="PUT")
        with urllib.request.urlopen(req, timeout=10) as resp:
            target = json.loads(resp.read())
        page = Page(websocket.create_connection(target["webSocketDebuggerUrl"], timeout=timeout, suppress_origin=True))
        for domain in ("Page.enable", "Runtime.enable", "Log.enable"):
            page.call(domain)
        page.call("Emulation.setDeviceMetricsOverride", width=width, height=height, deviceScaleFactor=1, mobile=False)
        page.call("Page.navigate", url=url)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            msg = json.loads(page.ws.recv())
            if msg.get("method") == "Page.loadEventFired":
                return page
            _collect(msg, page.errors)
        raise TimeoutError(f"{url} did not load within {timeout} s")

    def close(self) -> None:
        self.process.terminate()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait(timeout=10)
        shutil.rmtree(self.profile, ignore_errors=True)


def open_browser(timeout: float = 30.0) -> Browser:
    """Start headless Chromium with a throw-away profile and DevTools on a free port of 127.0.0.1."""
    exe = binary()
    if exe is None:
        raise RuntimeError(why_not())
    profile = Path(tempfile.mkdtemp(prefix="forensics-chromium-"))
    proc = subprocess.Popen([exe, *FLAGS, f"--user-data-dir={profile}", "--remote-debugging-address=127.0.0.1",
                             "--remote-debugging-port=0", "about:blank"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    port_file = profile / "DevToolsActivePort"  # Chromium writes the port it chose here
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if port_file.is_file() and port_file.read_text().strip():
            return Browser(proc, int(port_file.read_text().split()[0]), profile)
        if proc.poll() is not None:
            break
        time.sleep(0.1)
    proc.kill()
    shutil.rmtree(profile, ignore_errors=True)
    raise RuntimeError(f"Chromium ({exe}) did not open its DevTools port within {timeout} s")
