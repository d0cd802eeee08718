"""The API gateway as a user meets it: routes (precedence, parameters, 404/405, hosts), client
keys in each header form, access modes and sharing across tenants, rate limits and quotas, CORS
answered by the gateway, request limits (413, 431, slow clients), usage and the access log."""

from __future__ import annotations

import base64
import json
import socket
import sqlite3
import time
from concurrent.futures import ThreadPoolExecutor

import pytest
import requests

from conftest import GustServer, _binary, error_of, pack, unique

ECHO = {
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
    "main.py": (
        "def handler(event, context):\n"
        "    return {'routeKey': event.get('routeKey'), 'pathParameters': event.get('pathParameters'),\n"
        "            'rawPath': event.get('rawPath'), 'method': event['requestContext']['http']['method']}\n"
    ),
}


def deploy(gust: GustServer, name: str, files: dict | None = None, headers: dict | None = None) -> None:
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=pack(files or ECHO), headers=headers)
    assert r.status_code == 201, r.text


def add_route(gust: GustServer, key: str, function: str, *flags: str) -> dict:
    done = gust.cli("--json", "route", "add", key, function, *flags)
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout)


def create_key(gust: GustServer, name: str, *flags: str, tenant: str | None = None) -> dict:
    args = ["--json"] + (["--tenant", tenant] if tenant else []) + ["key", "create", name, *flags]
    done = gust.cli(*args)
    assert done.returncode == 0, done.stderr
    key = json.loads(done.stdout)
    assert key["client_id"].startswith("ck_") and key["secret"].startswith("cs_"), key
    return key


def bearer(key: dict, secret: str | None = None) -> dict:
    return {"Authorization": f"Bearer {key['client_id']}.{secret or key['secret']}"}


@pytest.fixture(scope="module")
def echo(gust: GustServer) -> str:
    name = unique("gw-echo")
    deploy(gust, name)
    return name


# ---- routes ---------------------------------------------------------------------------------

def test_route_parameters_and_route_key_reach_the_event(gust, echo):
    base = "/" + unique("shop")
    add_route(gust, f"GET {base}/users/{{id}}/orders/{{order}}", echo)
    r = gust.get(f"{base}/users/ada%20l/orders/7")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["routeKey"] == f"GET {base}/users/{{id}}/orders/{{order}}"
    assert body["pathParameters"] == {"id": "ada l", "order": "7"}
    assert r.headers["X-Gust-Activation-Id"]


def test_literal_beats_parameter_beats_greedy(gust, echo):
    base = "/" + unique("prec")
    add_route(gust, f"GET {base}/me", echo)
    add_route(gust, f"GET {base}/{{id}}", echo)
    add_route(gust, f"GET {base}/{{rest+}}", echo)
    assert gust.get(f"{base}/me").json()["routeKey"] == f"GET {base}/me"
    by_id = gust.get(f"{base}/42").json()
    assert by_id["routeKey"] == f"GET {base}/{{id}}" and by_id["pathParameters"] == {"id": "42"}
    deep = gust.get(f"{base}/42/x/y").json()
    assert deep["routeKey"] == f"GET {base}/{{rest+}}" and deep["pathParameters"] == {"rest": "42/x/y"}


def test_unknown_path_is_404_and_another_method_is_405_with_allow(gust, echo):
    base = "/" + unique("items")
    add_route(gust, f"GET {base}", echo)
    add_route(gust, f"POST {base}", echo)
    r = gust.request("DELETE", base)
    assert r.status_code == 405
    assert r.headers["Allow"] == "GET, POST"
    assert error_of(r)["code"] == "method_not_allowed"
    missing = gust.get(base + "-nothing")
    assert missing.status_code == 404
    assert "gust route ls" in error_of(missing)["message"]
    assert gust.post(base).json()["method"] == "POST"


def test_any_method_and_host_bound_routes(gust, echo):
    other = unique("gw-other")
    deploy(gust, other, {**ECHO, "main.py": "def handler(event, context):\n    return {'who': 'other'}\n"})
    path = "/" + unique("hosted")
    add_route(gust, f"ANY {path}", echo)
    # A route binds only to a host the admin claimed for its tenant (here the default one).
    claimed = gust.cli("host", "add", "api.example.test", "--tenant", "default")
    assert claimed.returncode == 0, claimed.stderr
    add_route(gust, f"ANY {path}", other, "--host", "api.example.test")
    assert gust.request("PATCH", path).json()["method"] == "PATCH"
    assert gust.get(path, headers={"Host": "api.example.test"}).json() == {"who": "other"}
    assert gust.get(path, headers={"Host": "www.example.test"}).json()["rawPath"] == path


