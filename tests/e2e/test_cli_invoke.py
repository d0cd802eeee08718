"""`gust invoke`: Lambda's direct invocation from the command line."""

import json

from conftest import FUNCTIONS, unique


def test_invoke_prints_the_handlers_raw_result(gust, tmp_path):
    (tmp_path / "main.py").write_text(
        "def handler(event, context):\n    return {'got': event, 'answer': event['x'] + 1}\n")
    name = unique("invoke")
    gust.deploy(tmp_path, name=name)
    done = gust.cli("invoke", name, "--data", '{"x": 1}', timeout=60)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"got": {"x": 1}, "answer": 2}


def test_invoke_json_gives_activation_status_and_result(gust, tmp_path):
    (tmp_path / "main.py").write_text("def handler(event, context):\n    return [event, 'ok']\n")
    name = unique("invoke-json")
    gust.deploy(tmp_path, name=name)
    done = gust.cli("--json", "invoke", name, "--data", '{"x": 1}', timeout=60)
    assert done.returncode == 0, done.stderr
    out = json.loads(done.stdout)
    assert set(out) == {"activation_id", "status", "result"}
    assert out["status"] == 200
    assert out["result"] == [{"x": 1}, "ok"]
    activation = gust.activation(out["activation_id"])
    assert activation["function"] == name
    assert activation["trigger"] == "invoke"
    assert activation["status"] == "success"


def test_invoke_of_a_raising_function_exits_non_zero_naming_the_error(gust):
    name = unique("invoke-raise")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    done = gust.cli("invoke", name, "--data", '{"do": "raise"}', timeout=60)
    assert done.returncode != 0
    assert "ValueError" in done.stderr, done.stderr
    as_json = gust.cli("--json", "invoke", name, "--data", '{"do": "raise"}', timeout=60)
    assert as_json.returncode != 0
    out = json.loads(as_json.stdout)
    assert out["status"] == 502
    assert "result" not in out
    activation = gust.activation(out["activation_id"])
    assert activation["status"] == "error"


def test_invoke_with_data_that_is_not_json_fails_before_calling(gust):
    name = unique("invoke-bad-data")
    gust.deploy(FUNCTIONS / "py-logs", name=name)
    done = gust.cli("invoke", name, "--data", "{not json", timeout=60)
    assert done.returncode != 0
    assert "JSON" in done.stderr
    listed = gust.api("GET", "/api/v1/activations", params={"function": name}).json()
    assert listed["activations"] == []


def test_invoke_of_unknown_function_exits_non_zero(gust):
    done = gust.cli("invoke", unique("missing"), timeout=60)
    assert done.returncode != 0
    assert "404" in done.stderr or "no function" in done.stderr, done.stderr


def test_invoke_api_passes_event_through_and_marks_activation(gust, tmp_path):
    (tmp_path / "main.py").write_text("def handler(event, context):\n    return event\n")
    name = unique("invoke-api")
    gust.deploy(tmp_path, name=name)
    r = gust.api("POST", f"/api/v1/functions/{name}/invoke", json={"deep": {"list": [1, 2]}})
    assert r.status_code == 200
    assert r.json() == {"deep": {"list": [1, 2]}}
    assert r.headers["X-Gust-Activation-Id"]
    empty = gust.api("POST", f"/api/v1/functions/{name}/invoke")
    assert empty.status_code == 200
    assert empty.json() == {}
