"""Resources, DoS and process lifetime (T-RES-*, T-ESC-8). Every hostile call is followed by a
check that the server and an innocent function are unharmed. All load stays on 127.0.0.1."""

import os
import signal
import time
import uuid

import pytest

from pathlib import Path

from conftest import (error_of, start_server, host_descendants, host_function_of, host_processes_with,
                      host_status, kill_pids, wait_until)

MiB = 1 << 20
PIDS_MAX = 64
NOFILE = 1024
TMP_MB = 64  # tmp_mb's default


def test_T_RES_1_fork_bomb_stops_at_pids_max(mode):
    """fork() until refused: EAGAIN before pids.max (64) processes. Control: 100 forks succeed
    (capped by the probe; unconfined there is no per-instance limit)."""
    name = mode.deploy("forkbomb", timeout_s=60)
    r = mode.probe("forkbomb", name=name, cap=200 if mode.sandboxed else 100)
    if mode.sandboxed:
        assert r["failure"] == "EAGAIN", r
        assert r["forked"] < PIDS_MAX, r
    else:
        assert r == {"forked": 100, "failure": None}, r
    mode.assert_healthy()
    assert mode.probe("hello", name=name)["calls"] >= 2, "the instance should have survived"


def test_T_RES_1_thread_bomb_stops_at_pids_max(mode):
    """Threads count against pids.max too. Control: 150 threads start."""
    name = mode.deploy("forkbomb", timeout_s=60)
    r = mode.probe("threadbomb", name=name, cap=200 if mode.sandboxed else 150)
    if mode.sandboxed:
        assert r["failure"] is not None and r["threads"] < PIDS_MAX, r
    else:
        assert r == {"threads": 150, "failure": None}, r
    mode.assert_healthy()


@pytest.mark.parametrize("how", ["heap", "mmap", "tmpfs+heap"])
def test_T_RES_2_memory_hog_is_killed_at_memory_mb(mode, how):
    """memory_mb = 128; the function touches 512 MiB (heap, anonymous mmap) or fills 60 MiB of
    /tmp then 100 MiB of heap (tmpfs pages count against the function's memory): 502 naming
    "out of memory", in the activation record too; the next call gets a fresh instance.
    Control: unconfined there is no limit and the allocation succeeds."""
    name = mode.deploy(f"memhog-{how.replace('+', '-')}", memory_mb=128, timeout_s=60)
    args = {"mb": 512, "how": how} if how != "tmpfs+heap" else {"mb": 100, "tmp_mb": 60, "how": how}
    r = mode.call(name, "memhog", **args)
    if mode.sandboxed:
        assert r.status_code == 502, (r.status_code, r.text[:500])
        error = error_of(r)
        assert "out of memory" in error["message"].lower(), error
        record = mode.server.activation(r.headers["X-Gust-Activation-Id"])
        assert "out of memory" in (record.get("error") or "").lower(), record
        assert mode.probe("hello", name=name)["calls"] == 1, "a fresh instance should answer"
    else:
        assert r.status_code == 200, (r.status_code, r.text[:500])
    mode.assert_healthy()


def test_instance_cgroup_has_the_functions_limits(mode):
    """Host side: the instance's own cgroup limits memory to its memory_mb (no swap), processes
    to 64 and CPU to one core — whether it was started for the function or pre-started and
    given the function later. Control: unconfined, instances stay in the server's cgroup."""
    name = mode.deploy("limits", memory_mb=96)
    assert mode.probe("hello", name=name)["calls"] >= 1
    pids = [pid for pid in host_descendants(mode.server.proc.pid) if host_function_of(pid) == name]
    assert pids, "cannot find the instance's processes on the host"
    groups = dict(line.split(":", 2)[1:] for line in Path(f"/proc/{pids[0]}/cgroup").read_text().splitlines())
    if not mode.sandboxed:
        assert "/gust/" not in "".join(groups.values()), groups
        return
    root = Path("/sys/fs/cgroup")
    if "memory" in groups:  # cgroup v1: one hierarchy per controller
        memory = root / "memory" / groups["memory"].lstrip("/")
        cpu = root / "cpu" / groups["cpu"].lstrip("/")
        assert int((memory / "memory.limit_in_bytes").read_text()) == 96 << 20
        combined = memory / "memory.memsw.limit_in_bytes"
        if combined.exists():
            assert int(combined.read_text()) == 96 << 20
        assert (root / "pids" / groups["pids"].lstrip("/") / "pids.max").read_text().strip() == "64"
        assert int((cpu / "cpu.cfs_quota_us").read_text()) == int((cpu / "cpu.cfs_period_us").read_text())
    else:  # cgroup v2
        group = root / groups[""].lstrip("/")
        assert int((group / "memory.max").read_text()) == 96 << 20
        assert (group / "memory.swap.max").read_text().strip() == "0"
        assert (group / "pids.max").read_text().strip() == "64"
        quota, period = (group / "cpu.max").read_text().split()
        assert quota == period
    mode.assert_healthy()


