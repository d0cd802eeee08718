"""Metering, end to end: what each activation record says about CPU, memory, billed time, the
queue, bytes and traces, measured against real functions; usage roll-ups and prices checked
against the records they add up; and no record lost when the server is killed with SIGKILL.

The contract is issue 5 ("Per activation", "Durable", "Usage and cost"): billed_ms is the
dispatch -> finish time rounded up to 1 ms, gb_s = memory_mb / 1024 * billed_ms / 1000, CPU and
peak memory are the instance's during that one activation, and usage totals agree exactly with
the sum of the activation records.
"""

from __future__ import annotations

import json
import math
import re
import signal
import stat
import subprocess
import threading
import time
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime, timedelta, timezone

import pytest
import requests

from conftest import FUNCTIONS, GUST_BIN, GustServer, free_port, unique

RFC3339_US = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}(Z|[+-]\d\d:\d\d)$")
HEX32 = re.compile(r"^[0-9a-f]{32}$")
TRACEPARENT = re.compile(r"^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$")
TIMES = ("received_at", "dispatched_at", "started_at", "finished_at", "responded_at")


def when(stamp: str) -> datetime:
    assert RFC3339_US.match(stamp), stamp
    return datetime.fromisoformat(stamp.replace("Z", "+00:00"))


def ms_between(earlier: str, later: str) -> float:
    return (when(later) - when(earlier)).total_seconds() * 1000


def call(server: GustServer, path: str, **kw) -> tuple[requests.Response, dict]:
    """One request on the invoke surface and the activation record it produced."""
    response = server.get(path, **kw)
    activation_id = response.headers["X-Gust-Activation-Id"]
    return response, server.activation(activation_id)


def all_activations(server: GustServer, function: str | None = None) -> list[dict]:
    """Every activation record the server lists, following cursors."""
    records, cursor = [], None
    while True:
        params = {"limit": 1000}
        if function:
            params["function"] = function
        if cursor:
            params["cursor"] = cursor
        r = server.api("GET", "/api/v1/activations", params=params)
        assert r.status_code == 200, r.text
        body = r.json()
        records += body["activations"]
        cursor = body.get("next_cursor")
        if not cursor or not body["activations"]:
            return records


def us(ms: float) -> int:
    """A CPU time in whole microseconds, the precision the records carry."""
    return round(ms * 1000)


# -- per activation: CPU, sleep, memory, queue --------------------------------------------------


def test_cpu_user_time_matches_what_the_function_measured_cold_and_warm(gust):
    name = unique("meter-cpu")
    gust.deploy(FUNCTIONS / "meter-cpu", name=name)
    for expect_cold in (True, False):
        response, record = call(gust, f"/fn/{name}?ms=200")
        assert response.status_code == 200, response.text
        measured = response.json()["process_ms"]
        assert measured >= 200
        assert record["cold"] is expect_cold, record
        assert abs(record["cpu_user_ms"] - measured) <= 0.15 * measured, (measured, record)
        assert 0 <= record["cpu_sys_ms"] < 20, record


def test_sleeping_function_is_billed_its_sleep_and_uses_almost_no_cpu(gust):
    name = unique("meter-sleep")
    gust.deploy(FUNCTIONS / "meter-sleep", name=name)
    for expect_cold in (True, False):
        response, record = call(gust, f"/fn/{name}?ms=300")
        assert response.status_code == 200, response.text
        assert record["cold"] is expect_cold, record
        assert 280 <= record["billed_ms"] <= 320, record
        assert record["cpu_user_ms"] + record["cpu_sys_ms"] < 20, record


def test_peak_memory_is_per_activation_and_resets_on_a_warm_instance(gust):
    name = unique("meter-memory")
    gust.deploy(FUNCTIONS / "meter-memory", name=name)
    big, big_record = call(gust, f"/fn/{name}?mb=100")
    assert big.json() == {"pages_touched": 100 * 256}, big.text
    assert big_record["peak_memory_mb"] >= 100, big_record

    small, small_record = call(gust, f"/fn/{name}?mb=0")
    assert small.json() == {"pages_touched": 0}, small.text
    assert small_record["cold"] is False, small_record
    assert 0 < small_record["peak_memory_mb"] < 60, small_record


