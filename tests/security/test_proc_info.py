"""/proc, kernel interfaces, signals and info leaks (T-INF-*, T-ESC-2, T-ESC-6, T-SEC-1)."""

import re

import pytest

from conftest import CANARY

ENV_ALLOWED = {"PATH", "LANG", "HOME", "TMPDIR", "TZ", "PYTHONUNBUFFERED", "LC_CTYPE", "PWD",
               "LAMBDA_TASK_ROOT", "_HANDLER", "_X_AMZN_TRACE_ID"}  # the last: set per call by the adapter
ENV_ALLOWED_PREFIXES = ("GUST_", "AWS_LAMBDA_")


@pytest.fixture(scope="module")
def proc_report(mode):
    return mode.probe("proc", canary=CANARY, server_pid=mode.server.proc.pid)


def test_T_INF_1_only_own_pid_namespace_is_visible(mode, proc_report):
    """Listing /proc shows the instance's own few processes (Gust's init as pid 1, the adapter);
    no process's environ holds the server's canary; the server's host pid cannot be signalled.
    Control: unconfined, /proc lists the host, the server's environ (with the canary) is
    readable and signal 0 reaches the server."""
    r = proc_report
    if mode.sandboxed:
        cmdlines = r["pids"]
        assert len(cmdlines) <= 8, f"too many processes visible: {cmdlines}"
        for pid, cmdline in cmdlines.items():
            assert " serve " not in f" {cmdline} " and "pytest" not in cmdline, (pid, cmdline)
        assert "1" in cmdlines, cmdlines
        host_init = open("/proc/1/cmdline", "rb").read().replace(b"\0", b" ").decode().strip()
        assert not r["pid1_cmdline"]["ok"] or r["pid1_cmdline"]["value"].strip() != host_init, r
        assert r["canary_in_environ_of"] == [], r["canary_in_environ_of"]
        assert not r["signal0_server"]["ok"] and r["signal0_server"]["errno"] in ("ESRCH", "EPERM"), (
            r["signal0_server"])
        assert not r["server_status"]["ok"] or "gust" not in r["server_status"]["value"].get("Name", ""), (
            r["server_status"])
    else:
        assert len(r["pids"]) > 20
        assert str(mode.server.proc.pid) in r["canary_in_environ_of"], r["canary_in_environ_of"]
        assert r["signal0_server"]["ok"], r["signal0_server"]
    assert not r["canary_in_own_env"], "the server's environment leaked into the instance"
    mode.assert_healthy()


def test_T_INF_1_pid_1_is_gusts_init_not_the_function(mode, proc_report):
    """The contract: pid 1 of the instance's namespace is Gust's tiny init, so the function does
    not inherit init's duties (reaping orphans: a pid-1 runtime that does not reap leaves
    zombies counting against pids.max) or its signal immunity."""
    if not mode.sandboxed:
        pytest.skip("control: unconfined, pid 1 is the host's init")
    pid1 = proc_report["pid1_cmdline"]
    assert pid1["ok"], pid1
    assert "run_adapter" not in pid1["value"] and proc_report["self"] != 1, (
        f"pid 1 is the function's runtime itself: {pid1['value']!r} (own pid {proc_report['self']})")


def test_T_INF_2_kernel_knobs_cannot_be_opened_for_writing(mode, proc_report):
    """/proc/sysrq-trigger, core_pattern, hostname, drop_caches, binfmt_misc, cgroup
    release_agent, uevent_helper: none opens for writing; /proc/sys is read-only. Control:
    unconfined root opens core_pattern and drop_caches for writing (nothing is written)."""
    w = proc_report["write_open"]
    if mode.sandboxed:
        # A knob masked by binding /dev/null over it opens, harmlessly: writes go nowhere.
        opened = {path: result for path, result in w.items()
                  if result["ok"] and "/dev/null" not in result["value"]}
        assert opened == {}, f"opened for writing inside the sandbox: {opened}"
        assert proc_report["proc_sys_ro"] == {"ok": True, "value": True}, proc_report["proc_sys_ro"]
    else:
        # (this kernel has no /proc/sysrq-trigger: CONFIG_MAGIC_SYSRQ is off)
        assert w["/proc/sys/kernel/core_pattern"]["ok"] and w["/proc/sys/vm/drop_caches"]["ok"], w