def test_T_RES_3_tmp_fills_up_at_its_size(mode):
    """16 MiB files into /tmp until refused: ENOSPC at the tmpfs size (64 MiB by default).
    Control: unconfined /tmp is the host's; 100 MiB fit (and are removed)."""
    name = mode.deploy("tmpfill", timeout_s=60)
    r = mode.probe("tmpfill", name=name, cap_mb=100)
    if mode.sandboxed:
        assert r["failure"] == "ENOSPC", r
        assert r["written_mb"] <= TMP_MB, r
    else:
        assert r == {"written_mb": 100.0, "failure": None}, r
    mode.assert_healthy()


def test_T_RES_4_descriptors_stop_at_rlimit_nofile(mode):
    """Open /dev/null until EMFILE: below 1024. Control: the server's limit lets 2000 open."""
    r = mode.probe("fdbomb", cap=2000)
    if mode.sandboxed:
        assert r["failure"] == "EMFILE" and r["opened"] < NOFILE, r
    else:
        assert r == {"opened": 2000, "failure": None}, r
    mode.assert_healthy()


def test_T_RES_5_big_file_stops_at_rlimit_fsize(mode):
    """One byte at offset 200 MiB of a /tmp file (sparse): EFBIG (RLIMIT_FSIZE = the tmp size).
    Control: the sparse file is written."""
    r = mode.probe("bigfile", offset_mb=200)
    if mode.sandboxed:
        assert r == {"ok": False, "errno": "EFBIG"}, r
    else:
        assert r["ok"], r
    mode.assert_healthy()


def test_rlimits_are_set_hard(mode):
    """NOFILE <= 1024, CORE = 0 and FSIZE <= the tmp size, soft and hard (a hard limit above
    would let the function raise its own soft one; a core dump would reach the host's
    core_pattern). Control: unconfined, the server's own limits are higher."""
    r = mode.probe("rlimits")
    if mode.sandboxed:
        assert max(r["RLIMIT_NOFILE"]) <= NOFILE, r
        assert r["RLIMIT_CORE"] == [0, 0], r
        assert 0 <= r["RLIMIT_FSIZE"][0] <= TMP_MB * MiB and 0 <= r["RLIMIT_FSIZE"][1] <= TMP_MB * MiB, r
    else:
        assert r["RLIMIT_NOFILE"][1] > NOFILE or r["RLIMIT_CORE"][1] != 0, r


def test_T_RES_1_orphans_are_reaped_so_they_do_not_eat_pids_max(mode):
    """8 double-forked orphans exit at once. Their zombies must be reaped (by Gust's init), or
    each keeps one of the instance's 64 pids forever. In control (unconfined) the host's init
    reaps them: the zombies are never the adapter's children."""
    name = mode.deploy("orphans", timeout_s=30)
    if mode.sandboxed:
        r = mode.probe("orphans", name=name, n=8, token=uuid.uuid4().hex)
        assert r["zombie_children_of_me"] == 0, (
            f"{r['zombie_children_of_me']} unreaped zombies are children of the function's own "
            f"process (pid {r['me']}): nothing reaps orphans in the sandbox")
    else:
        r = mode.probe("orphans", name=name, n=8, token=uuid.uuid4().hex)
        assert r["zombie_children_of_me"] == 0, r
    mode.assert_healthy()


def test_T_RES_7_timeout_kills_every_process_even_a_setsid_daemon(mode):
    """timeout_s = 2: the function starts a double-forked setsid() daemon, then hangs. 504 at
    the timeout, and no process of the instance survives on the host. Control: unconfined, the
    daemon escapes the killed process group and lives on (the suite then kills it)."""
    name = mode.deploy("timeout", timeout_s=2)
    mode.probe("hello", name=name)  # warm, so the timing is the call's own
    token = uuid.uuid4().hex
    began = time.monotonic()
    r = mode.call(name, "daemon", timeout=60, token=token, hang=True, daemon_s=120)
    elapsed = time.monotonic() - began
    try:
        assert r.status_code == 504, (r.status_code, r.text[:500])
        assert elapsed < 10, f"the 2 s timeout took {elapsed:.1f} s"
        if mode.sandboxed:
            left = wait_until(lambda: not host_processes_with(token), 5)
            assert left, f"processes of the timed-out instance survive: {host_processes_with(token)}"
        else:
            assert wait_until(lambda: host_processes_with(token), 5), "control: the daemon did not start"
    finally:
        kill_pids(host_processes_with(token))
    mode.assert_healthy()
    assert mode.probe("hello", name=name)["calls"] == 1, "the timed-out instance must not be reused"


