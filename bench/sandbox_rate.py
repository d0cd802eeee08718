#!/usr/bin/env python3
"""Sandbox creation throughput: how many sandboxes per second `gust-sandbox` builds and tears down.

Drives the helper directly, the way `gust serve` starts it (src/sandbox/linux/linux_sandbox.cc):
`gust-sandbox FD` with the spec (JSON) in a memfd at FD and /dev/null as the instance's stdio.
Each sandbox runs /bin/true, so a completed sandbox is the whole life of one: the keeper's exec,
clone into new user/PID/mount/IPC/UTS/network namespaces, uid/gid maps, the new cgroup
namespace, ~25 mounts and the pivot, seccomp, the command's fork+exec, its exit and the teardown.
CONCURRENCY sandboxes (default: one per core) are kept in flight for DURATION seconds from one
single-threaded driver; the figure is the number that completed in that window per second.

Modes, each measured in turn:
  spawn      /bin/true spawned directly by the same driver: the driver's own ceiling
  helper     gust-sandbox with no cgroup (as docs/benchmarks.md's "helper alone" figures)
  cgroup     gust-sandbox plus what the server adds per instance: a cgroup in every hierarchy
             (v1: memory, pids, cpu, cpuacct; v2: one group) created with the server's limits,
             the sandbox's first process written into it, the group removed afterwards

Needs root (the helper maps a host uid; cgroups). Touches nothing of a running Gust: its
cgroups live under gust/bench-rate-PID, its root mountpoint in a temp directory, both removed
on exit (Ctrl-C too); every helper still running is killed (its sandbox dies with it).

    bench/sandbox_rate.py [GUST_BINARY] [--duration 5] [--concurrency N] [--modes spawn,helper,cgroup] [--json]
"""
import argparse
import json
import os
import pathlib
import shutil
import signal
import statistics
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "bench"))
from density import snapshot  # noqa: E402
CGROUP_ROOT = "/sys/fs/cgroup"


def pct(values, p):
    values = sorted(values)
    if not values:
        return 0.0
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


class Cgroups:
    """Per-sandbox groups the way src/sandbox/linux/cgroup.cc makes them (memory 128 MiB, 64 pids,
    one CPU), under a parent of our own."""

    def __init__(self):
        self.v2 = os.path.exists(os.path.join(CGROUP_ROOT, "cgroup.controllers"))
        name = f"gust/bench-rate-{os.getpid()}"
        if self.v2:
            self.hierarchies = [CGROUP_ROOT]
        else:
            self.hierarchies = []
            for controllers in (["memory"], ["pids"], ["cpu", "cpu,cpuacct"], ["cpuacct", "cpu,cpuacct"]):
                for c in controllers:
                    path = os.path.join(CGROUP_ROOT, c)
                    if os.path.isdir(path) and os.path.exists(os.path.join(path, "cgroup.procs")):
                        if os.path.realpath(path) not in [os.path.realpath(h) for h in self.hierarchies]:
                            self.hierarchies.append(path)
                        break
        self.parents = [os.path.join(h, name) for h in self.hierarchies]
        for parent in self.parents:
            os.makedirs(parent, exist_ok=True)
        if self.v2:
            for d in (CGROUP_ROOT, os.path.join(CGROUP_ROOT, "gust"), self.parents[0]):
                with open(os.path.join(d, "cgroup.subtree_control"), "w") as f:
                    f.write("+memory +pids +cpu")
        self.live = {}

    @staticmethod
    def _write(path, value):
        with open(path, "w") as f:
            f.write(value)

    def create(self, key):
        dirs = [os.path.join(p, key) for p in self.parents]
        self.live[key] = []
        for d in dirs:
            os.mkdir(d)
            self.live[key].append(d)
        memory = str(128 << 20)
        if self.v2:
            d = dirs[0]
            self._write(d + "/memory.max", memory)
            self._write(d + "/memory.swap.max", "0")
            self._write(d + "/pids.max", "64")
            self._write(d + "/cpu.max", "100000 100000")
        else:
            for d in dirs:
                base = os.path.basename(os.path.dirname(os.path.dirname(os.path.dirname(d))))
                if base == "memory":
                    self._write(d + "/memory.limit_in_bytes", memory)
                    if os.path.exists(d + "/memory.memsw.limit_in_bytes"):
                        self._write(d + "/memory.memsw.limit_in_bytes", memory)
                    try:
                        self._write(d + "/memory.swappiness", "0")
                    except OSError:
                        pass
                elif base == "pids":
                    self._write(d + "/pids.max", "64")
                elif os.path.exists(d + "/cpu.cfs_quota_us"):
                    self._write(d + "/cpu.cfs_period_us", "100000")
                    self._write(d + "/cpu.cfs_quota_us", "100000")
        return [d + "/cgroup.procs" for d in dirs]

    def remove(self, key):
        for d in reversed(self.live.pop(key, [])):
            for _ in range(50):
                try:
                    os.rmdir(d)
                    break
                except FileNotFoundError:
                    break
                except OSError:
                    try:
                        for pid in open(d + "/cgroup.procs").read().split():
                            os.kill(int(pid), signal.SIGKILL)
                    except OSError:
                        pass
                    time.sleep(0.002)

    def close(self):
        for key in list(self.live):
            self.remove(key)
        for parent in self.parents:
            try:
                os.rmdir(parent)
            except OSError:
                pass


