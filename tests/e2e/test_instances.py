"""Warm instances are reused, and many concurrent requests each get their own answer."""

import uuid
from concurrent.futures import ThreadPoolExecutor

import requests

from conftest import FUNCTIONS, unique


def test_warm_instance_keeps_module_state_across_calls(gust):
    name = unique("warm")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    answers = [gust.get(f"/fn/{name}") for _ in range(3)]
    assert [a.status_code for a in answers] == [200, 200, 200]
    assert [a.json()["calls"] for a in answers] == [1, 2, 3]
    assert len({a.json()["pid"] for a in answers}) == 1


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
    pids = {body["pid"] for _, _, body, _ in results}
    assert 1 <= len(pids) <= 4, f"max_instances = 4 but {len(pids)} instances answered"
