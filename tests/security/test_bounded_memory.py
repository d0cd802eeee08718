"""Memory per in-flight request is bounded (docs/api.md "Limits", docs/architecture.md "Memory
per request"): large request bodies are held at most twice while the event is built and once
while the function runs; a function's response is held only up to `--max-response` (6 MiB by
default), a larger one is a 502 saying the limit, read and discarded, never buffered; a hostile
instance that announces a huge frame gets a 502, not a server that allocates what it announced.
The server's RSS is sampled from /proc/<pid>/status during and after the bursts.

One server of this module's own (sandboxed when the binary can), so its RSS is this module's.
"""

from __future__ import annotations

import concurrent.futures
import os
import shutil
import threading
import time
from pathlib import Path

import pytest
import requests

from conftest import FUNCTIONS, GustServer, error_of, gust_binary, has_sandbox_flag, unique

MiB = 1 << 20
BODY = 40 * MiB
CONCURRENT = 4
LIMIT = 6 * MiB  # --max-response's default
# The documented bound on what one in-flight request holds in the server (docs/api.md): twice
# its body while the event is built (the request's copy and the event's), then once until the
# event is written to the instance, then none; 2 x max-response for a reply. ASan adds its own
# per-allocation overhead, hence the slack.
PER_REQUEST_BOUND = 2 * BODY + 16 * MiB
# What may stay resident after the bursts (allocator caches, ASan's small quarantine).
RETAINED_BOUND = 48 * MiB


def vm(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise AssertionError(f"no {field} in /proc/{pid}/status")


class RssSampler:
    """The server's peak RSS over a block: VmHWM (reset first through clear_refs) and samples
    of VmRSS every few ms, whichever is higher; and the samples, for a window of the block."""

    def __init__(self, pid: int):
        self.pid = pid
        self.peak = 0
        self.samples: list[tuple[float, int]] = []  # (seconds since the block began, VmRSS)
        self._began = time.monotonic()
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)

    def _run(self):
        while not self._stop.is_set():
            rss = vm(self.pid, "VmRSS")
            self.samples.append((time.monotonic() - self._began, rss))
            self.peak = max(self.peak, rss)
            time.sleep(0.005)

    def max_between(self, start: float, end: float) -> int:
        return max(rss for at, rss in self.samples if start <= at <= end)

    def __enter__(self):
        try:
            Path(f"/proc/{self.pid}/clear_refs").write_text("5")  # resets VmHWM to VmRSS
        except OSError:
            pass
        self._thread.start()
        self._began = time.monotonic()
        return self

    def __exit__(self, *exc):
        self._stop.set()
        self._thread.join()
        self.peak = max(self.peak, vm(self.pid, "VmHWM"))


def settle_rss(pid: int, baseline: int, timeout: float = 10.0) -> int:
    """VmRSS once it is back within RETAINED_BOUND of `baseline`, or the last reading."""
    deadline = time.monotonic() + timeout
    while True:
        rss = vm(pid, "VmRSS")
        if rss - baseline <= RETAINED_BOUND or time.monotonic() > deadline:
            return rss
        time.sleep(0.1)


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    root = tmp_path_factory.mktemp("gust-memory")
    extra = ("--sandbox", "linux") if has_sandbox_flag() else ()
    # ASan's quarantine keeps 256 MiB of freed memory resident by default: a small one lets RSS
    # after a burst show what the server keeps, not what ASan holds back to catch a reuse.
    saved = os.environ.get("ASAN_OPTIONS")
    os.environ["ASAN_OPTIONS"] = ((saved + ":") if saved else "") + "quarantine_size_mb=8"
    try:
        gust = GustServer(gust_binary(), root / "data", root / "work", extra_args=extra).start()
    finally:
        if saved is None:
            os.environ.pop("ASAN_OPTIONS", None)
        else:
            os.environ["ASAN_OPTIONS"] = saved
    yield gust
    problem = gust.shutdown_problem()
    if problem:
        pytest.fail(f"{problem}; its log:\n{gust.log()}", pytrace=False)


@pytest.fixture(scope="module")
def bigbody(server, tmp_path_factory):
    directory = tmp_path_factory.mktemp("bigbody") / "bigbody"
    shutil.copytree(FUNCTIONS / "bigbody", directory)
    (directory / "gust.toml").write_text(
        'runtime = "python3"\nhandler = "main.handler"\nmemory_mb = 1024\ntimeout_s = 30\n'
        f"max_instances = {CONCURRENT + 2}\n")
    name = unique("bigbody")
    server.deploy(directory, name=name)
    path = f"/{unique('big')}"
    r = server.api("POST", "/api/v1/routes",
                   json={"route": f"POST {path}", "function": name, "max_body": "64m"})
    assert r.status_code == 201, r.text
    # Warm: the instances' cold starts are not what this module measures.
    with concurrent.futures.ThreadPoolExecutor(CONCURRENT) as pool:
        list(pool.map(lambda _: server.post(f"/fn/{name}?do=size", timeout=60), range(CONCURRENT)))
    return name, path


def burst(fn, count: int = CONCURRENT) -> list:
    with concurrent.futures.ThreadPoolExecutor(count) as pool:
        return list(pool.map(lambda _: fn(), range(count)))


