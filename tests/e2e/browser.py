"""A real browser for the end-to-end tests: pages on origins of their own, and fetch from them.

`browser_fetch(page_origin, url, ...)` runs tests/browser/cors_probe.mjs, which opens a page on
`page_origin` in Debian's headless chromium (driven by playwright-core) and calls `fetch(url)`
from it, so what passes or is blocked is decided by Chromium's own CORS code, not by a model of
it. The pages come from `PageServer`: a tiny HTML page on 127.0.0.1 and a free port of its own,
which is an origin of its own. The fixtures `page_origin` and `other_page_origin` give two.

Nothing here skips: a machine without chromium or playwright-core fails the test and says to
run scripts/deps.sh (which `make test` runs first).

Fixtures are defined here, not in conftest.py; a test module imports the ones it uses.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest

BROWSER_DIR = Path(__file__).resolve().parents[1] / "browser"
PROBE = BROWSER_DIR / "cors_probe.mjs"
CHROMIUM = os.environ.get("GUST_CHROMIUM", "/usr/bin/chromium")

PROBE_TIMEOUT_MS = 18000  # the probe's own watchdog
PROBE_KILL_S = 25  # a probe that outlives its watchdog is killed here

PAGE_HTML = b"<!doctype html><meta charset=utf-8><title>gust browser test page</title>\n"


def require_browser(chromium: str = CHROMIUM) -> None:
    """Fails the calling test, naming the fix, unless the probe can run here."""
    missing = []
    if not os.access(chromium, os.X_OK):
        missing.append(f"chromium at {chromium}")
    if shutil.which("node") is None:
        missing.append("node")
    if not (BROWSER_DIR / "node_modules" / "playwright-core" / "package.json").is_file():
        missing.append(f"playwright-core in {BROWSER_DIR / 'node_modules'}")
    if missing:
        pytest.fail(f"the browser tests need {', '.join(missing)}: run scripts/deps.sh "
                    "(make test runs it first)", pytrace=False)


def browser_fetch(page_origin: str, url: str, method: str = "GET",
                  headers: dict[str, str] | None = None, credentials: str = "omit",
                  body: str | None = None) -> dict:
    """`fetch(url, {method, headers, credentials, body})` run by a page on `page_origin`.

    Returns the probe's answer: {"ok": True, "status", "body", "headers" (those JavaScript may
    read), "preflight", "cors_error": None} or {"ok": False, "error": "TypeError: Failed to
    fetch", "preflight", "cors_error"} when the browser blocked it. A probe that could not do its
    job (no browser, page not loading, no answer from `url`) fails the test instead.
    """
    require_browser()
    args = ["node", str(PROBE), "--page", page_origin.rstrip("/") + "/", "--url", url,
            "--method", method, "--credentials", credentials, "--chromium", CHROMIUM,
            "--timeout-ms", str(PROBE_TIMEOUT_MS)]
    for name, value in (headers or {}).items():
        args += ["--header", f"{name}: {value}"]
    if body is not None:
        args += ["--body", body]
    try:
        done = subprocess.run(args, capture_output=True, text=True, timeout=PROBE_KILL_S,
                              stdin=subprocess.DEVNULL, cwd=BROWSER_DIR)
    except subprocess.TimeoutExpired as e:
        pytest.fail(f"cors_probe.mjs still ran after {PROBE_KILL_S} s: {e.stderr!r}", pytrace=False)
    lines = done.stdout.strip().splitlines()
    try:
        result = json.loads(lines[-1]) if lines else None
    except json.JSONDecodeError:
        result = None
    if done.returncode != 0 or not isinstance(result, dict) or "probe_error" in result:
        pytest.fail(f"cors_probe.mjs failed (exit {done.returncode}) for {method} {url} from "
                    f"{page_origin}:\nstdout: {done.stdout}\nstderr: {done.stderr[-4000:]}",
                    pytrace=False)
    return result


class _ServingThread:
    """A ThreadingHTTPServer on 127.0.0.1 and a free port, served from a daemon thread."""

    def __init__(self, handler: type[BaseHTTPRequestHandler]):
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.httpd.daemon_threads = True
        self.port = self.httpd.server_address[1]
        self.thread = threading.Thread(target=self.httpd.serve_forever,
                                       kwargs={"poll_interval": 0.1}, daemon=True)

    @property
    def origin(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.httpd.shutdown()
        self.httpd.server_close()
        self.thread.join(timeout=5)


class _PageHandler(BaseHTTPRequestHandler):
    def do_GET(self):  # noqa: N802 (http.server's naming)
        self.send_response(200)
        self.send_header("Content-Type", "text/html; charset=utf-8")
        self.send_header("Content-Length", str(len(PAGE_HTML)))
        self.end_headers()
        self.wfile.write(PAGE_HTML)

    def log_message(self, *args):
        pass


class PageServer(_ServingThread):
    """Serves a tiny HTML page at `/`; its `origin` is the page's origin."""

    def __init__(self):
        super().__init__(_PageHandler)


@pytest.fixture(scope="session")
def page_origin() -> str:
    """Origin A: a page on 127.0.0.1 and a port of its own."""
    with PageServer() as server:
        yield server.origin


@pytest.fixture(scope="session")
def other_page_origin() -> str:
    """Origin B: another page, on another port, so another origin than A's."""
    with PageServer() as server:
        yield server.origin
