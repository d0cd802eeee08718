"""Cron triggers: `gust trigger cron` fires a function on a schedule (`@every 1s` here), with
the cron event, once per slot — across a kill -9 and restart too — and `trigger
ls|pause|resume|rm` manage it."""

from __future__ import annotations

import datetime
import json
import signal
import time

from conftest import error_of, pack, unique
from test_tenancy import new_tenant

ECHO = pack({
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\nconcurrency = 4\n',
    "main.py": (
        "import json\n"
        "def handler(event, context):\n"
        "    print('EVENT ' + json.dumps(event), flush=True)\n"
        "    return {'ok': True}\n"
    ),
})


def kill_9(server, gust_factory) -> None:
    """kill -9: no drain, no flush. The factory forgets it (it did not exit cleanly, on purpose)."""
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    gust_factory.servers.remove(server)


def deploy(server, name: str) -> None:
    r = server.api("POST", f"/api/v1/functions/{name}/versions", data=ECHO, timeout=180)
    assert r.status_code == 201, r.text


def cron_events(server, name: str) -> list[dict]:
    """The events the function received, oldest first, from its activations' logs."""
    r = server.api("GET", f"/api/v1/activations?function={name}&limit=1000&logs=1&order=asc")
    assert r.status_code == 200, r.text
    events = []
    for a in r.json()["activations"]:
        assert a["trigger"] == "cron" and a["status"] == "success", a
        for line in a["logs"].splitlines():
            if " EVENT " in line:
                events.append(json.loads(line.split(" EVENT ", 1)[1]))
    return events


def wait_events(server, name: str, count: int, timeout: float = 60) -> list[dict]:
    deadline = time.monotonic() + timeout
    while True:
        events = cron_events(server, name)
        if len(events) >= count or time.monotonic() > deadline:
            assert len(events) >= count, f"{len(events)} cron events after {timeout} s: {events}"
            return events
        time.sleep(0.2)


def slot(event: dict) -> float:
    return datetime.datetime.fromisoformat(event["time"].replace("Z", "+00:00")).timestamp()


def create(server, *args: str) -> dict:
    done = server.cli("--json", "trigger", "cron", *args)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def test_every_second_fires_the_cron_event_once_per_slot(gust):
    name = unique("cron-tick")
    deploy(gust, name)
    trigger = create(gust, "@every 1s", "--fn", name, "--payload", '{"job": "tick"}')
    assert trigger["kind"] == "cron" and trigger["schedule"] == "@every 1s" and trigger["tz"] == "UTC"
    assert trigger["function"] == name and trigger["paused"] is False and trigger["next_slot"]

    events = wait_events(gust, name, 3)
    for event in events:
        assert event["eventSource"] == "gust:cron"
        assert event["triggerId"] == trigger["id"]
        assert event["payload"] == {"job": "tick"}
        assert slot(event) == int(slot(event))  # on the second
    times = [slot(e) for e in events]
    assert len(set(times)) == len(times), times
    assert times == sorted(times)

    listed = json.loads(gust.cli("--json", "trigger", "ls", "--fn", name).stdout)
    assert [t["id"] for t in listed] == [trigger["id"]]
    assert listed[0]["last_slot"] is not None
    human = gust.cli("trigger", "ls")
    assert trigger["id"] in human.stdout and "@every 1s" in human.stdout

    assert gust.cli("trigger", "pause", trigger["id"]).returncode == 0
    time.sleep(1.5)  # what was queued before the pause runs
    paused_count = len(cron_events(gust, name))
    time.sleep(2.5)
    assert len(cron_events(gust, name)) == paused_count, "a paused trigger fired"
    assert json.loads(gust.cli("--json", "trigger", "ls", "--fn", name).stdout)[0]["paused"] is True

    assert gust.cli("trigger", "resume", trigger["id"]).returncode == 0
    resumed = wait_events(gust, name, paused_count + 2)
    # Slots that passed while paused were skipped, not fired on resume.
    new_times = [slot(e) for e in resumed[paused_count:]]
    assert min(new_times) > max(times), (times, new_times)

    removed = gust.cli("trigger", "rm", trigger["id"])
    assert removed.returncode == 0, removed.stderr
    time.sleep(1.5)
    after_rm = len(cron_events(gust, name))
    time.sleep(2.5)
    assert len(cron_events(gust, name)) == after_rm, "a removed trigger fired"
    assert gust.api("GET", f"/api/v1/triggers/{trigger['id']}").status_code == 404


def log_events(server, event: str) -> list[dict]:
    out = []
    for line in server.log(tail_bytes=2_000_000).splitlines():
        if f'"event":"{event}"' in line.replace(" ", ""):
            out.append(json.loads(line))
    return out


