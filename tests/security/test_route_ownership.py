"""Routes belong to their tenant (issue #15): a tenant binds routes only to hosts the admin
claimed for it, a claimed host answers with its owner's routes alone, and in the shared space of
host-less routes no tenant's route may take requests that another tenant's route matches —
whether by a literal inside a parameter, a greedy tail over a prefix, or a project route.

These are control-plane attacks: the sandbox plays no part, so they run once, against a server
with the default isolation, as a user meets it. Each attack below succeeded before the fix."""

from __future__ import annotations

import json
import subprocess
import uuid

import pytest
import requests

from conftest import CALL_TIMEOUT_S, GustServer, error_of, gust_binary, pack, unique

WHO = {
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
    "main.py": "def handler(event, context):\n    return {'who': WHO, 'routeKey': event.get('routeKey')}\n",
}


def bundle(who: str) -> bytes:
    return pack({**WHO, "main.py": WHO["main.py"].replace("WHO", repr(who))})


class Tenant:
    """One tenant as its token holder sees the control API."""

    def __init__(self, server: GustServer, name: str, token: str):
        self.server, self.name, self.token = server, name, token
        self.function = unique(f"{name}-fn")

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self.token}"
        kw.setdefault("timeout", CALL_TIMEOUT_S)
        return requests.request(method, self.server.url + path, headers=headers, **kw)

    def route(self, key: str, host: str | None = None, function: str | None = None) -> requests.Response:
        body = {"route": key, "function": function or self.function}
        if host is not None:
            body["host"] = host
        return self.api("POST", "/api/v1/routes", json=body)

    def cli(self, *args: str) -> subprocess.CompletedProcess:
        env = self.server.cli_env()
        env["GUST_TOKEN"] = self.token
        return subprocess.run([self.server.binary, *args], capture_output=True, text=True,
                              timeout=CALL_TIMEOUT_S, cwd=self.server.work_dir, env=env,
                              stdin=subprocess.DEVNULL)


@pytest.fixture(scope="module")
def server(tmp_path_factory) -> GustServer:
    root = tmp_path_factory.mktemp("gust-routes")
    started = GustServer(gust_binary(), root / "data", root / "work").start()
    yield started
    problem = started.shutdown_problem()
    if problem:
        pytest.fail(f"{problem}; its log:\n{started.log()}", pytrace=False)


def new_tenant(server: GustServer, prefix: str) -> Tenant:
    name = f"{prefix}-{uuid.uuid4().hex[:6]}"
    assert server.cli("tenant", "create", name).returncode == 0
    made = server.cli("--json", "token", "create", "--tenant", name)
    assert made.returncode == 0, made.stderr
    tenant = Tenant(server, name, json.loads(made.stdout)["token"])
    r = tenant.api("POST", f"/api/v1/functions/{tenant.function}/versions", data=bundle(name))
    assert r.status_code == 201, r.text
    return tenant


@pytest.fixture(scope="module")
def acme(server) -> Tenant:
    return new_tenant(server, "acme")


@pytest.fixture(scope="module")
def evil(server) -> Tenant:
    return new_tenant(server, "evil")


def claim(server: GustServer, host: str, tenant: str) -> None:
    done = server.cli("--json", "host", "add", host, "--tenant", tenant)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["host"] == host.lower()


def who_answers(server: GustServer, path: str, host: str | None = None) -> str | int:
    headers = {"Host": host} if host else {}
    r = server.get(path, headers=headers, timeout=CALL_TIMEOUT_S)
    return r.json()["who"] if r.status_code == 200 else r.status_code


# ---- Host hijack ------------------------------------------------------------------------------

def test_host_hijack_a_route_on_another_tenants_claimed_host_is_refused(server, acme, evil):
    host = f"api.{acme.name}.example"
    claim(server, host, acme.name)
    path = "/" + unique("home")
    assert acme.route(f"GET {path}", host=host).status_code == 201
    assert who_answers(server, path, host) == acme.name

    # evil binds the same path, and a catch-all, on acme's domain: both refused.
    for key in (f"GET {path}", "ANY /{all+}"):
        r = evil.route(key, host=host.upper())
        assert r.status_code == 403, (key, r.status_code, r.text)
        error = error_of(r)
        assert error["code"] == "permission_denied"
        assert "does not own host" in error["message"] and "gust host add" in error["message"]
    assert who_answers(server, path, host) == acme.name


