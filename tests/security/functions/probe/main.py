# The escape-suite probe (tests/security). One function that does many hostile things on
# request and reports what happened as JSON, so one warm instance serves many checks.
#
#   POST /fn/<name>?check=<check>   body: JSON object of arguments (may be empty)
#
# Every check reports facts (return values, errnos, what it could read or reach); the tests
# decide what is an escape. The probe must be safe to run unconfined as root (the control mode):
# it opens host files for writing without writing to them, signals the host only with signal 0,
# and `mode` == "control" turns off the few actions that would harm the host.
import base64
import ctypes
import errno
import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid

HERE = os.path.dirname(os.path.abspath(__file__))
CPROBE = os.path.join(HERE, "cprobe")
INSTANCE = uuid.uuid4().hex  # tells instances apart (pids are the same in every pid namespace)
calls = 0
kept = []  # sockets and other objects that must outlive the invocation

libc = ctypes.CDLL(None, use_errno=True)


def err_name(code):
    return errno.errorcode.get(code, str(code))


def attempt(fn):
    """{"ok": True, "value": ...} or {"ok": False, "errno": "EPERM", "error": "..."}."""
    try:
        return {"ok": True, "value": fn()}
    except OSError as e:
        return {"ok": False, "errno": err_name(e.errno) if e.errno else None, "error": str(e)}
    except Exception as e:  # noqa: BLE001 - report anything else as a failure too
        return {"ok": False, "errno": None, "error": f"{type(e).__name__}: {e}"}


def read_text(path, limit=4096):
    with open(path, "rb") as f:
        return f.read(limit).decode("utf-8", "replace")


def open_for_write(path, follow=False):
    """Opens an existing file for writing and closes it without writing a byte: the capability
    to modify it, shown without modifying it. `follow` for magic links such as /proc/self/exe."""
    flags = os.O_WRONLY | os.O_APPEND | os.O_CLOEXEC | (0 if follow else os.O_NOFOLLOW)
    fd = os.open(path, flags)
    try:
        st = os.fstat(fd)
    finally:
        os.close(fd)
    if (st.st_mode & 0o170000) == 0o020000 and st.st_rdev == os.makedev(1, 3):
        return "opened /dev/null (a mask)"
    return "opened for writing"