def test_time_spent_queued_for_a_busy_instance_is_not_billed(gust):
    name = unique("meter-queue")
    gust.deploy(FUNCTIONS / "meter-queue", name=name)
    warm = gust.get(f"/fn/{name}")  # so neither timed call includes a cold start
    assert warm.status_code == 200, warm.text

    barrier = threading.Barrier(2)

    def fire(_):
        barrier.wait(timeout=10)
        return gust.get(f"/fn/{name}")

    with ThreadPoolExecutor(2) as pool:
        responses = list(pool.map(fire, range(2)))
    assert [r.status_code for r in responses] == [200, 200], [r.text for r in responses]
    first, second = sorted((gust.activation(r.headers["X-Gust-Activation-Id"]) for r in responses),
                           key=lambda a: when(a["dispatched_at"]))
    assert abs(ms_between(first["received_at"], second["received_at"])) < 100, (first, second)
    assert ms_between(second["received_at"], second["dispatched_at"]) >= 400, second
    assert ms_between(first["finished_at"], second["dispatched_at"]) >= 0, (first, second)
    for record in (first, second):
        assert record["cold"] is False, record
        assert 500 <= record["billed_ms"] <= 600, record


# -- per activation: the record's own arithmetic ------------------------------------------------


def test_billed_ms_is_duration_rounded_up_and_gb_s_follows_from_it(gust):
    name = unique("meter-sleep")
    gust.deploy(FUNCTIONS / "meter-sleep", name=name)
    failing = unique("meter-usage")
    gust.deploy(FUNCTIONS / "meter-usage", name=failing)
    ids = [gust.get(f"/fn/{name}?ms={ms}").headers["X-Gust-Activation-Id"]
           for ms in ("0", "1.5", "7.25", "33.3")]
    ids += [gust.get(f"/fn/{failing}?fail={fail}").headers["X-Gust-Activation-Id"]
            for fail in ("0", "1")]
    gust.wait_recorded(*ids)

    records = all_activations(gust, name) + all_activations(gust, failing)
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert {r["status"] for r in records} == {"success", "error"}
    for r in records:
        assert r["duration_ms"] > 0, r
        assert abs(r["duration_ms"] - ms_between(r["dispatched_at"], r["finished_at"])) <= 0.001, r
        assert r["billed_ms"] == math.ceil(r["duration_ms"]), r
        assert r["gb_s"] == pytest.approx(r["memory_mb"] / 1024 * r["billed_ms"] / 1000,
                                          rel=1e-12, abs=1e-12), r
    assert {r["memory_mb"] for r in records} == {128, 192}


def test_activation_times_are_rfc3339_microseconds_in_lifecycle_order(gust):
    name = unique("meter-sleep")
    gust.deploy(FUNCTIONS / "meter-sleep", name=name)
    for _ in range(2):
        response, record = call(gust, f"/fn/{name}?ms=20")
        assert response.status_code == 200
        stamps = [when(record[field]) for field in TIMES]
        assert stamps == sorted(stamps), {field: record[field] for field in TIMES}
        assert record["trigger"] == "http"
        assert record["key_id"] is None
        assert record["bytes_out"] == len(response.content)


# -- usage roll-ups -----------------------------------------------------------------------------


def sum_records(records: list[dict], key) -> dict[str, dict]:
    sums: dict[str, dict] = defaultdict(lambda: defaultdict(int))
    for r in records:
        s = sums[key(r)]
        s["invocations"] += 1
        s["errors"] += r["status"] != "success"
        for field in ("billed_ms", "bytes_in", "bytes_out"):
            s[field] += r[field]
        s["cpu_user_us"] += us(r["cpu_user_ms"])
        s["cpu_sys_us"] += us(r["cpu_sys_ms"])
        s["gb_s"] += r["gb_s"]
    return sums


def assert_row_matches(row: dict, expected: dict) -> None:
    got = {field: row[field] for field in ("invocations", "errors", "billed_ms", "bytes_in",
                                           "bytes_out")}
    got["cpu_user_us"] = us(row["cpu_user_ms"])
    got["cpu_sys_us"] = us(row["cpu_sys_ms"])
    want = {field: expected[field] for field in got}
    assert got == want, row["group"]
    assert abs(row["gb_s"] - expected["gb_s"]) <= 1e-9, (row, expected["gb_s"])


