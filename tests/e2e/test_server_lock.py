"""One server per data dir (issue #15): a second `gust serve` on a data dir in use refuses to
start, naming the holder's pid, instead of reclaiming the first one's instances and sharing its
store; a server killed without a chance to clean up does not block the next start."""

from __future__ import annotations

import signal
import subprocess

import pytest

from conftest import free_port, pack, unique

HELLO = {
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
    # An id per instance (pids repeat across sandboxes: each has its own pid namespace).
    "main.py": "import uuid\nINSTANCE = uuid.uuid4().hex\n"
               "def handler(event, context):\n    return {'instance': INSTANCE}\n",
}


def second_serve(first, data_dir) -> tuple[int, str]:
    """Runs another `gust serve` on `data_dir` (on a port of its own); its exit status and
    output. A refusal takes well under the timeout; a server that starts is killed."""
    proc = subprocess.Popen(
        [first.binary, "serve", "--listen", f"127.0.0.1:{free_port()}", "--data", str(data_dir)],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        cwd=first.work_dir, env=first.cli_env(with_connection=False))
    try:
        output, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.send_signal(signal.SIGTERM)
        output, _ = proc.communicate(timeout=30)
        pytest.fail(f"a second server started on a data dir in use:\n{output.decode()}")
    return proc.returncode, output.decode()


def test_a_second_server_on_the_same_data_dir_refuses_and_the_first_keeps_serving(gust_factory):
    first = gust_factory()
    name = unique("lock-hello")
    r = first.api("POST", f"/api/v1/functions/{name}/versions", data=pack(HELLO), timeout=180)
    assert r.status_code == 201, r.text
    before = first.get(f"/fn/{name}")
    assert before.status_code == 200, before.text

    code, output = second_serve(first, first.data)
    assert code != 0, output
    assert f"pid {first.proc.pid}" in output and str(first.data) in output, output

    assert first.proc.poll() is None, "the first server died"
    assert first.get("/healthz").json() == {"status": "ok"}
    after = first.get(f"/fn/{name}")
    assert after.status_code == 200, after.text
    # The same warm instance answers: the second server did not reclaim it.
    assert after.json()["instance"] == before.json()["instance"]
    activation = first.activation(after.headers["X-Gust-Activation-Id"])
    assert activation["cold"] is False, activation


def test_a_killed_servers_lock_does_not_block_the_next_start(gust_factory):
    first = gust_factory()
    first.proc.send_signal(signal.SIGKILL)
    first.proc.wait(timeout=30)
    gust_factory.servers.remove(first)  # killed on purpose: not a crash for the fixture to report
    assert (first.data / "server.lock").exists()
    again = gust_factory(data_dir=first.data)
    assert again.get("/healthz").json() == {"status": "ok"}