def test_no_slot_fires_twice_across_kill_9_and_a_missed_slot_fires_once_with_catch_up(gust_factory):
    server = gust_factory()
    plain, catching = unique("cron-plain"), unique("cron-catch")
    deploy(server, plain)
    deploy(server, catching)
    plain_trigger = create(server, "@every 1s", "--fn", plain)
    catch_trigger = create(server, "@every 1s", "--fn", catching, "--catch-up")
    assert catch_trigger["catch_up"] is True
    wait_events(server, plain, 3)
    wait_events(server, catching, 3)

    kill_9(server, gust_factory)
    time.sleep(3)  # slots pass while no server runs

    again = gust_factory(server.data)
    before_plain = len(cron_events(again, plain))
    before_catch = len(cron_events(again, catching))
    plain_events = wait_events(again, plain, before_plain + 3)
    catch_events = wait_events(again, catching, before_catch + 3)
    for events in (plain_events, catch_events):
        times = [slot(e) for e in events]
        assert len(set(times)) == len(times), f"a slot fired twice: {sorted(times)}"

    # The restarted server skipped the plain trigger's missed slot and fired the catching one's.
    skipped = [e for e in log_events(again, "cron.skipped") if e["trigger"] == plain_trigger["id"]]
    caught = [e for e in log_events(again, "cron.fired") if e["trigger"] == catch_trigger["id"]]
    assert len(skipped) == 1, skipped
    assert caught, "the catch-up trigger did not fire after the restart"
    caught_slot = caught[0]["slot"]
    assert caught_slot in {e["time"].replace("Z", "") for e in catch_events} | {
        e["time"] for e in catch_events}
    assert skipped[0]["slot"] not in {e["time"] for e in plain_events}
    # Only one missed slot is caught up: the other slots of the outage never fire.
    catch_times = sorted(slot(e) for e in catch_events)
    gaps = [b - a for a, b in zip(catch_times, catch_times[1:])]
    assert max(gaps) >= 2, f"every slot of the outage fired: {catch_times}"


def test_bad_triggers_are_refused_with_the_reason(gust):
    name = unique("cron-bad")
    deploy(gust, name)
    for schedule, words in (("61 * * * *", "minute"), ("* * * *", "5 fields"),
                            ("@every 0s", "period"), ("0 0 31 2 *", "never fires")):
        done = gust.cli("trigger", "cron", schedule, "--fn", name)
        assert done.returncode == 1 and words in done.stderr, (schedule, done.stderr)
    zone = gust.cli("trigger", "cron", "0 9 * * *", "--fn", name, "--tz", "Mars/Olympus")
    assert zone.returncode == 1 and "unknown time zone" in zone.stderr
    payload = gust.cli("trigger", "cron", "@daily", "--fn", name, "--payload", "{nope")
    assert payload.returncode == 1 and "--payload must be JSON" in payload.stderr
    missing = gust.api("POST", "/api/v1/triggers",
                       json={"kind": "cron", "function": unique("ghost"), "schedule": "@daily"})
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    kafka = gust.api("POST", "/api/v1/triggers", json={"kind": "kafka", "function": name})
    assert kafka.status_code == 400 and "kafka" in error_of(kafka)["message"]
    shape = gust.api("POST", "/api/v1/triggers", data=b"[]")
    assert shape.status_code == 400
    pause = gust.api("PATCH", "/api/v1/triggers/trg_nope", json={"paused": True})
    assert pause.status_code == 404
    made = create(gust, "30 9 * * MON-FRI", "--fn", name, "--tz", "Europe/Berlin")
    assert made["tz"] == "Europe/Berlin" and made["next_slot"]
    bad_patch = gust.api("PATCH", f"/api/v1/triggers/{made['id']}", json={"paused": "yes"})
    assert bad_patch.status_code == 400
    assert gust.cli("trigger", "rm", made["id"]).returncode == 0


def test_triggers_belong_to_their_tenant(gust):
    tenant, client = new_tenant(gust, "cron")
    name = unique("cron-tenant")
    deploy(client, name)
    made = client.api("POST", "/api/v1/triggers",
                      json={"kind": "cron", "function": name, "schedule": "@hourly"})
    assert made.status_code == 201, made.text
    trigger_id = made.json()["id"]
    assert gust.api("GET", f"/api/v1/triggers/{trigger_id}").status_code == 404
    assert gust.api("DELETE", f"/api/v1/triggers/{trigger_id}").status_code == 404
    assert trigger_id not in {t["id"] for t in gust.api("GET", "/api/v1/triggers").json()["triggers"]}
    assert gust.api("GET", f"/api/v1/triggers/{trigger_id}",
                    headers={"X-Gust-Tenant": tenant}).status_code == 200
    assert client.api("DELETE", f"/api/v1/triggers/{trigger_id}").status_code == 200
