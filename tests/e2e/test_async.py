"""Asynchronous invocations: `X-Gust-Invocation-Type: Event` and `gust invoke --async` answer
202 once the invocation is durable, run it through the scheduler, retry failures with backoff,
end in the function's dead letters (`gust dlq ls|replay|purge`), and survive kill -9."""

from __future__ import annotations

import json
import signal
import time

import pytest

from conftest import error_of, pack, unique
from test_tenancy import new_tenant

ASYNC_TIMEOUT_S = 60


def bundle(main_py: str, toml_extra: str = "") -> bytes:
    return pack({
        "gust.toml": f'runtime = "python3"\nhandler = "main.handler"\n{toml_extra}',
        "main.py": main_py,
    })


ECHO = (
    "import json\n"
    "def handler(event, context):\n"
    "    print('EVENT ' + json.dumps(event), flush=True)\n"
    "    return {'ok': True, 'id': context.aws_request_id}\n"
)

ALWAYS_FAILS = (
    "def handler(event, context):\n"
    "    raise RuntimeError('always fails: ' + str(event.get('n')))\n"
)

SLEEPS = (
    "import time, json\n"
    "def handler(event, context):\n"
    "    time.sleep(float(event.get('sleep', 0)))\n"
    "    print('RAN ' + json.dumps(event), flush=True)\n"
    "    return event\n"
)


def kill_9(server, gust_factory) -> None:
    """kill -9: no drain, no flush. The factory forgets it (it did not exit cleanly, on purpose)."""
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    gust_factory.servers.remove(server)


def deploy(server, name: str, files: bytes, headers: dict | None = None) -> None:
    r = server.api("POST", f"/api/v1/functions/{name}/versions", data=files, timeout=180,
                   headers=headers)
    assert r.status_code == 201, (r.status_code, r.text)


def wait_state(server, invocation_id: str, states: set[str], headers: dict | None = None,
               timeout: float = ASYNC_TIMEOUT_S) -> dict:
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        r = server.api("GET", f"/api/v1/invocations/{invocation_id}", headers=headers)
        assert r.status_code == 200, (r.status_code, r.text)
        last = r.json()
        if last["state"] in states:
            return last
        time.sleep(0.1)
    raise AssertionError(f"invocation {invocation_id} never reached {states}: {last}")


def test_event_header_answers_202_then_runs_the_http_event(gust):
    name = unique("async-echo")
    deploy(gust, name, bundle(ECHO))
    r = gust.post(f"/fn/{name}/orders?x=1", data=b'{"order": 7}',
                  headers={"X-Gust-Invocation-Type": "Event", "Content-Type": "application/json"})
    assert r.status_code == 202, r.text
    activation_id = r.headers["X-Gust-Activation-Id"]
    assert len(activation_id) == 32
    assert r.json() == {"activation_id": activation_id, "state": "queued"}

    done = wait_state(gust, activation_id, {"succeeded"})
    assert done["attempts"] == 1 and done["trigger"] == "async"
    assert [a["activation_id"] for a in done["attempt_history"]] == [activation_id]
    assert done["attempt_history"][0]["status"] == "success"

    # The 202's id is the first attempt's activation: its record and logs are there.
    activation = gust.activation(activation_id)
    assert activation["trigger"] == "async" and activation["status"] == "success"
    event = json.loads(activation["logs"].split("EVENT ", 1)[1].splitlines()[0])
    assert event["rawPath"] == f"/fn/{name}/orders" and event["rawQueryString"] == "x=1"
    assert event["body"] == '{"order": 7}'
    assert event["requestContext"]["requestId"] == activation_id


