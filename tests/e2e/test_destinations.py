"""Destinations of asynchronous invocations (gust.toml `on_success` / `on_failure`, Lambda's
OnSuccess / OnFailure): a final outcome goes, in Lambda's destination record shape, to another
function (as a new asynchronous invocation of it) or to a Kafka topic; a bad destination is a 400
at deploy."""

from __future__ import annotations

import json
import subprocess
import time

from conftest import error_of, pack, unique
from test_async import deploy, wait_state
from test_kafka import BROKER, create_topic, kafka  # noqa: F401  (the broker fixture)

WORKER = (
    "def handler(event, context):\n"
    "    if event.get('fail'):\n"
    "        raise RuntimeError('failed on demand: ' + str(event.get('n')))\n"
    "    return {'doubled': event.get('n', 0) * 2}\n"
)

RECORDER = pack({
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
    "main.py": (
        "import json\n"
        "def handler(event, context):\n"
        "    print('GOT ' + json.dumps(event), flush=True)\n"
        "    return {'recorded': True}\n"
    ),
})


def worker(toml_extra: str) -> bytes:
    return pack({
        "gust.toml": f'runtime = "python3"\nhandler = "main.handler"\n{toml_extra}',
        "main.py": WORKER,
    })


def received(server, name: str) -> list[tuple[dict, dict]]:
    """(activation, event) for each event the recorder got, oldest first."""
    r = server.api("GET", f"/api/v1/activations?function={name}&limit=1000&logs=1&order=asc")
    assert r.status_code == 200, r.text
    out = []
    for a in r.json()["activations"]:
        for line in a["logs"].splitlines():
            if " GOT " in line:
                out.append((a, json.loads(line.split(" GOT ", 1)[1])))
    return out


def wait_received(server, name: str, count: int, timeout: float = 60) -> list[tuple[dict, dict]]:
    deadline = time.monotonic() + timeout
    while True:
        got = received(server, name)
        if len(got) >= count or time.monotonic() > deadline:
            assert len(got) >= count, f"{name} received {len(got)} records, wanted {count}"
            return got
        time.sleep(0.2)


def invoke_async(server, name: str, event: dict) -> str:
    r = server.api("POST", f"/api/v1/functions/{name}/invoke", json=event,
                   headers={"X-Gust-Invocation-Type": "Event"})
    assert r.status_code == 202, r.text
    return r.headers["X-Gust-Activation-Id"]


def test_success_goes_to_on_success_with_the_event_and_the_result(gust):
    sink, name = unique("dest-sink"), unique("dest-ok")
    deploy(gust, sink, RECORDER)
    deploy(gust, name, worker(f'on_success = "function:{sink}"\non_failure = "function:{sink}"\n'))
    invocation_id = invoke_async(gust, name, {"n": 21})
    wait_state(gust, invocation_id, {"succeeded"})

    [(activation, record)] = wait_received(gust, sink, 1)
    assert activation["trigger"] == "destination" and activation["status"] == "success"
    assert record["version"] == "1.0" and record["timestamp"].endswith("Z")
    context = record["requestContext"]
    assert context["requestId"] == invocation_id
    assert context["function"] == name
    assert context["condition"] == "Success"
    assert context["approximateInvokeCount"] == 1
    assert record["requestPayload"] == {"n": 21}
    assert record["responseContext"]["statusCode"] == 200
    assert "functionError" not in record["responseContext"]
    assert record["responsePayload"] == {"doubled": 42}

    # A success does not go to on_failure, and a function without destinations sends nothing.
    time.sleep(1)
    assert len(received(gust, sink)) == 1


