"""Error bodies sent to HTTP callers of a function (/fn/..., gateway routes: anyone, often
anonymous) carry no operator hints — secret names, load errors, file paths, exception
messages, stack traces. The function's owner reads them in the activation record and through
the control API's invoke; the caller gets the status, the error code, the kind of failure and
the activation id (src/gateway/caller_error.h)."""

from __future__ import annotations

import uuid

from conftest import error_of, unique

HINTS = ("DB_PASSWORD", "main.py", "/code", "functions/", "KeyError", "RuntimeError", "Traceback")


def assert_no_hints(r, *more: str) -> dict:
    error = error_of(r)
    for hint in HINTS + more:
        assert hint not in r.text, (hint, r.text[:500])
    activation = r.headers["X-Gust-Activation-Id"]
    assert activation in error["message"], error
    return error


def test_init_error_shows_the_caller_no_load_error_or_path(mode):
    name = unique("leaky-init")
    mode.server.deploy(mode.bundle("leaky", extra={"init_fails": "1"}), name=name, force=True)
    r = mode.server.get(f"/fn/{name}", timeout=60)
    assert r.status_code == 502, r.text[:300]
    error = assert_no_hints(r)
    assert error["code"] == "function_error" and "failed to initialize" in error["message"]
    record = mode.server.activation(r.headers["X-Gust-Activation-Id"])
    assert record["status"] == "init_error"
    assert "DB_PASSWORD" in record["error"] and "main.py" in record["error"], record["error"]


def test_raised_error_shows_the_caller_no_message_through_fn_or_a_route(mode):
    name = unique("leaky-raise")
    mode.server.deploy(mode.bundle("leaky"), name=name)
    path = f"/{unique('leaky')}"
    routed = mode.server.api("POST", "/api/v1/routes", json={"route": f"GET {path}", "function": name})
    assert routed.status_code == 201, routed.text
    for target in (f"/fn/{name}?do=raise", f"{path}?do=raise"):
        r = mode.server.get(target, timeout=60)
        assert r.status_code == 502, (target, r.text[:300])
        error = assert_no_hints(r)
        assert "raised an error" in error["message"], error
        record = mode.server.activation(r.headers["X-Gust-Activation-Id"])
        assert record["status"] == "error"
        assert "KeyError" in record["error"] and "DB_PASSWORD" in record["error"], record
    # The owner's own call through the control API keeps the whole message.
    owner = mode.server.api("POST", f"/api/v1/functions/{name}/invoke",
                            json={"queryStringParameters": {"do": "raise"}})
    assert owner.status_code == 502
    assert "KeyError" in owner.text and "DB_PASSWORD" in owner.text, owner.text[:500]


def test_missing_secret_is_not_named_to_the_caller_but_is_to_the_owner(mode):
    secret = f"LEAKY_{uuid.uuid4().hex[:8].upper()}"
    r = mode.server.api("PUT", f"/api/v1/secrets/{secret}", json={"value": "v"})
    assert r.status_code in (200, 201), r.text
    name = unique("leaky-secret")
    mode.server.deploy(mode.bundle("leaky", {"secrets": [secret]}), name=name)
    assert mode.server.get(f"/fn/{name}", timeout=60).status_code == 200
    assert mode.server.api("DELETE", f"/api/v1/secrets/{secret}").status_code == 200
    r = mode.server.get(f"/fn/{name}", timeout=60)
    assert r.status_code == 502, r.text[:300]
    error = assert_no_hints(r, secret, "gust secret")
    assert error["code"] == "function_error"
    owner = mode.server.api("POST", f"/api/v1/functions/{name}/invoke", json={})
    assert owner.status_code == 502 and secret in owner.text, owner.text[:500]
    # The server log has it too, for the operator.
    assert secret in mode.server.log(200000)
