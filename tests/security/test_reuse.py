"""Warm reuse and shared spaces (T-XT-2/3/5, T-NET-5): what one instance leaves behind (a /tmp
file, UNIX sockets, SysV IPC, globals) is never found by another function, another version, or a
fresh instance of the same one; a warm instance of the same version keeps its /tmp (Lambda
semantics). Cross-tenant (T-XT-1) is in test_tenancy_attacks.py."""

import os
import random
import uuid

import pytest


def traces(report: dict) -> dict:
    """What `look` found of what `plant` left."""
    return {
        "tmp_file": report["tmp_file"]["ok"],
        "abstract_socket": report["abstract_socket"]["ok"],
        "path_socket": report["path_socket"]["ok"],
        "shm": isinstance(report["shmget"], int),
        "msg": isinstance(report["msgget"], int),
        "global": report["planted_global"] is not None,
    }


def test_T_XT_2_T_NET_5_another_function_finds_no_traces(mode):
    """Function A plants a /tmp file, an abstract and a path UNIX socket (listening), SysV shm
    and a message queue; function B (same tenant) looks for each. Sandboxed: nothing (private
    /tmp, net and IPC namespaces). Control: unconfined, B finds and connects to all but the
    global."""
    planter, looker = mode.deploy("planter"), mode.deploy("looker")
    token, key = uuid.uuid4().hex, random.randint(0x10000, 0x7FFFFFFF)
    planted = mode.probe("plant", name=planter, token=token, ipc_key=key)
    assert planted["shmget"] >= 0 and planted["msgget"] >= 0, planted
    try:
        found = traces(mode.probe("look", name=looker, token=token, ipc_key=key))
        # The planter's own instance sees its traces: the look works.
        own = traces(mode.probe("look", name=planter, token=token, ipc_key=key))
    finally:
        mode.probe("cleanup_ipc", name=planter, token=token, ipc_key=key)
    assert own == dict.fromkeys(own, True), own
    if mode.sandboxed:
        assert not any(found.values()), f"function B found function A's traces: {found}"
    else:
        assert found == {**dict.fromkeys(found, True), "global": False}, found
    mode.assert_healthy()


def test_T_XT_2_a_new_version_does_not_see_the_old_versions_tmp(mode):
    """v1 writes /tmp/mark-<token>; after deploying v2 (a different bundle), v2's instance does
    not find it. Control: unconfined /tmp is shared, v2 finds it."""
    name = mode.deploy("versions", max_instances=1)
    token = uuid.uuid4().hex
    v1 = mode.probe("tmp_write", name=name, token=token)
    try:
        mode.server.deploy(mode.bundle("probe", {"max_instances": 1}, extra={"v2.txt": token}),
                           name=name)
        v2 = mode.probe("tmp_read", name=name, token=token)
        assert v2["instance"] != v1["instance"], "v2 was served by v1's instance"
        if mode.sandboxed:
            assert not v2["mark"]["ok"], v2
        else:
            assert v2["mark"] == {"ok": True, "value": token}, v2
    finally:
        if not mode.sandboxed:
            os.unlink(f"/tmp/mark-{token}")
    mode.assert_healthy()


def test_T_XT_3_warm_instance_of_the_same_version_keeps_tmp(mode):
    """Same function, same version, same (warm) instance: /tmp persists between calls."""
    name = mode.deploy("warm-tmp", max_instances=1)
    token = uuid.uuid4().hex
    first = mode.probe("tmp_write", name=name, token=token)
    second = mode.probe("tmp_read", name=name, token=token)
    assert second["instance"] == first["instance"]
    assert second["mark"] == {"ok": True, "value": token}, second
    if not mode.sandboxed:
        os.unlink(f"/tmp/mark-{token}")


def test_T_XT_5_a_fresh_instance_never_sees_a_dead_instances_tmp(mode):
    """The instance writes /tmp, then crashes (exit 3, 502); the replacement instance's /tmp is
    empty of it. Control: unconfined /tmp is the host's and the mark is still there."""
    name = mode.deploy("crash-tmp", max_instances=1)
    token = uuid.uuid4().hex
    first = mode.probe("tmp_write", name=name, token=token)
    r = mode.call(name, "exit", code=3)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    after = mode.probe("tmp_read", name=name, token=token)
    assert after["instance"] != first["instance"]
    if mode.sandboxed:
        assert not after["mark"]["ok"], after
        assert [f for f in after["tmp"] if f.startswith("mark-")] == [], after["tmp"]
    else:
        assert after["mark"]["ok"], after
        os.unlink(f"/tmp/mark-{token}")
    mode.assert_healthy()