def test_four_concurrent_40_mib_request_bodies_stay_within_the_bound_and_are_given_back(server, bigbody):
    """Each function sleeps 6 s once it has its event: from 3 s on, all four are running (the
    bodies were sent, the events built and delivered), when the server holds at most one copy
    of each body (in fact none: the request's copy is freed once the event is built, the event
    once it is written to the instance)."""
    name, path = bigbody
    pid = server.proc.pid
    body = b"a" * BODY
    baseline = vm(pid, "VmRSS")
    with RssSampler(pid) as sampler:
        answers = burst(lambda: server.post(f"{path}?do=size&sleep=6", data=body, timeout=120,
                                            headers={"Content-Type": "text/plain"}))
    for r in answers:
        assert r.status_code == 200, (r.status_code, r.text[:300])
        assert r.json() == {"size": BODY}
    growth = sampler.peak - baseline
    running = sampler.max_between(3.0, 5.5) - baseline
    after = settle_rss(pid, baseline)
    print(f"\nrequest bodies: baseline {baseline / MiB:.0f} MiB, peak +{growth / MiB:.0f} MiB, "
          f"while the functions run +{running / MiB:.0f} MiB ({CONCURRENT} x {BODY // MiB} MiB), "
          f"after +{(after - baseline) / MiB:.0f} MiB")
    assert running <= CONCURRENT * (BODY + 8 * MiB) + 16 * MiB, (
        f"while the functions ran the server held {running / MiB:.0f} MiB more for "
        f"{CONCURRENT} bodies of {BODY // MiB} MiB: more than one copy of each")
    assert growth <= CONCURRENT * PER_REQUEST_BOUND, (
        f"peak RSS grew {growth / MiB:.0f} MiB for {CONCURRENT} bodies of {BODY // MiB} MiB "
        f"(bound {CONCURRENT * PER_REQUEST_BOUND / MiB:.0f} MiB)")
    assert after - baseline <= RETAINED_BOUND, (
        f"{(after - baseline) / MiB:.0f} MiB still resident after the requests finished")


def test_binary_request_body_reaches_the_function_whole(server, bigbody):
    """A non-text body travels base64 in the event, written straight into it."""
    _, path = bigbody
    data = os.urandom(8 * MiB)
    r = server.post(f"{path}?do=size", data=data, timeout=120,
                    headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 200 and r.json() == {"size": len(data)}, r.text[:300]


def test_four_concurrent_40_mib_responses_are_502_naming_the_limit_and_not_buffered(server, bigbody):
    name, _ = bigbody
    pid = server.proc.pid
    baseline = vm(pid, "VmRSS")
    with RssSampler(pid) as sampler:
        answers = burst(lambda: server.get(f"/fn/{name}?do=big&mb=40", timeout=120))
    growth = sampler.peak - baseline
    print(f"\nresponses: baseline {baseline / MiB:.0f} MiB, peak +{growth / MiB:.0f} MiB "
          f"({CONCURRENT} x 40 MiB tried)")
    for r in answers:
        assert r.status_code == 502, (r.status_code, r.text[:300])
        error = error_of(r)
        assert error["code"] == "function_error"
        assert f"{LIMIT}-byte" in error["message"] and "response limit" in error["message"], error
        record = server.activation(r.headers["X-Gust-Activation-Id"])
        assert record["status"] == "bad_response", record
        assert f"{LIMIT}-byte" in record["error"], record
    # Nothing of the 40 MiB replies was held: only what any invocation costs.
    assert growth <= 2 * LIMIT * CONCURRENT, f"peak RSS grew {growth / MiB:.0f} MiB"
    # The instances read past the replies and serve again.
    ok = server.get(f"/fn/{name}?do=big&mb=1", timeout=60)
    assert ok.status_code == 200 and len(ok.content) == MiB


def test_response_at_the_limit_still_passes(server, bigbody):
    name, _ = bigbody
    r = server.get(f"/fn/{name}?do=big&mb=5", timeout=60)
    assert r.status_code == 200 and len(r.content) == 5 * MiB


def test_instance_announcing_a_60_mib_reply_it_never_sends_is_a_prompt_502(server, bigbody):
    """Under the protocol's 64 MiB frame limit but over the response limit: answered from the
    frame's prefix and header alone, without waiting for (or holding) the body."""
    name, _ = bigbody
    pid = server.proc.pid
    baseline = vm(pid, "VmRSS")
    began = time.monotonic()
    r = server.get(f"/fn/{name}?do=announce&mb=60&hang=4", timeout=60)
    elapsed = time.monotonic() - began
    assert r.status_code == 502, (r.status_code, r.text[:300])
    assert "response limit" in error_of(r)["message"], r.text[:300]
    assert elapsed < 3, f"the 502 took {elapsed:.1f} s: the server waited for the announced body"
    assert vm(pid, "VmRSS") - baseline < 32 * MiB
    assert server.proc.poll() is None
    assert server.get("/healthz").status_code == 200
    time.sleep(4.5 - elapsed)  # the hostile instance exits; the next test gets a clean one


def test_instance_announcing_a_4_gib_frame_is_a_502_not_a_crash(server, bigbody):
    """Past the protocol's own limit: the stream is broken, the instance killed."""
    name, _ = bigbody
    r = server.get(f"/fn/{name}?do=announce&mb=4096&hang=8", timeout=60)
    assert r.status_code == 502, (r.status_code, r.text[:300])
    error = error_of(r)
    assert error["code"] == "function_error" and "4294967295" in error["message"], error
    assert server.proc.poll() is None
    assert server.get(f"/fn/{name}?do=size", timeout=60).status_code == 200