def test_route_ls_shows_and_rm_removes(gust, echo):
    key = f"GET /{unique('gone')}/{{id}}"
    added = add_route(gust, key, echo, "--rate", "5/s")
    listed = json.loads(gust.cli("--json", "route", "ls").stdout)
    mine = [r for r in listed if r.get("id") == added["id"]]
    assert mine and mine[0]["route"] == key and mine[0]["rate"] == "5/s" and mine[0]["function"] == echo
    table = gust.cli("route", "ls").stdout
    assert key in table and echo in table
    done = gust.cli("route", "rm", key)
    assert done.returncode == 0, done.stderr
    assert gust.get(key.split(" ")[1].replace("{id}", "1")).status_code == 404


def test_bad_routes_are_refused_with_a_reason(gust, echo):
    for key, needle in [("FETCH /x", "unknown method"), ("GET nope", "must start with '/'"),
                        ("GET /a/{proxy+}/b", "last segment"), ("GET /fn/x", "Gust's own")]:
        done = gust.cli("route", "add", key, echo)
        assert done.returncode != 0 and needle in done.stderr, (key, done.stderr)
    missing = gust.cli("route", "add", "GET /" + unique("x"), "no-such-function")
    assert missing.returncode != 0 and "no function" in missing.stderr


def test_a_route_another_tenant_holds_is_409(gust, echo):
    path = "/" + unique("taken")
    add_route(gust, f"GET {path}", echo)
    tenant = unique("t")
    assert gust.cli("tenant", "create", tenant).returncode == 0
    deploy(gust, "mine", headers={"X-Gust-Tenant": tenant})
    r = gust.api("POST", "/api/v1/routes", json={"route": f"GET {path}", "function": "mine"},
                 headers={"X-Gust-Tenant": tenant})
    assert r.status_code == 409, r.text
    assert "another tenant" in error_of(r)["message"]


# ---- keys, access modes, sharing --------------------------------------------------------------

def test_each_credential_form_and_case(gust, echo):
    path = "/" + unique("private")
    add_route(gust, f"GET {path}", echo, "--auth", "key")
    key = create_key(gust, "forms")
    assert gust.get(path).status_code == 401
    assert gust.get(path).headers["WWW-Authenticate"].startswith("Bearer")
    assert gust.get(path, headers=bearer(key)).status_code == 200
    basic = base64.b64encode(f"{key['client_id']}:{key['secret']}".encode()).decode()
    assert gust.get(path, headers={"Authorization": f"Basic {basic}"}).status_code == 200
    assert gust.get(path, headers={"X-Api-Key": f"{key['client_id']}.{key['secret']}"}).status_code == 200
    bad = gust.get(path, headers=bearer(key, secret="cs_" + "0" * 64))
    assert bad.status_code == 401 and "invalid API key" in error_of(bad)["message"]
    assert gust.get(path, headers={"X-Api-Key": "garbage"}).status_code == 401
    # A bearer token that is not a client key (a JWT for the function) is not a key: no key, 401.
    assert gust.get(path, headers={"Authorization": "Bearer eyJ.eyJ.sig"}).status_code == 401


def test_revoked_key_is_refused_on_the_next_request(gust, echo):
    path = "/" + unique("revoke")
    add_route(gust, f"GET {path}", echo, "--auth", "key")
    key = create_key(gust, "soon-revoked")
    assert gust.get(path, headers=bearer(key)).status_code == 200
    assert gust.cli("key", "revoke", key["client_id"]).returncode == 0
    r = gust.get(path, headers=bearer(key))
    assert r.status_code == 401 and "revoked" in error_of(r)["message"]
    states = {k["client_id"]: k["state"] for k in json.loads(gust.cli("--json", "key", "ls").stdout)}
    assert states[key["client_id"]] == "revoked"


def test_expired_key_is_refused(gust, echo):
    path = "/" + unique("expire")
    add_route(gust, f"GET {path}", echo, "--auth", "key")
    key = create_key(gust, "short", "--expires", "2s")
    assert gust.get(path, headers=bearer(key)).status_code == 200
    time.sleep(2.5)
    r = gust.get(path, headers=bearer(key))
    assert r.status_code == 401 and "expired" in error_of(r)["message"]