def run_mode(mode, helper, command, root, seccomp_cache, duration, concurrency, log_fd, cgroups):
    """Keeps `concurrency` sandboxes in flight for `duration` s; returns the figures."""
    devnull = os.open("/dev/null", os.O_RDWR | os.O_CLOEXEC)
    base_spec = {"argv": [command], "env": {}, "mounts": [], "cwd": "/", "root": root,
                 "runtime": "python3", "network": "none", "hostname": "gust", "tmp_mb": 64,
                 "host_uid": 200000, "server_pid": os.getpid(), "cgroup_procs": [],
                 "seccomp_cache": seccomp_cache}
    running = {}  # pid -> (started, cgroup key)
    latencies, failures, done_in_window, serial = [], 0, 0, 0

    def start():
        nonlocal serial
        serial += 1
        key = None
        actions = [(os.POSIX_SPAWN_DUP2, devnull, 0), (os.POSIX_SPAWN_DUP2, devnull, 1),
                   (os.POSIX_SPAWN_DUP2, log_fd, 2), (os.POSIX_SPAWN_DUP2, devnull, 3)]
        if mode == "spawn":
            argv, memfd = [command], -1
        else:
            spec = base_spec
            if mode == "cgroup":
                key = f"s{serial}"
                spec = dict(base_spec, cgroup_procs=cgroups.create(key))
            memfd = os.memfd_create("gust-sandbox-spec", os.MFD_CLOEXEC)
            os.write(memfd, json.dumps(spec).encode())
            actions.append((os.POSIX_SPAWN_DUP2, memfd, 4))
            argv = [helper, "4"]
        began = time.perf_counter()
        pid = os.posix_spawn(argv[0], argv, {}, file_actions=actions)
        if memfd >= 0:
            os.close(memfd)
        running[pid] = (began, key)

    try:
        began = time.perf_counter()
        end = began + duration
        for _ in range(concurrency):
            start()
        while running:
            pid, status = os.waitpid(-1, 0)
            now = time.perf_counter()
            started, key = running.pop(pid)
            if key:
                cgroups.remove(key)
            if os.waitstatus_to_exitcode(status) != 0:
                failures += 1
            elif now <= end:
                done_in_window += 1
                latencies.append((now - started) * 1000)
            if now < end:
                start()
    finally:
        for pid in running:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        for pid, (_, key) in list(running.items()):
            try:
                os.waitpid(pid, 0)
            except ChildProcessError:
                pass
            if key:
                cgroups.remove(key)
        running.clear()
        os.close(devnull)
    return {"mode": mode, "per_second": round(done_in_window / duration, 1), "completed": done_in_window,
            "failures": failures, "p50_ms": round(pct(latencies, 50), 2), "p99_ms": round(pct(latencies, 99), 2),
            "mean_ms": round(statistics.mean(latencies), 2) if latencies else 0.0}


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gust", nargs="?", default=str(ROOT / "build/release/src/gust"),
                        help="the gust binary; gust-sandbox is taken from next to it")
    parser.add_argument("--helper", help="the gust-sandbox binary (default: next to GUST_BINARY)")
    parser.add_argument("--duration", type=float, default=5.0, help="seconds per mode (max 60)")
    parser.add_argument("--concurrency", type=int, default=os.cpu_count(),
                        help="sandboxes in flight (default: one per core)")
    parser.add_argument("--modes", default="spawn,helper,cgroup")
    parser.add_argument("--command", default="/bin/true")
    parser.add_argument("--json", action="store_true", help="one JSON object instead of the table")
    args = parser.parse_args()
    args.duration = min(max(args.duration, 0.5), 60.0)
    modes = [m for m in args.modes.split(",") if m]
    if any(m not in ("spawn", "helper", "cgroup") for m in modes):
        parser.error("--modes: spawn, helper, cgroup")
    source = args.helper or str(pathlib.Path(args.gust).resolve().parent / "gust-sandbox")
    if not os.access(source, os.X_OK):
        sys.exit(f"sandbox_rate: no gust-sandbox at {source} (build the release tree)")
    if os.geteuid() != 0:
        sys.exit("sandbox_rate: needs root (the helper maps a host uid and joins cgroups)")

    # A SIGTERM (run.sh's cleanup, `timeout`) unwinds like Ctrl-C, through the finally blocks.
    def interrupted(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)
    work = tempfile.mkdtemp(prefix="gust-sandbox-rate-")
    log_fd = -1
    cgroups = None
    results = []
    errors = []
    try:
        os.chmod(work, 0o755)
        root = os.path.join(work, "root")  # the sandbox's root mountpoint: empty, reachable by nobody
        os.mkdir(root, 0o755)
        # Where the helper keeps its compiled seccomp filter, as the server's state dir is.
        seccomp_cache = os.path.join(work, "state")
        os.mkdir(seccomp_cache, 0o700)
        # A copy: a rebuild of the tree during the run cannot change the helper under it.
        helper = snapshot(source, work, names=(os.path.basename(source),))
        log_path = os.path.join(work, "helper.log")
        log_fd = os.open(log_path, os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_CLOEXEC, 0o644)
        if "cgroup" in modes:
            cgroups = Cgroups()
        for mode in modes:
            # A short warm-up (page cache, the kernel's namespace caches), not counted.
            run_mode(mode, helper, args.command, root, seccomp_cache, 0.3, args.concurrency, log_fd, cgroups)
            results.append(run_mode(mode, helper, args.command, root, seccomp_cache, args.duration,
                                    args.concurrency, log_fd, cgroups))
        errors = open(log_path, errors="replace").read().splitlines()
    except KeyboardInterrupt:
        print("sandbox_rate: interrupted", file=sys.stderr)
        sys.exit(130)
    finally:
        if log_fd >= 0:
            os.close(log_fd)
        if cgroups:
            cgroups.close()
        shutil.rmtree(work, ignore_errors=True)
    failures = sum(r["failures"] for r in results)
    if failures:
        print(f"sandbox_rate: {failures} sandboxes failed; first helper messages:", file=sys.stderr)
        for line in errors[:5]:
            print("  " + line, file=sys.stderr)

    machine = {"cores": os.cpu_count(), "load_average": open("/proc/loadavg").read().split()[:3]}
    if args.json:
        print(json.dumps({"helper": source, "command": args.command, "concurrency": args.concurrency,
                          "duration_s": args.duration, "machine": machine, "results": results}))
        return 1 if failures else 0
    names = {"spawn": f"{args.command} spawned directly (driver ceiling)",
             "helper": "gust-sandbox, no cgroup",
             "cgroup": "gust-sandbox + per-sandbox cgroup (as the server)"}
    print(f"sandbox creation: {args.command} in a fresh sandbox, {args.concurrency} in flight, "
          f"{args.duration:g} s per mode; {machine['cores']} cores, load average "
          f"{' '.join(machine['load_average'])}")
    print(f"helper: {source} (run from a copy)")
    print(f"{'mode':52} {'per s':>8} {'done':>6} {'failed':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for r in results:
        print(f"{names[r['mode']]:52} {r['per_second']:8.0f} {r['completed']:6d} {r['failures']:6d} "
              f"{r['p50_ms']:8.2f} {r['p99_ms']:8.2f}")
    for r in results:
        if r["mode"] in ("helper", "cgroup"):
            ok = r["per_second"] >= 1000
            print(f"target: >= 1000 sandboxes/s ({r['mode']}): {r['per_second']:.0f}/s, "
                  f"{'met' if ok else 'NOT met'}")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
