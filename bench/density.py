#!/usr/bin/env python3
"""Density: how many idle warm instances one Gust server holds, and what they cost in PSS.

Starts its own `gust serve --idle-ttl 3600` on 127.0.0.1 (a free port, a temp --data dir; the
full sandbox when run as root, Gust's default), deploys a hello Python function whose handler
sleeps for `?hold=S` seconds, and grows its instances to N (default 1000) at once: every request
holds its instance for --hold seconds, and the script keeps --window (default 4 per core) more
requests in flight than there are instances, so about that many find every instance busy and
make the scheduler start another.
max_instances is capped at 1000 per function (src/bundle/manifest.cc), so N > 1000 spreads
over ceil(N/1000) functions. Once N instances are up it stops sending, lets the holds end (the
instances go idle, kept by the long idle TTL) and sums the PSS (/proc/PID/smaps_rollup) of every
process descended from the server: per instance the sandbox's keeper, its PID 1 and the Python
adapter, plus the one pre-started instance the server keeps per tenant (counted in the total,
not in the instances, so the per-instance figure errs high). The server's own PSS is reported
apart. For scale it also prints the drop in MemAvailable (includes kernel memory: page tables,
namespaces, sockets; noisy on a shared machine) and what the instances' memory cgroups charge.

Bounded: the ramp stops at --timeout seconds (default 240), or at a failed request, and the
figures are taken for what was reached, with the reason. The server runs from a copy of
GUST_BINARY and its gust-sandbox (a rebuild of the tree during the run cannot change them). On
exit (Ctrl-C too) the server is stopped, every process it started is waited for (killed if still
there after 30 s) and the temp dir removed.

    bench/density.py [GUST_BINARY] [--n 1000] [--window 8] [--hold 20] [--timeout 240] [--json]
"""
import argparse
import asyncio
import json
import math
import os
import pathlib
import resource
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent
MAX_INSTANCES_PER_FUNCTION = 1000  # src/bundle/manifest.cc: max_instances is 1..1000

HANDLER = '''import time


def handler(event, context):
    hold = float((event.get("queryStringParameters") or {}).get("hold", 0))
    if hold > 0:
        time.sleep(min(hold, 50))
    return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "hello"}
'''


def log(message):
    print(message, file=sys.stderr, flush=True)


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def api(base, path, token):
    request = urllib.request.Request(base + path, headers={"Authorization": f"Bearer {token}"})
    with urllib.request.urlopen(request, timeout=30) as response:
        return json.loads(response.read())


def snapshot(gust, work, names=None):
    """Copies gust and gust-sandbox (the server runs the helper next to its own binary) into
    work/bin and returns the copy of `gust`: a rebuild of the tree during the run cannot swap or
    break the binaries under it. Waits (up to 60 s) while a link is writing them."""
    source = pathlib.Path(gust).resolve()
    names = names or (source.name, "gust-sandbox")
    target = pathlib.Path(work) / "bin"
    target.mkdir(exist_ok=True)
    for name in names:
        path = source.parent / name
        for _ in range(60):
            before = path.stat() if path.exists() else None
            fresh = before and time.time() - before.st_mtime < 2
            if before and not fresh and os.access(path, os.X_OK):
                shutil.copy2(path, target / name)
                after = path.stat()
                if (after.st_mtime_ns, after.st_size) == (before.st_mtime_ns, before.st_size):
                    break
            time.sleep(1)
        else:
            raise SystemExit(f"{path} is missing or keeps changing (a build in progress?)")
    return str(target / names[0])


