"""CORS on gateway routes, as headless Chromium sees it.

A page on origin A (or B, another port) fetches a route of the session's Gust server, which is
a third origin; `gust route add ... --cors-*` sets the policy. What passes or is blocked is
Chromium's decision (tests/e2e/browser.py; test_browser_harness.py shows the harness tells the
cases apart). Where the contract names headers, a plain HTTP request checks them too.

The contract: the gateway answers a preflight OPTIONS itself (204, the function does not run)
with Access-Control-Allow-Origin (the request's origin, or `*` for `--cors-origin '*'` without
credentials), -Allow-Methods, -Allow-Headers, -Max-Age, -Allow-Credentials: true when
configured, and Vary: Origin; an origin that is not allowed gets no CORS headers at all.
"""

from __future__ import annotations

import time

import pytest
import requests

from browser import browser_fetch, other_page_origin, page_origin  # noqa: F401 (fixtures)
from conftest import FUNCTIONS, REQUEST_TIMEOUT_S, unique

ROUTE_READY_S = 10


@pytest.fixture(scope="module")
def cors_fn(gust) -> str:
    """A function that answers `hi METHOD`, shared by this module's routes."""
    name = unique("cors")
    gust.deploy(FUNCTIONS / "py-cors", name=name)
    return name


def add_route(gust, method: str, function: str, *flags: str) -> str:
    """`gust route add 'METHOD /<unique path>' FUNCTION --auth public FLAGS...`; the route's URL
    once the server serves it."""
    path = "/" + unique("cors-route")
    done = gust.cli("route", "add", f"{method} {path}", function, "--auth", "public", *flags)
    assert done.returncode == 0, f"gust route add failed:\n{done.stdout}\n{done.stderr}"
    deadline = time.monotonic() + ROUTE_READY_S
    while gust.get(path).status_code == 404:
        assert time.monotonic() < deadline, f"route {method} {path} not served after {ROUTE_READY_S} s"
        time.sleep(0.05)
    return gust.url + path


def activations(gust, function: str) -> int:
    """How many activations `function` has; each is recorded before its response is sent."""
    r = gust.api("GET", "/api/v1/activations", params={"function": function, "limit": 1000})
    assert r.status_code == 200, r.text
    return len(r.json()["activations"])


def cors_headers(response: requests.Response) -> dict[str, str]:
    return {k.lower(): v for k, v in response.headers.items() if k.lower().startswith("access-control-")}


def preflight(url: str, origin: str, method: str, headers: str | None = None) -> requests.Response:
    request_headers = {"Origin": origin, "Access-Control-Request-Method": method}
    if headers:
        request_headers["Access-Control-Request-Headers"] = headers
    return requests.options(url, headers=request_headers, timeout=REQUEST_TIMEOUT_S)


def header_list(value: str | None) -> set[str]:
    return {item.strip().lower() for item in (value or "").split(",") if item.strip()}


# (a), (b): one listed origin.

