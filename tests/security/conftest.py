"""Escape and abuse suite: real functions, deployed through the real platform, doing hostile
things. Every case runs against two servers:

- `sandbox`: `gust serve --sandbox linux`, where the attack must fail;
- `control`: `gust serve --sandbox none` (unconfined), where the same probe must show the
  attack succeeding or the capability existing, or the sandboxed result proves nothing.

The `mode` fixture is parametrised over both; tests branch on `mode.sandboxed`. When the binary
has no `--sandbox` option yet, the sandboxed half skips and the control half runs on a plain
server. The GustServer helper and the failure-log hook come from tests/e2e/conftest.py.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
import requests

HERE = Path(__file__).parent
FUNCTIONS = HERE / "functions"

_spec = importlib.util.spec_from_file_location("gust_e2e_conftest", HERE.parent / "e2e" / "conftest.py")
e2e = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(e2e)

GustServer = e2e.GustServer
unique = e2e.unique
error_of = e2e.error_of
pack = e2e.pack
# A failing test gets the tail of the log of every server it used (Mode.servers included).
pytest_runtest_makereport = e2e.pytest_runtest_makereport

CALL_TIMEOUT_S = 90
# In the server's environment, never in a function's: an instance that can read it has read
# the host's memory of the server (its /proc/<pid>/environ).
CANARY = f"secsuite-canary-{uuid.uuid4().hex}"


def gust_binary() -> str:
    binary = e2e.GUST_BIN
    if not os.access(binary, os.X_OK):
        pytest.exit(f"no gust binary at {binary}: build it or set GUST_BIN", returncode=2)
    return binary


_sandbox_flag: bool | None = None


def has_sandbox_flag() -> bool:
    global _sandbox_flag
    if _sandbox_flag is None:
        done = subprocess.run([gust_binary(), "serve", "--help"], capture_output=True, text=True,
                              timeout=30)
        _sandbox_flag = "--sandbox" in done.stdout + done.stderr
    return _sandbox_flag


def host_ip() -> str:
    """This machine's address on its default route (not loopback)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.connect(("192.0.2.123", 9))  # no packet is sent for a UDP connect
        return s.getsockname()[0]


# -- host-side views ---------------------------------------------------------------------------

def host_status(pid: int | str) -> dict:
    fields = {}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            key, _, value = line.partition(":")
            fields[key] = value.strip()
    except OSError:
        pass
    return fields


def host_cmdline(pid: int | str) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode("utf-8", "replace")
    except OSError:
        return ""


def host_function_of(pid: int | str) -> str | None:
    """The function a host process runs, or None. A sandboxed instance shows it in its /code
    mount (the host path functions/<tenant>/<name>/vN, see docs/security.md's known gaps), which
    also holds for a pre-started instance that got its function later; an unconfined one in the
    environment it was started with."""
    try:
        for line in Path(f"/proc/{pid}/mountinfo").read_text().splitlines():
            fields = line.split()
            if len(fields) > 4 and fields[4] == "/code" and "/functions/" in fields[3]:
                return fields[3].split("/functions/", 1)[1].split("/")[1]
        for item in Path(f"/proc/{pid}/environ").read_bytes().split(b"\0"):
            if item.startswith(b"GUST_FUNCTION_NAME=") and item != b"GUST_FUNCTION_NAME=":
                return item.split(b"=", 1)[1].decode()
    except OSError:
        pass
    return None