def test_host_hijack_unclaimed_hosts_and_the_servers_own_address_are_refused(server, evil):
    for host in (f"free-{uuid.uuid4().hex[:6]}.example", "127.0.0.1", "localhost"):
        r = evil.route("GET /" + unique("x"), host=host)
        assert r.status_code == 403, (host, r.status_code, r.text)
        assert error_of(r)["code"] == "permission_denied"


def test_host_hijack_a_tenant_cannot_claim_a_host_and_nobody_claims_the_servers_own(server, evil):
    r = evil.api("POST", "/api/v1/hosts", json={"host": f"{evil.name}.example", "tenant": evil.name})
    assert r.status_code == 403 and error_of(r)["code"] == "permission_denied"
    done = evil.cli("host", "add", f"{evil.name}.example", "--tenant", evil.name)
    assert done.returncode != 0 and "admin" in done.stderr
    for host in ("127.0.0.1", "localhost", "app.localhost", "[::1]", "10.0.0.1"):
        r = server.api("POST", "/api/v1/hosts", json={"host": host, "tenant": evil.name})
        assert r.status_code == 400, (host, r.status_code, r.text)


def test_host_hijack_another_tenants_hostless_route_does_not_answer_on_a_claimed_host(server, acme, evil):
    """A host-less route serves the shared space only: on acme's domain it would be evil's page
    under acme's name (phishing), so a claimed host answers with its owner's routes alone."""
    host = f"www.{acme.name}.example"
    claim(server, host, acme.name)
    path = "/" + unique("login")
    assert evil.route(f"GET {path}", host=None).status_code == 201
    assert who_answers(server, path) == evil.name  # on the server's own address: evil's route
    assert who_answers(server, path, host) == 404  # on acme's domain: nothing of evil's


def test_host_hijack_another_tenants_function_address_does_not_answer_on_a_claimed_host(server, acme, evil):
    """/t/{tenant}/fn/{name} (and /fn/, the default tenant's) would serve evil's function on
    acme's domain; a claimed host serves its owner's function addresses alone."""
    host = f"fn.{acme.name}.example"
    claim(server, host, acme.name)
    evil_address = f"/t/{evil.name}/fn/{evil.function}"
    assert who_answers(server, evil_address) == evil.name  # elsewhere it answers
    assert who_answers(server, evil_address, host) == 404
    assert who_answers(server, f"/t/{acme.name}/fn/{acme.function}", host) == acme.name


def test_hosts_are_listed_per_tenant_and_released_only_once_unbound(server, acme, evil):
    host = f"shop.{acme.name}.example"
    claim(server, host, acme.name)
    mine = acme.api("GET", "/api/v1/hosts").json()["hosts"]
    assert host in [h["host"] for h in mine] and {h["tenant"] for h in mine} == {acme.name}
    assert host not in evil.api("GET", "/api/v1/hosts").text
    listed = server.cli("host", "ls")
    assert listed.returncode == 0 and host in listed.stdout and acme.name in listed.stdout

    again = server.api("POST", "/api/v1/hosts", json={"host": host, "tenant": evil.name})
    assert again.status_code == 409  # claimed hosts are not handed over silently

    made = acme.route("GET /" + unique("shop"), host=host)
    assert made.status_code == 201, made.text
    busy = server.cli("host", "rm", host)
    assert busy.returncode != 0 and "route" in busy.stderr
    assert acme.api("DELETE", f"/api/v1/routes/{made.json()['id']}").status_code == 200
    assert evil.api("DELETE", f"/api/v1/hosts/{host}").status_code == 403
    done = server.cli("--json", "host", "rm", host)
    assert done.returncode == 0, done.stderr
    assert host not in server.cli("host", "ls").stdout


