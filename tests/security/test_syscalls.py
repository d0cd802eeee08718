"""Processes and raw syscalls (T-PRIV-2/4, T-FS-6, T-ESC-1/3/4/5/7, T-NET-3), from the static C
probe (tests/security/cprobe/cprobe.c) shipped in the function's bundle and run from /code.

Each check runs in its own forked child. Sandboxed, a check must be refused with the errno the
contract names, or the child must be killed by SIGSYS (non-native syscall ABIs). Control
(unconfined, root), the same call must reach the kernel: it succeeds or fails with an errno
other than EPERM/ENOSYS, which shows the sandbox, not the kernel, is what refuses it."""

import struct
import time

import pytest

SIGSYS = 31

# check -> the sandboxed result: an errno name, or "SIGSYS" (killed), or "allowed".
CONTRACT = {
    # T-ESC-1 ptrace and cross-process memory
    "ptrace_traceme": "EPERM",
    "ptrace_attach_child": "EPERM",
    "ptrace_seize_pid1": "EPERM",
    "process_vm_readv": "EPERM",
    "process_vm_writev": "EPERM",
    # T-FS-6 mounts and roots
    "mount": "EPERM",
    "mount_tmp": "EPERM",
    "umount2": "EPERM",
    "umount2_tmp": "EPERM",
    "pivot_root": "EPERM",
    "chroot": "EPERM",
    "fsopen": "EPERM",
    "open_tree": "EPERM",
    "mount_setattr": "EPERM",
    # T-PRIV-4 namespaces
    "unshare_newuser": "EPERM",
    "unshare_newns": "EPERM",
    "unshare_newnet": "EPERM",
    "clone_newuser": "EPERM",
    "clone_newpid": "EPERM",
    "clone_newns": "EPERM",
    "clone_newnet": "EPERM",
    "clone3_plain": "ENOSYS",
    "clone3_newuser": "ENOSYS",
    "setns": "EPERM",
    # T-ESC-3 the kill-list
    "bpf": "EPERM",
    "perf_event_open": "EPERM",
    "keyctl": "EPERM",
    "add_key": "EPERM",
    "request_key": "EPERM",
    "kexec_load": "EPERM",
    "init_module": "EPERM",
    "finit_module": "EPERM",
    "delete_module": "EPERM",
    "open_by_handle_at": "EPERM",
    "userfaultfd": "EPERM",
    "io_uring_setup": "EPERM",
    "swapon": "EPERM",
    "swapoff": "EPERM",
    "reboot": "EPERM",
    "syslog": "EPERM",
    # T-PRIV-2 raw setuid family. EINVAL is the kernel's answer when uid/gid 0 has no mapping in
    # the user namespace ("root inside does not exist"): refused before any privilege check.
    "setuid0": "EPERM|EINVAL",
    "setgid0": "EPERM|EINVAL",
    "setresuid0": "EPERM|EINVAL",
    "setgroups": "EPERM",
    # T-ESC-5 terminal injection (fds 0-2 are pipes and /dev/null; seccomp refuses first)
    "tiocsti_fd0": "EPERM",
    "tiocsti_fd1": "EPERM",
    "tiocsti_fd2": "EPERM",
    # T-NET-3 sockets
    "socket_packet": "EPERM",
    "socket_raw": "EPERM",
    "socket_raw6": "EPERM",
    "socket_vsock": "EPERM",
    # T-ESC-4 other syscall ABIs: the process is killed
    "x32_getpid": "SIGSYS",
    "int80_getpid": "SIGSYS",
    "int80_socket": "SIGSYS",
    "int80_mount": "SIGSYS",
    "int80_unshare": "SIGSYS",
    # Sanity: the filter is an allowlist, not a wall
    "clone_plain": "allowed",
    "socket_unix": "allowed",
}

# §4.3/§4.8 of the research note asks for these too; the brief's contract does not list them. A
# failure here is a hardening gap against the design, not a broken contract.
HARDENING = {
    "name_to_handle_at": "EPERM",             # §4.3 kill-list
    "acct": "EPERM",                          # §4.3 kill-list
    "personality_read_implies_exec": "EPERM",  # §4.3 personality != PER_LINUX, T-ESC-7
    "modify_ldt": "EPERM",                    # T-ESC-7
    # NETLINK_ROUTE stays allowed on purpose (docs/security.md): it lists only the instance's own
    # network namespace, and runtimes need it (Node's os.networkInterfaces, getifaddrs).
    "socket_netlink": "allowed",
    "socket_mptcp": "EPERM",                  # §4.3 protocol != IPPROTO_MPTCP
    "tioclinux": "EPERM",                     # §4.3 TIOCLINUX
    "tiocsti_pty": "denied",                  # no pty reachable: /dev/ptmx absent or refused
}

