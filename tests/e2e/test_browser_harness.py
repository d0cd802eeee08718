"""The browser harness checked against a server whose CORS answers the test chooses.

Before the CORS tests can say anything about Gust, the harness must be shown to tell the cases
apart in a real Chromium: a response that allows the page's origin is read, one that does not is
blocked, a non-simple request is preflighted (and the probe's `preflight` agrees with what the
server saw), only exposed headers are readable, and credentials need an exact origin.

The target server takes its CORS headers from the query string, `?h=Name: value` (repeatable),
and sends them on every answer, preflight included, so each case states its policy in its URL.
"""

from __future__ import annotations

from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qsl, urlencode, urlsplit

import pytest

from browser import (  # noqa: F401 (fixtures)
    _ServingThread, browser_fetch, other_page_origin, page_origin, require_browser)


class _TargetHandler(BaseHTTPRequestHandler):
    def _answer(self):
        query = urlsplit(self.path).query
        length = int(self.headers.get("Content-Length") or 0)
        body = self.rfile.read(length).decode() if length else ""
        self.server.seen.append({"method": self.command, "path": urlsplit(self.path).path,
                                 "origin": self.headers.get("Origin"),
                                 "request_method": self.headers.get("Access-Control-Request-Method"),
                                 "request_headers": self.headers.get("Access-Control-Request-Headers"),
                                 "x_custom": self.headers.get("X-Custom")})
        out = b"" if self.command == "OPTIONS" else f"{self.command} target {body}".encode()
        self.send_response(204 if self.command == "OPTIONS" else 200)
        for key, value in parse_qsl(query):
            if key == "h":
                name, _, header_value = value.partition(":")
                self.send_header(name.strip(), header_value.strip())
        self.send_header("X-Thing", "secret-unless-exposed")
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(out)))
        self.end_headers()
        self.wfile.write(out)

    do_GET = do_POST = do_PUT = do_DELETE = do_OPTIONS = _answer

    def log_message(self, *args):
        pass


class Target(_ServingThread):
    def __init__(self):
        super().__init__(_TargetHandler)
        self.httpd.seen = []

    @property
    def seen(self) -> list[dict]:
        return self.httpd.seen

    def url(self, path: str, *headers: str) -> str:
        query = urlencode([("h", h) for h in headers])
        return f"{self.origin}{path}" + (f"?{query}" if query else "")


@pytest.fixture
def target():
    with Target() as server:
        yield server


def methods(target: Target, path: str) -> list[str]:
    return [r["method"] for r in target.seen if r["path"] == path]


def test_a_response_allowing_the_pages_origin_is_read(target, page_origin):
    r = browser_fetch(page_origin, target.url("/allowed", f"Access-Control-Allow-Origin: {page_origin}"))
    assert r["ok"], r
    assert r["status"] == 200
    assert r["body"] == "GET target "
    assert r["preflight"] is False
    assert r["cors_error"] is None
    assert methods(target, "/allowed") == ["GET"]
    assert target.seen[0]["origin"] == page_origin


def test_a_response_without_cors_headers_is_blocked(target, page_origin):
    r = browser_fetch(page_origin, target.url("/bare"))
    assert r == {"ok": False, "error": "TypeError: Failed to fetch", "preflight": False,
                 "cors_error": "MissingAllowOriginHeader"}
    # A simple request is sent all the same; only its answer is kept from the page.
    assert methods(target, "/bare") == ["GET"]


def test_a_response_allowing_another_origin_is_blocked(target, page_origin, other_page_origin):
    r = browser_fetch(page_origin, target.url("/other", f"Access-Control-Allow-Origin: {other_page_origin}"))
    assert not r["ok"], r
    assert r["error"] == "TypeError: Failed to fetch"
    assert r["cors_error"] == "AllowOriginMismatch"


def test_a_star_origin_lets_any_page_read(target, page_origin, other_page_origin):
    for origin in (page_origin, other_page_origin):
        r = browser_fetch(origin, target.url("/star", "Access-Control-Allow-Origin: *"))
        assert r["ok"] and r["status"] == 200, (origin, r)