def test_usage_by_function_and_version_agrees_exactly_with_the_activation_records(
        gust_factory, tmp_path):
    server = gust_factory()
    first, second = unique("meter-usage"), unique("meter-usage")
    server.deploy(FUNCTIONS / "meter-usage", name=first)
    changed = tmp_path / "meter-usage-v2"
    changed.mkdir()
    for f in (FUNCTIONS / "meter-usage").iterdir():
        (changed / f.name).write_bytes(f.read_bytes())
    (changed / "gust.toml").write_text((FUNCTIONS / "meter-usage" / "gust.toml").read_text()
                                       .replace("memory_mb = 192", "memory_mb = 320"))
    assert server.deploy(changed, name=first)["version"] == 2
    server.deploy(FUNCTIONS / "meter-usage", name=second)

    ids = []
    for path, body in [(f"/fn/{first}@1?pad=10", "a" * 100), (f"/fn/{first}@1?fail=1", "b"),
                       (f"/fn/{first}?pad=1000", ""), (f"/fn/{first}?pad=3", "c" * 5000),
                       (f"/fn/{first}?fail=1", "d" * 7), (f"/fn/{first}?fail=1", ""),
                       (f"/fn/{second}?pad=77", "e" * 12), (f"/fn/{second}", ""),
                       (f"/fn/{second}?fail=1", "f" * 3)]:
        r = server.post(path, data=body.encode(), headers={"content-type": "text/plain"})
        assert r.status_code in (200, 502), r.text
        ids.append(r.headers["X-Gust-Activation-Id"])
    invoked = server.api("POST", f"/api/v1/functions/{second}/invoke",
                         json={"queryStringParameters": {"pad": "5"}})
    assert invoked.status_code == 200, invoked.text
    ids.append(invoked.headers["X-Gust-Activation-Id"])
    server.wait_recorded(*ids)

    records = all_activations(server)
    assert sorted(r["id"] for r in records) == sorted(ids)
    assert sum(r["status"] == "error" for r in records) == 4
    assert sum(r["bytes_in"] for r in records) > 5000
    assert {r["trigger"] for r in records} == {"http", "invoke"}

    by_function = server.api("GET", "/api/v1/usage", params={"by": "function", "since": "24h"})
    assert by_function.status_code == 200, by_function.text
    usage = by_function.json()
    expected = sum_records(records, lambda r: r["function"])
    assert sorted(row["group"] for row in usage["rows"]) == sorted(expected)
    for row in usage["rows"]:
        assert_row_matches(row, expected[row["group"]])
    assert_row_matches(usage["total"], sum_records(records, lambda r: "total")["total"])

    by_version = server.api("GET", "/api/v1/usage", params={"by": "version", "since": "24h"})
    assert by_version.status_code == 200, by_version.text
    expected = sum_records(records, lambda r: f"{r['function']}@{r['version']}")
    assert sorted(expected) == sorted([f"{first}@1", f"{first}@2", f"{second}@1"])
    rows = by_version.json()["rows"]
    assert sorted(row["group"] for row in rows) == sorted(expected)
    for row in rows:
        assert_row_matches(row, expected[row["group"]])

    as_json = server.cli("usage", "--by", "function", "--format", "json")
    assert as_json.returncode == 0, as_json.stderr
    cli_usage = json.loads(as_json.stdout)
    assert cli_usage["rows"] == usage["rows"]
    assert cli_usage["total"] == usage["total"]

    as_csv = server.cli("usage", "--format", "csv")
    assert as_csv.returncode == 0, as_csv.stderr
    lines = as_csv.stdout.strip().splitlines()
    header = lines[0].split(",")
    assert header[0] == "FUNCTION" and {"INVOCATIONS", "ERRORS", "BILLED_MS", "REQUESTS"} <= set(header), lines
    cells = {line.split(",")[0]: dict(zip(header, line.split(","))) for line in lines[1:]}
    assert sorted(cells) == sorted([first, second, "total"]), lines
    expected = sum_records(records, lambda r: r["function"])
    for group, want in list(expected.items()) + [("total", {
            "invocations": len(records), "errors": 4,
            "billed_ms": sum(r["billed_ms"] for r in records)})]:
        assert int(cells[group]["INVOCATIONS"]) == want["invocations"], lines
        assert int(cells[group]["ERRORS"]) == want["errors"], lines
        assert int(cells[group]["BILLED_MS"]) == want["billed_ms"], lines