def create_and_remove(directory):
    path = os.path.join(directory, f".gust-probe-{uuid.uuid4().hex[:8]}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    os.write(fd, b"x")
    os.close(fd)
    os.unlink(path)
    return f"created and removed {path}"


def listing(path, limit=50):
    return sorted(os.listdir(path))[:limit]


def status_fields(path):
    fields = {}
    for line in read_text(path, 65536).splitlines():
        key, _, value = line.partition(":")
        if key in ("Uid", "Gid", "CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs",
                   "Seccomp", "Seccomp_filters", "NSpid", "Name"):
            fields[key] = value.strip()
    return fields


# -- checks ------------------------------------------------------------------------------------

def check_hello(args):
    return {"instance": INSTANCE, "calls": calls, "pid": os.getpid()}


def check_privileges(args):
    """T-PRIV-1: every thread's capabilities, no_new_privs and seccomp mode."""
    stop = threading.Event()
    threads = [threading.Thread(target=stop.wait, daemon=True) for _ in range(2)]
    for t in threads:
        t.start()
    try:
        tasks = {tid: status_fields(f"/proc/self/task/{tid}/status")
                 for tid in os.listdir("/proc/self/task")}
    finally:
        stop.set()
    return {"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "egid": os.getegid(),
            "groups": os.getgroups(), "tasks": tasks, "hostname": socket.gethostname()}


def check_setuid_python(args):
    """T-PRIV-2 through Python's own wrappers (the raw syscalls are in the C probe)."""
    return {"setuid0": attempt(lambda: os.setuid(0)) if os.getuid() != 0 else "already root",
            "setgid0": attempt(lambda: os.setgid(0)) if os.getgid() != 0 else "already root",
            "setgroups": attempt(lambda: os.setgroups([0]))}


def check_syscalls(args):
    """The C probe's raw syscalls (T-PRIV-2/4, T-FS-6, T-ESC-1/3/4/5/7, T-NET-3)."""
    mode = args.get("mode", "sandbox")
    done = subprocess.run([CPROBE, "syscalls", mode], capture_output=True, text=True, timeout=60)
    if done.returncode != 0:
        return {"error": f"cprobe exited {done.returncode}", "stderr": done.stderr[-2000:],
                "stdout": done.stdout[-2000:]}
    return json.loads(done.stdout)


def check_setuid_exec(args):
    """T-PRIV-3: exec a setuid-root binary (`file`, in the code dir). Unconfined the server runs
    as root, so the control first drops to nobody; as nobody cannot traverse the test's private
    temp dirs, it runs a root-owned setuid copy in /tmp, so the control shows the setuid bit
    lifting an unprivileged caller on this host."""
    path = os.path.join(HERE, args["file"])
    st = os.stat(path)
    kw, run_path = {}, path
    if args.get("mode") == "control":
        import shutil
        run_path = f"/tmp/.gust-probe-suid-{uuid.uuid4().hex[:8]}"
        shutil.copy(path, run_path)
        os.chown(run_path, 0, 0)
        os.chmod(run_path, 0o4755)
        kw = {"user": 65534, "group": 65534, "extra_groups": []}
    try:
        done = subprocess.run([run_path, "ids"], capture_output=True, text=True, timeout=20, **kw)
    finally:
        if run_path != path:
            os.unlink(run_path)
    return {"mode": oct(st.st_mode), "owner": st.st_uid, "returncode": done.returncode,
            "stdout": done.stdout, "stderr": done.stderr[-1000:],
            "ids": json.loads(done.stdout) if done.returncode == 0 else None}


def check_filesystem(args):
    """T-FS-1/2/3/4/7: writes to the read-only tree, /tmp, host paths."""
    mode = args.get("mode", "sandbox")
    out = {"write_existing": {}, "create": {}, "read": {}, "exists": {}, "statvfs_ro": {}}
    for path in args.get("write_existing", []):
        out["write_existing"][path] = attempt(lambda p=path: open_for_write(p))
    # Creating files is only tried where it cannot litter the host when unconfined.
    creatable = args.get("create", []) if mode != "control" else args.get("create_control", [])
    for path in creatable:
        out["create"][path] = attempt(lambda p=path: create_and_remove(p))
    def read(p):
        # Files are opened, never read: reaching the host's secrets is shown without taking them.
        if os.path.isdir(p):
            return {"dir": listing(p)}
        os.close(os.open(p, os.O_RDONLY | os.O_CLOEXEC))
        return {"opened": True}
    for path in args.get("read", []):
        out["read"][path] = attempt(lambda p=path: read(p))
    # `..` chains from the code dir towards host paths (zip-slip at runtime).
    for path in args.get("read_traversal", []):
        climb = os.path.join(HERE, "../" * 16 + path.lstrip("/"))
        out["read"]["traversal:" + path] = attempt(lambda p=climb: read(p))
    for path in args.get("exists", []):
        out["exists"][path] = os.path.lexists(path)
    for path in args.get("statvfs", []):
        out["statvfs_ro"][path] = attempt(lambda p=path: bool(os.statvfs(p).f_flag & os.ST_RDONLY))
    # The probe's own code and the runtime that runs it: both must be read-only (T-FS-7).
    out["code_file"] = attempt(lambda: open_for_write(os.path.abspath(__file__)))
    out["code_create"] = attempt(lambda: create_and_remove(HERE))
    out["adapter_file"] = attempt(lambda: open_for_write(os.path.realpath(sys.argv[0])))
    out["adapter"] = os.path.realpath(sys.argv[0])
    out["interpreter"] = attempt(lambda: open_for_write(os.path.realpath(sys.executable)))
    out["proc_self_exe"] = os.readlink("/proc/self/exe")
    out["write_proc_self_exe"] = attempt(lambda: open_for_write("/proc/self/exe", follow=True))
    return out


def check_mountinfo(args):
    mounts = []
    for line in read_text("/proc/self/mountinfo", 1 << 20).splitlines():
        left, _, right = line.partition(" - ")
        f = left.split()
        r = right.split()
        mounts.append({"mountpoint": f[4], "options": f[5], "root": f[3], "fstype": r[0] if r else "",
                       "source": r[1] if len(r) > 1 else "", "super": r[2] if len(r) > 2 else ""})
    return {"mounts": mounts, "base_prefix": sys.base_prefix, "prefix": sys.prefix,
            "executable": os.path.realpath(sys.executable), "sys_exists": os.path.lexists("/sys"), "cwd": os.getcwd(),
            "root": listing("/", 100)}


def check_dev(args):
    """T-FS-9: what /dev holds, and whether device nodes can be opened or made."""
    mode = args.get("mode", "sandbox")
    out = {"dev": listing("/dev", 500), "open": {}}
    for path in ["/dev/kvm", "/dev/mem", "/dev/kmem", "/dev/port", "/dev/vda", "/dev/sda",
                 "/dev/tty", "/dev/console", "/dev/ptmx", "/dev/shm", "/dev/net/tun",
                 "/dev/fuse", "/dev/vsock", "/dev/vhost-vsock"]:
        def opener(p=path):
            fd = os.open(p, os.O_RDONLY | os.O_NONBLOCK | os.O_CLOEXEC | os.O_NOCTTY)
            os.close(fd)
            return "opened"
        out["open"][path] = attempt(opener)
    node = f"/tmp/.gust-probe-null-{uuid.uuid4().hex[:8]}"

    def mknod():
        os.mknod(node, 0o600 | 0o020000, os.makedev(1, 3))  # a char device: /dev/null's numbers
        try:
            fd = os.open(node, os.O_WRONLY)
            os.write(fd, b"x")
            os.close(fd)
            return "made and opened a device node"
        finally:
            os.unlink(node)
    out["mknod"] = attempt(mknod)
    for path in ["/dev/null", "/dev/zero", "/dev/full", "/dev/random", "/dev/urandom"]:
        out["open"][path] = attempt(lambda p=path: len(open(p, "rb").read(0)) == 0)
    return out


def proc_processes():
    procs = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            cmdline = read_text(f"/proc/{entry}/cmdline", 600).replace("\0", " ").strip()
        except OSError as e:
            cmdline = f"<{err_name(e.errno)}>"
        procs[entry] = cmdline
    return procs


def check_proc(args):
    """T-INF-1/2/3/4, T-ESC-2 (signal 0 only): what /proc shows and lets through. Unconfined
    (mode control) /proc is the host's: the probe then reads no other process's command line or
    environment except the server's (`server_pid`), and reports only pid numbers."""
    canary = args.get("canary", "")
    control = args.get("mode") == "control"
    server_pid = args.get("server_pid")
    pids = proc_processes() if not control else {
        p: (read_text(f"/proc/{p}/cmdline", 600).replace("\0", " ") if str(p) == str(server_pid) else "")
        for p in os.listdir("/proc") if p.isdigit()}
    out = {"pids": pids, "self": os.getpid()}
    if not control:
        out["pid1_cmdline"] = attempt(lambda: read_text("/proc/1/cmdline").replace("\0", " "))
        out["pid1_environ"] = attempt(lambda: len(read_text("/proc/1/environ", 1 << 16)))
    found = []
    for pid in (list(pids) if not control else [str(server_pid)] if server_pid else []):
        try:
            if canary and canary in read_text(f"/proc/{pid}/environ", 1 << 20):
                found.append(pid)
        except OSError:
            pass
    out["canary_in_environ_of"] = found
    out["canary_in_own_env"] = bool(canary) and any(canary in v for v in os.environ.values())
    server_pid = args.get("server_pid")
    if server_pid:
        out["signal0_server"] = attempt(lambda: os.kill(int(server_pid), 0))
        out["server_status"] = attempt(lambda: status_fields(f"/proc/{server_pid}/status"))
    # Open for writing, never write: unconfined, these are the host's own.
    out["write_open"] = {}
    for path in ["/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern",
                 "/proc/sys/kernel/hostname", "/proc/sys/vm/drop_caches",
                 "/proc/sys/fs/binfmt_misc/register", "/sys/fs/cgroup/memory/release_agent",
                 "/sys/fs/cgroup/release_agent", "/sys/kernel/uevent_helper"]:
        out["write_open"][path] = attempt(lambda p=path: open_for_write(p))
    out["proc_sys_ro"] = attempt(lambda: bool(os.statvfs("/proc/sys").f_flag & os.ST_RDONLY))

    def kallsyms():
        text = read_text("/proc/kallsyms", 1 << 16)
        lines = text.splitlines()
        nonzero = [line for line in lines if line.split()[0].strip("0")]
        return {"lines": len(lines), "nonzero_addresses": len(nonzero)}
    out["kallsyms"] = attempt(kallsyms)
    out["kcore"] = attempt(lambda: len(open("/proc/kcore", "rb").read(4096)))
    out["timer_list"] = attempt(lambda: len(read_text("/proc/timer_list", 4096)))
    out["cpuinfo"] = attempt(lambda: len(read_text("/proc/cpuinfo", 1 << 16)))
    out["meminfo"] = attempt(lambda: read_text("/proc/meminfo", 200).splitlines()[0])
    out["hostname"] = socket.gethostname()
    return out


def check_env(args):
    """T-INF-5 / T-SEC-1: the instance's environment and argv."""
    return {"environ": dict(os.environ),
            "cmdline": read_text("/proc/self/cmdline", 1 << 16).split("\0")}


def check_fds(args):
    """T-ESC-6: every open descriptor and what it points at; for sockets, their type."""
    fds, socket_types = {}, {}
    for fd in os.listdir("/proc/self/fd"):
        try:
            fds[fd] = os.readlink(f"/proc/self/fd/{fd}")
        except OSError as e:
            fds[fd] = f"<{err_name(e.errno)}>"
            continue
        if fds[fd].startswith("socket:"):
            try:
                with socket.socket(fileno=os.dup(int(fd))) as s:
                    socket_types[fd] = {socket.SOCK_STREAM: "stream", socket.SOCK_DGRAM: "dgram",
                                        socket.SOCK_SEQPACKET: "seqpacket"}.get(s.type, str(s.type))
            except OSError as e:
                socket_types[fd] = f"<{err_name(e.errno)}>"
    return {"fds": fds, "socket_types": socket_types}


def connect_tcp(host, port, timeout=2.0):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    s = socket.socket(family, socket.SOCK_STREAM)
    s.settimeout(timeout)
    try:
        s.connect((host, int(port)))
        return "connected"
    finally:
        s.close()


def check_network(args):
    """T-NET-1/2/3/6: what the instance can reach."""
    out = {"interfaces": [name for _, name in socket.if_nameindex()], "tcp": {}, "udp": {}}
    for target in args.get("tcp", []):
        host, port = target.rsplit(":", 1)
        out["tcp"][target] = attempt(lambda h=host, p=port: connect_tcp(h.strip("[]"), p))
    for target in args.get("udp", []):
        host, port = target.rsplit(":", 1)

        def send(h=host, p=port):
            s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            try:
                s.settimeout(2)
                s.sendto(args.get("udp_payload", "gust-probe").encode(), (h, int(p)))
                return "sent"
            finally:
                s.close()
        out["udp"][target] = attempt(send)
    out["dns"] = attempt(lambda: socket.getaddrinfo(args.get("dns_name", "example.com"), 443)[0][4][0])
    for name, fam, typ, proto in [("packet", socket.AF_PACKET, socket.SOCK_RAW, 0x0300),
                                  ("raw_icmp", socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP),
                                  ("netlink", socket.AF_NETLINK, socket.SOCK_RAW, 0),
                                  ("inet_tcp", socket.AF_INET, socket.SOCK_STREAM, 0)]:
        out[f"socket_{name}"] = attempt(lambda f=fam, t=typ, p=proto: socket.socket(f, t, p).close())
    out["resolv_conf"] = attempt(lambda: read_text("/etc/resolv.conf"))
    return out


def check_listen(args):
    """T-NET-6: listen on a TCP port; the test then tries to reach it from outside."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", 0))
    s.listen(8)
    kept.append(s)
    return {"port": s.getsockname()[1]}


def check_plant(args):
    """T-XT-*, T-NET-5: leave traces a later instance (another function, version, tenant)
    must not find: a /tmp file, an abstract and a path UNIX socket, SysV shm and msg queue."""
    token = args["token"]
    global planted
    planted = token
    with open(f"/tmp/secret-{token}", "w") as f:
        f.write(token)
    abstract = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    abstract.bind(f"\0gust-secsuite-{token}")
    abstract.listen(8)
    path_sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    path_sock.bind(f"/tmp/gust-secsuite-{token}.sock")
    path_sock.listen(8)
    kept.extend([abstract, path_sock])
    key = int(args["ipc_key"])
    shm = libc.shmget(key, 4096, 0o1666)  # IPC_CREAT | 0666
    msg = libc.msgget(key, 0o1666)
    return {"instance": INSTANCE, "shmget": shm, "msgget": msg,
            "shm_errno": err_name(ctypes.get_errno()) if shm < 0 or msg < 0 else None}


planted = None


def check_look(args):
    """Searches for the traces check_plant left (in this instance or any other)."""
    token = args["token"]
    out = {"instance": INSTANCE, "planted_global": planted, "tmp": listing("/tmp", 1000)}
    out["tmp_file"] = attempt(lambda: read_text(f"/tmp/secret-{token}"))

    def connect(address):
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(2)
        try:
            s.connect(address)
            return "connected"
        finally:
            s.close()
    out["abstract_socket"] = attempt(lambda: connect(f"\0gust-secsuite-{token}"))
    out["path_socket"] = attempt(lambda: connect(f"/tmp/gust-secsuite-{token}.sock"))
    key = int(args["ipc_key"])
    shm = libc.shmget(key, 0, 0)
    out["shmget"] = shm if shm >= 0 else err_name(ctypes.get_errno())
    msg = libc.msgget(key, 0)
    out["msgget"] = msg if msg >= 0 else err_name(ctypes.get_errno())
    out["dev_shm"] = attempt(lambda: listing("/dev/shm"))
    return out


def check_cleanup_ipc(args):
    key = int(args["ipc_key"])
    for get, rm in ((libc.shmget, lambda i: libc.shmctl(i, 0, None)),
                    (libc.msgget, lambda i: libc.msgctl(i, 0, None))):
        ident = get(key, 0, 0)
        if ident >= 0:
            rm(ident)
    for path in (f"/tmp/secret-{args['token']}", f"/tmp/gust-secsuite-{args['token']}.sock"):
        if os.path.exists(path):
            os.unlink(path)
    return {"ok": True}


def check_rlimits(args):
    import resource
    return {name: resource.getrlimit(getattr(resource, name))
            for name in ("RLIMIT_NOFILE", "RLIMIT_CORE", "RLIMIT_FSIZE", "RLIMIT_NPROC",
                         "RLIMIT_CPU", "RLIMIT_AS")}


def check_forkbomb(args):
    """T-RES-1: fork until the kernel says no (or `cap` children)."""
    cap = int(args.get("cap", 200))
    children, failure = [], None
    try:
        for _ in range(cap):
            try:
                pid = os.fork()
            except OSError as e:
                failure = err_name(e.errno)
                break
            if pid == 0:
                time.sleep(30)
                os._exit(0)
            children.append(pid)
    finally:
        for pid in children:
            try:
                os.kill(pid, signal.SIGKILL)
            except OSError:
                pass
        for pid in children:
            try:
                os.waitpid(pid, 0)
            except OSError:
                pass
    return {"forked": len(children), "failure": failure}


def check_threadbomb(args):
    cap = int(args.get("cap", 200))
    stop = threading.Event()
    threads, failure = [], None
    for _ in range(cap):
        t = threading.Thread(target=stop.wait, daemon=True)
        try:
            t.start()
        except RuntimeError as e:
            failure = str(e)
            break
        threads.append(t)
    stop.set()
    for t in threads:
        t.join(5)
    return {"threads": len(threads), "failure": failure}


def check_memhog(args):
    """T-RES-2: allocate and touch `mb` MiB: heap, anonymous mmap, or /tmp (tmpfs)."""
    mb = int(args["mb"])
    how = args.get("how", "heap")
    if how == "heap":
        blocks = []
        for _ in range(mb):
            blocks.append(bytearray(os.urandom(16)) * (1 << 16))  # 1 MiB, every page written
        return {"allocated_mb": len(blocks)}
    if how == "mmap":
        import mmap
        m = mmap.mmap(-1, mb << 20)
        for off in range(0, mb << 20, 4096):
            m[off] = 1
        return {"allocated_mb": mb}
    if how == "tmpfs+heap":
        tmp_mb = int(args["tmp_mb"])
        path = f"/tmp/fill-{uuid.uuid4().hex[:8]}"
        chunk = os.urandom(1 << 20)
        with open(path, "wb") as f:
            for _ in range(tmp_mb):
                f.write(chunk)
        try:
            blocks = [bytearray(os.urandom(16)) * (1 << 16) for _ in range(mb)]
            return {"tmp_mb": tmp_mb, "allocated_mb": len(blocks)}
        finally:
            os.unlink(path)
    raise ValueError(how)


def check_tmpfill(args):
    """T-RES-3: write 16 MiB files to /tmp until one fails (or `cap_mb`): files below
    RLIMIT_FSIZE, so the failure is the tmpfs size (ENOSPC), not the file-size limit."""
    cap = int(args.get("cap_mb", 100))
    chunk = os.urandom(1 << 20)
    paths, written, failure = [], 0, None
    try:
        while written < cap << 20 and failure is None:
            path = f"/tmp/fill-{uuid.uuid4().hex[:8]}"
            paths.append(path)
            with open(path, "wb", buffering=0) as f:
                for _ in range(16):
                    if written >= cap << 20:
                        break
                    try:
                        n = f.write(chunk)
                    except OSError as e:
                        failure = err_name(e.errno)
                        break
                    written += n
                    if n < len(chunk):
                        failure = "short write"
                        break
    except OSError as e:
        failure = failure or err_name(e.errno)
    finally:
        for path in paths:
            if os.path.exists(path):
                os.unlink(path)
    return {"written_mb": written / (1 << 20), "failure": failure}


def check_fdbomb(args):
    """T-RES-4: open descriptors until EMFILE (or `cap`)."""
    cap = int(args.get("cap", 2000))
    fds, failure = [], None
    try:
        for _ in range(cap):
            try:
                fds.append(os.open("/dev/null", os.O_RDONLY | os.O_CLOEXEC))
            except OSError as e:
                failure = err_name(e.errno)
                break
    finally:
        for fd in fds:
            os.close(fd)
    return {"opened": len(fds), "failure": failure}


def check_bigfile(args):
    """T-RES-5: a (sparse) file past RLIMIT_FSIZE: one byte at `offset_mb`."""
    offset = int(args.get("offset_mb", 200)) << 20
    path = f"/tmp/big-{uuid.uuid4().hex[:8]}"
    try:
        with open(path, "wb", buffering=0) as f:
            f.seek(offset)
            f.write(b"x")
        return {"ok": True, "size": os.path.getsize(path)}
    except OSError as e:
        return {"ok": False, "errno": err_name(e.errno)}
    finally:
        if os.path.exists(path):
            os.unlink(path)


DAEMON = """
import os, sys, time
if os.fork():
    os._exit(0)
os.setsid()
if os.fork():
    os._exit(0)
time.sleep(float(os.environ.get("GUST_PROBE_DAEMON_S", "120")))
"""


def check_daemon(args):
    """T-RES-7/9, T-ESC-8: leave a double-forked setsid() daemon (argv carries `token`, so the
    test can find it on the host), then optionally hang past the timeout."""
    token = args["token"]
    env = dict(os.environ, GUST_PROBE_DAEMON_S=str(args.get("daemon_s", 120)))
    subprocess.run([sys.executable, "-c", DAEMON, f"gust-secsuite-daemon-{token}"],
                   stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                   env=env, timeout=20, check=True)
    if args.get("hang"):
        time.sleep(3600)
    return {"daemon": token}


def check_orphans(args):
    """Leave `n` orphans that exit at once (double fork), then count zombies in this pid
    namespace: an init reaps them; a runtime that is itself pid 1 does not."""
    n = int(args.get("n", 8))
    env = dict(os.environ, GUST_PROBE_DAEMON_S="0")
    for i in range(n):
        subprocess.run([sys.executable, "-c", DAEMON, f"gust-secsuite-orphan-{args.get('token', '')}-{i}"],
                       stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                       env=env, timeout=20, check=True)
    time.sleep(1.5)
    zombies = []
    me = str(os.getpid())
    for pid in os.listdir("/proc"):
        if not pid.isdigit():
            continue
        try:
            stat = read_text(f"/proc/{pid}/stat")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] == "Z" and fields[1] == me:
            zombies.append(int(pid))
    return {"orphans": n, "zombie_children_of_me": len(zombies), "me": os.getpid()}


def check_kill_all(args):
    """T-ESC-2: kill(-1, SIGKILL) and kill(1, SIGKILL) from inside. Refuses unless it can see it
    is confined (its own pid namespace, no capabilities, not root): unconfined as root,
    kill(-1) would kill every process on the host."""
    status = status_fields("/proc/self/status")
    confined = (os.getuid() != 0 and int(status.get("CapEff", "1"), 16) == 0
                and len(proc_processes()) < 20 and "serve" not in read_text("/proc/1/cmdline"))
    if not confined or args.get("mode") == "control":
        return {"refused": "not confined: kill(-1) would reach the host", "status": status}
    out = {"kill_minus_1": attempt(lambda: os.kill(-1, signal.SIGKILL)),
           "kill_1_sigkill": attempt(lambda: os.kill(1, signal.SIGKILL)),
           "kill_1_sigterm": attempt(lambda: os.kill(1, signal.SIGTERM))}
    time.sleep(0.2)
    out["pid1_after"] = attempt(lambda: read_text("/proc/1/cmdline").replace("\0", " "))
    for pid in args.get("host_pids", []):
        out[f"signal0_{pid}"] = attempt(lambda p=pid: os.kill(int(p), 0))
    return out


def check_flood(args):
    """T-RES-8: write `mb` MiB to stdout and stderr."""
    mb = int(args.get("mb", 64))
    line = ("x" * 1023 + "\n")
    block = line * 1024
    for _ in range(mb):
        sys.stdout.write(block)
        sys.stderr.write(block)
    sys.stdout.flush()
    sys.stderr.flush()
    return {"wrote_mb": mb}


def check_tmp_write(args):
    with open(f"/tmp/mark-{args['token']}", "w") as f:
        f.write(args["token"])
    return {"instance": INSTANCE}


def check_tmp_read(args):
    return {"instance": INSTANCE, "tmp": listing("/tmp", 1000),
            "mark": attempt(lambda: read_text(f"/tmp/mark-{args['token']}"))}


def check_print_env(args):
    """T-SEC-2/3: print an environment variable (a secret) to stdout and stderr, then
    optionally raise with it in the message."""
    value = os.environ.get(args["var"], "")
    print(f"the value is {value}")
    print(f"again: {value}", file=sys.stderr)
    if args.get("raise"):
        raise RuntimeError(f"failed with {value}")
    return {"length": len(value)}


def check_exit(args):
    os._exit(int(args.get("code", 3)))


CHECKS = {name[len("check_"):]: fn for name, fn in globals().items() if name.startswith("check_")}


def handler(event, context):
    global calls
    calls += 1
    query = event.get("queryStringParameters") or {}
    body = event.get("body") or ""
    if event.get("isBase64Encoded"):
        body = base64.b64decode(body).decode()
    args = json.loads(body) if body.strip() else {}
    check = query.get("check") or args.get("check") or "hello"
    return {"check": check, "result": CHECKS[check](args)}