def test_T_RES_9_a_daemon_left_behind_dies_with_its_instance(mode):
    """A call returns normally leaving a setsid() daemon; the instance then crashes (exit 3).
    The daemon must die with the instance (pid-namespace init gone / cgroup killed, §4.4 retire
    rules). Control: unconfined, the daemon outlives the instance."""
    name = mode.deploy("leftover", max_instances=1, timeout_s=10)
    token = uuid.uuid4().hex
    try:
        assert mode.probe("daemon", name=name, token=token, daemon_s=120) == {"daemon": token}
        assert wait_until(lambda: host_processes_with(token), 5), "the daemon did not start"
        r = mode.call(name, "exit", code=3)
        assert r.status_code == 502, (r.status_code, r.text[:300])
        if mode.sandboxed:
            assert wait_until(lambda: not host_processes_with(token), 5), (
                f"the daemon outlived its instance: {host_processes_with(token)}")
        else:
            time.sleep(1)
            assert host_processes_with(token), "control: the daemon died anyway"
    finally:
        kill_pids(host_processes_with(token))
    mode.assert_healthy()


def test_T_RES_8_output_flood_keeps_the_server_bounded(mode):
    """64 MiB to stdout and 64 MiB to stderr in one call: the call completes, the activation's
    logs are capped (1 MiB), and the server's resident memory does not grow by the flood. (Both
    modes: log capping is the server's.)"""
    name = mode.deploy("flood", timeout_s=60)
    mode.probe("hello", name=name)

    def rss_mb():
        return int(host_status(mode.server.proc.pid)["VmRSS"].split()[0]) / 1024

    before = rss_mb()
    r = mode.call(name, "flood", mb=64)
    assert r.status_code == 200, (r.status_code, r.text[:300])
    record = mode.server.activation(r.headers["X-Gust-Activation-Id"])
    assert len(record["logs"]) <= 2 * MiB, len(record["logs"])
    assert rss_mb() - before < 96, f"server RSS grew from {before:.0f} to {rss_mb():.0f} MiB"
    mode.assert_healthy()


def test_T_ESC_8_instances_die_with_the_server(own_mode):
    """SIGKILL the server while an instance (with a setsid() daemon) is alive: every process of
    the instance dies (PDEATHSIG / pid-namespace init). Control: unconfined, the daemon outlives
    the server (the suite then kills it)."""
    mode = own_mode
    name = mode.deploy("orphan", timeout_s=10)
    token = uuid.uuid4().hex
    try:
        assert mode.probe("daemon", name=name, token=token, daemon_s=120) == {"daemon": token}
        assert wait_until(lambda: host_processes_with(token), 5), "the daemon did not start"
        instance = [(pid, host_status(pid).get("Name")) for pid in host_descendants(mode.server.proc.pid)]
        mode.server.stop_requested = True
        mode.server.proc.send_signal(signal.SIGKILL)
        mode.server.proc.wait(10)
        if mode.sandboxed:
            assert wait_until(lambda: not host_processes_with(token), 5), (
                f"instance processes outlived the server: {host_processes_with(token)}")
            # The kills chain (server → keeper → PID 1 → the rest) and a sanitizer build takes
            # a while to tear down its address space: alive means still there after 5 s.
            def alive():
                return [(pid, name) for pid, name in instance
                        if host_status(pid).get("Name") == name and not host_status(pid).get("State", "Z").startswith("Z")]
            wait_until(lambda: not alive(), 5)
            assert alive() == [], f"processes the server started outlived it: {alive()}"
        else:
            time.sleep(1)
            assert host_processes_with(token), "control: the daemon died with the server anyway"
    finally:
        kill_pids(host_processes_with(token))


def test_starting_another_sandboxed_server_leaves_this_servers_instances_alone(mode, tmp_path):
    """A neighbour: a second `gust serve --sandbox linux` (its own data dir and port) starts and
    stops on the same host. This server's warm instance must survive it (cgroups, uids and
    sandbox roots of one server are not another's to clean up)."""
    if not mode.sandboxed:
        pytest.skip("control: unconfined servers keep no per-instance cgroups")
    name = mode.deploy("neighbour", max_instances=1)
    first = mode.probe("hello", name=name)
    other = start_server(tmp_path / "other", "sandbox")
    try:
        assert other.get("/healthz", timeout=10).status_code == 200
    finally:
        other.stop()
    r = mode.call(name, "hello")
    assert r.status_code == 200, f"this server's warm instance died when another server started: {r.text[:300]}"
    second = r.json()["result"]
    assert second["instance"] == first["instance"], "the warm instance was replaced"
    mode.assert_healthy()
