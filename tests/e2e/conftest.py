"""End-to-end fixtures: a real `gust serve` and the real CLI, driven over HTTP and subprocess.

`gust` is one server for the whole session (tests give their functions unique names, so they do
not see each other's state). `gust_factory` starts extra servers for tests that need one of their
own, such as stopping and restarting on the same data directory.

Every request and subprocess carries a timeout, so a hung server fails a test instead of the
suite. When a test that used a server fails, the tail of that server's log is attached to the
report.
"""

from __future__ import annotations

import io
import json
import os
import signal
import socket
import subprocess
import tarfile
import time
import uuid
from pathlib import Path

import pytest
import requests

GUST_BIN = os.environ.get("GUST_BIN", "/work/main/build/dev/src/gust")
FUNCTIONS = Path(__file__).parent / "functions"

START_TIMEOUT_S = 60
REQUEST_TIMEOUT_S = 60
CLI_TIMEOUT_S = 180  # deploys that pip/npm install run inside the CLI call
STOP_GRACE_S = 10


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def unique(prefix: str) -> str:
    """A function name no other test uses: lowercase, digits and '-'."""
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def pack(files: dict[str, bytes | str]) -> bytes:
    """A tar.gz bundle of regular files, as the CLI would upload it."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for name, content in files.items():
            data = content.encode() if isinstance(content, str) else content
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644
            tar.addfile(info, io.BytesIO(data))
    return out.getvalue()


def pack_dir(directory: Path) -> bytes:
    files = {}
    for path in sorted(Path(directory).rglob("*")):
        if path.is_file() and "node_modules" not in path.parts and "__pycache__" not in path.parts:
            files[path.relative_to(directory).as_posix()] = path.read_bytes()
    return pack(files)


class GustServer:
    """One `gust serve` process on a free port, plus the clients a user would use against it."""

    def __init__(self, binary: str, data_dir: Path, work_dir: Path, idle_ttl_s: int = 60,
                 extra_args: tuple[str, ...] = ()):
        self.binary = binary
        self.idle_ttl_s = idle_ttl_s
        self.extra_args = tuple(extra_args)  # more `gust serve` options, e.g. ("--sandbox", "none")
        self.data = Path(data_dir)
        self.work_dir = Path(work_dir)  # the CLI's cwd and HOME: no ./.gust, no ~/.config/gust
        self.work_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = self.work_dir / f"server-{uuid.uuid4().hex[:6]}.log"
        self.proc: subprocess.Popen | None = None
        self.stop_requested = False
        self.port = 0
        self.token = ""

    # -- lifecycle ----------------------------------------------------------------------------

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> "GustServer":
        self.port = free_port()
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            [self.binary, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", str(self.data),
             "--idle-ttl", str(self.idle_ttl_s), *self.extra_args],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, cwd=self.work_dir,
            env=self.cli_env(with_connection=False))
        log.close()
        deadline = time.monotonic() + START_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"gust serve exited with {self.proc.returncode}:\n{self.log()}")
            try:
                r = requests.get(self.url + "/healthz", timeout=2)
                # The banner is flushed just before the server starts waiting for signals; a
                # SIGTERM sent earlier can kill it outright (see
                # test_sigterm_right_after_startup_shuts_down_cleanly), so wait for both.
                if (r.status_code == 200 and r.json() == {"status": "ok"}
                        and "admin token" in self.log()):
                    break
            except requests.RequestException:
                pass
            if time.monotonic() > deadline:
                self.stop()
                raise RuntimeError(f"gust serve did not answer /healthz:\n{self.log()}")
            time.sleep(0.05)
        self.token = (self.data / "admin.token").read_text().strip()
        return self

    def stop(self) -> int | None:
        """SIGTERM, then SIGKILL after a grace period. Returns the exit status."""
        if self.proc is None or self.proc.poll() is not None:
            return self.proc.returncode if self.proc else None
        self.stop_requested = True
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=STOP_GRACE_S)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=STOP_GRACE_S)
        return self.proc.returncode

    def shutdown_problem(self) -> str | None:
        """Stops the server if it still runs; says what went wrong if it died on its own or did
        not exit cleanly on SIGTERM (a sanitizer report, a crash at shutdown)."""
        if self.proc is None:
            return None
        if self.proc.poll() is not None and not self.stop_requested:
            return f"gust serve died during the run (exit status {self.proc.returncode})"
        code = self.stop()
        if code != 0:
            return f"gust serve exited with status {code} after SIGTERM"
        return None

    def log(self, tail_bytes: int = 20000) -> str:
        try:
            data = self.log_path.read_bytes()
        except OSError:
            return ""
        return data[-tail_bytes:].decode("utf-8", "replace")

    # -- clients ------------------------------------------------------------------------------

    def cli_env(self, with_connection: bool = True) -> dict:
        env = {k: v for k, v in os.environ.items() if not k.startswith("GUST_")}
        env["HOME"] = str(self.work_dir)
        env["XDG_CONFIG_HOME"] = str(self.work_dir / ".config")
        if with_connection:
            env["GUST_URL"] = self.url
            env["GUST_TOKEN"] = self.token
        return env

    def cli(self, *args: str, timeout: float = CLI_TIMEOUT_S) -> subprocess.CompletedProcess:
        return subprocess.run([self.binary, *map(str, args)], capture_output=True, text=True,
                              timeout=timeout, cwd=self.work_dir, env=self.cli_env(),
                              stdin=subprocess.DEVNULL)

    def popen_cli(self, *args: str) -> subprocess.Popen:
        return subprocess.Popen([self.binary, *map(str, args)], stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, cwd=self.work_dir,
                                env=self.cli_env(), stdin=subprocess.DEVNULL)

    def deploy(self, directory: Path | str, name: str | None = None, force: bool = False) -> dict:
        """`gust deploy`; `force` for code meant not to load (it skips the deploy's load check),
        as tests of the runtime's failure paths need."""
        args = ["--json", "deploy", str(directory)]
        if name:
            args += ["--name", name]
        if force:
            args.append("--force")
        done = self.cli(*args)
        assert done.returncode == 0, (
            f"gust deploy {directory} failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
        return json.loads(done.stdout)

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        headers.setdefault("Authorization", f"Bearer {self.token}")
        kw.setdefault("timeout", REQUEST_TIMEOUT_S)
        return requests.request(method, self.url + path, headers=headers, **kw)

    def activation(self, activation_id: str, timeout: float = 10) -> dict:
        """One activation by id, waiting briefly for its record, so that a regression in
        read-after-write fails test_activation_is_readable_as_soon_as_its_response_arrives alone
        rather than every test that reads an activation."""
        deadline = time.monotonic() + timeout
        while True:
            r = self.api("GET", f"/api/v1/activations/{activation_id}")
            if r.status_code == 200 or time.monotonic() > deadline:
                assert r.status_code == 200, (activation_id, r.status_code, r.text)
                return r.json()
            time.sleep(0.05)

    def wait_recorded(self, *activation_ids: str) -> None:
        for activation_id in activation_ids:
            self.activation(activation_id)

    def request(self, method: str, path: str, **kw) -> requests.Response:
        """The invoke surface, as an anonymous client reaches it (no token)."""
        kw.setdefault("timeout", REQUEST_TIMEOUT_S)
        return requests.request(method, self.url + path, **kw)

    def get(self, path: str, **kw) -> requests.Response:
        return self.request("GET", path, **kw)

    def post(self, path: str, **kw) -> requests.Response:
        return self.request("POST", path, **kw)


def error_of(response: requests.Response) -> dict:
    """The {"code", "message"} of an error answer, asserting it is the documented JSON shape."""
    assert response.headers.get("content-type", "").startswith("application/json"), (
        response.status_code, response.headers, response.text[:500])
    body = response.json()
    assert set(body) == {"error"}, body
    assert isinstance(body["error"].get("code"), str) and isinstance(body["error"].get("message"), str), body
    return body["error"]


def _binary() -> str:
    if not os.access(GUST_BIN, os.X_OK):
        pytest.exit(f"no gust binary at {GUST_BIN}: build it (cmake --build build/dev) or set GUST_BIN",
                    returncode=2)
    return GUST_BIN


@pytest.fixture(scope="session")
def gust(tmp_path_factory) -> GustServer:
    root = tmp_path_factory.mktemp("gust")
    server = GustServer(_binary(), root / "data", root / "work").start()
    yield server
    problem = server.shutdown_problem()
    if problem:
        pytest.fail(f"{problem}; its log:\n{server.log()}", pytrace=False)


@pytest.fixture
def gust_factory(tmp_path):
    """Starts servers of the test's own; each is stopped when the test ends."""
    started: list[GustServer] = []

    def start(data_dir: Path | None = None, idle_ttl_s: int = 60,
              extra_args: tuple[str, ...] = ()) -> GustServer:
        server = GustServer(_binary(), data_dir or tmp_path / "data", tmp_path / "work",
                            idle_ttl_s=idle_ttl_s, extra_args=extra_args).start()
        started.append(server)
        return server

    start.servers = started
    yield start
    problems = [(server, server.shutdown_problem()) for server in started]
    for server, problem in problems:
        if problem:
            pytest.fail(f"{problem}; its log:\n{server.log()}", pytrace=False)


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    if report.failed:
        servers = []
        for value in getattr(item, "funcargs", {}).values():
            if isinstance(value, GustServer):
                servers.append(value)
            servers.extend(getattr(value, "servers", []))
        for server in servers:
            report.sections.append((f"gust serve log ({server.log_path})", server.log()))