def test_scopes_and_key_lists_give_403(gust, echo):
    path = "/" + unique("scoped")
    add_route(gust, f"GET {path}", echo, "--auth", "key")
    elsewhere = create_key(gust, "elsewhere", "--scope", "some-other-function")
    r = gust.get(path, headers=bearer(elsewhere))
    assert r.status_code == 403 and "scoped to" in error_of(r)["message"]
    by_route = create_key(gust, "by-route", "--scope", f"GET {path}")
    assert gust.get(path, headers=bearer(by_route)).status_code == 200
    by_function = create_key(gust, "by-function", "--scope", echo)
    assert gust.get(path, headers=bearer(by_function)).status_code == 200

    listed = "/" + unique("listed")
    allowed, other = create_key(gust, "allowed"), create_key(gust, "not-listed")
    add_route(gust, f"GET {listed}", echo, "--auth", f"keys:{allowed['client_id']}")
    assert gust.get(listed, headers=bearer(allowed)).status_code == 200
    r = gust.get(listed, headers=bearer(other))
    assert r.status_code == 403 and "not among the keys" in error_of(r)["message"]
    assert gust.get(listed).status_code == 401


def test_public_routes_take_keys_for_attribution_only(gust, echo):
    path = "/" + unique("open")
    add_route(gust, f"GET {path}", echo)
    key = create_key(gust, "attributed")
    assert gust.get(path).status_code == 200
    r = gust.get(path, headers=bearer(key))
    assert r.status_code == 200
    activation = gust.activation(r.headers["X-Gust-Activation-Id"])
    assert activation["key_id"] == key["client_id"]
    assert gust.get(path, headers=bearer(key, secret="cs_wrong")).status_code == 200


def test_function_access_mode_from_gust_toml(gust):
    name = unique("gw-locked")
    deploy(gust, name, {**ECHO, "gust.toml": ECHO["gust.toml"] + 'access = "key"\n'})
    assert gust.get(f"/fn/{name}").status_code == 401
    key = create_key(gust, "fn-caller")
    assert gust.get(f"/fn/{name}", headers=bearer(key)).status_code == 200
    bad = gust.api("POST", f"/api/v1/functions/{unique('gw-bad')}/versions",
                   data=pack({**ECHO, "gust.toml": ECHO["gust.toml"] + 'access = "everyone"\n'}))
    assert bad.status_code == 400 and "access" in error_of(bad)["message"]


def test_other_tenants_keys_need_a_share(gust, echo):
    path = "/" + unique("partner")
    add_route(gust, f"GET {path}", echo, "--auth", "key")
    partner = unique("partner")
    assert gust.cli("tenant", "create", partner).returncode == 0
    theirs = create_key(gust, "partner-key", tenant=partner)
    r = gust.get(path, headers=bearer(theirs))
    assert r.status_code == 403 and "another tenant" in error_of(r)["message"]
    assert gust.cli("share", echo, "--with", partner).returncode == 0
    assert gust.get(path, headers=bearer(theirs)).status_code == 200
    shares = json.loads(gust.cli("--json", "shares").stdout)
    assert {"function": echo, "with": partner} in [{k: s[k] for k in ("function", "with")} for s in shares]
    assert gust.cli("unshare", echo, "--with", partner).returncode == 0
    assert gust.get(path, headers=bearer(theirs)).status_code == 403


def test_only_a_hash_of_the_secret_is_stored_and_ls_never_shows_it(gust):
    key = create_key(gust, "hashed")
    listing = gust.cli("--json", "key", "ls").stdout
    assert key["client_id"] in listing and key["secret"] not in listing
    db = sqlite3.connect(f"file:{gust.data / 'gust.db'}?mode=ro", uri=True)
    try:
        (stored,) = db.execute("SELECT hash FROM client_keys WHERE client_id = ?", (key["client_id"],)).fetchone()
    finally:
        db.close()
    assert len(stored) == 64 and key["secret"][3:] not in stored
    for name in ("gust.db", "gust.db-wal"):
        path = gust.data / name
        if path.exists():
            raw = path.read_bytes()
            assert key["secret"].encode() not in raw and key["secret"][3:].encode() not in raw, name


# ---- rate limits and quotas -------------------------------------------------------------------

