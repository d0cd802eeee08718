"""Warm instances are reused, and many concurrent requests each get their own answer."""

import json
import os
import time
import uuid
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import FUNCTIONS, error_of, unique


def test_warm_instance_keeps_module_state_across_calls(gust):
    name = unique("warm")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    answers = [gust.get(f"/fn/{name}") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["calls"] for a in answers] == [1, 2, 3]
    assert len({a.json()["instance"] for a in answers}) == 1


def test_node_warm_instance_keeps_module_state_across_calls(gust):
    name = unique("warm-node")
    gust.deploy(FUNCTIONS / "node-misbehave", name=name)
    answers = [gust.get(f"/fn/{name}") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["calls"] for a in answers] == [1, 2, 3]


def test_200_concurrent_requests_each_get_their_own_answer(gust):
    name = unique("concurrent")
    gust.deploy(FUNCTIONS / "py-concurrency", name=name)  # max_instances = 4
    ids = [uuid.uuid4().hex for _ in range(200)]

    def call(request_id):
        with requests.Session() as session:
            r = session.get(f"{gust.url}/fn/{name}?id={request_id}", timeout=60)
            return request_id, r.status_code, r.json(), r.headers.get("X-Gust-Activation-Id")

    with ThreadPoolExecutor(max_workers=50) as pool:
        results = list(pool.map(call, ids))

    statuses = [status for _, status, _, _ in results]
    assert statuses == [200] * 200, {s: statuses.count(s) for s in set(statuses)}
    for request_id, _, body, activation_id in results:
        assert body["id"] == request_id
        assert body["request_id"] == activation_id
    assert len({activation_id for *_, activation_id in results}) == 200
    instances = {body["instance"] for _, _, body, _ in results}
    assert 1 <= len(instances) <= 4, f"max_instances = 4 but {len(instances)} instances answered"


def call_many(gust, paths, workers):
    def call(path):
        with requests.Session() as session:
            return session.get(gust.url + path, timeout=60)
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return list(pool.map(call, paths))


def test_warm_instance_serves_up_to_concurrency_invocations_at_once(gust):
    name = unique("concurrency")
    gust.deploy(FUNCTIONS / "node-concurrent", name=name)  # concurrency = 10, max_instances = 1
    assert gust.get(f"/fn/{name}").status_code == 200  # warm
    began = time.monotonic()
    answers = call_many(gust, [f"/fn/{name}?ms=1000&tag={i}" for i in range(10)], 10)
    elapsed = time.monotonic() - began
    assert [a.status_code for a in answers] == [200] * 10
    assert len({a.json()["instance"] for a in answers}) == 1
    assert max(a.json()["seen"] for a in answers) == 10
    assert elapsed < 5, f"10 overlapping 1 s calls took {elapsed:.1f} s"


def test_cold_burst_is_served_concurrently_up_to_concurrency(gust):
    name = unique("cold-concurrency")
    gust.deploy(FUNCTIONS / "node-concurrent", name=name)  # concurrency = 10, max_instances = 1
    began = time.monotonic()
    answers = call_many(gust, [f"/fn/{name}?ms=500&tag={i}" for i in range(10)], 10)
    elapsed = time.monotonic() - began
    assert [a.status_code for a in answers] == [200] * 10
    assert max(a.json()["seen"] for a in answers) == 10, [(a.json()["seen"], a.json()["instance"]) for a in answers]
    assert elapsed < 4, f"10 overlapping 0.5 s calls took {elapsed:.1f} s from cold"


def test_calls_beyond_the_full_queue_answer_503_unavailable(gust):
    name = unique("throttle")
    gust.deploy(FUNCTIONS / "py-throttle", name=name)  # max_instances = 1
    with ThreadPoolExecutor(max_workers=1) as holder:
        held = holder.submit(lambda: gust.get(f"/fn/{name}?s=4"))
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:  # wait until the only instance is busy
            pools = gust.api("GET", "/api/v1/instances").json()["pools"]
            if any(p["function"] == name and p["busy"] == 1 for p in pools):
                break
            time.sleep(0.05)
        else:
            raise AssertionError("the holding call never started")
        # 100 of these can queue; the rest are turned away at once.
        answers = call_many(gust, [f"/fn/{name}"] * 130, 130)
        assert held.result(timeout=60).status_code == 200

    statuses = [a.status_code for a in answers]
    assert set(statuses) <= {200, 503}, statuses
    turned_away = [a for a in answers if a.status_code == 503]
    assert len(turned_away) >= 10
    assert statuses.count(200) >= 1
    for answer in turned_away:
        assert error_of(answer)["code"] == "unavailable"
    activation = gust.activation(turned_away[0].headers["X-Gust-Activation-Id"])
    assert activation["status"] == "throttled"


def test_idle_instance_is_stopped_after_idle_ttl(gust_factory):
    server = gust_factory(idle_ttl_s=1)
    server.deploy(FUNCTIONS / "py-misbehave", name="idle")
    first = server.get("/fn/idle").json()
    assert server.get("/fn/idle").json()["instance"] == first["instance"]  # warm within the TTL
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        pools = server.api("GET", "/api/v1/instances").json()["pools"]
        if not any(p["function"] == "idle" and p["instances"] > 0 for p in pools):
            break
        time.sleep(0.2)
    else:
        raise AssertionError("the idle instance was never stopped")
    again = server.get("/fn/idle").json()
    assert again["calls"] == 1
    assert again["instance"] != first["instance"]


def _log_events(server, name: str) -> list[dict]:
    events = []
    for line in server.log(tail_bytes=1 << 22).splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if isinstance(event, dict) and event.get("event") == name:
            events.append(event)
    return events


@pytest.mark.skipif(os.geteuid() != 0, reason="pre-started instances need the sandbox (root)")
@pytest.mark.parametrize("runtime, directory", [("python3", "py-misbehave"), ("node", "node-misbehave")])
def test_a_deploy_readies_a_pre_started_instance_for_the_first_cold_start(gust_factory, runtime, directory):
    """Deploying readies a booted, sandboxed instance of the function's runtime for its tenant,
    so even the first call only attaches the code to it (instance.loaded) instead of building a
    sandbox and booting the runtime (instance.started); it answers like any instance."""
    server = gust_factory(extra_args=("--log-level", "debug"))
    name = unique("prestarted")
    server.deploy(FUNCTIONS / directory, name=name)
    deadline = time.monotonic() + 60
    while not any(e.get("runtime") == runtime for e in _log_events(server, "instance.prestarted")):
        assert time.monotonic() < deadline, f"no pre-started {runtime} instance after the deploy:\n{server.log()}"
        time.sleep(0.1)
    # The deploy's load check started the code once already (its own trial instance): count
    # only what the calls start.
    def started_or_loaded():
        return [(e["event"], e["function"]) for e in _log_events(server, "instance.started")
                + _log_events(server, "instance.loaded") if e["function"] == name]
    before = started_or_loaded()
    answers = [server.get(f"/fn/{name}") for _ in range(2)]
    assert [a.status_code for a in answers] == [200, 200], [a.text for a in answers]
    assert [a.json()["calls"] for a in answers] == [1, 2]
    after = started_or_loaded()
    assert after[len(before):] == [("instance.loaded", name)], (before, after)
    # Taken, it is replaced, for the tenant's next cold start of that runtime.
    deadline = time.monotonic() + 60
    while len([e for e in _log_events(server, "instance.prestarted") if e.get("runtime") == runtime]) < 2:
        assert time.monotonic() < deadline, f"the pre-started {runtime} instance was not replaced:\n{server.log()}"
        time.sleep(0.1)