def test_usage_window_widens_to_whole_hours_and_says_so(gust):
    """Usage is rolled up by the hour: a window inside an hour covers that whole hour, and the
    answer names the hours it covers, so its totals match the records received inside them."""
    name = unique("meter-usage")
    gust.deploy(FUNCTIONS / "meter-usage", name=name)
    before = gust.get(f"/fn/{name}?pad=1").headers["X-Gust-Activation-Id"]
    time.sleep(1.2)
    cut = datetime.now(timezone.utc).replace(microsecond=0)
    time.sleep(1.2)
    after = gust.get(f"/fn/{name}?pad=2").headers["X-Gust-Activation-Id"]
    records = [gust.activation(i) for i in (before, after)]
    assert when(records[0]["received_at"]) < cut < when(records[1]["received_at"]), records
    if when(records[0]["received_at"]).hour != when(records[1]["received_at"]).hour:
        pytest.skip("the two calls straddle an hour boundary")

    stamp = cut.strftime("%Y-%m-%dT%H:%M:%SZ")
    r = gust.api("GET", "/api/v1/usage", params={"by": "function", "since": stamp, "until": stamp})
    assert r.status_code == 200, r.text
    body = r.json()
    hour = cut.replace(minute=0, second=0)
    assert when(body["since"]) == hour, body
    assert when(body["until"]) == hour + timedelta(hours=1), body
    rows = [row for row in body["rows"] if row["group"] == name]
    assert [row["invocations"] for row in rows] == [2], body
    assert_row_matches(rows[0], sum_records(records, lambda rec: rec["function"])[name])


# -- traces -------------------------------------------------------------------------------------