def test_synchronous_invocation_type_and_bad_types(gust):
    name = unique("async-types")
    deploy(gust, name, bundle(ECHO))
    sync = gust.get(f"/fn/{name}", headers={"X-Gust-Invocation-Type": "RequestResponse"})
    assert sync.status_code == 200 and sync.json()["ok"] is True
    bad = gust.get(f"/fn/{name}", headers={"X-Gust-Invocation-Type": "DryRun"})
    assert bad.status_code == 400
    assert "X-Gust-Invocation-Type" in error_of(bad)["message"]
    missing = gust.get(f"/fn/{unique('nope')}", headers={"X-Gust-Invocation-Type": "Event"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    assert gust.api("GET", "/api/v1/invocations/" + "0" * 32).status_code == 404


def test_cli_invoke_async_prints_the_id_and_the_invocation_shows_its_attempts(gust):
    name = unique("async-cli")
    deploy(gust, name, bundle(ECHO))
    done = gust.cli("--json", "invoke", name, "--async", "--data", '{"n": 42}')
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == 202
    invocation_id = out["activation_id"]
    wait_state(gust, invocation_id, {"succeeded"})
    shown = gust.cli("invocation", invocation_id)
    assert shown.returncode == 0, shown.stderr
    assert "succeeded" in shown.stdout and "#1" in shown.stdout and "success" in shown.stdout
    logs = gust.activation(invocation_id)["logs"]
    assert 'EVENT {"n": 42}' in logs

    human = gust.cli("invoke", name, "--async", "--data", "not json")
    assert human.returncode != 0 and "--data must be JSON" in human.stderr


def test_failures_are_retried_with_backoff_then_dead_lettered_and_replayed(gust):
    name = unique("async-fails")
    deploy(gust, name, bundle(ALWAYS_FAILS, "max_retries = 2\n"))
    r = gust.api("POST", f"/api/v1/functions/{name}/invoke", json={"n": 1},
                 headers={"X-Gust-Invocation-Type": "Event"})
    assert r.status_code == 202, r.text
    invocation_id = r.headers["X-Gust-Activation-Id"]
    dead = wait_state(gust, invocation_id, {"dead"})
    assert dead["attempts"] == 3  # the first try and two retries
    assert dead["dead_reason"] == "retries_exhausted"
    assert "always fails: 1" in dead["last_error"]
    history = dead["attempt_history"]
    assert [a["attempt"] for a in history] == [1, 2, 3]
    assert all(a["status"] == "error" for a in history)
    assert history[0]["activation_id"] == invocation_id
    assert len({a["activation_id"] for a in history}) == 3
    # Exponential backoff: ~1 s before the first retry, ~2 s before the second.
    started = [time.mktime(time.strptime(a["started_at"][:19], "%Y-%m-%dT%H:%M:%S")) +
               float("0." + a["started_at"][20:26]) for a in history]
    assert started[1] - started[0] >= 0.9, started
    assert started[2] - started[1] >= 1.9, started
    for attempt in history:  # each attempt is an activation record
        record = gust.activation(attempt["activation_id"])
        assert record["status"] == "error" and record["trigger"] == "async"

    listed = gust.cli("--json", "dlq", "ls", name)
    assert listed.returncode == 0, listed.stderr
    letters = json.loads(listed.stdout)
    assert [d["id"] for d in letters] == [invocation_id]
    assert letters[0]["payload"] == {"n": 1} and len(letters[0]["attempt_history"]) == 3
    human = gust.cli("dlq", "ls", name)
    assert invocation_id in human.stdout and "retries_exhausted" in human.stdout

    # Fix the function, replay the dead letter: it runs again and succeeds.
    deploy(gust, name, bundle(ECHO))
    replayed = gust.cli("--json", "dlq", "replay", name)
    assert replayed.returncode == 0, replayed.stderr
    assert json.loads(replayed.stdout)["replayed"] == [invocation_id]
    done = wait_state(gust, invocation_id, {"succeeded"})
    assert done["attempt_history"][-1]["status"] == "success"
    assert json.loads(gust.cli("--json", "dlq", "ls", name).stdout) == []


def test_purge_and_replay_take_ids_and_refuse_unknown_ones(gust):
    name = unique("async-purge")
    deploy(gust, name, bundle(ALWAYS_FAILS, "max_retries = 0\n"))
    ids = []
    for n in range(3):
        r = gust.api("POST", f"/api/v1/functions/{name}/invoke", json={"n": n},
                     headers={"X-Gust-Invocation-Type": "Event"})
        assert r.status_code == 202
        ids.append(r.headers["X-Gust-Activation-Id"])
    for invocation_id in ids:
        assert wait_state(gust, invocation_id, {"dead"})["attempts"] == 1
    purged = gust.cli("--json", "dlq", "purge", name, "--id", ids[0])
    assert purged.returncode == 0, purged.stderr
    assert json.loads(purged.stdout)["purged"] == [ids[0]]
    unknown = gust.api("DELETE", f"/api/v1/functions/{name}/dead-letters", json={"ids": ["nope"]})
    assert unknown.status_code == 404 and "nope" in error_of(unknown)["message"]
    bad = gust.api("POST", f"/api/v1/functions/{name}/dead-letters/replay", data=b"[1]")
    assert bad.status_code == 400
    everything = gust.cli("--json", "dlq", "purge", name)
    assert sorted(json.loads(everything.stdout)["purged"]) == sorted(ids[1:])
    assert gust.api("GET", f"/api/v1/functions/{name}/dead-letters").json()["dead_letters"] == []
    assert gust.api("GET", f"/api/v1/functions/{unique('ghost')}/dead-letters").status_code == 404


def test_timeouts_are_retried_and_max_event_age_ends_retries(gust):
    name = unique("async-age")
    deploy(gust, name, bundle(SLEEPS, "timeout_s = 1\nmax_retries = 10\nmax_event_age = \"4s\"\n"))
    r = gust.api("POST", f"/api/v1/functions/{name}/invoke", json={"sleep": 5},
                 headers={"X-Gust-Invocation-Type": "Event"})
    assert r.status_code == 202
    dead = wait_state(gust, r.headers["X-Gust-Activation-Id"], {"dead"})
    assert dead["dead_reason"] == "max_event_age"
    assert 2 <= dead["attempts"] < 10
    assert all(a["status"] == "timeout" for a in dead["attempt_history"])


def test_bad_retry_settings_in_gust_toml_are_refused_at_deploy(gust):
    r = gust.api("POST", f"/api/v1/functions/{unique('bad-retries')}/versions",
                 data=bundle(ECHO, "max_retries = 11\n"))
    assert r.status_code == 400 and "max_retries" in error_of(r)["message"]
    r = gust.api("POST", f"/api/v1/functions/{unique('bad-age')}/versions",
                 data=bundle(ECHO, 'max_event_age = "7h"\n'))
    assert r.status_code == 400 and "max_event_age" in error_of(r)["message"]


def test_tenant_async_invocations_are_the_tenants_own(gust):
    tenant, client = new_tenant(gust, "async")
    name = unique("async-tenant")
    deploy(client, name, bundle(ECHO))
    r = gust.post(f"/t/{tenant}/fn/{name}", json={"hi": 1}, headers={"X-Gust-Invocation-Type": "Event"})
    assert r.status_code == 202, r.text
    invocation_id = r.headers["X-Gust-Activation-Id"]
    assert wait_state(client, invocation_id, {"succeeded"})["function"] == name
    # Not the default tenant's: 404 there, and not in its lists.
    assert gust.api("GET", f"/api/v1/invocations/{invocation_id}").status_code == 404
    assert client.api("GET", f"/api/v1/invocations/{invocation_id}").status_code == 200
    assert gust.api("GET", f"/api/v1/invocations/{invocation_id}",
                    headers={"X-Gust-Tenant": tenant}).status_code == 200
    # The default tenant's /fn/NAME is another function: none by that name.
    assert gust.post(f"/fn/{name}", headers={"X-Gust-Invocation-Type": "Event"}).status_code == 404


def test_accepted_invocations_survive_kill_9_and_run_after_restart(gust_factory, tmp_path):
    server = gust_factory()
    name = unique("async-survivor")
    # One instance, each run 3 s: when the server is killed, most invocations have not run.
    deploy(server, name, bundle(SLEEPS, "max_instances = 1\n"))
    ids = []
    for n in range(4):
        r = server.api("POST", f"/api/v1/functions/{name}/invoke", json={"n": n, "sleep": 3},
                       headers={"X-Gust-Invocation-Type": "Event"})
        assert r.status_code == 202, r.text
        ids.append(r.headers["X-Gust-Activation-Id"])
    kill_9(server, gust_factory)

    again = gust_factory(server.data)
    for invocation_id in ids:
        done = wait_state(again, invocation_id, {"succeeded"}, timeout=90)
        assert done["attempt_history"][-1]["status"] == "success"
        ran = again.activation(done["attempt_history"][-1]["activation_id"])
        assert "RAN " in ran["logs"]
    # Each ran to success once after the restart (one may also have been cut short by the kill).
    runs = again.api("GET", f"/api/v1/activations?function={name}&limit=100").json()["activations"]
    assert sum(1 for a in runs if a["status"] == "success") == len(ids)


def test_event_invocations_pass_the_gateway_keys_and_routes(gust):
    """An asynchronous request is checked like any other (key, policy) before it is queued, and
    a gateway route's key and parameters reach the event."""
    name = unique("async-gw")
    deploy(gust, name, bundle(ECHO, 'access = "key"\n'))
    event_header = {"X-Gust-Invocation-Type": "Event"}
    refused = gust.post(f"/fn/{name}", headers=event_header)
    assert refused.status_code == 401, refused.text
    assert gust.api("GET", f"/api/v1/invocations?function={name}").json()["invocations"] == []

    made = gust.cli("--json", "key", "create", unique("async-key"))
    assert made.returncode == 0, made.stderr
    key = json.loads(made.stdout)
    auth = {"Authorization": f"Bearer {key['client_id']}.{key['secret']}"}
    base = "/" + unique("jobs")
    route = gust.cli("--json", "route", "add", f"POST {base}/{{job}}", name, "--auth", "key")
    assert route.returncode == 0, route.stderr
    r = gust.post(f"{base}/resize", data=b"{}", headers={**event_header, **auth})
    assert r.status_code == 202, r.text
    invocation_id = r.headers["X-Gust-Activation-Id"]
    wait_state(gust, invocation_id, {"succeeded"})
    event = json.loads(gust.activation(invocation_id)["logs"].split("EVENT ", 1)[1].splitlines()[0])
    assert event["routeKey"] == f"POST {base}/{{job}}"
    assert event["pathParameters"] == {"job": "resize"}