# Control runs where this machine cannot show the call reaching the kernel.
CONTROL_CANNOT_SHOW = {
    "kexec_load": "kernel built without CONFIG_KEXEC: ENOSYS unconfined too",
    "init_module": "kernel built without CONFIG_MODULES: ENOSYS unconfined too",
    "finit_module": "kernel built without CONFIG_MODULES: ENOSYS unconfined too",
    "delete_module": "kernel built without CONFIG_MODULES: ENOSYS unconfined too",
    "x32_getpid": "kernel built without CONFIG_X86_X32_ABI: ENOSYS unconfined too",
    "tiocsti_fd0": "fd 0 is /dev/null: ENOTTY unconfined (tiocsti_pty shows TIOCSTI works)",
    "tiocsti_fd1": "fd 1 is a pipe: ENOTTY unconfined (tiocsti_pty shows TIOCSTI works)",
    "tiocsti_fd2": "fd 2 is a pipe: ENOTTY unconfined (tiocsti_pty shows TIOCSTI works)",
    "tioclinux": "fd 0 is /dev/null: ENOTTY unconfined",
    "mount_tmp": "not run unconfined: it would mount over the host's /tmp",
    "umount2_tmp": "not run unconfined: it would unmount the host's /tmp",
    "ptrace_seize_pid1": "not run unconfined: pid 1 is the host's init",
}


@pytest.fixture(scope="module")
def syscalls(mode):
    report = mode.probe("syscalls")
    assert "error" not in report, report
    return report


def describe(result: dict) -> str:
    if "skipped" in result:
        return f"skipped ({result['skipped']})"
    if result.get("signal"):
        return f"killed by signal {result['signal']}"
    if result["ret"] == -1:
        return result["err"] or f"errno {result['errno']}"
    return f"succeeded (ret {result['ret']})"


def check_sandboxed(name: str, want: str, result: dict) -> None:
    got = describe(result)
    if want == "SIGSYS":
        assert result.get("signal") == SIGSYS, f"{name}: want the process killed by SIGSYS, got {got}"
    elif want == "allowed":
        assert result["ret"] >= 0 and not result.get("signal"), f"{name}: want allowed, got {got}"
    elif want == "denied":
        assert result["ret"] == -1 and not result.get("signal"), f"{name}: want denied, got {got}"
    else:
        assert result["ret"] == -1 and result["err"] in want.split("|") and not result.get("signal"), (
            f"{name}: want {want}, got {got}")


def reached_kernel(result: dict) -> bool:
    if result.get("signal"):
        return False
    return result["ret"] >= 0 or result["err"] not in ("EPERM", "ENOSYS")


@pytest.mark.parametrize("name", sorted(CONTRACT))
def test_contract_syscall(mode, syscalls, name):
    result = syscalls[name]
    if mode.sandboxed:
        check_sandboxed(name, CONTRACT[name], result)
    elif name in CONTROL_CANNOT_SHOW:
        pass  # see CONTROL_CANNOT_SHOW: only the sandboxed assertion means something here
    else:
        assert reached_kernel(result), f"control: {name} did not reach the kernel: {describe(result)}"


@pytest.mark.parametrize("name", sorted(HARDENING))
def test_hardening_syscall(mode, syscalls, name):
    result = syscalls[name]
    if mode.sandboxed:
        check_sandboxed(name, HARDENING[name], result)
    elif name not in CONTROL_CANNOT_SHOW:
        assert reached_kernel(result), f"control: {name} did not reach the kernel: {describe(result)}"


def test_server_healthy_after_syscall_probes(mode, syscalls):
    mode.assert_healthy()


ALLOW_EVERYTHING = struct.pack("<HBBI", 0x06, 0, 0, 0x7FFF0000)  # BPF_RET|BPF_K SECCOMP_RET_ALLOW


def syscalls_in_a_new_sandbox(m, key: str) -> dict:
    """The probe's report from a sandbox built after this call: a function's first call takes
    the pre-started instance (built earlier) and its replacement is built ~10 ms later, so the
    next new function runs in that replacement."""
    m.probe("hello", name=m.deploy(f"{key}-takes-the-ready-one"))
    time.sleep(1.5)
    report = m.probe("syscalls", name=m.deploy(f"{key}-gets-a-new-one"))
    assert "error" not in report, report
    return report


def test_T_ESC_9_a_cached_seccomp_filter_is_loaded_only_while_root_alone_can_write_it(own_mode):
    """The sandbox's keeper keeps the compiled filter in the server's state dir (data/sandbox,
    root's) and loads it from there. Planted there by anyone but root, a filter must be ignored.
    First a root-owned allow-everything program shows the cached file is what sandboxes load
    (root could always do this); then the same program made writable by others is not loaded."""
    if not own_mode.sandboxed:
        pytest.skip("control: unconfined, no seccomp filter")
    m = own_mode
    m.probe("hello")  # a sandbox has been built: the cache holds the filter
    cached = list((m.server.data / "sandbox").glob("seccomp-python3-*.bpf"))
    assert len(cached) == 1, cached
    path = cached[0]
    assert path.stat().st_uid == 0 and path.stat().st_mode & 0o777 == 0o600, oct(path.stat().st_mode)
    assert describe(syscalls_in_a_new_sandbox(m, "real")["clone3_plain"]) == "ENOSYS"

    path.write_bytes(ALLOW_EVERYTHING)
    trusted = syscalls_in_a_new_sandbox(m, "root-planted")["clone3_plain"]
    assert trusted["ret"] >= 0, f"the cached program was not the one loaded: {describe(trusted)}"

    path.chmod(0o666)
    untrusted = syscalls_in_a_new_sandbox(m, "others-writable")["clone3_plain"]
    check_sandboxed("clone3_plain", "ENOSYS", untrusted)
    # Compiled again, and the cache holds the real filter again.
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() != ALLOW_EVERYTHING
    m.assert_healthy()