def meminfo(key):
    for line in open("/proc/meminfo"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0


def children_map():
    """ppid -> [pid] for every process on the host."""
    kids = {}
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            stat = open(f"/proc/{entry}/stat").read()
        except OSError:
            continue
        ppid = int(stat[stat.rindex(")") + 2:].split()[1])
        kids.setdefault(ppid, []).append(int(entry))
    return kids


def descendants(pid):
    kids, out, todo = children_map(), [], [pid]
    while todo:
        for child in kids.get(todo.pop(), []):
            out.append(child)
            todo.append(child)
    return out


def rollup(pid):
    """{'Pss': kB, 'Rss': kB, ...} from /proc/PID/smaps_rollup, or None if it is gone."""
    try:
        text = open(f"/proc/{pid}/smaps_rollup").read()
        comm = open(f"/proc/{pid}/comm").read().strip()
    except OSError:
        return None
    values = {"comm": comm}
    for line in text.splitlines()[1:]:
        parts = line.split()
        if len(parts) >= 2 and parts[1].isdigit():
            values[parts[0].rstrip(":")] = int(parts[1])
    return values


def memory_cgroup_of(pid):
    """The server's parent memory group (v1: /sys/fs/cgroup/memory/gust/KEY) from an instance."""
    try:
        for line in open(f"/proc/{pid}/cgroup"):
            _, controllers, path = line.rstrip("\n").split(":", 2)
            if "memory" in controllers.split(",") or controllers == "":
                base = "/sys/fs/cgroup/memory" if controllers else "/sys/fs/cgroup"
                return os.path.dirname(base + path)
    except OSError:
        pass
    return None


def cgroup_usage_kib(group):
    for name in ("memory.usage_in_bytes", "memory.current"):
        try:
            return int(open(os.path.join(group, name)).read()) // 1024
        except (OSError, ValueError):
            continue
    return None


async def get(port, path):
    """One GET over a fresh connection: (status, body)."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        writer.write(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        await writer.drain()
        data = await reader.read()
    finally:
        writer.close()
    head, _, body = data.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1]) if head.startswith(b"HTTP/") else 0
    return status, body


async def ramp(port, base, token, functions, quotas, n, window, hold, deadline, began, errors, max_failures):
    """Grows the instances to n; failed requests go to `errors`. Returns (instances reached,
    reason if short of n, seconds it took)."""
    inflight = {f: 0 for f in functions}
    tasks = set()
    printed = 0
    reached = 0
    loop = asyncio.get_running_loop()

    async def one(function):
        try:
            status, body = await get(port, f"/fn/{function}?hold={hold}")
            if status != 200:
                errors.append(f"{status} {body[:200].decode(errors='replace')}")
        except OSError as e:
            errors.append(f"connection: {e}")
        finally:
            inflight[function] -= 1

    reason = None
    took = None
    try:
        while True:
            pools = await loop.run_in_executor(None, api, base, "/api/v1/instances", token)
            instances = {f: 0 for f in functions}
            for pool in pools.get("pools", []):
                if pool["function"] in instances:
                    instances[pool["function"]] += pool["instances"]
            reached = sum(instances.values())
            while printed + 50 <= reached:
                printed += 50
                log(f"density: {printed:5d} / {n} instances, {time.monotonic() - began:6.1f} s")
            if reached >= n:
                took = time.monotonic() - began
                break
            if len(errors) > max_failures:
                reason = f"stopped after {len(errors)} failed requests"
                break
            if time.monotonic() > deadline:
                reason = f"stopped at the {deadline - began:.0f} s time limit"
                break
            # Keep `window` more requests in flight than there are instances: a request that
            # finds an idle instance (its hold ended) takes it, the others start new ones, so
            # about `window` cold starts are under way at any time.
            spare = window
            for f in functions:
                want = min(quotas[f], instances[f] + spare)
                spare -= max(0, want - instances[f])
                for _ in range(want - inflight[f]):
                    inflight[f] += 1
                    task = asyncio.ensure_future(one(f))
                    tasks.add(task)
                    task.add_done_callback(tasks.discard)
            await asyncio.sleep(0.2)
        took = time.monotonic() - began if took is None else took
        # The holds end on their own; wait for them so the instances are idle when measured.
        if tasks:
            log(f"density: waiting for {len(tasks)} held requests to finish (<= {hold:g} s)")
            await asyncio.wait(list(tasks), timeout=hold + 30)
    finally:
        for task in list(tasks):
            task.cancel()
    return reached, reason, took


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("gust", nargs="?", default=str(ROOT / "build/release/src/gust"))
    parser.add_argument("--n", type=int, default=1000, help="instances to hold at once")
    parser.add_argument("--window", type=int, default=4 * (os.cpu_count() or 1),
                        help="requests in flight beyond the instances: about the cold starts under way")
    parser.add_argument("--hold", type=float, default=20.0, help="seconds a ramp request holds its instance")
    parser.add_argument("--timeout", type=float, default=240.0, help="seconds the ramp may take at most")
    parser.add_argument("--idle-ttl", type=int, default=3600)
    parser.add_argument("--max-failures", type=int, default=10,
                        help="failed requests tolerated (reported) before the ramp stops")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    if args.n < 1:
        parser.error("--n must be at least 1")
    args.hold = min(max(args.hold, 1.0), 50.0)

    def interrupted(*_):
        raise KeyboardInterrupt()
    signal.signal(signal.SIGTERM, interrupted)

    # Each instance holds a few descriptors in the server (socket, pipes, pidfd, cgroup files).
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = hard if hard != resource.RLIM_INFINITY else 1 << 20
    resource.setrlimit(resource.RLIMIT_NOFILE, (min(want, 1 << 20), hard))
    fd_limit = resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    if fd_limit < args.n * 10 + 1000:
        log(f"density: warning: RLIMIT_NOFILE {fd_limit} may be too low for {args.n} instances")

    work = pathlib.Path(tempfile.mkdtemp(prefix="gust-density-"))
    server = None
    seen = set()
    result = {"requested": args.n, "held": 0}
    failed = False
    try:
        gust = snapshot(args.gust, work)
        port = free_port()
        data = work / "data"
        base = f"http://127.0.0.1:{port}"
        mem_before = meminfo("MemAvailable")
        server_log = open(work / "server.log", "w")
        server = subprocess.Popen([gust, "serve", "--listen", f"127.0.0.1:{port}", "--data", str(data),
                                   "--idle-ttl", str(args.idle_ttl)],
                                  stdout=subprocess.DEVNULL, stderr=server_log,
                                  start_new_session=True)  # a Ctrl-C is ours to handle, then we stop it
        for _ in range(200):
            try:
                urllib.request.urlopen(base + "/healthz", timeout=1).read()
                break
            except OSError:
                if server.poll() is not None:
                    raise SystemExit(f"density: the server exited: {(work / 'server.log').read_text()[-2000:]}")
                time.sleep(0.05)
        token = (data / "admin.token").read_text().strip()
        env = dict(os.environ, GUST_URL=base, GUST_TOKEN=token)
        count = math.ceil(args.n / MAX_INSTANCES_PER_FUNCTION)
        functions = [f"density-{i}" for i in range(count)]
        quotas = {f: args.n // count + (1 if i < args.n % count else 0) for i, f in enumerate(functions)}
        for f in functions:
            directory = work / f
            directory.mkdir()
            (directory / "main.py").write_text(HANDLER)
            (directory / "gust.toml").write_text(
                'runtime = "python3"\nhandler = "main.handler"\nmemory_mb = 128\n'
                f"timeout_s = {int(args.hold) + 30}\nmax_instances = {quotas[f]}\n")
            subprocess.run([gust, "--json", "deploy", str(directory), "--name", f], check=True,
                           env=env, stdout=subprocess.DEVNULL, timeout=60)
        log(f"density: {args.n} instances over {count} function(s) at {base}, "
            f"about {args.window} cold starts under way, holds of {args.hold:g} s")
        began = time.monotonic()
        errors = []
        reached, reason, ramp_s = asyncio.run(ramp(port, base, token, functions, quotas, args.n, args.window,
                                                   args.hold, began + args.timeout, began, errors,
                                                   args.max_failures))
        failure_logs = []
        if errors:
            # The sandbox says why it failed ("gust sandbox: STEP: ERROR") on the instance's
            # stderr, which the failed activation's logs keep.
            log(f"density: {len(errors)} failed requests, first: {errors[0]}")
            for f in functions:
                cursor = ""
                for _ in range(50):  # pages of 1000, newest first
                    listing = api(base, f"/api/v1/activations?function={f}&limit=1000&logs=1{cursor}", token)
                    for a in listing.get("activations", []):
                        if a["status"] != "success" and len(failure_logs) < 3:
                            failure_logs.append(f"{a['status']}: {a['error']} | {a.get('logs', '').strip()[-300:]}")
                            log(f"density:   {failure_logs[-1]}")
                    if not listing.get("next_cursor") or len(failure_logs) >= 3:
                        break
                    cursor = f"&cursor={listing['next_cursor']}"
        time.sleep(1.0)  # the last replies recorded; instances idle

        pools = api(base, "/api/v1/instances", token).get("pools", [])
        held = sum(p["instances"] for p in pools if p["function"] in quotas)
        busy = sum(p["busy"] for p in pools if p["function"] in quotas)
        pids = descendants(server.pid)
        seen.update(pids)
        by_comm = {}
        total = {"Pss": 0, "Rss": 0, "Private_Dirty": 0}
        for pid in pids:
            values = rollup(pid)
            if not values:
                continue
            entry = by_comm.setdefault(values["comm"], {"processes": 0, "Pss": 0})
            entry["processes"] += 1
            entry["Pss"] += values.get("Pss", 0)
            for key in total:
                total[key] += values.get(key, 0)
        server_values = rollup(server.pid) or {}
        group = next((g for g in map(memory_cgroup_of, pids) if g and "gust" in g), None)
        charged = cgroup_usage_kib(group) if group else None
        mem_after = meminfo("MemAvailable")
        gib_kib = 1 << 20
        result = {
            "requested": args.n, "held": held, "busy_at_measure": busy, "functions": count,
            "ramp_s": round(ramp_s, 1), "stopped": reason, "failed_requests": len(errors),
            "first_failure": errors[0] if errors else None, "failure_logs": failure_logs,
            "processes": len(pids), "by_comm": by_comm,
            "pss_total_kib": total["Pss"], "rss_total_kib": total["Rss"],
            "private_dirty_total_kib": total["Private_Dirty"],
            "pss_per_instance_kib": round(total["Pss"] / held, 1) if held else 0,
            "instances_per_gib_pss": round(held * gib_kib / total["Pss"], 1) if total["Pss"] else 0,
            "server_pss_kib": server_values.get("Pss", 0),
            "memavailable_drop_per_instance_kib": round((mem_before - mem_after) / held, 1) if held else 0,
            "cgroup_charged_per_instance_kib": round(charged / held, 1) if held and charged else None,
            "machine": {"cores": os.cpu_count(), "load_average": open("/proc/loadavg").read().split()[:3],
                        "mem_total_kib": meminfo("MemTotal")},
        }
    except KeyboardInterrupt:
        log("density: interrupted")
        result = None
    except (OSError, subprocess.SubprocessError) as e:
        tail = (work / "server.log").read_text(errors="replace")[-1500:] if (work / "server.log").exists() else ""
        log(f"density: failed: {e}\n{tail}")
        result = None
        failed = True
    finally:
        if server is not None:
            seen.update(descendants(server.pid))
            server.terminate()
            try:
                server.wait(timeout=30)
            except subprocess.TimeoutExpired:
                server.kill()
                server.wait()
            # The server kills its instances on the way out; make sure none is left.
            deadline = time.monotonic() + 30
            while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in seen):
                time.sleep(0.1)
            for pid in seen:
                try:
                    os.kill(pid, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        shutil.rmtree(work, ignore_errors=True)
    if result is None:
        return 1 if failed else 130

    if args.json:
        print(json.dumps(result))
        return 0
    r = result
    print(f"density: idle warm Python hello instances, one gust serve (full sandbox), "
          f"{r['machine']['cores']} cores, load average {' '.join(r['machine']['load_average'])}")
    print(f"instances held at once: {r['held']} of {r['requested']} requested "
          f"({r['functions']} function(s)), ramp {r['ramp_s']} s"
          + (f"; {r['stopped']}" if r["stopped"] else "")
          + (f"; {r['failed_requests']} failed requests, first: {r['first_failure']}" if r["failed_requests"] else ""))
    print(f"{'process':16} {'count':>6} {'PSS MiB':>9} {'PSS KiB each':>13}")
    for comm, v in sorted(r["by_comm"].items()):
        print(f"{comm:16} {v['processes']:6d} {v['Pss'] / 1024:9.1f} {v['Pss'] / v['processes']:13.0f}")
    print(f"{'all instances':16} {r['processes']:6d} {r['pss_total_kib'] / 1024:9.1f}")
    print(f"PSS per instance: {r['pss_per_instance_kib'] / 1024:.2f} MiB; instances per GiB of PSS: "
          f"{r['instances_per_gib_pss']:.0f}; the server itself: {r['server_pss_kib'] / 1024:.1f} MiB PSS")
    print(f"for scale, per instance: RSS {r['rss_total_kib'] / max(1, r['held']) / 1024:.1f} MiB, "
          f"memory cgroup charge {'-' if r['cgroup_charged_per_instance_kib'] is None else format(r['cgroup_charged_per_instance_kib'] / 1024, '.2f')} MiB, "
          f"MemAvailable drop {r['memavailable_drop_per_instance_kib'] / 1024:.2f} MiB")
    ok_density = r["instances_per_gib_pss"] >= 500
    ok_held = r["held"] >= 1000
    print(f"target: >= 500 instances per GiB of PSS: {r['instances_per_gib_pss']:.0f}, "
          f"{'met' if ok_density else 'NOT met'}")
    print(f"target: 1000 instances held at once: {r['held']}, {'met' if ok_held else 'NOT met'}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