def test_a_burst_against_a_100_per_second_key_gets_429s_then_refills(gust):
    # Room for every admitted request (10 instances x 4 + the queue of 100): only the limiter refuses.
    name = unique("gw-burst")
    deploy(gust, name, {**ECHO, "gust.toml": ECHO["gust.toml"] + "concurrency = 4\n"})
    path = "/" + unique("limited")
    add_route(gust, f"GET {path}", name, "--auth", "key")
    with ThreadPoolExecutor(40) as pool:  # start the 10 instances before the burst
        assert {r.status_code for r in pool.map(lambda _: gust.get(f"/fn/{name}"), range(80))} == {200}
    key = create_key(gust, "burst", "--rate", "100/s")
    # 300 requests arrive at once: every connection is open before any request is sent, so the
    # burst is a burst however slowly the function answers on this machine.
    request = (f"GET {path} HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {key['client_id']}.{key['secret']}"
               "\r\nConnection: close\r\n\r\n").encode()
    sockets = [socket.create_connection(("127.0.0.1", gust.port), timeout=60) for _ in range(300)]
    started = time.monotonic()
    for s in sockets:
        s.sendall(request)
    answers = []
    for s in sockets:
        chunks = []
        while chunk := s.recv(65536):
            chunks.append(chunk)
        s.close()
        head = b"".join(chunks).split(b"\r\n\r\n", 1)[0].decode()
        status = int(head.split(" ", 2)[1])
        headers = {line.split(":", 1)[0].lower(): line.split(":", 1)[1].strip() for line in head.split("\r\n")[1:]}
        answers.append((status, headers))
    elapsed = time.monotonic() - started
    statuses = [status for status, _ in answers]
    assert set(statuses) <= {200, 429}, statuses
    # The bucket admits its 100, plus what refills at 100/s while the burst is being admitted.
    assert 100 <= statuses.count(200) <= 100 + 100 * elapsed + 5, (statuses.count(200), elapsed)
    assert statuses.count(429) > 0
    for status, headers in answers:
        assert headers["ratelimit-limit"] == "100"
        if status == 429:
            assert int(headers["retry-after"]) >= 1
            assert headers["ratelimit-remaining"] == "0"
            assert int(headers["ratelimit-reset"]) >= 1
    time.sleep(1.1)
    again = gust.get(path, headers=bearer(key))
    assert again.status_code == 200 and int(again.headers["RateLimit-Remaining"]) >= 90


def test_route_rate_limit_applies_to_everyone(gust, echo):
    path = "/" + unique("slow")
    add_route(gust, f"GET {path}", echo, "--rate", "2/m")
    assert [gust.get(path).status_code for _ in range(2)] == [200, 200]
    r = gust.get(path)
    assert r.status_code == 429
    assert 1 <= int(r.headers["Retry-After"]) <= 30


def test_quota_holds_across_a_restart(tmp_path):
    server = GustServer(_binary(), tmp_path / "data", tmp_path / "work").start()
    try:
        deploy(server, "quota-echo")
        add_route(server, "GET /metered", "quota-echo", "--auth", "key")
        key = create_key(server, "plan", "--quota", "3/day")
        assert [server.get("/metered", headers=bearer(key)).status_code for _ in range(3)] == [200] * 3
        over = server.get("/metered", headers=bearer(key))
        assert over.status_code == 429 and error_of(over)["code"] == "quota_exceeded"
        assert int(over.headers["Retry-After"]) >= 1
        assert server.stop() == 0
        server.start()
        after = server.get("/metered", headers=bearer(key))
        assert after.status_code == 429, "the quota was forgotten across a restart"
    finally:
        server.stop()


# ---- CORS (the browser's view is in test_cors_browser.py) -----------------------------------

def test_preflight_is_answered_without_invoking_the_function(gust):
    name = unique("gw-cors")
    deploy(gust, name)
    path = "/" + unique("cors")
    add_route(gust, f"PUT {path}", name, "--cors-origin", "https://app.example.test",
              "--cors-headers", "X-Custom", "--cors-max-age", "120")
    preflight = {"Origin": "https://app.example.test", "Access-Control-Request-Method": "PUT",
                 "Access-Control-Request-Headers": "x-custom"}
    r = gust.request("OPTIONS", path, headers=preflight)
    assert r.status_code == 204
    assert r.headers["Access-Control-Allow-Origin"] == "https://app.example.test"
    assert "PUT" in r.headers["Access-Control-Allow-Methods"]
    assert r.headers["Access-Control-Allow-Headers"] == "x-custom"
    assert r.headers["Access-Control-Max-Age"] == "120"
    denied = gust.request("OPTIONS", path, headers={**preflight, "Origin": "https://evil.test"})
    assert denied.status_code == 204 and not any(h.lower().startswith("access-control") for h in denied.headers)
    wrong_header = gust.request("OPTIONS", path, headers={**preflight, "Access-Control-Request-Headers": "x-other"})
    assert "Access-Control-Allow-Origin" not in wrong_header.headers
    activations = gust.api("GET", f"/api/v1/activations?function={name}").json()["activations"]
    assert activations == [], "a preflight invoked the function"
    actual = gust.request("PUT", path, headers={"Origin": "https://app.example.test"})
    assert actual.status_code == 200
    assert actual.headers["Access-Control-Allow-Origin"] == "https://app.example.test"
    assert actual.headers["Vary"] == "Origin"
    assert "Access-Control-Allow-Origin" not in gust.request("PUT", path, headers={"Origin": "https://evil.test"}).headers


