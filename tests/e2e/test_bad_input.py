"""Bad input gets a precise error where it enters, not a failure later (issue #16): a gust.toml
env entry that cannot become an environment variable is refused at deploy; control API times and
numbers that overflow, are negative or are garbage are a 400 naming the parameter and its range;
a call to a function that does not exist leaves no usage row or metrics series of its own (the
caller picks the name: rows for any name would grow without bound).

The HTTP framing cases (Host, a 413 while the body is still arriving) are in
tests/security/test_http_hardening.py, beside the other raw-socket tests of the server."""

from __future__ import annotations

import time
import uuid

import pytest

from conftest import error_of, pack, unique

HANDLER = {"main.py": "def handler(event, context):\n    return 'ok'\n"}


def deploy_raw(gust, name: str, files: dict):
    return gust.api("POST", f"/api/v1/functions/{name}/versions", data=pack(files),
                    headers={"Content-Type": "application/gzip"})


@pytest.mark.parametrize("env,named", [
    ('{ GOOD = "1", BAD = "a\\u0000b" }', "env.BAD"),
    ('{ "A=B" = "1" }', "A=B"),
    ('{ "" = "1" }', "empty"),
    ('{ "A\\u0000B" = "1" }', "A\\x00B"),
], ids=["nul-in-value", "equals-in-name", "empty-name", "nul-in-name"])
def test_an_env_entry_that_cannot_be_an_environment_variable_is_refused_at_deploy(gust, env, named):
    """A NUL in a value used to be accepted, and then every invoke of the version died. Now the
    deploy is a 400 naming the variable and its gust.toml line, and nothing is deployed."""
    name = unique("bad-env")
    toml = f'runtime = "python3"\nhandler = "main.handler"\nenv = {env}\n'
    r = deploy_raw(gust, name, {"gust.toml": toml, **HANDLER})
    assert r.status_code == 400, r.text
    error = error_of(r)
    assert error["code"] == "invalid_argument", error
    assert "gust.toml:3" in error["message"] and named in error["message"], error
    assert "\x00" not in error["message"], error
    assert gust.api("GET", f"/api/v1/functions/{name}").status_code == 404


def test_an_env_value_with_equals_and_newlines_still_reaches_the_function(gust):
    name = unique("good-env")
    toml = 'runtime = "python3"\nhandler = "main.handler"\nenv = { MODE = "a=b\\nc" }\n'
    code = "import os\ndef handler(event, context):\n    return os.environ['MODE']\n"
    r = deploy_raw(gust, name, {"gust.toml": toml, "main.py": code})
    assert r.status_code == 201, r.text
    assert gust.get(f"/fn/{name}").json() == "a=b\nc"


TIME_PARAMS = [
    ("/api/v1/usage", "since"), ("/api/v1/usage", "until"), ("/api/v1/activations", "since"),
    ("/api/v1/access-log", "since"), ("/api/v1/audit", "since"),
]


@pytest.mark.parametrize("path,param", TIME_PARAMS)
@pytest.mark.parametrize("value", ["99999999999h", "99999999999999999999h", "-1h", "1.5h",
                                   "soon", "1969-12-31"])
def test_a_time_parameter_out_of_range_or_malformed_is_a_400_naming_it(gust, path, param, value):
    """`usage?since=99999999999h` used to overflow (a garbage window, or a 500 for more
    digits than fit): now each time parameter says what it accepts."""
    r = gust.api("GET", path, params={param: value})
    assert r.status_code == 400, (path, param, value, r.status_code, r.text[:300])
    message = error_of(r)["message"]
    assert message.startswith(f"{param} must be"), message
    assert "36500d" in message and "1970-01-01" in message, message


@pytest.mark.parametrize("path,param,value", [
    ("/api/v1/activations", "limit", "99999999999999999999"),
    ("/api/v1/activations", "limit", "-1"),
    ("/api/v1/access-log", "after", "-5"),
    ("/api/v1/access-log", "limit", "ten"),
    ("/api/v1/audit", "limit", "0"),
    ("/api/v1/invocations", "limit", "1001"),
])
def test_a_number_parameter_out_of_range_is_a_400_naming_it_and_its_range(gust, path, param, value):
    r = gust.api("GET", path, params={param: value})
    assert r.status_code == 400, (path, param, value, r.status_code, r.text[:300])
    message = error_of(r)["message"]
    assert message.startswith(f"{param} must be an integer from "), message


def test_a_logs_limit_out_of_range_is_a_400_not_the_default(gust):
    name = unique("logs-limit")
    assert deploy_raw(gust, name, HANDLER).status_code == 201
    r = gust.api("GET", f"/api/v1/functions/{name}/logs", params={"limit": "5000"})
    assert r.status_code == 400, r.text[:300]
    assert error_of(r)["message"].startswith("limit must be an integer from 1 to 1000"), r.text


def test_times_in_range_are_still_accepted(gust):
    for params in ({"since": "36500d"}, {"since": "0s"}, {"since": "2026-01-01T00:00:00Z"},
                   {"since": "7d", "until": "1h"}):
        r = gust.api("GET", "/api/v1/usage", params=params)
        assert r.status_code == 200, (params, r.text[:300])


def wait_for_access_record(gust, path: str) -> dict:
    """The access log is written behind the response: wait until the 404 is in it, so that what
    is asked of usage next has the record to (wrongly) count."""
    deadline = time.monotonic() + 10
    while True:
        r = gust.api("GET", "/api/v1/access-log", params={"status": "404", "since": "1h",
                                                          "limit": "1000"})
        assert r.status_code == 200, r.text
        found = [record for record in r.json()["records"] if record["path"] == path]
        if found:
            return found[0]
        assert time.monotonic() < deadline, f"no access record for {path}"
        time.sleep(0.1)


def test_a_call_to_a_function_that_does_not_exist_leaves_no_usage_row_or_series(gust):
    """Usage listed a function row for every name called at /fn/<name>, existing or not: an
    anonymous caller could mint rows (and usage output) without bound. The 404 stays in the
    access log, which is what happened; usage and /metrics name only real functions."""
    missing = f"nosuch-{uuid.uuid4().hex[:12]}"
    other_tenant = f"nosuch-tenant-{uuid.uuid4().hex[:12]}"
    real = unique("real-fn")
    assert deploy_raw(gust, real, HANDLER).status_code == 201
    assert gust.get(f"/fn/{missing}").status_code == 404
    assert gust.get(f"/fn/{missing}@3").status_code == 404
    assert gust.post(f"/t/{other_tenant}/fn/{missing}", data=b"x").status_code == 404
    assert gust.api("POST", f"/api/v1/functions/{missing}/invoke", json={}).status_code == 404
    # A missing version of a real function is still that function's traffic.
    assert gust.get(f"/fn/{real}@9").status_code == 404
    record = wait_for_access_record(gust, f"/t/{other_tenant}/fn/{missing}")
    assert record["status"] == 404
    wait_for_access_record(gust, f"/fn/{real}@9")

    for by in ("function", "route", "tenant", "version"):
        r = gust.api("GET", "/api/v1/usage", params={"by": by, "since": "1h"})
        assert r.status_code == 200, r.text
        groups = [row["group"] for row in r.json()["rows"]]
        assert not [g for g in groups if missing in g or other_tenant in g], (by, groups)
        assert "" not in groups, (by, groups)
        if by == "function":
            assert real in groups, groups
    metrics = gust.get("/metrics")
    assert metrics.status_code == 200
    assert missing not in metrics.text and other_tenant not in metrics.text
