"""What a caller sees when a function times out, crashes, raises or answers nonsense, and when a
request is too large or names nothing: the documented status and error code, and the function
keeps serving the next call."""

import hashlib
import json
import os
import time

import pytest
import requests

from conftest import FUNCTIONS, error_of, unique

MiB = 1 << 20


@pytest.fixture(scope="module")
def responses_fn(gust):
    name = unique("responses")
    gust.deploy(FUNCTIONS / "py-responses", name=name)
    return name


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
    assert after.json()["instance"] != first["instance"]


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


def test_raising_handler_answers_502_recording_the_exception_and_instance_survives(gust):
    name = unique("raise")
    gust.deploy(FUNCTIONS / "py-misbehave", name=name)
    before = gust.get(f"/fn/{name}").json()
    r = gust.get(f"/fn/{name}?do=raise")
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    # The exception is the owner's to read (its record), not the caller's.
    assert "ValueError" not in error["message"] and "raised an error" in error["message"]
    assert "ValueError" in gust.activation(r.headers["X-Gust-Activation-Id"])["error"]
    after = gust.get(f"/fn/{name}").json()
    assert after["instance"] == before["instance"]
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


RESPONSE_SHAPES = {
    "list": (200, b'[1,"two",null]'),
    "string": (200, b'"just text"'),
    "number": (200, b"42"),
    "null": (200, b"null"),
    "no-status": (200, None),
}


@pytest.mark.parametrize("shape", sorted(RESPONSE_SHAPES))
def test_return_value_without_status_code_is_sent_as_200_json(gust, responses_fn, shape):
    status, body = RESPONSE_SHAPES[shape]
    r = gust.get(f"/fn/{responses_fn}?shape={shape}")
    assert r.status_code == status
    assert r.headers["content-type"].startswith("application/json")
    if body is None:
        assert r.json() == {"body": "not a response", "headers": {"x": "y"}}
    else:
        assert json.loads(r.content) == json.loads(body)


def test_response_content_type_defaults_to_json(gust, responses_fn):
    r = gust.get(f"/fn/{responses_fn}?shape=default-content-type")
    assert r.status_code == 200
    assert r.headers["content-type"] == "application/json"
    assert r.json() == {"a": 1}


def test_base64_response_body_is_decoded(gust, responses_fn):
    r = gust.get(f"/fn/{responses_fn}?shape=base64")
    assert r.status_code == 200
    assert r.content == bytes(range(256))


def test_multi_value_headers_are_each_sent(gust, responses_fn):
    r = gust.get(f"/fn/{responses_fn}?shape=multi-value")
    assert r.status_code == 200
    values = r.raw.headers.getlist("x-multi")
    assert values == ["a", "b"] or values == ["a, b"] or values == ["a,b"], values


@pytest.mark.parametrize("shape,mentions", [
    ("status-600", "statusCode"), ("status-99", "statusCode"), ("header-newline", "x-evil"),
    ("bad-base64", "base64"),
])
def test_invalid_response_object_answers_502_saying_what_is_wrong(gust, responses_fn, shape, mentions):
    r = gust.get(f"/fn/{responses_fn}?shape={shape}")
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    assert mentions in error["message"]
    assert "Injected" not in r.headers


def test_204_without_body_is_sent(gust, responses_fn):
    r = gust.get(f"/fn/{responses_fn}?shape=204-empty")
    assert r.status_code == 204
    assert r.content == b""


@pytest.mark.parametrize("shape,status", [("204-with-body", 204), ("304-with-body", 304)])
def test_no_content_status_with_body_still_gets_an_answer(gust, responses_fn, shape, status):
    try:
        r = gust.get(f"/fn/{responses_fn}?shape={shape}", timeout=30)
    except requests.ConnectionError as e:
        pytest.fail(f"no HTTP answer at all: {e}")
    assert r.status_code in (status, 502)
    if r.status_code == status:
        assert r.content == b""
    else:
        assert error_of(r)["code"] == "function_error"


def test_node_handler_that_throws_answers_502_recording_the_error_type(gust, tmp_path):
    (tmp_path / "index.js").write_text(
        'exports.handler = async () => { throw new TypeError("wrong type here"); };\n')
    name = unique("node-throw")
    gust.deploy(tmp_path, name=name)
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 502
    error = error_of(r)
    assert error["code"] == "function_error"
    assert "wrong type here" not in error["message"]
    record = gust.activation(r.headers["X-Gust-Activation-Id"])
    assert "TypeError" in record["error"] and "wrong type here" in record["error"], record


def test_node_callback_style_handler_answers_through_the_callback(gust, tmp_path):
    (tmp_path / "index.js").write_text(
        "exports.handler = (event, context, callback) => {\n"
        "  setTimeout(() => callback(null, { via: 'callback' }), 10);\n};\n")
    name = unique("node-callback")
    gust.deploy(tmp_path, name=name)
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 200
    assert r.json() == {"via": "callback"}