# ---- limits -------------------------------------------------------------------------------------

def test_route_body_limit_is_413(gust, echo):
    path = "/" + unique("small")
    add_route(gust, f"POST {path}", echo, "--max-body", "1k")
    assert gust.post(path, data=b"x" * 1000).status_code == 200
    r = gust.post(path, data=b"x" * 2048)
    assert r.status_code == 413 and error_of(r)["code"] == "too_large"


def raw_request(port: int, data: bytes, timeout: float = 10) -> bytes:
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        chunks = []
        while True:
            chunk = s.recv(65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def test_huge_or_too_many_headers_are_431(gust, echo):
    big = raw_request(gust.port, b"GET /fn/" + echo.encode() + b" HTTP/1.1\r\nHost: x\r\nX-Big: "
                      + b"a" * 40000 + b"\r\n\r\n")
    assert big.startswith(b"HTTP/1.1 431"), big[:200]
    many = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    answer = raw_request(gust.port, b"GET /fn/" + echo.encode() + b" HTTP/1.1\r\nHost: x\r\n" + many + b"\r\n")
    assert answer.startswith(b"HTTP/1.1 431"), answer[:200]
    assert gust.get(f"/fn/{echo}").status_code == 200


def test_slow_clients_are_cut_off_while_others_are_served(tmp_path):
    server = GustServer(_binary(), tmp_path / "data", tmp_path / "work",
                        extra_args=("--header-timeout", "1")).start()
    try:
        deploy(server, "slow-echo")
        slow = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(20)]
        started = time.monotonic()
        for s in slow:
            s.sendall(b"GET /fn/slow-echo HTTP/1.1\r\nHost: x\r\n")
        closed_at = {}
        served = 0
        while len(closed_at) < len(slow) and time.monotonic() - started < 8:
            for i, s in enumerate(slow):
                if i in closed_at:
                    continue
                try:
                    s.sendall(b"X-Drip: 1\r\n")  # a byte trickle never finishes the head
                except OSError:
                    closed_at[i] = time.monotonic() - started
            assert server.get("/fn/slow-echo", timeout=5).status_code == 200
            served += 1
            time.sleep(0.2)
        for s in slow:
            s.close()
        assert len(closed_at) == len(slow), f"slow connections still open after 8 s: {len(slow) - len(closed_at)}"
        assert max(closed_at.values()) < 5, closed_at
        assert served >= 3
    finally:
        server.stop()


# ---- usage and the access log -----------------------------------------------------------------

def test_usage_by_route_and_key_counts_statuses_and_limits(gust, echo):
    path = "/" + unique("counted")
    route = add_route(gust, f"GET {path}", echo, "--auth", "key", "--rate", "3/m")
    key = create_key(gust, "counted")
    statuses = [gust.get(path, headers=bearer(key)).status_code for _ in range(5)]
    statuses.append(gust.get(path).status_code)
    assert statuses == [200, 200, 200, 429, 429, 401]
    deadline = time.monotonic() + 10
    while True:
        rows = json.loads(gust.cli("--json", "usage", "--by", "route", "--since", "1h").stdout)["rows"]
        mine = [r for r in rows if r["group"] == route["route"]]
        if mine and mine[0]["traffic"]["requests"] == 6 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    traffic = mine[0]["traffic"]
    assert traffic["requests"] == 6 and traffic["status_2xx"] == 3 and traffic["status_4xx"] == 3
    assert traffic["rate_limited"] == 2 and traffic["status_5xx"] == 0
    assert 0 < traffic["latency_ms"]["p50"] <= traffic["latency_ms"]["p95"] <= traffic["latency_ms"]["p99"]
    by_key = json.loads(gust.cli("--json", "usage", "--by", "key", "--since", "1h").stdout)["rows"]
    mine = [r for r in by_key if r["group"] == key["client_id"]]
    assert mine and mine[0]["traffic"]["requests"] == 5 and mine[0]["invocations"] == 3
    table = gust.cli("usage", "--by", "route").stdout
    assert route["route"] in table and "LIMITED" in table


