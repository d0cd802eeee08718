"""What operators see: the server's own structured log, and the cap on an activation's logs."""
import json

from conftest import FUNCTIONS, unique


def test_server_log_is_one_json_object_per_line_with_levels(gust):
    name = unique("obs-chatty")
    gust.deploy(FUNCTIONS / "obs-chatty", name=name)
    events = []
    for line in gust.log(tail_bytes=10_000_000).splitlines():
        if line.startswith("{"):
            record = json.loads(line)  # every structured line must parse
            assert {"ts", "level", "event"} <= record.keys(), record
            assert record["level"] in {"debug", "info", "warn", "error"}, record
            events.append(record)
    kinds = {record["event"] for record in events}
    assert "server.started" in kinds, kinds
    deploys = [r for r in events if r["event"] == "deploy" and r.get("function") == name]
    assert deploys and deploys[0]["version"] == 1, events[-5:]


def test_an_activation_keeps_at_most_a_mebibyte_of_logs_and_says_what_it_dropped(gust):
    name = unique("obs-chatty")
    gust.deploy(FUNCTIONS / "obs-chatty", name=name)
    response = gust.get(f"/fn/{name}?lines=20000")  # ~2.2 MB of output
    assert response.status_code == 200, response.text
    record = gust.activation(response.headers["X-Gust-Activation-Id"])
    logs = record["logs"]
    assert len(logs.encode()) <= (1 << 20) + 4096, len(logs)
    assert "line 000000" in logs
    assert "line 019999" not in logs
    assert "bytes of logs dropped" in logs.splitlines()[-1], logs.splitlines()[-1]
    # The next activation of the same instance starts with a clean slate.
    small = gust.get(f"/fn/{name}?lines=3")
    again = gust.activation(small.headers["X-Gust-Activation-Id"])
    assert again["logs"].count("\n") == 3, again["logs"]
