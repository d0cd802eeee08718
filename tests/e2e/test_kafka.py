"""Kafka triggers against a real Apache Kafka broker (scripts/kafka.sh): batches of records,
Lambda's Kafka event, at-least-once delivery across kill -9, order within each partition,
partial batch failures, poison records to a DLQ topic, and lag that reaches 0."""

from __future__ import annotations

import base64
import collections
import json
import signal
import subprocess
import time
from pathlib import Path

import pytest

from conftest import error_of, pack, unique

ROOT = Path(__file__).resolve().parents[2]
KAFKA_SH = ROOT / "scripts" / "kafka.sh"
BROKER = "127.0.0.1:9092"

RECORDER = pack({
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\nmax_instances = 4\n',
    "main.py": (
        "import base64, time\n"
        "def handler(event, context):\n"
        "    assert event['eventSource'] == 'gust:kafka', event\n"
        "    seen, failures = [], []\n"
        "    for records in event['records'].values():\n"
        "        print('BATCH %d %d %d' % (records[0]['partition'], records[0]['offset'],\n"
        "                                 records[-1]['offset']), flush=True)\n"
        "        for r in records:\n"
        "            value = base64.b64decode(r['value']).decode()\n"
        "            if value.startswith('poison'):\n"
        "                failures.append({'itemIdentifier': str(r['offset'])})\n"
        "                break\n"
        "            seen.append('%d:%d:%s' % (r['partition'], r['offset'], value))\n"
        "    print('SEEN ' + ' '.join(seen), flush=True)\n"
        "    time.sleep(0.05)\n"
        "    return {'batchItemFailures': failures}\n"
    ),
})


@pytest.fixture(scope="session")
def kafka():
    """The broker: started for the session if it was not running, and stopped after."""
    was_running = subprocess.run(["bash", str(KAFKA_SH), "status"], capture_output=True).returncode == 0
    started = subprocess.run(["bash", str(KAFKA_SH), "start"], capture_output=True, text=True, timeout=900)
    assert started.returncode == 0, f"scripts/kafka.sh start failed:\n{started.stderr}"
    yield BROKER
    if not was_running:
        subprocess.run(["bash", str(KAFKA_SH), "stop"], capture_output=True, timeout=60)


