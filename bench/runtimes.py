#!/usr/bin/env python3
"""Cold and warm latency per runtime, in one run, with the full sandbox.

Functions: python and node (bench/functions), java (bench/functions/hello-java, compiled here;
once with Gust's JVM flags and once with the JVM's defaults), provided-go (the aws-lambda-go app
of tests/e2e/compat, built here) and http-flask (the compat Flask app; flask is pip-installed at
deploy). Cold: `gust serve --idle-ttl 0`, N sequential requests each finding no instance; the
server's init_ms (sandbox + runtime until READY) and the client's end-to-end time. Warm: a
second server, M sequential requests to one warm instance. Lambda's published Init Durations
(../shared/research/perf-anchors.md, maxday/lambda-perf 2024-11-15) are printed beside them.

    bench/runtimes.py [GUST_BINARY] [--cold 15] [--warm 300]
"""
import argparse
import json
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

from coldstart import free_port, get, pct  # bench/ is this script's sys.path[0]

ROOT = pathlib.Path(__file__).resolve().parent.parent
COMPAT = ROOT / "tests/e2e/compat/apps"
LAMBDA_INIT_MS = {"python": "87 (3.11, x86)", "node": "157 (20.x, x86)", "java": "207 (17, x86)",
                  "java-untuned": "207 (17, x86)", "provided-go": "40 (arm64)", "http-flask": "n/a"}


def prepare(work):
    """The bundles, with compiled parts built into them: {name: directory}."""
    bundles = {"python": ROOT / "bench/functions/hello-py", "node": ROOT / "bench/functions/hello-js"}
    java = work / "java"
    shutil.copytree(ROOT / "bench/functions/hello-java", java)
    subprocess.run(["javac", "--release", "17", "-d", str(java), str(java / "Hello.java")], check=True)
    bundles["java"] = java
    untuned = work / "java-untuned"
    shutil.copytree(java, untuned)
    (untuned / "gust.toml").write_text((java / "gust.toml").read_text() +
                                       'env = { GUST_JAVA_TUNING = "off" }\n')
    bundles["java-untuned"] = untuned
    go = work / "go"
    shutil.copytree(COMPAT / "go-lambda", go)
    subprocess.run(["go", "build", "-tags", "lambda.norpc", "-o", str(go / "bootstrap"), "."],
                   cwd=COMPAT / "go-lambda", check=True,
                   env=dict(os.environ, CGO_ENABLED="0", GOFLAGS="-mod=mod"))
    bundles["provided-go"] = go
    bundles["http-flask"] = COMPAT / "flask-app"
    return bundles


class Server:
    def __init__(self, gust, work, label, extra):
        self.port = free_port()
        self.data = work / f"data-{label}"
        self.process = subprocess.Popen(
            [gust, "serve", "--listen", f"127.0.0.1:{self.port}", "--data", str(self.data), *extra],
            stdout=subprocess.DEVNULL, stderr=open(work / f"{label}.log", "w"))
        self.base = f"http://127.0.0.1:{self.port}"
        for _ in range(400):
            try:
                get(self.base + "/healthz")
                break
            except OSError:
                time.sleep(0.05)
        self.token = (self.data / "admin.token").read_text().strip()
        self.env = dict(os.environ, GUST_URL=self.base, GUST_TOKEN=self.token)

    def deploy(self, gust, name, directory):
        subprocess.run([gust, "--json", "deploy", str(directory), "--name", name], check=True,
                       env=self.env, stdout=subprocess.DEVNULL)

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("gust", nargs="?", default=str(ROOT / "build/release/src/gust"))
    parser.add_argument("--cold", type=int, default=15)
    parser.add_argument("--warm", type=int, default=300)
    parser.add_argument("--only", help="comma-separated runtimes, e.g. java,provided-go")
    args = parser.parse_args()
    work = pathlib.Path(tempfile.mkdtemp(prefix="gust-runtimes-"))
    rows = {}
    try:
        bundles = prepare(work)
        if args.only:
            bundles = {k: v for k, v in bundles.items() if k in args.only.split(",")}
        cold = Server(args.gust, work, "cold", ["--idle-ttl", "0"])
        try:
            for name, directory in bundles.items():
                cold.deploy(args.gust, f"rt-{name}", directory)
                client = []
                for _ in range(args.cold):
                    time.sleep(0.3)  # the reaper stops the idle instance (--idle-ttl 0)
                    began = time.perf_counter()
                    status, _ = get(f"{cold.base}/fn/rt-{name}")
                    client.append((time.perf_counter() - began) * 1000)
                    assert status in (200, 201), (name, status)
                listing = json.loads(get(f"{cold.base}/api/v1/activations?function=rt-{name}"
                                         f"&limit={args.cold}", cold.token)[1])
                activations = listing.get("activations", listing)
                init = [a["init_ms"] for a in activations if a.get("cold")]
                rows[name] = {"init": init, "cold": client}
                print(f"  {name}: cold done", file=sys.stderr)
        finally:
            cold.stop()
        warm = Server(args.gust, work, "warm", [])
        try:
            for name, directory in bundles.items():
                warm.deploy(args.gust, f"rt-{name}", directory)
                for _ in range(20):
                    get(f"{warm.base}/fn/rt-{name}")
                samples = []
                for _ in range(args.warm):
                    began = time.perf_counter()
                    get(f"{warm.base}/fn/rt-{name}")
                    samples.append((time.perf_counter() - began) * 1000)
                rows[name]["warm"] = samples
        finally:
            warm.stop()
        print(f"runtimes, full sandbox, {os.cpu_count()} cores; ms p50 / p99; cold n={args.cold}, "
              f"warm n={args.warm} (sequential, one client)")
        fmt = lambda v: f"{pct(v, 50):7.1f} / {pct(v, 99):7.1f}" if v else "n/a"
        print(f"{'runtime':14} {'init (READY)':>19} {'cold e2e':>19} {'warm e2e':>19}  Lambda init ms")
        for name, row in rows.items():
            print(f"{name:14} {fmt(row['init']):>19} {fmt(row['cold']):>19} {fmt(row['warm']):>19}  "
                  f"{LAMBDA_INIT_MS[name]}")
        print("Lambda: maxday/lambda-perf 2024-11-15 Init Duration (runtime + handler init, no "
              "placement)")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