def test_T_INF_3_kernel_addresses_and_memory_are_masked(mode, proc_report):
    """/proc/kallsyms, /proc/kcore and /proc/timer_list are masked (unreadable or empty, and no
    real kernel address shows). Control: kallsyms shows real addresses."""
    r = proc_report
    if mode.sandboxed:
        ks = r["kallsyms"]
        assert not ks["ok"] or ks["value"]["nonzero_addresses"] == 0, ks
        assert not r["kcore"]["ok"] or r["kcore"]["value"] == 0, r["kcore"]
        assert not r["timer_list"]["ok"] or r["timer_list"]["value"] == 0, r["timer_list"]
        assert r["hostname"] == "gust"
    else:
        assert r["kallsyms"]["ok"] and r["kallsyms"]["value"]["nonzero_addresses"] > 0, r["kallsyms"]
        # (this kernel has no /proc/kcore: CONFIG_PROC_KCORE is off; kallsyms stands for both)


def test_T_INF_5_T_SEC_1_environment_and_argv_hold_nothing_of_the_host(mode):
    """The environment holds only Gust's allowlisted variables (no server environment, no
    canary), and argv holds no secrets. The same in both modes: Gust never passes its own
    environment to instances, confined or not."""
    r = mode.probe("env")
    extra = {k for k in r["environ"]
             if k not in ENV_ALLOWED and not k.startswith(ENV_ALLOWED_PREFIXES)}
    assert extra == set(), f"unexpected environment variables: {extra}"
    assert not any(CANARY in v for v in r["environ"].values())
    argv = [a for a in r["cmdline"] if a]
    assert len(argv) <= 4 and not any(CANARY in a for a in argv), argv
    if mode.sandboxed:
        assert r["environ"]["GUST_CODE_DIR"] == "/code", r["environ"]
        assert r["environ"]["HOME"] == "/tmp"


def test_T_ESC_6_no_host_descriptors_leak_into_the_instance(mode):
    """/proc/self/fd: stdio, the protocol socket and the adapter's own files; nothing pointing at
    the data dir, the server's log, cgroups or any host directory. (Both modes: descriptor
    hygiene is the server's, sandbox or not.)"""
    r = mode.probe("fds")
    fds = r["fds"]
    # The sandbox keeper's control socket (SEQPACKET: it attaches code to pre-started sandboxes,
    # as host root) never reaches the function, pre-started or not.
    assert "seqpacket" not in r["socket_types"].values(), r["socket_types"]
    data = str(mode.server.data.resolve())
    suspicious = {}
    for fd, target in fds.items():
        if re.fullmatch(r"(pipe|socket|anon_inode):.*", target) or target == "/dev/null":
            continue
        if target == "<ENOENT>":
            continue  # the listing's own directory descriptor, closed before readlink
        suspicious[fd] = target
    if mode.sandboxed:
        assert suspicious == {}, suspicious
    for fd, target in suspicious.items():
        assert not target.startswith((data, "/sys/", str(mode.server.work_dir))), (fd, target)
    assert len(fds) <= 16, fds


def test_T_ESC_2_kill_everything_from_inside_harms_only_the_instance(mode):
    """kill(-1, SIGKILL), kill(1, SIGKILL), kill(1, SIGTERM) from inside: init survives, the
    server and the bystander keep answering, host pids cannot be signalled. Control: not run
    (unconfined as root, kill(-1) would kill every process on this machine); signal 0 to the
    server's pid shows the reach instead (test_T_INF_1)."""
    if not mode.sandboxed:
        r = mode.probe("proc", server_pid=mode.server.proc.pid)
        assert r["signal0_server"]["ok"], r["signal0_server"]
        return
    name = mode.deploy("killer")
    r = mode.probe("kill_all", name=name, host_pids=[mode.server.proc.pid, 1])
    assert "refused" not in r, f"the probe does not look confined, refused to run: {r}"
    assert r["pid1_after"]["ok"], f"Gust's init died: {r}"
    assert not r[f"signal0_{mode.server.proc.pid}"]["ok"], r
    mode.assert_healthy()
    after = mode.server.post(f"/fn/{name}?check=hello", json={}, timeout=60)
    assert after.status_code in (200, 502), (after.status_code, after.text)
    assert mode.server.post(f"/fn/{name}?check=hello", json={}, timeout=60).status_code == 200
