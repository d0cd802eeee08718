"""Identity and privileges (T-PRIV-*): who the function runs as, inside and on the host."""

import io
import os
import shutil
import tarfile

import pytest

from conftest import host_cmdline, host_descendants, host_status, unique

CAP_FIELDS = ("CapEff", "CapPrm", "CapBnd", "CapAmb")


def test_T_PRIV_1_every_thread_has_no_capabilities_nnp_and_seccomp(mode):
    """/proc/self/task/*/status of a 3-thread instance: capabilities 0 in all four sets,
    no_new_privs, seccomp filter mode; uid/gid 1000; hostname gust."""
    report = mode.probe("privileges")
    tasks = report["tasks"]
    assert len(tasks) >= 3, tasks
    if mode.sandboxed:
        for tid, status in tasks.items():
            for field in CAP_FIELDS:
                assert int(status[field], 16) == 0, (tid, field, status)
            assert status["NoNewPrivs"] == "1", (tid, status)
            assert status["Seccomp"] == "2", (tid, status)
            assert int(status.get("Seccomp_filters", "0")) >= 1, (tid, status)
        assert (report["uid"], report["euid"], report["gid"], report["egid"]) == (1000, 1000, 1000, 1000)
        assert report["groups"] in ([], [1000]), report["groups"]
        assert report["hostname"] == "gust"
    else:  # control: unconfined, the instance holds the server's root privileges
        some = next(iter(tasks.values()))
        assert int(some["CapEff"], 16) != 0 and some["Seccomp"] == "0", some
        assert report["euid"] == 0
    mode.assert_healthy()


def test_T_PRIV_2_setuid_setgid_setgroups_to_root_fail(mode):
    """setuid(0)/setgid(0)/setgroups through Python's wrappers (raw syscalls: test_syscalls)."""
    report = mode.probe("setuid_python")
    if mode.sandboxed:
        # EINVAL: uid/gid 0 has no mapping in the user namespace (refused before any check)
        for call in ("setuid0", "setgid0"):
            assert report[call]["ok"] is False and report[call]["errno"] in ("EPERM", "EINVAL"), (call, report)
        assert report["setgroups"]["ok"] is False and report["setgroups"]["errno"] == "EPERM", report
    else:  # control: the server's root can set its groups freely
        assert report["setgroups"]["ok"] is True, report
    mode.assert_healthy()


def test_T_PRIV_3_setuid_root_binary_runs_without_privilege(mode):
    """A setuid-root binary in the function's code dir (planted on the host after the deploy, as
    an operator slip or an unpacker bug would) runs without lifting the caller: nosuid, NNP and
    the unmapped owner. Control: unconfined, the same binary lifts `nobody` to euid 0."""
    name = mode.deploy("suid")
    planted = mode.code_dir(name) / "suid-cprobe"
    shutil.copy(mode.cprobe, planted)
    os.chown(planted, 0, 0)
    os.chmod(planted, 0o4755)
    report = mode.probe("setuid_exec", name=name, file="suid-cprobe")
    assert report["returncode"] == 0, report
    ids = report["ids"]
    if mode.sandboxed:
        assert report["mode"] == oct(0o104755), f"the planted setuid bit is not visible: {report}"
        assert ids["euid"] == ids["uid"] == 1000, ids
        assert ids["egid"] == ids["gid"] == 1000, ids
    else:
        assert ids["uid"] == 65534 and ids["euid"] == 0, ids
    mode.assert_healthy()


def test_T_PRIV_3_deploy_strips_setuid_bits_from_the_bundle(mode):
    """A bundle entry with mode 06755 (and one with 01777) is unpacked without setuid, setgid or
    sticky bits, in either mode (the unpacker, not the sandbox, does this)."""
    out = io.BytesIO()
    with tarfile.open(fileobj=out, mode="w:gz") as tar:
        for path, data, perm in [("main.py", b"def handler(e, c):\n    return {'ok': True}\n", 0o644),
                                 ("suid-bin", mode.cprobe.read_bytes(), 0o6755),
                                 ("sticky", b"x", 0o1777)]:
            info = tarfile.TarInfo(path)
            info.size = len(data)
            info.mode = perm
            info.uid = info.gid = 0
            tar.addfile(info, io.BytesIO(data))
    name = unique("suid-bundle")
    r = mode.server.api("POST", f"/api/v1/functions/{name}/versions", data=out.getvalue(),
                        headers={"Content-Type": "application/gzip"})
    assert r.status_code in (201, 400), (r.status_code, r.text)
    if r.status_code == 201:
        code = mode.code_dir(name)
        for entry in ("suid-bin", "sticky"):
            perm = os.stat(code / entry).st_mode & 0o7777
            assert perm & 0o7000 == 0, f"{entry} unpacked with mode {oct(perm)}"
    mode.assert_healthy()


def ns_of(pid, kind="pid"):
    try:
        return os.readlink(f"/proc/{pid}/ns/{kind}")
    except OSError:
        return None


def test_T_PRIV_5_instance_processes_run_as_unprivileged_host_uid(mode):
    """Host-side view of a live instance: every process in the instance's pid namespace (its
    init included) has host uids and gids >= 200000; none is host root. Control: the adapter
    runs as the server's uid 0 in the server's own pid namespace."""
    name = mode.deploy("probe")
    mode.probe("hello", name=name)  # a live, warm instance
    server_pid = mode.server.proc.pid
    server_ns = ns_of(server_pid)
    adapters = [pid for pid in host_descendants(server_pid) if "run_adapter.py" in host_cmdline(pid)]
    assert adapters, "no adapter process found under the server"
    if mode.sandboxed:
        sandbox_pids = [pid for pid in host_descendants(server_pid)
                        if ns_of(pid) not in (None, server_ns)]
        for pid in adapters:
            assert pid in sandbox_pids, f"adapter {pid} runs in the server's pid namespace"
        for pid in sandbox_pids:
            status = host_status(pid)
            uids = [int(u) for u in status["Uid"].split()]
            gids = [int(g) for g in status["Gid"].split()]
            assert min(uids) >= 200000 and min(gids) >= 200000, (
                pid, host_cmdline(pid), status["Uid"], status["Gid"])
    else:
        uids = host_status(adapters[0])["Uid"].split()
        assert uids[1] == "0" and ns_of(adapters[0]) == server_ns, uids
    mode.assert_healthy()
