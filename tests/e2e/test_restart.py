"""A server stopped and started again on the same data directory still has everything deployed."""

import json
import os
import signal
import subprocess
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import FUNCTIONS, GUST_BIN, error_of, free_port


def write_main(directory, answer):
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.py").write_text(
        f"def handler(event, context):\n    return {{'answer': '{answer}'}}\n")
    return directory


def test_restart_keeps_functions_versions_live_alias_and_activations(gust_factory, tmp_path):
    server = gust_factory()
    server.deploy(write_main(tmp_path / "v1", "one"), name="kept")
    server.deploy(write_main(tmp_path / "v2", "two"), name="kept")
    server.deploy(FUNCTIONS / "node-cjs", name="kept-node")
    project = tmp_path / "project"
    (project / "api").mkdir(parents=True)
    (project / "api" / "survivor.py").write_text(
        "def handler(event, context):\n    return 'routed after restart'\n")
    server.deploy(project, name="kept-project")
    assert server.cli("rollback", "kept", "1").returncode == 0
    served = server.get("/fn/kept")
    assert served.json() == {"answer": "one"}
    activation_id = served.headers["X-Gust-Activation-Id"]

    assert server.stop() == 0, server.log()

    again = gust_factory(server.data)
    listed = again.cli("--json", "ls")
    assert listed.returncode == 0, listed.stderr
    functions = {f["name"]: f for f in json.loads(listed.stdout)}
    assert set(functions) == {"kept", "kept-node", "kept-project"}
    assert functions["kept"]["live_version"] == 1
    assert functions["kept"]["versions"] == 2

    versions = json.loads(again.cli("--json", "versions", "kept").stdout)
    assert {v["version"]: v["live"] for v in versions} == {1: True, 2: False}

    assert again.get("/fn/kept").json() == {"answer": "one"}
    assert again.get("/fn/kept@2").json() == {"answer": "two"}
    node = again.get("/fn/kept-node?q=after-restart")
    assert node.status_code == 200
    assert node.json()["q"] == "after-restart"

    assert again.get("/api/survivor").json() == "routed after restart"

    old = again.api("GET", f"/api/v1/activations/{activation_id}")
    assert old.status_code == 200
    assert old.json()["function"] == "kept"


def test_restart_keeps_the_admin_token(gust_factory):
    server = gust_factory()
    token = server.token
    server.stop()
    again = gust_factory(server.data)
    assert again.token == token
    assert again.api("GET", "/api/v1/functions").status_code == 200


def test_removed_function_stays_removed_after_restart(gust_factory, tmp_path):
    server = gust_factory()
    server.deploy(write_main(tmp_path / "v1", "one"), name="gone")
    assert server.cli("rm", "gone").returncode == 0
    server.stop()
    again = gust_factory(server.data)
    r = again.get("/fn/gone")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"


def test_sigterm_stops_the_server_and_its_instances_promptly(gust_factory, tmp_path):
    server = gust_factory()
    name = f"busy-{uuid.uuid4().hex[:8]}"
    server.deploy(FUNCTIONS / "py-misbehave", name=name)
    assert server.get(f"/fn/{name}").status_code == 200
    pids = _instance_pids(name)
    assert pids, "cannot find the instance's process on the host"
    began = time.monotonic()
    assert server.stop() == 0, server.log()
    assert time.monotonic() - began < 10
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and any(_alive(pid) for pid in pids):
        time.sleep(0.1)
    assert not any(_alive(pid) for pid in pids), f"instance {pids} outlived the server"


def _instance_pids(function: str) -> list[int]:
    """Host pids of the processes running `function` (inside a sandbox the function sees only
    its namespace's pids): those whose /code mount is the function's code, or, unconfined, whose
    environment names it."""
    marker = f"GUST_FUNCTION_NAME={function}".encode()
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/mountinfo") as f:
                if any(line.split()[4] == "/code" and f"/{function}/" in line.split()[3]
                       for line in f if len(line.split()) > 4):
                    found.append(int(entry))
                    continue
            with open(f"/proc/{entry}/environ", "rb") as f:
                if marker in f.read().split(b"\0"):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/stat") as f:
            return f.read().split()[2] != "Z"
    except FileNotFoundError:
        return False


def test_second_server_on_a_busy_port_refuses_to_start(gust_factory, tmp_path):
    first = gust_factory()
    second = subprocess.Popen(
        [first.binary, "serve", "--listen", f"127.0.0.1:{first.port}", "--data",
         str(tmp_path / "other-data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=first.work_dir, env=first.cli_env(with_connection=False))
    try:
        output, _ = second.communicate(timeout=5)  # failing to listen takes milliseconds
    except subprocess.TimeoutExpired:
        second.kill()
        output, _ = second.communicate(timeout=10)
        pytest.fail(f"the second server kept running on the busy port:\n{output.decode()}")
    finally:
        if second.poll() is None:
            second.kill()
            second.wait(timeout=10)
    assert second.returncode != 0
    assert str(first.port) in output.decode()


def test_sigterm_lets_an_invocation_in_flight_finish(gust_factory):
    server = gust_factory()
    server.deploy(FUNCTIONS / "py-throttle", name="draining")
    with ThreadPoolExecutor(max_workers=1) as pool:
        in_flight = pool.submit(server.get, "/fn/draining?s=2")
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            pools = server.api("GET", "/api/v1/instances").json()["pools"]
            if any(p["function"] == "draining" and p["busy"] == 1 for p in pools):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the call never started")
        began = time.monotonic()
        assert server.stop() == 0, server.log()
        answer = in_flight.result(timeout=30)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"slept": True}
    # A draining server tells keep-alive clients not to send another request on this connection.
    assert answer.headers.get("Connection", "").lower() == "close"
    assert time.monotonic() - began < 10


def test_sigterm_right_after_startup_shuts_down_cleanly(tmp_path):
    for attempt in range(30):  # each hits the window about one time in four
        port = free_port()
        server = subprocess.Popen(
            [GUST_BIN, "serve", "--listen", f"127.0.0.1:{port}", "--data", str(tmp_path / f"d{attempt}")],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
        try:
            with requests.Session() as session:
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if session.get(f"http://127.0.0.1:{port}/healthz", timeout=2).status_code == 200:
                            break
                    except requests.RequestException:
                        pass
                    assert time.monotonic() < deadline and server.poll() is None, "never answered"
                    time.sleep(0.002)
            server.send_signal(signal.SIGTERM)  # as a supervisor would, once healthy
            code = server.wait(timeout=20)
        finally:
            if server.poll() is None:
                server.kill()
                server.wait(timeout=10)
        assert code == 0, f"attempt {attempt}: SIGTERM after /healthz answered gave exit status {code}"


def test_sigterm_ends_a_live_tail_instead_of_waiting_for_it(gust_factory):
    """A `gust logs -f` whose client vanished unseen (killed, its socket never written to again)
    used to hold the drain for its whole 10 s bound; a draining server ends live tails."""
    server = gust_factory()
    name = f"tailed-{uuid.uuid4().hex[:8]}"
    server.deploy(FUNCTIONS / "py-misbehave", name=name)
    assert server.get(f"/fn/{name}").status_code == 200
    follower = server.popen_cli("logs", name, "-f")
    try:
        time.sleep(1)  # connected and polling
        assert follower.poll() is None, follower.stderr.read()
    finally:
        follower.kill()
        follower.wait(timeout=10)
        follower.stdout.close()
        follower.stderr.close()
    began = time.monotonic()
    assert server.stop() == 0, server.log()
    assert time.monotonic() - began < 5, server.log()