def test_incoming_traceparent_sets_the_trace_id_and_reaches_the_function(gust):
    name = unique("meter-trace")
    gust.deploy(FUNCTIONS / "meter-trace", name=name)
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response, record = call(gust, f"/fn/{name}", headers={"traceparent": incoming})
    assert response.status_code == 200, response.text
    assert record["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736"
    seen = TRACEPARENT.match(response.json()["traceparent"] or "")
    assert seen and seen.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736", response.text
    echoed = TRACEPARENT.match(response.headers.get("traceparent", ""))
    assert echoed and echoed.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736", response.headers
    assert response.json()["context_trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736", response.text
    assert "4bf92f3577b34da6a3ce929d0e0e4736" in (response.json()["env_trace_id"] or ""), response.text


def test_without_traceparent_a_trace_id_is_generated_echoed_and_passed_on(gust):
    name = unique("meter-trace")
    gust.deploy(FUNCTIONS / "meter-trace", name=name)
    trace_ids = []
    for _ in range(2):
        response, record = call(gust, f"/fn/{name}")
        assert response.status_code == 200, response.text
        trace_id = record["trace_id"]
        assert HEX32.match(trace_id) and trace_id != "0" * 32, record
        echoed = TRACEPARENT.match(response.headers.get("traceparent", ""))
        assert echoed and echoed.group(1) == trace_id, (response.headers, record)
        seen = TRACEPARENT.match(response.json()["traceparent"] or "")
        assert seen and seen.group(1) == trace_id, (response.text, record)
        assert response.json()["context_trace_id"] == trace_id, (response.text, record)
        assert trace_id in (response.json()["env_trace_id"] or ""), (response.text, record)
        trace_ids.append(trace_id)
    assert trace_ids[0] != trace_ids[1]


def test_direct_invoke_takes_the_traceparent_and_echoes_it(gust):
    name = unique("meter-trace")
    gust.deploy(FUNCTIONS / "meter-trace", name=name)
    incoming = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"
    response = gust.api("POST", f"/api/v1/functions/{name}/invoke", json={},
                        headers={"traceparent": incoming})
    assert response.status_code == 200, response.text
    record = gust.activation(response.headers["X-Gust-Activation-Id"])
    assert record["trigger"] == "invoke"
    assert record["trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736", record
    echoed = TRACEPARENT.match(response.headers.get("traceparent", ""))
    assert echoed and echoed.group(1) == "4bf92f3577b34da6a3ce929d0e0e4736", response.headers
    assert response.json()["context_trace_id"] == "4bf92f3577b34da6a3ce929d0e0e4736", response.text


# -- prices -------------------------------------------------------------------------------------


@pytest.fixture
def priced_gust(tmp_path):
    """Starts a server of the test's own with `--config FILE`: the conftest's GustServer runs the
    binary it is given, so it is given a wrapper that adds the flag to `serve`."""
    started: list[GustServer] = []

    def start(config_text: str) -> GustServer:
        config = tmp_path / "gust-server.toml"
        config.write_text(config_text)
        wrapper = tmp_path / "gust-with-config"
        wrapper.write_text(
            "#!/bin/sh\n"
            f'if [ "$1" = serve ]; then shift; exec "{GUST_BIN}" serve --config "{config}" "$@"; fi\n'
            f'exec "{GUST_BIN}" "$@"\n')
        wrapper.chmod(wrapper.stat().st_mode | stat.S_IXUSR)
        server = GustServer(str(wrapper), tmp_path / "data", tmp_path / "work").start()
        started.append(server)
        return server

    start.servers = started
    yield start
    for server in started:
        problem = server.shutdown_problem()
        if problem:
            pytest.fail(f"{problem}; its log:\n{server.log()}", pytrace=False)


def test_cost_follows_the_configured_price_table(priced_gust):
    server = priced_gust("[prices]\nper_gb_s = 1.0\nper_million_requests = 1000000.0\n"
                         "free_gb_s = 0\nfree_requests = 0\n")
    name = unique("meter-sleep")
    server.deploy(FUNCTIONS / "meter-sleep", name=name)
    calls = 5
    ids = [server.get(f"/fn/{name}?ms=30").headers["X-Gust-Activation-Id"] for _ in range(calls)]
    server.wait_recorded(*ids)

    r = server.api("GET", "/api/v1/usage", params={"by": "function", "since": "24h"})
    assert r.status_code == 200, r.text
    usage = r.json()
    assert usage["prices"]["per_gb_s"] == 1.0
    assert usage["prices"]["per_million_requests"] == 1000000.0
    total = usage["total"]
    assert total["invocations"] == calls
    gb_s = sum(server.activation(i)["gb_s"] for i in ids)
    assert total["gb_s"] == pytest.approx(gb_s, abs=1e-9)
    assert gb_s > 0.01
    assert total["cost"] == pytest.approx(gb_s * 1.0 + calls * 1.0, rel=1e-9)
    assert total["cost_after_free_tier"] == pytest.approx(total["cost"], rel=1e-9)
    [row] = usage["rows"]
    assert row["cost"] == pytest.approx(total["cost"], rel=1e-9)


def test_unknown_price_key_stops_serve_with_its_line_number(tmp_path):
    config = tmp_path / "bad.toml"
    config.write_text("# prices for the test\n[prices]\nper_gb_s = 1.0\nper_gib_s = 2.0\n")
    proc = subprocess.Popen(
        [GUST_BIN, "serve", "--config", str(config), "--listen", f"127.0.0.1:{free_port()}",
         "--data", str(tmp_path / "data")],
        stdout=subprocess.PIPE, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, text=True)
    try:
        output, _ = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        output, _ = proc.communicate(timeout=10)
        pytest.fail(f"gust serve kept running with an unknown price key:\n{output}")
    assert proc.returncode != 0, output
    assert "per_gib_s" in output, output
    assert re.search(r"(:|line )4\b", output), output


# -- durability ---------------------------------------------------------------------------------


def test_every_2xx_response_has_its_record_after_sigkill_and_restart(gust_factory):
    server = gust_factory()
    name = unique("meter-fast")
    server.deploy(FUNCTIONS / "meter-fast", name=name)
    assert server.get(f"/fn/{name}").status_code == 200

    acknowledged: list[str] = []
    failures: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    budget = 2000
    sent = 0

    def drive(_):
        nonlocal sent
        with requests.Session() as session:
            while not stop.is_set():
                with lock:
                    if sent >= budget:
                        return
                    sent += 1
                try:
                    r = session.get(f"{server.url}/fn/{name}", timeout=10)
                except requests.RequestException as e:
                    with lock:
                        failures.append(type(e).__name__)
                    if stop.is_set():
                        return
                    continue
                if 200 <= r.status_code < 300:
                    with lock:
                        acknowledged.append(r.headers["X-Gust-Activation-Id"])

    with ThreadPoolExecutor(8) as pool:
        workers = [pool.submit(drive, i) for i in range(8)]
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            time.sleep(0.05)
            with lock:
                if sent >= budget * 0.6:
                    break
        server.proc.send_signal(signal.SIGKILL)
        stop.set()
        killed = server.proc
        killed.wait(timeout=10)
        # The conftest's teardown would report this SIGKILL as an unclean exit; it is the test's.
        server.proc = None
        for w in workers:
            w.result(timeout=30)
    assert killed.returncode == -signal.SIGKILL
    assert len(acknowledged) >= 100, (len(acknowledged), sent, failures[:5])
    assert len(set(acknowledged)) == len(acknowledged)

    again = gust_factory(server.data)
    recorded = {r["id"] for r in all_activations(again, name)}
    missing = [i for i in acknowledged
               if i not in recorded
               and again.api("GET", f"/api/v1/activations/{i}").status_code != 200]
    print(f"\ndurability: {sent} requests sent, {len(acknowledged)} answered 2xx, "
          f"{len(failures)} failed at the client, {len(recorded)} records after restart, "
          f"{len(missing)} acknowledged but missing")
    assert missing == [], (f"{len(missing)} of {len(acknowledged)} acknowledged activations have "
                           f"no record after restart, e.g. {missing[:5]}")
