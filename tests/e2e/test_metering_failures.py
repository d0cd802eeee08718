"""Failed activations are metered like successful ones: a function that raised, crashed, ran
out of memory or timed out has the CPU it used and the peak memory it reached in its record and
in the usage roll-ups (issue 16, "Failed activations are metered as zero").

Each function prints what it measured itself (`burned_ms` = its own process time since the
handler began, `allocated_mb` = what it holds) before it fails, so the record is checked against
the function's own count rather than against how fast this machine happens to be. The e2e
server runs the Linux sandbox (the default), so these readings come from the instance's cgroup.
"""

from __future__ import annotations

import re

import pytest

from conftest import GustServer, error_of, unique

# Python spins on one thread: its CPU cannot exceed the time it ran (plus the counters' grain).
SLACK_MS = 20

PY_FAILING = r'''
import os
import time

START = [0.0]


def burned_ms():
    return (time.process_time() - START[0]) * 1000


def burn(ms):
    x = 0
    until = time.process_time() + ms / 1000
    while time.process_time() < until:
        for i in range(2000):
            x += i * i


def handler(event, context):
    START[0] = time.process_time()
    do = (event.get("queryStringParameters") or {}).get("do")
    if do == "raise":
        burn(300)
        print(f"burned_ms {burned_ms():.3f}", flush=True)
        raise RuntimeError("failed after its work")
    if do == "exit":
        burn(300)
        print(f"burned_ms {burned_ms():.3f}", flush=True)
        os._exit(1)
    if do == "spin":
        while True:
            burn(50)
            print(f"burned_ms {burned_ms():.3f}", flush=True)
    if do == "oom":
        hoard = []
        while True:
            hoard.append(bytearray(b"x") * (8 << 20))  # filled, so every page is resident
            print(f"allocated_mb {8 * len(hoard)}", flush=True)
    return {"ok": True}
'''

NODE_THROWING = r'''
exports.handler = async () => {
  const start = process.cpuUsage();
  const burned = () => { const used = process.cpuUsage(start); return (used.user + used.system) / 1000; };
  let x = 0;
  while (burned() < 300) {
    for (let i = 0; i < 20000; i++) x += i * i;
  }
  console.log(`burned_ms ${burned().toFixed(3)}`);
  throw new Error("failed after its work " + (x > 0));
};
'''


def deploy_python(server: GustServer, root, prefix: str, **toml) -> str:
    name = unique(prefix)
    directory = root / name
    directory.mkdir()
    (directory / "main.py").write_text(PY_FAILING)
    settings = {"runtime": '"python3"', "handler": '"main.handler"', **toml}
    (directory / "gust.toml").write_text("".join(f"{k} = {v}\n" for k, v in settings.items()))
    server.deploy(directory, name=name)
    return name


@pytest.fixture(scope="module")
def failing(gust, tmp_path_factory) -> str:
    """Raises, exits or runs out of memory on request: 128 MB, 30 s to do it in."""
    return deploy_python(gust, tmp_path_factory.mktemp("failing"), "meter-fail", memory_mb=128,
                         timeout_s=30)


def last_logged(record: dict, what: str) -> float:
    """The last `<what> N` line the function printed, as its record's logs hold it."""
    values = re.findall(rf" stdout {what} ([0-9.]+)$", record.get("logs") or "", re.MULTILINE)
    assert values, f"the function's '{what}' lines are missing from its logs: {record}"
    return float(values[-1])


def cpu_ms(record: dict) -> float:
    return record["cpu_user_ms"] + record["cpu_sys_ms"]


def invoke(server: GustServer, path: str) -> tuple:
    r = server.get(path)
    return r, server.activation(r.headers["X-Gust-Activation-Id"])


def assert_cpu_is_what_it_burned(record: dict, single_threaded: bool = True) -> None:
    burned = last_logged(record, "burned_ms")
    assert burned >= 50, record
    # The record spans more than the function's own count (dispatch to the end), never less.
    assert cpu_ms(record) >= burned - 1, (burned, record)
    if single_threaded:
        assert cpu_ms(record) <= record["duration_ms"] + SLACK_MS, record


def test_raising_python_function_is_metered_with_the_cpu_it_burned(gust, failing):
    r, record = invoke(gust, f"/fn/{failing}?do=raise")
    assert r.status_code == 502, r.text
    assert record["status"] == "error", record
    assert cpu_ms(record) >= 150, record
    assert_cpu_is_what_it_burned(record)
    assert record["peak_memory_mb"] > 0, record


def test_python_process_that_exits_mid_invoke_is_metered(gust, failing):
    r, record = invoke(gust, f"/fn/{failing}?do=exit")
    assert r.status_code == 502, r.text
    assert "exit code 1" in error_of(r)["message"], r.text
    assert record["status"] == "crashed", record
    assert_cpu_is_what_it_burned(record)
    assert record["peak_memory_mb"] > 0, record


def test_out_of_memory_kill_records_the_peak_at_the_limit(gust, failing):
    r, record = invoke(gust, f"/fn/{failing}?do=oom")
    assert r.status_code == 502, r.text
    assert "out of memory" in error_of(r)["message"].lower(), r.text
    assert record["status"] == "crashed", record
    held = last_logged(record, "allocated_mb")
    # The cgroup's peak: at least what the function held when it was killed, at most the limit.
    assert max(100.0, held) <= record["peak_memory_mb"] <= 128, (held, record)
    assert cpu_ms(record) > 0, record


def test_timed_out_function_is_metered_up_to_its_timeout(gust, tmp_path):
    name = deploy_python(gust, tmp_path, "meter-spin", memory_mb=128, timeout_s=1)
    r, record = invoke(gust, f"/fn/{name}?do=spin")
    assert r.status_code == 504, r.text
    assert record["status"] == "timeout", record
    assert_cpu_is_what_it_burned(record)
    assert record["peak_memory_mb"] > 0, record
    # Billed for the time it ran, which the timeout ends.
    assert record["billed_ms"] == 1000, record


def test_throwing_node_function_is_metered_with_the_cpu_it_burned(gust, tmp_path):
    (tmp_path / "index.js").write_text(NODE_THROWING)
    (tmp_path / "gust.toml").write_text('runtime = "node"\nhandler = "index.handler"\n')
    name = unique("meter-node-throw")
    gust.deploy(tmp_path, name=name)
    r, record = invoke(gust, f"/fn/{name}")
    assert r.status_code == 502, r.text
    assert record["status"] == "error", record
    # Node's own threads (GC, the compiler) count too, so no upper bound by wall time.
    assert_cpu_is_what_it_burned(record, single_threaded=False)
    assert record["peak_memory_mb"] > 0, record


def test_usage_roll_up_counts_the_cpu_of_failed_activations(gust, tmp_path):
    name = deploy_python(gust, tmp_path, "meter-fail-usage", memory_mb=128, timeout_s=30)
    records = [invoke(gust, f"/fn/{name}?do={do}")[1] for do in ("raise", "exit")]
    assert {r["status"] for r in records} == {"error", "crashed"}, records
    usage = gust.api("GET", "/api/v1/usage", params={"by": "function", "since": "24h"})
    assert usage.status_code == 200, usage.text
    row = next(row for row in usage.json()["rows"] if row["group"] == name)
    assert row["errors"] == 2, row
    expected = sum(cpu_ms(r) for r in records)
    assert expected >= 2 * 300, records
    assert row["cpu_user_ms"] + row["cpu_sys_ms"] == pytest.approx(expected, abs=0.01), (row, records)