def create_topic(name: str, partitions: int) -> None:
    done = subprocess.run(["bash", str(KAFKA_SH), "topic", name, str(partitions)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def produce(topic: str, lines: list[str]) -> None:
    """Keyed records (key:value lines) with kcat, librdkafka's command line client."""
    done = subprocess.run(["kcat", "-P", "-b", BROKER, "-t", topic, "-K", ":"],
                          input="\n".join(lines) + "\n", capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr


def consume_all(topic: str) -> list[dict]:
    done = subprocess.run(["kcat", "-C", "-b", BROKER, "-t", topic, "-e", "-J"],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return [json.loads(line) for line in done.stdout.splitlines() if line.startswith("{")]


def activations(server, name: str) -> list[dict]:
    """Every activation of the function, in the order they were recorded, with logs."""
    out, cursor = [], ""
    while True:
        r = server.api("GET", f"/api/v1/activations?function={name}&limit=1000&logs=1&order=asc"
                              f"&cursor={cursor}")
        assert r.status_code == 200, r.text
        page = r.json()["activations"]
        if not page:
            return out
        out += page
        cursor = page[-1]["id"]


def seen_records(server, name: str) -> list[tuple[int, int, str]]:
    seen = []
    for a in activations(server, name):
        for line in a["logs"].splitlines():
            if " SEEN " in line:
                for item in line.split(" SEEN ", 1)[1].split():
                    partition, offset, value = item.split(":", 2)
                    seen.append((int(partition), int(offset), value))
    return seen


def batches(server, name: str) -> list[tuple[int, int, int]]:
    out = []
    for a in activations(server, name):
        for line in a["logs"].splitlines():
            if " BATCH " in line:
                partition, first, last = map(int, line.split(" BATCH ", 1)[1].split())
                out.append((partition, first, last))
    return out


def deploy(server, name: str) -> None:
    r = server.api("POST", f"/api/v1/functions/{name}/versions", data=RECORDER, timeout=180)
    assert r.status_code == 201, r.text


def kill_9(server, gust_factory) -> None:
    server.proc.send_signal(signal.SIGKILL)
    server.proc.wait(timeout=10)
    gust_factory.servers.remove(server)


def trigger_of(server, trigger_id: str) -> dict:
    r = server.api("GET", f"/api/v1/triggers/{trigger_id}")
    assert r.status_code == 200, r.text
    return r.json()


def test_every_record_in_order_across_kill_9_with_a_poison_record_in_the_dlq(kafka, gust_factory):
    topic, dlq = unique("orders"), unique("orders-dlq")
    create_topic(topic, 4)
    create_topic(dlq, 1)
    values = [f"v{i:05d}" for i in range(10_000)]
    poison_at = 5_000
    values[poison_at] = "poison-5000"
    produce(topic, [f"k{i % 97}:{v}" for i, v in enumerate(values)])

    server = gust_factory()
    name = unique("kafka-recorder")
    deploy(server, name)
    made = server.cli("--json", "trigger", "kafka", topic, "--fn", name, "--brokers", kafka,
                      "--batch", "100", "--window", "200ms", "--start", "earliest",
                      "--dlq", dlq, "--max-retries", "1")
    assert made.returncode == 0, made.stderr
    trigger = json.loads(made.stdout)
    assert trigger["kind"] == "kafka" and trigger["topic"] == topic and trigger["batch"] == 100

    # Kill -9 in the middle: offsets committed so far hold, the rest comes again.
    deadline = time.monotonic() + 120
    while len(seen_records(server, name)) < 2_000:
        assert time.monotonic() < deadline, "the trigger did not deliver 2000 records in 120 s"
        time.sleep(0.3)
    seen_before = len(seen_records(server, name))
    kill_9(server, gust_factory)
    assert seen_before < len(values), "everything was delivered before the kill: nothing tested"

    again = gust_factory(server.data)
    wanted = set(values) - {values[poison_at]}
    deadline = time.monotonic() + 240
    while True:
        seen = seen_records(again, name)
        if wanted <= {v for _, _, v in seen}:
            break
        missing = len(wanted - {v for _, _, v in seen})
        assert time.monotonic() < deadline, f"{missing} records never reached the function"
        time.sleep(0.5)

    counts = collections.Counter(v for _, _, v in seen)
    duplicates = sum(c - 1 for c in counts.values())
    print(f"\n{len(seen)} deliveries of {len(wanted)} records: {duplicates} duplicates "
          f"(re-delivered after kill -9 or a failed batch)")
    assert values[poison_at] not in counts

    # Order within each partition: the first delivery of each offset comes in offset order.
    first_seen: dict[int, list[int]] = collections.defaultdict(list)
    done = set()
    for partition, offset, _ in seen:
        if (partition, offset) not in done:
            done.add((partition, offset))
            first_seen[partition].append(offset)
    assert sorted(first_seen) == [0, 1, 2, 3]
    for partition, offsets in first_seen.items():
        assert offsets == sorted(offsets), f"partition {partition} delivered out of order"

    # The poison record: its batch failed at it (partial failure), the batch came again from it
    # (max_retries = 1), then it went to the DLQ topic and consumption went on after it.
    dlq_records = consume_all(dlq)
    assert len(dlq_records) == 1, dlq_records
    dead = dlq_records[0]
    assert dead["payload"] == values[poison_at]
    headers = dict(zip(dead["headers"][::2], dead["headers"][1::2]))
    assert headers["gust-source-topic"] == topic
    assert headers["gust-trigger"] == trigger["id"] and headers["gust-function"] == name
    assert "batchItemFailures" in headers["gust-error"] and headers["gust-failures"] == "2"
    p, o = int(headers["gust-source-partition"]), int(headers["gust-source-offset"])
    runs = [b for b in batches(again, name) if b[0] == p]
    hits = [i for i, (_, first, last) in enumerate(runs) if first <= o <= last]
    assert len(hits) >= 2, f"the poison batch was not retried: {runs}"
    retried = runs[hits[1]]
    assert retried[1] == o, f"the retry did not resume at the failed offset {o}: {retried}"
    after = [b for b in runs if b[1] > o]
    assert after and after[0][1] == o + 1, f"consumption did not go on after {o}: {after[:2]}"

    # Lag reaches 0 on every partition.
    deadline = time.monotonic() + 60
    while True:
        lag = trigger_of(again, trigger["id"])["lag"]
        if lag and lag["total"] == 0 and len(lag["partitions"]) == 4:
            break
        assert time.monotonic() < deadline, f"lag did not reach 0: {lag}"
        time.sleep(0.5)
    listed = again.cli("trigger", "ls")
    assert trigger["id"] in listed.stdout and topic in listed.stdout


def test_kafka_trigger_settings_are_checked(kafka, gust):
    name = unique("kafka-bad")
    deploy(gust, name)
    for extra, words in ((["--batch", "0"], "batch"), (["--window", "2h"], "unit"),
                         (["--property", "nokey"], "KEY=VALUE")):
        done = gust.cli("trigger", "kafka", "orders", "--fn", name, "--brokers", kafka, *extra)
        assert done.returncode == 1 and words in done.stderr, (extra, done.stderr)
    bad = gust.api("POST", "/api/v1/triggers", json={"kind": "kafka", "function": name, "topic": "a/b",
                                                    "brokers": kafka})
    assert bad.status_code == 400 and "topic" in error_of(bad)["message"]
    nobrokers = gust.api("POST", "/api/v1/triggers", json={"kind": "kafka", "function": name, "topic": "t"})
    assert nobrokers.status_code == 400 and "brokers" in error_of(nobrokers)["message"]
    secret = gust.api("POST", "/api/v1/triggers", json={
        "kind": "kafka", "function": name, "topic": unique("t"), "brokers": kafka,
        "properties": {"sasl.password": "hunter2", "client.rack": "r1"}})
    assert secret.status_code == 201, secret.text
    assert "hunter2" not in secret.text and "sasl.password" in secret.json()["properties"]
    assert "hunter2" not in gust.api("GET", "/api/v1/triggers").text
    assert gust.cli("trigger", "rm", secret.json()["id"]).returncode == 0


CRASHER = pack({
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
    "main.py": (
        "import base64\n"
        "def handler(event, context):\n"
        "    values = [base64.b64decode(r['value']).decode()\n"
        "              for records in event['records'].values() for r in records]\n"
        "    if 'crash' in values:\n"
        "        raise RuntimeError('cannot handle crash')\n"
        "    print('SEEN ' + ' '.join('0:0:' + v for v in values), flush=True)\n"
        "    return {}\n"
    ),
})


def test_a_batch_that_fails_whole_is_retried_one_record_at_a_time_so_only_the_bad_one_is_dead(kafka, gust):
    topic, dlq = unique("crashy"), unique("crashy-dlq")
    create_topic(topic, 1)
    create_topic(dlq, 1)
    values = [f"c{i:03d}" for i in range(30)]
    values[17] = "crash"
    produce(topic, [f"k:{v}" for v in values])
    name = unique("kafka-crasher")
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=CRASHER, timeout=180)
    assert r.status_code == 201, r.text
    made = gust.cli("--json", "trigger", "kafka", topic, "--fn", name, "--brokers", kafka, "--batch", "10",
                    "--window", "100ms", "--start", "earliest", "--dlq", dlq, "--max-retries", "1")
    assert made.returncode == 0, made.stderr
    wanted = set(values) - {"crash"}
    deadline = time.monotonic() + 90
    while not wanted <= {v for _, _, v in seen_records(gust, name)}:
        assert time.monotonic() < deadline, f"missing: {wanted - {v for _, _, v in seen_records(gust, name)}}"
        time.sleep(0.3)
    dead = consume_all(dlq)
    assert [d["payload"] for d in dead] == ["crash"], dead
    headers = dict(zip(dead[0]["headers"][::2], dead[0]["headers"][1::2]))
    assert headers["gust-source-offset"] == "17" and "cannot handle crash" in headers["gust-error"]
    assert gust.cli("trigger", "rm", json.loads(made.stdout)["id"]).returncode == 0