def test_a_simple_post_with_a_text_body_is_not_preflighted(target, page_origin):
    r = browser_fetch(page_origin, target.url("/post", "Access-Control-Allow-Origin: *"),
                      method="POST", headers={"Content-Type": "text/plain"}, body="payload")
    assert r["ok"], r
    assert r["body"] == "POST target payload"
    assert r["preflight"] is False
    assert methods(target, "/post") == ["POST"]


def test_a_put_with_a_custom_header_is_preflighted_and_allowed(target, page_origin):
    url = target.url("/put", f"Access-Control-Allow-Origin: {page_origin}",
                     "Access-Control-Allow-Methods: PUT", "Access-Control-Allow-Headers: X-Custom")
    r = browser_fetch(page_origin, url, method="PUT", headers={"X-Custom": "1"}, body="data")
    assert r["ok"], r
    assert r["body"] == "PUT target data"
    assert r["preflight"] is True
    assert methods(target, "/put") == ["OPTIONS", "PUT"]
    preflight, actual = [x for x in target.seen if x["path"] == "/put"]
    assert preflight["request_method"] == "PUT"
    assert preflight["request_headers"] == "x-custom"
    assert actual["x_custom"] == "1"


def test_a_preflight_that_does_not_allow_the_header_blocks_the_request(target, page_origin):
    url = target.url("/put-no-header", f"Access-Control-Allow-Origin: {page_origin}",
                     "Access-Control-Allow-Methods: PUT")
    r = browser_fetch(page_origin, url, method="PUT", headers={"X-Custom": "1"})
    assert not r["ok"], r
    assert r["preflight"] is True
    assert r["cors_error"] == "HeaderDisallowedByPreflightResponse"
    # The request itself is never sent.
    assert methods(target, "/put-no-header") == ["OPTIONS"]


def test_a_preflight_that_does_not_allow_the_method_blocks_the_request(target, page_origin):
    url = target.url("/put-no-method", f"Access-Control-Allow-Origin: {page_origin}",
                     "Access-Control-Allow-Headers: X-Custom")
    r = browser_fetch(page_origin, url, method="PUT", headers={"X-Custom": "1"})
    assert not r["ok"], r
    assert r["preflight"] is True
    assert r["cors_error"] == "MethodDisallowedByPreflightResponse"
    assert methods(target, "/put-no-method") == ["OPTIONS"]


def test_only_exposed_headers_are_readable(target, page_origin):
    plain = browser_fetch(page_origin, target.url("/plain", "Access-Control-Allow-Origin: *"))
    assert plain["ok"], plain
    assert "x-thing" not in plain["headers"]
    assert plain["headers"]["content-type"] == "text/plain"  # safelisted, always readable
    exposed = browser_fetch(page_origin, target.url("/exposed", "Access-Control-Allow-Origin: *",
                                                    "Access-Control-Expose-Headers: X-Thing"))
    assert exposed["ok"], exposed
    assert exposed["headers"]["x-thing"] == "secret-unless-exposed"


def test_credentials_need_the_exact_origin_and_allow_credentials(target, page_origin):
    listed = browser_fetch(page_origin, target.url("/cred", f"Access-Control-Allow-Origin: {page_origin}",
                                                   "Access-Control-Allow-Credentials: true"),
                           credentials="include")
    assert listed["ok"], listed
    star = browser_fetch(page_origin, target.url("/cred-star", "Access-Control-Allow-Origin: *",
                                                 "Access-Control-Allow-Credentials: true"),
                         credentials="include")
    assert not star["ok"] and star["cors_error"] == "WildcardOriginNotAllowed", star
    no_flag = browser_fetch(page_origin, target.url("/cred-no-flag", f"Access-Control-Allow-Origin: {page_origin}"),
                            credentials="include")
    assert not no_flag["ok"] and no_flag["cors_error"] == "InvalidAllowCredentials", no_flag


def test_a_target_that_never_answers_fails_the_probe_not_as_blocked(page_origin):
    # A refused connection is a network error the page sees exactly like a CORS block; the probe
    # tells them apart because DevTools gives no CORS reason for it.
    with Target() as gone:
        url = gone.url("/x")
    r = browser_fetch(page_origin, url)
    assert not r["ok"], r
    assert r["cors_error"] is None


def test_a_missing_browser_fails_naming_deps_sh():
    with pytest.raises(pytest.fail.Exception, match="scripts/deps.sh"):
        require_browser(chromium="/nonexistent/chromium")