def test_a_listed_origin_reads_a_simple_get(gust, cors_fn, page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", page_origin)
    r = browser_fetch(page_origin, url)
    assert r["ok"], r
    assert r["status"] == 200
    assert r["body"] == "hi GET"
    assert r["preflight"] is False

    direct = requests.get(url, headers={"Origin": page_origin}, timeout=REQUEST_TIMEOUT_S)
    assert direct.headers.get("Access-Control-Allow-Origin") == page_origin


def test_an_origin_not_listed_is_blocked_and_gets_no_cors_headers(gust, cors_fn, page_origin,
                                                                    other_page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", page_origin)
    r = browser_fetch(other_page_origin, url)
    assert not r["ok"], r
    assert r["error"] == "TypeError: Failed to fetch"
    assert r["cors_error"] == "MissingAllowOriginHeader"

    direct = requests.get(url, headers={"Origin": other_page_origin}, timeout=REQUEST_TIMEOUT_S)
    assert direct.status_code == 200  # the server answers; the browser keeps it from the page
    assert cors_headers(direct) == {}
    refused = preflight(url, other_page_origin, "GET", "x-custom")
    assert cors_headers(refused) == {}


def test_every_repeated_cors_origin_is_allowed(gust, cors_fn, page_origin, other_page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", page_origin,
                    "--cors-origin", other_page_origin)
    for origin in (page_origin, other_page_origin):
        r = browser_fetch(origin, url)
        assert r["ok"] and r["body"] == "hi GET", (origin, r)
    unlisted = requests.get(url, headers={"Origin": "http://127.0.0.1:1"}, timeout=REQUEST_TIMEOUT_S)
    assert cors_headers(unlisted) == {}


# (c): any origin.

def test_star_lets_every_origin_read(gust, cors_fn, page_origin, other_page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", "*")
    for origin in (page_origin, other_page_origin):
        r = browser_fetch(origin, url)
        assert r["ok"], (origin, r)
        assert r["status"] == 200 and r["body"] == "hi GET", (origin, r)

    direct = requests.get(url, headers={"Origin": other_page_origin}, timeout=REQUEST_TIMEOUT_S)
    assert direct.headers.get("Access-Control-Allow-Origin") == "*"


# (d): preflights.

def test_a_preflighted_put_with_an_allowed_header_reaches_the_function_once(
        gust, cors_fn, page_origin):
    url = add_route(gust, "PUT", cors_fn, "--cors-origin", page_origin, "--cors-methods", "PUT",
                    "--cors-headers", "X-Custom", "--cors-max-age", "600")
    before = activations(gust, cors_fn)
    r = browser_fetch(page_origin, url, method="PUT", headers={"X-Custom": "1"}, body="data")
    assert r["ok"], r
    assert r["status"] == 200
    assert r["body"] == "hi PUT"
    assert r["preflight"] is True
    # The OPTIONS was answered by the gateway: only the PUT ran the function.
    assert activations(gust, cors_fn) == before + 1


def test_the_gateway_answers_a_preflight_itself_with_the_configured_policy(
        gust, cors_fn, page_origin):
    url = add_route(gust, "PUT", cors_fn, "--cors-origin", page_origin, "--cors-methods", "PUT",
                    "--cors-headers", "X-Custom", "--cors-max-age", "600")
    before = activations(gust, cors_fn)
    r = preflight(url, page_origin, "PUT", "x-custom")
    assert r.status_code == 204, (r.status_code, r.text)
    assert r.headers.get("Access-Control-Allow-Origin") == page_origin
    assert "put" in header_list(r.headers.get("Access-Control-Allow-Methods"))
    assert "x-custom" in header_list(r.headers.get("Access-Control-Allow-Headers"))
    assert r.headers.get("Access-Control-Max-Age") == "600"
    assert "origin" in header_list(r.headers.get("Vary"))
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert activations(gust, cors_fn) == before


def test_a_preflight_for_a_header_not_allowed_blocks_the_put_before_the_function(
        gust, cors_fn, page_origin):
    url = add_route(gust, "PUT", cors_fn, "--cors-origin", page_origin, "--cors-methods", "PUT")
    before = activations(gust, cors_fn)
    r = browser_fetch(page_origin, url, method="PUT", headers={"X-Custom": "1"}, body="data")
    assert not r["ok"], r
    assert r["preflight"] is True
    # Either refusal is the contract's: no CORS headers at all, or ones without X-Custom.
    assert r["cors_error"] in ("PreflightMissingAllowOriginHeader",
                               "HeaderDisallowedByPreflightResponse"), r
    assert activations(gust, cors_fn) == before


def test_a_preflight_for_a_method_not_allowed_blocks_it_before_the_function(
        gust, cors_fn, page_origin):
    url = add_route(gust, "ANY", cors_fn, "--cors-origin", page_origin, "--cors-methods", "PUT",
                    "--cors-headers", "X-Custom")
    before = activations(gust, cors_fn)
    r = browser_fetch(page_origin, url, method="DELETE", headers={"X-Custom": "1"})
    assert not r["ok"], r
    assert r["preflight"] is True
    assert r["cors_error"] in ("PreflightMissingAllowOriginHeader",
                               "MethodDisallowedByPreflightResponse"), r
    assert activations(gust, cors_fn) == before


def test_a_preflight_from_an_origin_not_listed_blocks_the_put(gust, cors_fn, page_origin,
                                                              other_page_origin):
    url = add_route(gust, "PUT", cors_fn, "--cors-origin", page_origin, "--cors-methods", "PUT",
                    "--cors-headers", "X-Custom")
    before = activations(gust, cors_fn)
    r = browser_fetch(other_page_origin, url, method="PUT", headers={"X-Custom": "1"})
    assert not r["ok"], r
    assert r["preflight"] is True
    assert r["cors_error"] == "PreflightMissingAllowOriginHeader"
    assert activations(gust, cors_fn) == before


# (e): credentials.

def test_credentials_work_for_a_listed_origin(gust, cors_fn, page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", page_origin, "--cors-credentials")
    r = browser_fetch(page_origin, url, credentials="include")
    assert r["ok"], r
    assert r["body"] == "hi GET"

    direct = requests.get(url, headers={"Origin": page_origin}, timeout=REQUEST_TIMEOUT_S)
    assert direct.headers.get("Access-Control-Allow-Origin") == page_origin
    assert direct.headers.get("Access-Control-Allow-Credentials") == "true"


def test_credentials_are_refused_by_the_browser_without_cors_credentials(gust, cors_fn,
                                                                         page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", page_origin)
    r = browser_fetch(page_origin, url, credentials="include")
    assert not r["ok"], r
    assert r["cors_error"] == "InvalidAllowCredentials"


def test_star_with_credentials_echoes_the_origin_so_credentials_work(gust, cors_fn,
                                                                     other_page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", "*", "--cors-credentials")
    r = browser_fetch(other_page_origin, url, credentials="include")
    assert r["ok"], r

    direct = requests.get(url, headers={"Origin": other_page_origin}, timeout=REQUEST_TIMEOUT_S)
    assert direct.headers.get("Access-Control-Allow-Origin") == other_page_origin
    assert direct.headers.get("Access-Control-Allow-Credentials") == "true"


def test_a_credentialed_preflight_is_answered_with_allow_credentials(gust, cors_fn, page_origin):
    url = add_route(gust, "PUT", cors_fn, "--cors-origin", page_origin, "--cors-methods", "PUT",
                    "--cors-headers", "X-Custom", "--cors-credentials")
    r = browser_fetch(page_origin, url, method="PUT", headers={"X-Custom": "1"},
                      credentials="include")
    assert r["ok"], r
    assert r["preflight"] is True
    assert r["body"] == "hi PUT"
    answered = preflight(url, page_origin, "PUT", "x-custom")
    assert answered.headers.get("Access-Control-Allow-Credentials") == "true"
    assert answered.headers.get("Access-Control-Allow-Origin") == page_origin


# (f): exposed headers.

def test_exposed_activation_id_is_readable_by_the_page(gust, cors_fn, page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", page_origin,
                    "--cors-expose", "X-Gust-Activation-Id")
    r = browser_fetch(page_origin, url)
    assert r["ok"], r
    activation_id = r["headers"].get("x-gust-activation-id")
    assert activation_id, r
    assert gust.activation(activation_id)["function"] == cors_fn


def test_activation_id_is_hidden_from_the_page_unless_exposed(gust, cors_fn, page_origin):
    url = add_route(gust, "GET", cors_fn, "--cors-origin", page_origin)
    r = browser_fetch(page_origin, url)
    assert r["ok"], r
    assert "x-gust-activation-id" not in r["headers"], r
    # It is sent all the same: only the browser hides it.
    direct = requests.get(url, headers={"Origin": page_origin}, timeout=REQUEST_TIMEOUT_S)
    assert direct.headers.get("X-Gust-Activation-Id")
