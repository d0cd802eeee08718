#!/usr/bin/env python3
"""Cold starts with and without the sandbox, in one run on this machine.

Starts `gust serve --idle-ttl 0` twice (--sandbox linux, --sandbox none), so every request
finds no warm instance, and times N sequential requests to a hello function per runtime:
end to end at the client, and the server's own init_ms (sandbox + interpreter + adapter +
handler import, until READY). For scale it also times the bare interpreters (`python3 -S -c
pass`, `node -e 0`) started directly. Prints one table; p50/p99 in milliseconds.

    bench/coldstart.py [GUST_BINARY] [--n 40]
"""
import argparse
import http.client
import json
import os
import pathlib
import shutil
import socket
import statistics
import subprocess
import tempfile
import time
import urllib.request

ROOT = pathlib.Path(__file__).resolve().parent.parent


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))]


def get(url, token=None):
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read()


def time_command(argv, n, env=None):
    out = []
    for _ in range(n):
        began = time.perf_counter()
        subprocess.run(argv, check=True, env=env, stdout=subprocess.DEVNULL)
        out.append((time.perf_counter() - began) * 1000)
    return out


PHASES = {"sandbox_us": "sandbox", "boot_and_import_us": "boot+import",
          "attach_us": "attach code", "import_us": "import"}


def breakdown(work, mode):
    """{function: {phase: median ms}} from the server log of run_server(mode): `sandbox` and
    `boot+import` for instances built on the request path (instance.started), `attach code` and
    `import` for pre-started ones (instance.loaded)."""
    phases = {}
    for line in (work / f"{mode}.log").read_text(errors="replace").splitlines():
        try:
            event = json.loads(line)
        except ValueError:
            continue
        if not isinstance(event, dict) or event.get("event") not in ("instance.started", "instance.loaded"):
            continue
        for key in PHASES:
            if key in event:
                phases.setdefault(event.get("function", ""), {}).setdefault(PHASES[key], []).append(event[key] / 1000)
    return {fn: {phase: statistics.median(values) for phase, values in by_phase.items()}
            for fn, by_phase in phases.items()}


def run_server(gust, mode, work, n):
    port = free_port()
    data = work / f"data-{mode}"
    flags = {"none": ["--sandbox", "none"], "linux": ["--sandbox", "linux", "--no-prestart"],
             "prestart": ["--sandbox", "linux"]}[mode]
    server = subprocess.Popen([gust, "serve", "--listen", f"127.0.0.1:{port}", "--data", str(data),
                               "--idle-ttl", "0", "--log-level", "debug", *flags],
                              stdout=subprocess.DEVNULL, stderr=open(work / f"{mode}.log", "w"))
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(200):
            try:
                get(base + "/healthz")
                break
            except OSError:
                time.sleep(0.05)
        token = (data / "admin.token").read_text().strip()
        env = dict(os.environ, GUST_URL=base, GUST_TOKEN=token)
        results = {}
        for name, directory in (("python", "hello-py"), ("node", "hello-js")):
            subprocess.run([gust, "--json", "deploy", str(ROOT / "bench/functions" / directory),
                            "--name", f"cold-{name}"], check=True, env=env, stdout=subprocess.DEVNULL)
            client = []
            # One keep-alive connection, as wrk's warm measurements use: the time is the cold
            # start's, not a TCP handshake's and urllib's set-up (~1.5 ms here).
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
            for _ in range(n):
                time.sleep(0.15)  # the reaper (every 50 ms with --idle-ttl 0) stops the instance
                began = time.perf_counter()
                connection.request("GET", f"/fn/cold-{name}")
                response = connection.getresponse()
                response.read()
                client.append((time.perf_counter() - began) * 1000)
                assert response.status == 200, response.status
            connection.close()
            listing = json.loads(get(f"{base}/api/v1/activations?function=cold-{name}&limit={n}", token)[1])
            activations = listing.get("activations", listing)
            init = [a["init_ms"] for a in activations if a.get("cold")]
            results[name] = (client, init)
        return results
    finally:
        server.terminate()
        server.wait(timeout=20)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("gust", nargs="?", default=str(ROOT / "build/release/src/gust"))
    parser.add_argument("--n", type=int, default=40)
    args = parser.parse_args()
    python = subprocess.run(["python3", "-c", "import sys; print(sys.executable)"],
                            capture_output=True, text=True, check=True).stdout.strip()
    node = shutil.which("node")
    work = pathlib.Path(tempfile.mkdtemp(prefix="gust-coldstart-"))
    try:
        bare = {"python": time_command([python, "-S", "-c", "pass"], args.n, env={}),
                "node": time_command([node, "-e", "0"], args.n, env={})}
        modes = ("none", "linux", "prestart")
        measured = {mode: run_server(args.gust, mode, work, args.n) for mode in modes}
        print(f"cold starts, {args.n} each, ms p50 / p99 (init = until READY; e2e = at the client); "
              f"machine: {os.cpu_count()} cores")
        print("  none: --sandbox none; sandbox: full sandbox, --no-prestart; prestarted: full sandbox, "
              "a pre-started instance per tenant and runtime")
        fmt = lambda v: f"{pct(v, 50):6.1f} / {pct(v, 99):5.1f}"
        print(f"{'runtime':8} {'interpreter':>15} " + " ".join(
            f"{m + ' init':>17} {m + ' e2e':>17}" for m in ("none", "sandbox", "prestarted")))
        for name in ("python", "node"):
            row = f"{name:8} {fmt(bare[name]):>15} "
            for mode in modes:
                client, init = measured[mode][name]
                row += f"{fmt(init):>17} {fmt(client):>17} "
            print(row)
        print("where the time goes, median ms (server log; the rest of e2e is the first invocation and HTTP):")
        for mode in modes:
            for fn, phases in sorted(breakdown(work, mode).items()):
                print(f"  {mode:9} {fn:12} " + ", ".join(f"{phase} {ms:.1f}" for phase, ms in phases.items()))
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
