"""JSON nested deeper than anyone's stack: refused with a precise 400 wherever it comes in (the
invoke API, async invocations, every control API body), and harmless where it was stored before
this limit and is read back later (dead letters, invocations, the CLI), across a restart.
A function's reply nested too deeply is a bad response, not a crashed server."""

from __future__ import annotations

import json
import sqlite3

import requests

from conftest import error_of, pack, unique
from test_async import deploy, wait_state

LIMIT = 128  # protocol::kMaxJsonDepth, docs/api.md
DEEP = "[" * 100000 + "]" * 100000  # 200 KB: far under the body limit
AT_LIMIT = "[" * LIMIT + "1" + "]" * LIMIT

FAILS = "def handler(event, context):\n    raise RuntimeError('no: ' + str(len(str(event))))\n"
ECHO = "def handler(event, context):\n    return event\n"


def bundle(main_py: str, toml_extra: str = "") -> bytes:
    return pack({"gust.toml": f'runtime = "python3"\nhandler = "main.handler"\n{toml_extra}',
                 "main.py": main_py})


def assert_too_deep(r: requests.Response, what: str) -> None:
    assert r.status_code == 400, (r.status_code, r.text[:300])
    error = error_of(r)
    assert error["code"] == "invalid_argument"
    assert error["message"] == (f"{what} nests arrays and objects more than {LIMIT} levels deep "
                                "(the limit); send it flatter")


def test_deep_payloads_are_refused_at_accept_and_the_server_serves_on(gust):
    name = unique("deep-in")
    deploy(gust, name, bundle(ECHO))
    headers = {"Content-Type": "application/json"}
    sync = gust.api("POST", f"/api/v1/functions/{name}/invoke", data=DEEP, headers=headers)
    assert_too_deep(sync, "the request body")
    queued = gust.api("POST", f"/api/v1/functions/{name}/invoke", data=DEEP,
                      headers={**headers, "X-Gust-Invocation-Type": "Event"})
    assert_too_deep(queued, "the request body")
    # Nothing was queued or run for them.
    listed = gust.api("GET", f"/api/v1/invocations?function={name}").json()["invocations"]
    assert listed == []
    # At the limit is fine, and the instance is the one that answers next.
    ok = gust.api("POST", f"/api/v1/functions/{name}/invoke", data=AT_LIMIT, headers=headers)
    assert ok.status_code == 200, ok.text[:300]
    assert ok.text == AT_LIMIT


def test_every_control_body_has_the_same_limit(gust):
    name = unique("deep-ctl")
    deploy(gust, name, bundle(ECHO))
    deep_value = "[" * (LIMIT + 5) + "]" * (LIMIT + 5)
    bodies = [
        ("POST", "/api/v1/triggers", f'{{"kind": "cron", "function": "{name}", '
                                     f'"schedule": "* * * * *", "payload": {deep_value}}}'),
        ("PUT", f"/api/v1/functions/{name}/aliases/live", f'{{"version": 1, "x": {deep_value}}}'),
        ("POST", "/api/v1/tenants", f'{{"name": "deep", "x": {deep_value}}}'),
        ("PUT", "/api/v1/secrets/DEEP", f'{{"value": "v", "x": {deep_value}}}'),
        ("POST", "/api/v1/keys", f'{{"name": "k", "scopes": {deep_value}}}'),
        ("POST", "/api/v1/routes", f'{{"route": "GET /deep", "function": "{name}", '
                                   f'"cors": {deep_value}}}'),
        ("POST", f"/api/v1/functions/{name}/dead-letters/replay", f'{{"ids": {deep_value}}}'),
    ]
    for method, path, body in bodies:
        r = gust.api(method, path, data=body, headers={"Content-Type": "application/json"})
        assert_too_deep(r, "the request body")
    # None of them changed anything.
    triggers = gust.api("GET", f"/api/v1/triggers?function={name}").json()["triggers"]
    assert triggers == []
    assert gust.api("GET", "/api/v1/secrets/DEEP").status_code == 404


def test_a_stored_deep_payload_reads_back_as_text_and_survives_a_restart(gust_factory):
    """A dead letter whose payload an older Gust stored 100k levels deep (the one that used to
    spin an I/O thread and then overflow the stack on every read, and again after a restart)."""
    server = gust_factory()
    name = unique("deep-dlq")
    deploy(server, name, bundle(FAILS, "max_retries = 0\n"))
    r = server.api("POST", f"/api/v1/functions/{name}/invoke", data=AT_LIMIT,
                   headers={"X-Gust-Invocation-Type": "Event", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    invocation_id = r.headers["X-Gust-Activation-Id"]
    dead = wait_state(server, invocation_id, {"dead"})
    assert dead["payload"] == json.loads(AT_LIMIT)  # at the limit: the JSON itself
    server.stop()
    with sqlite3.connect(server.data / "gust.db") as db:
        changed = db.execute("UPDATE async_invocations SET payload = ? WHERE id = ?",
                             (DEEP, invocation_id)).rowcount
    assert changed == 1

    again = gust_factory(server.data)
    for _ in range(2):  # the same reads twice: nothing was left broken by the first
        one = again.api("GET", f"/api/v1/invocations/{invocation_id}")
        assert one.status_code == 200
        assert one.json()["payload"] == DEEP  # too deep to be JSON here: shown as its text
        letters = again.api("GET", f"/api/v1/functions/{name}/dead-letters")
        assert letters.status_code == 200
        assert [d["payload"] for d in letters.json()["dead_letters"]] == [DEEP]
        listed = again.cli("--json", "dlq", "ls", name)
        assert listed.returncode == 0, listed.stderr[-500:]
        assert json.loads(listed.stdout)[0]["id"] == invocation_id
        human = again.cli("dlq", "ls", name)
        assert human.returncode == 0 and invocation_id in human.stdout
    # Replayed, it reaches the function as an event its adapter cannot read: a precise
    # failure, dead again, and the server and the instance both serve on.
    replayed = again.api("POST", f"/api/v1/functions/{name}/dead-letters/replay")
    assert replayed.status_code == 200, replayed.text
    redead = wait_state(again, invocation_id, {"dead"})
    assert "deeper than" in redead["last_error"], redead["last_error"]
    assert again.get("/healthz").status_code == 200

    again.stop()
    last = gust_factory(again.data)
    assert last.api("GET", f"/api/v1/functions/{name}/dead-letters").status_code == 200


def test_a_reply_nested_too_deeply_is_a_bad_response_with_the_reason_recorded(gust):
    name = unique("deep-out")
    deploy(gust, name, bundle(
        "def handler(event, context):\n"
        "    value = 1\n"
        f"    for _ in range({LIMIT + 10}):\n"
        "        value = [value]\n"
        "    return value\n"))
    r = gust.post(f"/fn/{name}")
    assert r.status_code == 502, r.text
    record = gust.activation(r.headers["X-Gust-Activation-Id"])
    assert record["status"] == "bad_response"
    assert f"nests arrays and objects more than {LIMIT} levels deep" in record["error"]
    assert gust.get("/healthz").status_code == 200
