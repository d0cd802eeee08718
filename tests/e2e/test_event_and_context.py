"""The payload-2.0 event and the Lambda context a Python handler receives, seen from inside it."""

import base64
import json
import socket

import pytest

from conftest import FUNCTIONS, unique


@pytest.fixture(scope="module")
def echo(gust):
    name = unique("echo")
    gust.deploy(FUNCTIONS / "py-event-echo", name=name)
    return name


def test_proxy_path_parameter_is_url_decoded_while_raw_path_is_not(gust, echo):
    r = gust.get(f"/fn/{echo}/caf%C3%A9/a%20b")
    assert r.status_code == 200, r.text
    event = r.json()["event"]
    assert event["pathParameters"] == {"proxy": "café/a b"}
    assert event["rawPath"] == f"/fn/{echo}/caf%C3%A9/a%20b"


def test_event_carries_path_query_cookies_and_lowercase_headers(gust, echo):
    r = gust.get(f"/fn/{echo}/some/deep/path?x=1&y=a%20b&y=c",
                 headers={"X-Custom-Header": "Mixed-Case-Value", "Cookie": "a=1; b=two",
                          "User-Agent": "gust-e2e/1.0"})
    assert r.status_code == 200, r.text
    event = r.json()["event"]
    assert event["version"] == "2.0"
    assert event["routeKey"] == "$default"
    assert event["rawPath"] == f"/fn/{echo}/some/deep/path"
    assert event["rawQueryString"] == "x=1&y=a%20b&y=c"
    assert event["queryStringParameters"] == {"x": "1", "y": "a b,c"}
    assert event["cookies"] == ["a=1", "b=two"]
    assert event["pathParameters"] == {"proxy": "some/deep/path"}
    headers = event["headers"]
    assert all(key == key.lower() for key in headers), headers
    assert headers["x-custom-header"] == "Mixed-Case-Value"
    http = event["requestContext"]["http"]
    assert http["method"] == "GET"
    assert http["sourceIp"] == "127.0.0.1"
    assert http["path"] == f"/fn/{echo}/some/deep/path"
    assert http["userAgent"] == "gust-e2e/1.0"
    assert "body" not in event
    assert event["isBase64Encoded"] is False


def test_event_request_id_is_the_activation_id_header(gust, echo):
    r = gust.request("PUT", f"/fn/{echo}")
    assert r.status_code == 200
    event = r.json()["event"]
    activation_id = r.headers["X-Gust-Activation-Id"]
    assert activation_id
    assert event["requestContext"]["requestId"] == activation_id
    assert event["requestContext"]["http"]["method"] == "PUT"


def test_event_binary_body_arrives_base64_encoded(gust, echo):
    payload = bytes(range(256)) * 4
    r = gust.post(f"/fn/{echo}", data=payload,
                  headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200
    event = r.json()["event"]
    assert event["isBase64Encoded"] is True
    assert base64.b64decode(event["body"]) == payload


def test_event_text_body_arrives_as_text(gust, echo):
    text = '{"hello": "w\u00f6rld"}'
    r = gust.post(f"/fn/{echo}", data=text.encode(),
                  headers={"Content-Type": "application/json"})
    assert r.status_code == 200
    event = r.json()["event"]
    assert event["isBase64Encoded"] is False
    assert event["body"] == text
    assert event["headers"]["content-type"] == "application/json"


def test_repeated_headers_are_joined_with_commas(gust, echo):
    # requests cannot send a header twice, so write the request by hand.
    with socket.create_connection(("127.0.0.1", gust.port), timeout=30) as s:
        s.sendall((f"GET /fn/{echo} HTTP/1.1\r\nHost: x\r\nX-Twice: one\r\nX-Twice: two\r\n"
                   "Connection: close\r\n\r\n").encode())
        raw = b""
        while chunk := s.recv(65536):
            raw += chunk
    head, _, body = raw.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200"), head
    assert json.loads(body)["event"]["headers"]["x-twice"] == "one,two"


def test_context_names_function_request_memory_and_remaining_time(gust, echo):
    r = gust.get(f"/fn/{echo}")
    assert r.status_code == 200
    context = r.json()["context"]
    assert context["function_name"] == echo
    assert context["aws_request_id"] == r.headers["X-Gust-Activation-Id"]
    assert context["memory_limit_in_mb"] == 256  # from gust.toml
    assert 0 < context["remaining_ms"] <= 30_000  # timeout_s = 30
