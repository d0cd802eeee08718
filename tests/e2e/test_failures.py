"""What a caller sees when a function times out, crashes, raises or answers nonsense, and when a
request is too large or names nothing: the documented status and error code, and the function
keeps serving the next call."""

import hashlib
import os
import time

from conftest import FUNCTIONS, error_of, unique

MiB = 1 << 20


def test_function_past_timeout_answers_504_and_next_call_succeeds(gust):
    name = unique("timeout")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)  # timeout_s = 1
    assert gust.get(f"/fn/{name}").status_code == 200  # warm, so the timing is the call's own
    began = time.monotonic()
    r = gust.get(f"/fn/{name}?do=sleep")  # sleeps 30 s
    elapsed = time.monotonic() - began
    assert r.status_code == 504
    assert error_of(r)["code"] == "timeout"
    assert r.headers["X-Gust-Activation-Id"]
    assert elapsed < 10, f"the 1 s timeout took {elapsed:.1f} s to answer"
    after = gust.get(f"/fn/{name}")
    assert after.status_code == 200
    assert after.json()["calls"] == 1, "the timed-out instance should have been replaced"


def test_python_crash_answers_502_with_exit_code_and_next_call_succeeds(gust):
    name = unique("crash-py")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    first = gust.get(f"/fn/{name}").json()
    r = gust.get(f"/fn/{name}?do=exit")  # os._exit(3)
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    assert "exit code 3" in error["message"]
    after = gust.get(f"/fn/{name}")
    assert after.status_code == 200
    assert after.json()["pid"] != first["pid"]


def test_node_crash_answers_502_with_exit_code_and_next_call_succeeds(gust):
    name = unique("crash-node")
    gust.deploy(FUNCTIONS / "node-misbehave", name=name)
    assert gust.get(f"/fn/{name}").status_code == 200
    r = gust.get(f"/fn/{name}?do=exit")  # process.exit(7)
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    assert "exit code 7" in error["message"]
    after = gust.get(f"/fn/{name}")
    assert after.status_code == 200
    assert after.json()["calls"] == 1


def test_raising_handler_answers_502_naming_exception_and_instance_survives(gust):
    name = unique("raise")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    before = gust.get(f"/fn/{name}").json()
    r = gust.get(f"/fn/{name}?do=raise")
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    assert "ValueError" in error["message"]
    after = gust.get(f"/fn/{name}").json()
    assert after["pid"] == before["pid"]
    assert after["calls"] == before["calls"] + 2  # the raising call counted too


def test_non_numeric_status_code_answers_502_function_error(gust):
    name = unique("bad-status")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    r = gust.get(f"/fn/{name}?do=bad-status")
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    assert "statusCode" in error["message"]
    assert "never sent" not in r.text


def test_object_body_answers_502_function_error(gust):
    name = unique("object-body")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    r = gust.get(f"/fn/{name}?do=object-body")
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    assert "body" in error["message"]
    assert gust.get(f"/fn/{name}").status_code == 200


def test_body_over_6_mib_answers_413_too_large(gust):
    name = unique("too-large")
    gust.deploy(FUNCTIONS / "py-body-length", name=name)
    r = gust.post(f"/fn/{name}", data=os.urandom(7 * MiB),
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413
    assert error_of(r)["code"] == "too_large"
    assert gust.get("/healthz").status_code == 200


def test_chunked_body_over_6_mib_answers_413_too_large(gust):
    name = unique("too-large-chunked")
    gust.deploy(FUNCTIONS / "py-body-length", name=name)
    chunk = os.urandom(MiB)

    def body():  # no Content-Length: the limit must hold while the body streams in
        for _ in range(7):
            yield chunk

    r = gust.post(f"/fn/{name}", data=body(), headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 413
    assert error_of(r)["code"] == "too_large"
    assert gust.get("/healthz").status_code == 200


def test_body_of_5_mib_reaches_the_function_whole(gust):
    name = unique("big-body")
    gust.deploy(FUNCTIONS / "py-body-length", name=name)
    payload = os.urandom(5 * MiB)
    r = gust.post(f"/fn/{name}", data=payload, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200, r.text[:500]
    assert r.json() == {"length": len(payload), "sha256": hashlib.sha256(payload).hexdigest()}


def test_unknown_function_answers_404_json(gust):
    r = gust.get("/fn/no-such-function-anywhere")
    assert r.status_code == 404
    error = error_of(r)
    assert error["code"] == "not_found"
    assert "no-such-function-anywhere" in error["message"]


def test_unknown_version_answers_404_json(gust):
    name = unique("versioned")
    gust.deploy(FUNCTIONS / "py-plain-dict", name=name)
    assert gust.get(f"/fn/{name}@1").status_code == 200
    r = gust.get(f"/fn/{name}@99")
    assert r.status_code == 404
    assert error_of(r)["code"] == "not_found"
