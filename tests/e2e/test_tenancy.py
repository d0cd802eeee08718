"""Tenants, tenant tokens, tenant-scoped control API and invoke paths, the failed-auth limiter,
the audit log and secrets — as a user of the CLI and the HTTP API sees them."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import time

import pytest
import requests

from conftest import CLI_TIMEOUT_S, REQUEST_TIMEOUT_S, GustServer, error_of, pack, unique

HELLO = {
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
    "main.py": "def handler(event, context):\n    return {'who': WHO}\n",
}


def hello_bundle(who: str) -> bytes:
    files = dict(HELLO)
    files["main.py"] = files["main.py"].replace("WHO", repr(who))
    return pack(files)


SECRET_FN = {
    "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\nsecrets = ["DB_PASSWORD"]\n',
    "main.py": (
        "import hashlib, os\n"
        "def handler(event, context):\n"
        "    value = os.environ.get('DB_PASSWORD', '')\n"
        "    print('connecting with password', value, flush=True)\n"
        "    if isinstance(event, dict) and event.get('raise'):\n"
        "        raise RuntimeError('could not log in with ' + value)\n"
        "    return {'sha256': hashlib.sha256(value.encode()).hexdigest(), 'length': len(value)}\n"
    ),
}


class Client:
    """The control API as one token holder sees it."""

    def __init__(self, gust: GustServer, token: str, tenant_header: str | None = None):
        self.gust, self.token, self.tenant_header = gust, token, tenant_header

    def api(self, method: str, path: str, **kw) -> requests.Response:
        headers = dict(kw.pop("headers", None) or {})
        headers["Authorization"] = f"Bearer {self.token}"
        if self.tenant_header:
            headers["X-Gust-Tenant"] = self.tenant_header
        kw.setdefault("timeout", REQUEST_TIMEOUT_S)
        return requests.request(method, self.gust.url + path, headers=headers, **kw)

    def deploy(self, name: str, bundle: bytes) -> requests.Response:
        return self.api("POST", f"/api/v1/functions/{name}/versions", data=bundle,
                        timeout=CLI_TIMEOUT_S)

    def cli(self, *args: str, stdin: str | None = None) -> subprocess.CompletedProcess:
        env = self.gust.cli_env()
        env["GUST_TOKEN"] = self.token
        if self.tenant_header:
            env["GUST_TENANT"] = self.tenant_header
        return subprocess.run([self.gust.binary, *map(str, args)], capture_output=True, text=True,
                              timeout=CLI_TIMEOUT_S, cwd=self.gust.work_dir, env=env,
                              input=stdin if stdin is not None else "")


def new_tenant(gust: GustServer, prefix: str = "t") -> tuple[str, Client]:
    """Creates a tenant with the CLI, makes it a token, and returns both."""
    name = unique(prefix)
    done = gust.cli("tenant", "create", name)
    assert done.returncode == 0, done.stderr
    made = gust.cli("--json", "token", "create", "--tenant", name, "--name", "test")
    assert made.returncode == 0, made.stderr
    token = json.loads(made.stdout)
    assert set(token) >= {"token", "id"}
    return name, Client(gust, token["token"])


def deployed(response: requests.Response) -> dict:
    assert response.status_code == 201, (response.status_code, response.text)
    return response.json()


# -- tenants -----------------------------------------------------------------------------------

def test_admin_creates_lists_and_removes_tenants(gust):
    name = unique("acme")
    created = gust.cli("tenant", "create", name)
    assert created.returncode == 0, created.stderr
    listed = gust.cli("--json", "tenant", "ls")
    assert listed.returncode == 0, listed.stderr
    names = [t["name"] for t in json.loads(listed.stdout)]
    assert name in names and "default" in names

    again = gust.api("POST", "/api/v1/tenants", json={"name": name})
    assert again.status_code == 409 and error_of(again)["code"] == "conflict"
    for bad in ("Upper", "a_b", "x" * 41, "", "a/b"):
        r = gust.api("POST", "/api/v1/tenants", json={"name": bad})
        assert r.status_code == 400, (bad, r.text)

    removed = gust.cli("tenant", "rm", name)
    assert removed.returncode == 0, removed.stderr
    names = [t["name"] for t in gust.api("GET", "/api/v1/tenants").json()["tenants"]]
    assert name not in names
    assert gust.api("DELETE", f"/api/v1/tenants/{name}").status_code == 404
    assert gust.api("DELETE", "/api/v1/tenants/default").status_code == 400


def test_a_tenant_with_functions_is_not_removed_and_its_tokens_die_with_it(gust):
    tenant, client = new_tenant(gust)
    deployed(client.deploy("keep", hello_bundle("t")))
    r = gust.api("DELETE", f"/api/v1/tenants/{tenant}")
    assert r.status_code == 409 and "function" in error_of(r)["message"]
    assert client.api("DELETE", "/api/v1/functions/keep").status_code == 200
    assert gust.api("DELETE", f"/api/v1/tenants/{tenant}").status_code == 200
    assert client.api("GET", "/api/v1/functions").status_code == 401


# -- tenant tokens -------------------------------------------------------------------------------

def test_token_is_shown_once_and_stored_only_as_a_hash(gust):
    tenant, client = new_tenant(gust)
    listed = gust.api("GET", f"/api/v1/tokens?tenant={tenant}").json()["tokens"]
    assert len(listed) == 1 and listed[0]["tenant"] == tenant and listed[0]["revoked_at"] is None
    assert client.token not in json.dumps(listed)
    secret_part = client.token.rsplit("_", 1)[1]
    assert len(secret_part) >= 32  # at least 128 bits of hex
    db = (gust.data / "gust.db").read_bytes() + b"".join(
        p.read_bytes() for p in gust.data.glob("gust.db-wal"))
    assert client.token.encode() not in db and secret_part.encode() not in db


def test_tenant_token_deploys_invokes_and_lists_only_its_own(gust):
    tenant, client = new_tenant(gust)
    name = unique("mine")
    files = {**HELLO, "main.py": HELLO["main.py"].replace("WHO", repr("t"))}
    done = client.cli("--json", "deploy", "--name", name, str(write_dir(gust, files, "t-own")))
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["url"].endswith(f"/t/{tenant}/fn/{name}")

    mine = client.cli("--json", "ls")
    assert mine.returncode == 0, mine.stderr
    assert [f["name"] for f in json.loads(mine.stdout)] == [name]
    assert json.loads(mine.stdout)[0]["tenant"] == tenant

    admin_default = [f["name"] for f in gust.api("GET", "/api/v1/functions").json()["functions"]]
    assert name not in admin_default
    as_tenant = Client(gust, gust.token, tenant_header=tenant)
    assert [f["name"] for f in as_tenant.api("GET", "/api/v1/functions").json()["functions"]] == [name]

    invoked = client.cli("--json", "invoke", name)
    assert invoked.returncode == 0, invoked.stderr
    assert json.loads(invoked.stdout)["result"] == {"who": "t"}
    assert gust.get(f"/t/{tenant}/fn/{name}").json() == {"who": "t"}
    acts = client.api("GET", "/api/v1/activations").json()["activations"]
    assert acts and all(a["function"] == name for a in acts)


def test_another_tenants_resources_answer_404(gust):
    tenant_b, b = new_tenant(gust, "b")
    _, a = new_tenant(gust, "a")
    fn = unique("theirs")
    deployed(b.deploy(fn, hello_bundle("b")))
    b_act = b.api("POST", f"/api/v1/functions/{fn}/invoke", json={})
    assert b_act.status_code == 200
    act_id = b_act.headers["X-Gust-Activation-Id"]
    assert b.api("PUT", "/api/v1/secrets/B_ONLY", json={"value": "b-value"}).status_code == 200

    not_found = [
        ("GET", f"/api/v1/functions/{fn}", None),
        ("GET", f"/api/v1/functions/{fn}/versions", None),
        ("POST", f"/api/v1/functions/{fn}/invoke", {}),
        ("GET", f"/api/v1/functions/{fn}/logs", None),
        ("PUT", f"/api/v1/functions/{fn}/aliases/live", {"version": 1}),
        ("DELETE", f"/api/v1/functions/{fn}", None),
        ("GET", f"/api/v1/activations/{act_id}", None),
        ("GET", "/api/v1/secrets/B_ONLY", None),
        ("DELETE", "/api/v1/secrets/B_ONLY", None),
    ]
    for method, path, body in not_found:
        r = a.api(method, path, json=body)
        assert r.status_code == 404, (method, path, r.status_code, r.text)
        assert error_of(r)["code"] == "not_found"

    assert a.api("GET", f"/api/v1/activations?function={fn}").json()["activations"] == []
    usage = a.api("GET", "/api/v1/usage?by=function&since=1h").json()
    assert fn not in [row["group"] for row in usage["rows"]]
    assert a.api("GET", "/api/v1/usage?by=tenant").json()["rows"] == []
    assert "B_ONLY" not in a.api("GET", "/api/v1/secrets").text
    assert fn not in a.api("GET", "/api/v1/instances").text

    # Deploying the same name makes A's own function; B's is untouched.
    deployed(a.deploy(fn, hello_bundle("a")))
    assert gust.get(f"/t/{tenant_b}/fn/{fn}").json() == {"who": "b"}
    assert b.api("GET", f"/api/v1/functions/{fn}").json()["versions"] == 1
    assert b.api("GET", "/api/v1/secrets/B_ONLY").status_code == 200


def test_routes_are_scoped_and_a_taken_route_does_not_name_its_holder(gust):
    _, a = new_tenant(gust, "a")
    _, b = new_tenant(gust, "b")
    holder = unique("route-holder")
    path = unique("r")
    project = {f"api/{path}.py": "def handler(event, context):\n    return {'by': 'b'}\n"}
    deployed(b.deploy(holder, pack(project)))
    assert any(r["path"] == f"/api/{path}" for r in b.api("GET", "/api/v1/routes").json()["routes"])
    assert a.api("GET", "/api/v1/routes").json()["routes"] == []
    assert f"/api/{path}" not in gust.api("GET", "/api/v1/routes").text  # the default tenant's view

    clash = a.deploy(unique("wants"), pack(project))
    assert clash.status_code == 409
    message = error_of(clash)["message"]
    assert holder not in message and "another tenant" in message
    assert gust.get(f"/api/{path}").json() == {"by": "b"}


def test_tenant_tokens_cannot_manage_tenants_or_tokens(gust):
    tenant, client = new_tenant(gust)
    token_id = gust.api("GET", f"/api/v1/tokens?tenant={tenant}").json()["tokens"][0]["id"]
    for method, path, body in [("GET", "/api/v1/tenants", None),
                               ("POST", "/api/v1/tenants", {"name": unique("evil")}),
                               ("DELETE", f"/api/v1/tenants/{tenant}", None),
                               ("GET", "/api/v1/tokens", None),
                               ("POST", "/api/v1/tokens", {"tenant": tenant}),
                               ("DELETE", f"/api/v1/tokens/{token_id}", None)]:
        r = client.api(method, path, json=body)
        assert r.status_code == 403, (method, path, r.text)
        assert error_of(r)["code"] == "permission_denied"
    done = client.cli("tenant", "create", unique("evil"))
    assert done.returncode != 0
    # Nor can a tenant token reach another tenant through the admin's header.
    r = client.api("GET", "/api/v1/functions", headers={"X-Gust-Tenant": "default"})
    assert r.status_code == 403
    assert client.api("GET", "/api/v1/functions").status_code == 200


def test_revoked_token_is_refused_on_the_next_request(gust):
    tenant, client = new_tenant(gust)
    assert client.api("GET", "/api/v1/functions").status_code == 200
    token_id = gust.api("GET", f"/api/v1/tokens?tenant={tenant}").json()["tokens"][0]["id"]
    revoked = gust.cli("token", "revoke", token_id)
    assert revoked.returncode == 0, revoked.stderr
    r = client.api("GET", "/api/v1/functions")
    assert r.status_code == 401 and error_of(r)["code"] == "unauthenticated"
    listed = json.loads(gust.cli("--json", "token", "ls", "--tenant", tenant).stdout)
    assert listed[0]["revoked_at"] is not None
    assert gust.api("DELETE", f"/api/v1/tokens/{token_id}").status_code == 404


def test_admin_header_for_a_missing_tenant_is_404(gust):
    r = Client(gust, gust.token, tenant_header=unique("ghost")).api("GET", "/api/v1/functions")
    assert r.status_code == 404


# -- invoke paths --------------------------------------------------------------------------------

def test_tenant_path_invokes_the_tenants_function_and_fn_the_defaults(gust):
    tenant, client = new_tenant(gust)
    name = unique("same")
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=hello_bundle("default"))
    assert r.status_code == 201, r.text
    deployed(client.deploy(name, hello_bundle("tenant")))
    assert gust.get(f"/fn/{name}").json() == {"who": "default"}
    assert gust.get(f"/t/default/fn/{name}").json() == {"who": "default"}
    assert gust.get(f"/t/{tenant}/fn/{name}").json() == {"who": "tenant"}
    assert gust.get(f"/t/{tenant}/fn/{name}@1").json() == {"who": "tenant"}
    missing = gust.get(f"/t/{unique('ghost')}/fn/{name}")
    assert missing.status_code == 404 and error_of(missing)["code"] == "not_found"
    only_tenant = unique("only")
    deployed(client.deploy(only_tenant, hello_bundle("tenant")))
    assert gust.get(f"/fn/{only_tenant}").status_code == 404


# -- failed authentication ----------------------------------------------------------------------

def test_failed_authentication_is_rate_limited_and_valid_tokens_are_not(gust_factory):
    server = gust_factory()
    bad = {"Authorization": "Bearer " + "0" * 48}
    statuses = [server.api("GET", "/api/v1/functions", headers=bad).status_code for _ in range(20)]
    assert statuses == [401] * 20
    limited = server.api("GET", "/api/v1/functions", headers=bad)
    assert limited.status_code == 429
    assert error_of(limited)["code"] == "rate_limited"
    assert 1 <= int(limited.headers["Retry-After"]) <= 60
    # A forged tenant-token shape is a failure too.
    forged = {"Authorization": "Bearer gust_tk_" + "a" * 12 + "_" + "b" * 64}
    assert server.api("GET", "/api/v1/functions", headers=forged).status_code == 429
    # The admin (from the same address) is never slowed.
    started = time.monotonic()
    assert server.api("GET", "/api/v1/functions").status_code == 200
    assert time.monotonic() - started < 2


# -- audit ---------------------------------------------------------------------------------------

def test_audit_records_who_what_when_where_without_secret_values(gust):
    tenant, client = new_tenant(gust)
    value = "audit-secret-" + unique("v")
    done = client.cli("secret", "set", "DB_PASSWORD", stdin=value)
    assert done.returncode == 0, done.stderr
    fn = unique("audited")
    deployed(client.deploy(fn, pack(SECRET_FN)))
    deployed(client.deploy(fn, pack({**SECRET_FN, "extra.txt": "v2"})))
    assert client.api("PUT", f"/api/v1/functions/{fn}/aliases/live", json={"version": 1}).status_code == 200
    assert client.api("DELETE", f"/api/v1/functions/{fn}").status_code == 200
    assert client.api("DELETE", "/api/v1/secrets/DB_PASSWORD").status_code == 200
    assert client.api("DELETE", f"/api/v1/functions/{fn}").status_code == 404

    mine = client.cli("--json", "audit", "--since", "1h")
    assert mine.returncode == 0, mine.stderr
    entries = json.loads(mine.stdout)
    assert value not in mine.stdout
    assert {e["tenant"] for e in entries} == {tenant}
    token_id = client.token.split("_")[2]
    actions = [(e["actor"], e["action"], e["target"], e["outcome"]) for e in reversed(entries)]
    me = f"token:{token_id}"
    assert actions == [("admin", "tenant.create", tenant, "ok"),
                       ("admin", "token.create", token_id, "ok"),
                       (me, "secret.set", "DB_PASSWORD", "ok"),
                       (me, "function.deploy", fn, "ok"), (me, "function.deploy", fn, "ok"),
                       (me, "alias.set", fn, "ok"), (me, "function.rm", fn, "ok"),
                       (me, "secret.rm", "DB_PASSWORD", "ok"), (me, "function.rm", fn, "not_found")]
    for e in entries:
        assert e["source_ip"] == "127.0.0.1"
        assert e["at"].endswith("Z")

    everything = gust.cli("--json", "audit", "-n", "1000")
    assert everything.returncode == 0, everything.stderr
    admin_view = json.loads(everything.stdout)
    assert value not in everything.stdout
    assert any(e["action"] == "tenant.create" and e["target"] == tenant and e["actor"] == "admin"
               for e in admin_view)
    assert any(e["action"] == "token.create" and e["target"] == token_id for e in admin_view)
    assert len({e["tenant"] for e in admin_view}) > 1  # the admin sees every tenant
    table = gust.cli("audit", "--since", "1h")
    assert table.returncode == 0 and "secret.set" in table.stdout and value not in table.stdout


# -- secrets -------------------------------------------------------------------------------------

def write_dir(gust: GustServer, files: dict, prefix: str):
    directory = gust.work_dir / unique(prefix)
    for rel, content in files.items():
        path = directory / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content)
    return directory


def test_secret_reaches_the_function_and_never_an_api_response_or_log(gust):
    tenant, client = new_tenant(gust)
    value = "s3cr3t-" + unique("pw")
    refused = client.cli("secret", "set", "DB_PASSWORD", value)
    assert refused.returncode != 0 and "stdin" in refused.stderr
    assert value not in refused.stdout + refused.stderr
    done = client.cli("secret", "set", "DB_PASSWORD", stdin=value + "\n")
    assert done.returncode == 0, done.stderr

    listed = client.cli("--json", "secret", "ls")
    assert listed.returncode == 0
    assert [s["name"] for s in json.loads(listed.stdout)] == ["DB_PASSWORD"]
    assert value not in listed.stdout and value not in client.cli("secret", "ls").stdout

    fn = unique("uses-secret")
    deploy = client.cli("--json", "deploy", "--name", fn, str(write_dir(gust, SECRET_FN, "sec")))
    assert deploy.returncode == 0, deploy.stderr

    answer = gust.get(f"/t/{tenant}/fn/{fn}")
    assert answer.status_code == 200
    assert answer.json() == {"sha256": hashlib.sha256(value.encode()).hexdigest(), "length": len(value)}
    act_id = answer.headers["X-Gust-Activation-Id"]
    failed = client.api("POST", f"/api/v1/functions/{fn}/invoke", json={"raise": True})
    assert failed.status_code == 502
    assert value not in failed.text and "[REDACTED:DB_PASSWORD]" in failed.text

    record = client.api("GET", f"/api/v1/activations/{act_id}").json()
    assert "connecting with password [REDACTED:DB_PASSWORD]" in record["logs"]
    logs = client.cli("logs", fn)
    assert logs.returncode == 0, logs.stderr
    assert "[REDACTED:DB_PASSWORD]" in logs.stdout and value not in logs.stdout

    responses = [client.api("GET", p) for p in (
        "/api/v1/secrets", "/api/v1/secrets/DB_PASSWORD", f"/api/v1/functions/{fn}",
        f"/api/v1/functions/{fn}/versions", "/api/v1/activations?logs=1", f"/api/v1/functions/{fn}/logs",
        "/api/v1/audit")]
    for r in responses:
        assert r.status_code == 200, (r.url, r.text)
        assert value not in r.text, r.url
    assert value not in gust.log(tail_bytes=10_000_000)

    # A new value reaches the next invocation.
    newer = value + "-rotated"
    assert client.cli("secret", "set", "DB_PASSWORD", stdin=newer).returncode == 0
    again = gust.get(f"/t/{tenant}/fn/{fn}").json()
    assert again["sha256"] == hashlib.sha256(newer.encode()).hexdigest()


def test_secrets_are_per_tenant_and_encrypted_at_rest(gust):
    tenant, client = new_tenant(gust)
    value = "at-rest-" + unique("v")
    assert client.api("PUT", "/api/v1/secrets/API_KEY", json={"value": value}).status_code == 200
    assert gust.api("GET", "/api/v1/secrets/API_KEY").status_code == 404  # the default tenant's
    as_tenant = Client(gust, gust.token, tenant_header=tenant)
    assert as_tenant.api("GET", "/api/v1/secrets/API_KEY").status_code == 200
    data = b"".join(p.read_bytes() for p in gust.data.glob("gust.db*"))
    assert value.encode() not in data


def test_secret_names_and_sizes_are_checked(gust):
    _, client = new_tenant(gust)
    assert client.api("PUT", "/api/v1/secrets/9BAD", json={"value": "x"}).status_code == 400
    assert client.api("PUT", "/api/v1/secrets/A-B", json={"value": "x"}).status_code == 400
    assert client.api("PUT", "/api/v1/secrets/OK", json={"value": "x" * (64 * 1024)}).status_code == 200
    too_big = client.api("PUT", "/api/v1/secrets/OK", json={"value": "x" * (64 * 1024 + 1)})
    assert too_big.status_code == 413
    assert client.api("PUT", "/api/v1/secrets/OK", json={"nope": 1}).status_code == 400


def test_deploy_naming_an_unset_secret_is_refused_naming_it(gust):
    _, client = new_tenant(gust)
    r = client.deploy(unique("needs"), pack(SECRET_FN))
    assert r.status_code == 400
    message = error_of(r)["message"]
    assert "DB_PASSWORD" in message and "gust secret set" in message


def test_removed_secret_fails_invocations_saying_which_to_the_owner(gust):
    tenant, client = new_tenant(gust)
    assert client.api("PUT", "/api/v1/secrets/DB_PASSWORD", json={"value": "v"}).status_code == 200
    fn = unique("loses")
    deployed(client.deploy(fn, pack(SECRET_FN)))
    assert gust.get(f"/t/{tenant}/fn/{fn}").status_code == 200
    assert client.api("DELETE", "/api/v1/secrets/DB_PASSWORD").status_code == 200
    r = gust.get(f"/t/{tenant}/fn/{fn}")
    # The caller is not told which secret; the owner is, through the control API.
    assert r.status_code == 502 and "DB_PASSWORD" not in r.text
    owner = client.api("POST", f"/api/v1/functions/{fn}/invoke", json={})
    assert owner.status_code == 502 and "DB_PASSWORD" in error_of(owner)["message"]


def test_master_key_is_private_and_looser_permissions_stop_the_server(gust_factory, tmp_path):
    server = gust_factory(data_dir=tmp_path / "keyed")
    key = server.data / "master.key"
    assert key.stat().st_mode & 0o777 == 0o600
    assert key.stat().st_size == 32
    assert server.stop() == 0
    os.chmod(key, 0o644)
    again = GustServer(server.binary, server.data, tmp_path / "work2")
    with pytest.raises(RuntimeError, match="chmod 600"):
        again.start()