def test_access_log_records_every_request_and_filters(gust, echo):
    path = "/" + unique("logged")
    route = add_route(gust, f"GET {path}/{{id}}", echo)
    ok = gust.get(f"{path}/1", headers={"User-Agent": "gateway-test/1.0"})
    gust.post(f"{path}/1")  # 405
    deadline = time.monotonic() + 10
    while True:
        done = gust.cli("--json", "access-log", "--route", route["route"], "--since", "10m")
        records = [json.loads(line) for line in done.stdout.splitlines()]
        if len(records) >= 1 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert len(records) == 1, records
    record = records[0]
    assert record["method"] == "GET" and record["path"] == f"{path}/1" and record["status"] == 200
    assert record["activation_id"] == ok.headers["X-Gust-Activation-Id"]
    assert record["user_agent"] == "gateway-test/1.0" and record["client_ip"] == "127.0.0.1"
    assert record["latency_ms"] > 0 and record["bytes_out"] == len(ok.content)
    failures = gust.cli("--json", "access-log", "--status", "4xx", "--since", "10m").stdout
    assert any(json.loads(line)["path"] == f"{path}/1" and json.loads(line)["status"] == 405
               for line in failures.splitlines())


def test_access_log_follow_prints_new_requests(gust, echo):
    path = "/" + unique("tail")
    add_route(gust, f"GET {path}", echo)
    follower = gust.popen_cli("access-log", "-f", "--route", f"GET {path}")
    try:
        time.sleep(1.5)
        gust.get(path)
        deadline = time.monotonic() + 10
        seen = ""
        import selectors
        selector = selectors.DefaultSelector()
        selector.register(follower.stdout, selectors.EVENT_READ)
        while path not in seen and time.monotonic() < deadline:
            if selector.select(timeout=0.5):
                seen += follower.stdout.readline()
        assert path in seen and " 200 " in seen, seen
    finally:
        follower.kill()
        follower.wait(5)


def test_a_preflight_to_a_route_without_cors_is_an_ordinary_options_request(gust, echo):
    path = "/" + unique("nocors")
    add_route(gust, f"GET {path}", echo)
    preflight = {"Origin": "https://app.example.test", "Access-Control-Request-Method": "GET"}
    r = gust.request("OPTIONS", path, headers=preflight)
    assert r.status_code == 405 and r.headers["Allow"] == "GET"
    assert "Access-Control-Allow-Origin" not in r.headers
    add_route(gust, f"OPTIONS {path}", echo)
    handled = gust.request("OPTIONS", path, headers=preflight)
    assert handled.status_code == 200 and handled.json()["method"] == "OPTIONS"


def test_connections_beyond_the_limit_are_closed_and_room_comes_back(tmp_path):
    server = GustServer(_binary(), tmp_path / "data", tmp_path / "work",
                        extra_args=("--max-connections", "8")).start()
    try:
        held = [socket.create_connection(("127.0.0.1", server.port), timeout=10) for _ in range(8)]
        time.sleep(0.3)
        extra = socket.create_connection(("127.0.0.1", server.port), timeout=10)
        extra.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
        try:
            refused = extra.recv(100) == b""
        except ConnectionResetError:
            refused = True
        extra.close()
        assert refused, "a connection beyond --max-connections was served"
        for s in held:
            s.close()
        deadline = time.monotonic() + 5
        while True:
            try:
                if requests.get(server.url + "/healthz", timeout=2).status_code == 200:
                    break
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, "closing connections did not make room again"
            time.sleep(0.1)
    finally:
        server.stop()


def test_metrics_count_gateway_traffic_and_refusals(gust, echo):
    path = "/" + unique("metered")
    add_route(gust, f"GET {path}", echo, "--auth", "key")

    def counter(line_start: str) -> float:
        text = gust.get("/metrics").text
        return sum(float(line.rsplit(" ", 1)[1]) for line in text.splitlines() if line.startswith(line_start))

    refused = 'gust_gateway_refused_total{reason="unauthenticated"}'
    routed = 'gust_gateway_requests_total{class="2xx",kind="route"}'
    before_refused, before_routed = counter(refused), counter(routed)
    assert gust.get(path).status_code == 401
    key = create_key(gust, "metered")
    assert gust.get(path, headers=bearer(key)).status_code == 200
    assert counter(refused) == before_refused + 1
    assert counter(routed) == before_routed + 1
