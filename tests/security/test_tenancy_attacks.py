"""Tenants and secrets (T-SEC-2/3, T-XT-1, T-XT-4, T-PRIV-5 across tenants). Needs `gust tenant`
and `gust secret` (branch `tenancy`); skips with the reason when the binary lacks them."""

import os
import subprocess
import uuid
from pathlib import Path

import pytest

from conftest import gust_binary, host_cmdline, host_descendants, host_function_of, host_status, unique


def has_subcommands() -> bool:
    done = subprocess.run([gust_binary(), "--help"], capture_output=True, text=True, timeout=30)
    listed = {line.split()[0] for line in done.stdout.splitlines() if line.startswith("  ") and line.split()}
    return {"tenant", "secret"} <= listed


pytestmark = pytest.mark.skipif(not has_subcommands(),
                                reason="this gust has no `gust tenant` / `gust secret` yet (branch tenancy)")


def set_secret(mode, name, value, tenant=None):
    headers = {"X-Gust-Tenant": tenant} if tenant else {}
    r = mode.server.api("PUT", f"/api/v1/secrets/{name}", json={"value": value}, headers=headers)
    assert r.status_code in (200, 201), (r.status_code, r.text)


def deploy_in(mode, tenant, key, **toml):
    name = unique(key)
    args = ["--json"] + (["--tenant", tenant] if tenant else [])  # a global option
    args += ["deploy", str(mode.bundle("probe", toml)), "--name", name]
    done = mode.server.cli(*args)
    assert done.returncode == 0, done.stdout + done.stderr
    return name


def invoke(mode, tenant, name, check, **args):
    prefix = f"/t/{tenant}" if tenant else ""
    args.setdefault("mode", mode.name)
    return mode.server.post(f"{prefix}/fn/{name}?check={check}", json=args, timeout=90)


@pytest.fixture(scope="module")
def acme(mode):
    tenant = f"acme-{uuid.uuid4().hex[:6]}"
    done = mode.server.cli("tenant", "create", tenant)
    assert done.returncode == 0, done.stdout + done.stderr
    secret = f"acme-secret-{uuid.uuid4().hex}"
    set_secret(mode, "ACME_KEY", secret, tenant)
    name = deploy_in(mode, tenant, "acme-probe", secrets=["ACME_KEY"])
    return {"tenant": tenant, "secret": secret, "name": name}


def test_T_SEC_2_3_secret_values_are_redacted_in_logs_and_errors(mode):
    """A function prints its secret and raises with it: the activation's logs and error carry
    [REDACTED:NAME], never the value, and the caller's 502 carries neither (both modes:
    redaction is the server's)."""
    value = f"s3cr3t-{uuid.uuid4().hex}"
    set_secret(mode, "PROBE_SECRET", value)
    name = deploy_in(mode, None, "secret-print", secrets=["PROBE_SECRET"])
    r = invoke(mode, None, name, "print_env", var="PROBE_SECRET", **{"raise": True})
    assert r.status_code == 502, (r.status_code, r.text[:300])
    # The caller gets neither the value nor the message around it (caller_error.h).
    assert value not in r.text and "PROBE_SECRET" not in r.text, r.text[:500]
    record = mode.server.activation(r.headers["X-Gust-Activation-Id"])
    assert value not in str(record), "the secret is stored in the activation record"
    assert "[REDACTED:PROBE_SECRET]" in record["error"], record["error"]
    assert "[REDACTED:PROBE_SECRET]" in record["logs"], record["logs"]
    mode.assert_healthy()


def test_T_XT_1_T_XT_4_another_tenant_cannot_read_secrets_or_tmp(mode, acme):
    """acme's instance holds ACME_KEY in its environment and a /tmp mark; a default-tenant
    probe scans every /proc/<pid>/environ it can see for the value and looks for the mark.
    Sandboxed: nothing found. Control: unconfined, the value is found in acme's adapter's
    environ and the mark in the shared /tmp (documented: no isolation before the sandbox)."""
    token = uuid.uuid4().hex
    r = invoke(mode, acme["tenant"], acme["name"], "tmp_write", token=token)
    assert r.status_code == 200, r.text
    # Scanning every environ is what a hostile tenant does; unconfined it would read the host's,
    # so the control scans only acme's adapter, found on the host by the suite.
    mine = deploy_in(mode, None, "thief")
    try:
        look = invoke(mode, None, mine, "tmp_read", token=token).json()["result"]
        if mode.sandboxed:
            scan = invoke(mode, None, mine, "proc", canary=acme["secret"]).json()["result"]
            assert scan["canary_in_environ_of"] == [], scan["canary_in_environ_of"]
            assert not look["mark"]["ok"], look
        else:
            adapters = [p for p in host_descendants(mode.server.proc.pid)
                        if "run_adapter.py" in host_cmdline(p)]
            found = []
            for pid in adapters:
                scan = invoke(mode, None, mine, "proc", canary=acme["secret"], server_pid=pid).json()["result"]
                found += scan["canary_in_environ_of"]
            assert found, "control: acme's secret was not readable unconfined"
            assert look["mark"]["ok"], look
    finally:
        if not mode.sandboxed:
            os.unlink(f"/tmp/mark-{token}")
    mode.assert_healthy()


def test_T_PRIV_5_tenants_run_under_different_host_uids(mode, acme):
    if not mode.sandboxed:
        pytest.skip("control: every tenant runs as the server's uid")
    assert invoke(mode, acme["tenant"], acme["name"], "hello").status_code == 200
    mine = deploy_in(mode, None, "uid-default")
    assert invoke(mode, None, mine, "hello").status_code == 200
    uid_of = {}
    for pid in host_descendants(mode.server.proc.pid):
        if "run_adapter.py" not in host_cmdline(pid):
            continue
        function = host_function_of(pid)
        if function:
            uid_of[function] = int(host_status(pid)["Uid"].split()[1])
    assert acme["name"] in uid_of and mine in uid_of, uid_of
    assert uid_of[acme["name"]] != uid_of[mine], f"two tenants share host uid {uid_of[mine]}"
    assert min(uid_of.values()) >= 200000, uid_of