def host_processes_with(token: str) -> list[int]:
    """Live (not zombie) host processes whose command line contains `token`."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit() and token in host_cmdline(entry):
            if host_status(entry).get("State", "").startswith("Z"):
                continue
            found.append(int(entry))
    return found


def host_descendants(root: int) -> list[int]:
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            ppid = host_status(entry).get("PPid")
            if ppid:
                children.setdefault(int(ppid), []).append(int(entry))
    out, stack = [], [root]
    while stack:
        for child in children.get(stack.pop(), []):
            out.append(child)
            stack.append(child)
    return out


def kill_pids(pids) -> None:
    for pid in pids:
        try:
            os.kill(pid, 9)
        except OSError:
            pass


def wait_until(predicate, timeout: float, interval: float = 0.1):
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value or time.monotonic() > deadline:
            return value
        time.sleep(interval)


# -- the two modes -----------------------------------------------------------------------------

class Mode:
    """One server (sandboxed or control) and its deployed probe functions."""

    def __init__(self, name: str, server: GustServer, cprobe: Path, build_root: Path):
        self.name = name
        self.sandboxed = name == "sandbox"
        self.server = server
        self.servers = [server]  # for the failure-log hook
        self.cprobe = cprobe
        self.build_root = build_root
        self.deployed: dict[str, str] = {}

    def __repr__(self) -> str:
        return f"Mode({self.name})"

    # deploys

    def bundle(self, source: str = "probe", toml: dict | None = None, extra: dict | None = None) -> Path:
        """A copy of functions/<source> with the C probe and the given gust.toml keys."""
        directory = self.build_root / f"{source}-{uuid.uuid4().hex[:8]}"
        shutil.copytree(FUNCTIONS / source, directory)
        if source == "probe":
            shutil.copy2(self.cprobe, directory / "cprobe")
        settings = {"runtime": "python3", "handler": "main.handler", **(toml or {})}
        lines = []
        for key, value in settings.items():
            lines.append(f"{key} = {json.dumps(value)}")
        (directory / "gust.toml").write_text("\n".join(lines) + "\n")
        for rel, content in (extra or {}).items():
            (directory / rel).write_text(content)
        return directory

    def deploy(self, key: str, source: str = "probe", **toml) -> str:
        """Deploys once per (server, key); returns the function name."""
        if key not in self.deployed:
            name = unique(key)
            self.server.deploy(self.bundle(source, toml), name=name)
            self.deployed[key] = name
        return self.deployed[key]

    def try_deploy(self, key: str, source: str = "probe", **toml):
        """(name, None) or (None, the CLI's complaint) for deploys the server may refuse."""
        name = unique(key)
        done = self.server.cli("--json", "deploy", str(self.bundle(source, toml)), "--name", name)
        if done.returncode != 0:
            return None, (done.stdout + done.stderr).strip()
        self.deployed[key] = name
        return name, None

    # invocations

    def call(self, name: str, check: str, timeout: float = CALL_TIMEOUT_S, **args) -> requests.Response:
        return self.server.post(f"/fn/{name}?check={check}", json=args, timeout=timeout)

    def probe(self, check: str, name: str | None = None, **args) -> dict:
        name = name or self.deploy("probe")
        args.setdefault("mode", self.name)
        r = self.call(name, check, **args)
        assert r.status_code == 200, (self.name, check, r.status_code, r.text[:2000])
        return r.json()["result"]

    def code_dir(self, name: str) -> Path:
        """The host directory holding the live version's code of `name`."""
        dirs = sorted(self.server.data.glob(f"functions/*/{name}/v*"))
        assert dirs, f"no code dir for {name} under {self.server.data}"
        return dirs[-1]

    def assert_healthy(self) -> None:
        """The server answers and an innocent bystander function still works."""
        assert self.server.proc.poll() is None, f"the {self.name} server died"
        r = self.server.get("/healthz", timeout=10)
        assert r.status_code == 200 and r.json() == {"status": "ok"}, (r.status_code, r.text)
        hello = self.deploy("hello", source="hello")
        r = self.server.get(f"/fn/{hello}", timeout=30)
        assert r.status_code == 200 and r.json() == {"hello": "world"}, (r.status_code, r.text[:500])


@pytest.fixture(scope="session")
def cprobe(tmp_path_factory) -> Path:
    if not shutil.which("gcc"):
        pytest.skip("gcc is not installed: the C probe cannot be built")
    out = tmp_path_factory.mktemp("cprobe") / "cprobe"
    done = subprocess.run(["gcc", "-static", "-O1", "-w", "-o", str(out), str(HERE / "cprobe" / "cprobe.c")],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    return out


def start_server(root: Path, mode: str, extra_args: tuple[str, ...] = (), **kw) -> GustServer:
    if mode == "sandbox":
        if not has_sandbox_flag():
            pytest.skip("sandboxed half: this gust has no `serve --sandbox` option yet (the Linux "
                        "sandbox has not landed); only the control half runs")
        extra = ("--sandbox", "linux")
    else:
        extra = ("--sandbox", "none") if has_sandbox_flag() else ()
    os.environ["SECSUITE_HOST_CANARY"] = CANARY  # inherited by the server only (see CANARY)
    return GustServer(gust_binary(), root / "data", root / "work", extra_args=(*extra, *extra_args),
                      **kw).start()


@pytest.fixture(scope="session", params=["sandbox", "control"])
def mode(request, tmp_path_factory, cprobe) -> Mode:
    server = start_server(tmp_path_factory.mktemp(f"gust-{request.param}"), request.param)
    m = Mode(request.param, server, cprobe, tmp_path_factory.mktemp(f"bundles-{request.param}"))
    yield m
    problem = server.shutdown_problem()
    if problem:
        pytest.fail(f"{problem}; its log:\n{server.log()}", pytrace=False)


@pytest.fixture(params=["sandbox", "control"])
def own_mode(request, tmp_path, cprobe) -> Mode:
    """A server of the test's own, for tests that kill or restart it."""
    server = start_server(tmp_path / "gust", request.param)
    m = Mode(request.param, server, cprobe, tmp_path / "bundles")
    m.build_root.mkdir(exist_ok=True)
    yield m
    if server.proc and server.proc.poll() is None:
        server.stop()