def test_dead_letters_go_to_on_failure_with_the_condition_and_the_error(gust):
    sink, name = unique("dest-fsink"), unique("dest-fails")
    deploy(gust, sink, RECORDER)
    deploy(gust, name, worker(f'max_retries = 1\non_failure = "function:{sink}"\n'))
    invocation_id = invoke_async(gust, name, {"n": 4, "fail": True})
    dead = wait_state(gust, invocation_id, {"dead"})
    assert dead["attempts"] == 2 and dead["dead_reason"] == "retries_exhausted"

    [(activation, record)] = wait_received(gust, sink, 1)
    assert activation["trigger"] == "destination"
    context = record["requestContext"]
    assert context["requestId"] == invocation_id and context["function"] == name
    assert context["condition"] == "RetriesExhausted"
    assert context["approximateInvokeCount"] == 2
    assert record["requestPayload"] == {"n": 4, "fail": True}
    assert record["responseContext"]["functionError"] == "error"
    assert "failed on demand: 4" in record["responsePayload"]["errorMessage"]

    # It is still a dead letter.
    r = gust.api("GET", f"/api/v1/functions/{name}/dead-letters")
    assert r.status_code == 200, r.text
    assert invocation_id in r.text


def test_cron_fired_invocations_go_to_their_destination(gust):
    sink, name = unique("dest-csink"), unique("dest-cron")
    deploy(gust, sink, RECORDER)
    deploy(gust, name, worker(f'on_success = "function:{sink}"\n'))
    done = gust.cli("--json", "trigger", "cron", "@every 1s", "--fn", name, "--payload", '{"n": 5}')
    assert done.returncode == 0, done.stderr
    trigger = json.loads(done.stdout)
    try:
        got = wait_received(gust, sink, 1)
    finally:
        assert gust.cli("trigger", "rm", trigger["id"]).returncode == 0
    record = got[0][1]
    assert record["requestContext"]["condition"] == "Success"
    assert record["requestPayload"]["eventSource"] == "gust:cron"
    assert record["requestPayload"]["payload"] == {"n": 5}
    assert record["responsePayload"] == {"doubled": 0}


def test_a_kafka_destination_receives_the_record(gust, kafka):  # noqa: F811
    topic = unique("dest-topic")
    create_topic(topic, 1)
    name = unique("dest-kafka")
    deploy(gust, name, worker(f'max_retries = 0\non_success = "kafka:{topic}@{kafka}"\n'
                              f'on_failure = "kafka:{topic}@{kafka}"\n'))
    ok_id = invoke_async(gust, name, {"n": 1})
    wait_state(gust, ok_id, {"succeeded"})
    failed_id = invoke_async(gust, name, {"n": 2, "fail": True})
    wait_state(gust, failed_id, {"dead"})

    # The delivery is awaited before the invocation's outcome is committed: both are there now.
    done = subprocess.run(["kcat", "-C", "-b", BROKER, "-t", topic, "-e", "-J"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    messages = [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]
    by_key = {m["key"]: json.loads(m["payload"]) for m in messages}
    assert set(by_key) == {ok_id, failed_id}, messages
    ok = by_key[ok_id]
    assert ok["requestContext"]["condition"] == "Success" and ok["requestContext"]["function"] == name
    assert ok["requestPayload"] == {"n": 1} and ok["responsePayload"] == {"doubled": 2}
    failed = by_key[failed_id]
    assert failed["requestContext"]["condition"] == "RetriesExhausted"
    assert failed["requestContext"]["approximateInvokeCount"] == 1
    assert "failed on demand: 2" in failed["responsePayload"]["errorMessage"]


def test_bad_destinations_are_refused_at_deploy_naming_the_line(gust):
    cases = [
        ('on_failure = "queue:x"\n', "must be \"function:NAME\" or \"kafka:TOPIC@HOST:PORT\""),
        ('on_success = "function:Not A Name"\n', "function:NAME"),
        ('on_success = "kafka:orders"\n', "no brokers"),
        ('on_failure = "kafka:orders@localhost"\n', "is not HOST:PORT"),
        ('on_success = 7\n', "'on_success' must be a string"),
    ]
    for line, expected in cases:
        r = gust.api("POST", f"/api/v1/functions/{unique('dest-bad')}/versions",
                     data=worker(line), timeout=180)
        assert r.status_code == 400, (line, r.status_code, r.text)
        message = error_of(r)["message"]
        assert "gust.toml:3" in message and expected in message, (line, message)