# ---- Shadowing in the shared, host-less space ---------------------------------------------

def test_literal_over_another_tenants_parameter_route_is_refused(server, acme, evil):
    base = "/" + unique("users")
    assert acme.route(f"GET {base}/{{id}}").status_code == 201
    r = evil.route(f"GET {base}/admin")
    assert r.status_code == 409, (r.status_code, r.text)
    message = error_of(r)["message"]
    assert f"GET {base}/{{id}}" in message and acme.function not in message and acme.name not in message
    assert who_answers(server, f"{base}/admin") == acme.name
    # Another method does not overlap: evil may have it.
    assert evil.route(f"POST {base}/admin").status_code == 201


def test_parameter_over_another_tenants_literal_route_is_refused(server, acme, evil):
    base = "/" + unique("orders")
    assert acme.route(f"GET {base}/export").status_code == 201
    assert evil.route(f"GET {base}/{{id}}").status_code == 409


def test_greedy_tail_over_another_tenants_prefix_is_refused(server, acme, evil):
    base = "/" + unique("files")
    assert acme.route(f"GET {base}/reports/{{year}}").status_code == 201
    for key in (f"ANY {base}/{{proxy+}}", f"GET {base}/{{a}}/{{b}}", "ANY /{everything+}"):
        r = evil.route(key)
        assert r.status_code == 409, (key, r.status_code, r.text)
    assert who_answers(server, f"{base}/reports/2026") == acme.name
    # ... and a longer route inside another tenant's greedy tail, the other way round.
    tail = "/" + unique("assets")
    assert acme.route(f"GET {tail}/{{path+}}").status_code == 201
    assert evil.route(f"GET {tail}/logo.png").status_code == 409


def test_project_routes_and_gateway_routes_of_two_tenants_may_not_overlap(server, evil):
    """The default tenant's Vercel-style project routes follow the same rule both ways."""
    held = unique("catalog")
    r = server.api("POST", f"/api/v1/functions/{unique('shop')}/versions",
                   data=pack({f"api/{held}.py": "def handler(event, context):\n    return {'who': 'default'}\n"}))
    assert r.status_code == 201, r.text
    r = evil.route(f"GET /api/{held}/{{id}}")
    assert r.status_code == 409 and f"/api/{held}" in error_of(r)["message"]
    assert who_answers(server, f"/api/{held}/7") == "default"

    taken = unique("cart")
    assert evil.route(f"GET /api/{taken}/checkout").status_code == 201
    project = unique("store")
    r = server.api("POST", f"/api/v1/functions/{project}/versions",
                   data=pack({f"api/{taken}.py": "def handler(event, context):\n    return {'who': 'default'}\n"}))
    assert r.status_code == 409, (r.status_code, r.text)
    assert f"api/{taken}" in error_of(r)["message"] and evil.function not in error_of(r)["message"]
    assert server.api("GET", f"/api/v1/functions/{project}").status_code == 404  # nothing installed
    assert who_answers(server, f"/api/{taken}/checkout") == evil.name


def test_a_tenant_on_its_own_host_routes_freely(server, acme, evil):
    """Overlap is refused only where routes compete: on its own host a tenant's routes answer
    whatever others hold in the shared space."""
    host = f"app.{acme.name}.example"
    claim(server, host, acme.name)
    path = "/" + unique("shared")
    assert evil.route(f"GET {path}/{{id}}").status_code == 201
    assert acme.route(f"GET {path}/admin", host=host).status_code == 201
    assert who_answers(server, f"{path}/admin", host) == acme.name
    assert who_answers(server, f"{path}/admin") == evil.name


# ---- Dot segments ---------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["/a/../admin", "/a/./b", "/..", "/a/%2e%2e/admin", "/a/.%2E/b", "/%2e"])
def test_route_paths_with_dot_segments_are_refused(server, acme, path):
    r = acme.route(f"GET {path}")
    assert r.status_code == 400, (path, r.status_code, r.text)
    assert "dot segments" in error_of(r)["message"]
