"""GET /metrics, read the way an operator reads it: as Prometheus text, and by a real Prometheus
(Debian's package, started by scripts/prometheus.sh) scraping the server every second and
answering PromQL over its HTTP API."""

from __future__ import annotations

import math
import re
import subprocess
import time
from pathlib import Path

import pytest
import requests

from conftest import FUNCTIONS, free_port, unique

PROMETHEUS_SH = Path(__file__).resolve().parents[2] / "scripts" / "prometheus.sh"
INSTALL_TIMEOUT_S = 900  # a first install may refresh the package lists
READY_TIMEOUT_S = 60
SCRAPE_TIMEOUT_S = 30  # scrapes are every second; this allows a slow, loaded machine
STOP_GRACE_S = 10

FUNCTION = "metrics-hello"  # the name the PromQL below selects; no other test deploys it
CALLS = 5

# The families the server exports, by type.
EXPORTED = {
    "gust_invocations_total": "counter",
    "gust_invocation_duration_seconds": "histogram",
    "gust_cold_starts_total": "counter",
    "gust_init_duration_seconds": "histogram",
    "gust_instances": "gauge",
    "gust_queue_depth": "gauge",
    "gust_rejected_total": "counter",
    "gust_store_writer_lag": "gauge",
}
# Those that must have a series once a function has been called: the others appear only after a
# rejection, or only while a queue exists.
PRESENT_AFTER_A_CALL = {
    "gust_invocations_total", "gust_invocation_duration_seconds", "gust_cold_starts_total",
    "gust_init_duration_seconds", "gust_instances", "gust_store_writer_lag",
}


# -- the exposition format, parsed strictly ------------------------------------------------------

METRIC_NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_NAME = re.compile(r"[a-zA-Z_][a-zA-Z0-9_]*")
HELP_LINE = re.compile(rf"^# HELP ({METRIC_NAME}) (.*)$")
TYPE_LINE = re.compile(rf"^# TYPE ({METRIC_NAME}) (counter|gauge|histogram|summary|untyped)$")
SAMPLE_HEAD = re.compile(rf"^({METRIC_NAME})")
VALUE = re.compile(r"^ ([^ ]+)( -?\d+)?$")  # a value, then an optional timestamp in ms


def parse_labels(text: str, line: str) -> tuple[dict[str, str], str]:
    """The labels of `{a="x",b="y"} rest`, unescaping values; returns them and the rest."""
    assert text.startswith("{"), line
    labels: dict[str, str] = {}
    i = 1
    while True:
        if text[i] == "}":
            return labels, text[i + 1:]
        name = LABEL_NAME.match(text, i)
        assert name, f"bad label name at {i}: {line!r}"
        i = name.end()
        assert text[i:i + 2] == '="', f"expected =\" at {i}: {line!r}"
        i += 2
        value = []
        while text[i] != '"':
            if text[i] == "\\":
                escaped = text[i + 1]
                assert escaped in '\\"n', f"bad escape \\{escaped}: {line!r}"
                value.append("\n" if escaped == "n" else escaped)
                i += 2
            else:
                value.append(text[i])
                i += 1
        i += 1
        assert name.group() not in labels, f"label {name.group()} twice: {line!r}"
        labels[name.group()] = "".join(value)
        if text[i] == ",":
            i += 1
        else:
            assert text[i] == "}", f"expected , or }} at {i}: {line!r}"


def parse_value(text: str, line: str) -> float:
    assert re.fullmatch(r"[+-]?(Inf|NaN|\d+(\.\d*)?([eE][+-]?\d+)?|\.\d+([eE][+-]?\d+)?)", text), (
        f"bad value {text!r}: {line!r}")
    return float(text)


def parse_exposition(text: str) -> dict[str, dict]:
    """{family: {"type", "help", "samples": [(sample name, labels, value)]}}, asserting the rules
    of text format 0.0.4 that Prometheus enforces: HELP and TYPE at most once per family and
    before its samples, each family's samples together, no series twice."""
    assert text == "" or text.endswith("\n"), "the last line must end with a newline"
    families: dict[str, dict] = {}
    finished: set[str] = set()  # families whose samples are over: no more may follow
    current = None
    seen_series = set()

    def family_of(sample_name: str) -> str:
        for suffix in ("_bucket", "_sum", "_count"):
            base = sample_name[:-len(suffix)]
            if sample_name.endswith(suffix) and families.get(base, {}).get("type") == "histogram":
                return base
        return sample_name

    def enter(name: str) -> dict:
        nonlocal current
        if current != name:
            assert name not in finished, f"family {name} is split in two"
            if current is not None:
                finished.add(current)
            current = name
        return families.setdefault(name, {"type": None, "help": None, "samples": []})

    for line in text.splitlines():
        if m := HELP_LINE.match(line):
            family = enter(m.group(1))
            assert family["help"] is None, f"second HELP for {m.group(1)}"
            assert not family["samples"], f"HELP after samples of {m.group(1)}"
            family["help"] = m.group(2)
        elif m := TYPE_LINE.match(line):
            family = enter(m.group(1))
            assert family["type"] is None, f"second TYPE for {m.group(1)}"
            assert not family["samples"], f"TYPE after samples of {m.group(1)}"
            family["type"] = m.group(2)
        elif line.startswith("#"):
            continue  # a comment
        else:
            m = SAMPLE_HEAD.match(line)
            assert m, f"not a sample: {line!r}"
            name, rest = m.group(1), line[m.end():]
            labels = {}
            if rest.startswith("{"):
                labels, rest = parse_labels(rest, line)
            v = VALUE.match(rest)
            assert v, f"bad sample: {line!r}"
            series = (name, tuple(sorted(labels.items())))
            assert series not in seen_series, f"series twice: {line!r}"
            seen_series.add(series)
            enter(family_of(name))["samples"].append((name, labels, parse_value(v.group(1), line)))
    return families


def check_histogram(name: str, samples: list) -> None:
    """Each series: buckets ascending and cumulative, ending at +Inf, which equals _count."""
    by_series: dict[tuple, dict] = {}
    for sample_name, labels, value in samples:
        key = tuple(sorted((k, v) for k, v in labels.items() if k != "le"))
        entry = by_series.setdefault(key, {"buckets": [], "sum": None, "count": None})
        if sample_name == name + "_bucket":
            entry["buckets"].append((float(labels["le"]), value))
        elif sample_name == name + "_sum":
            entry["sum"] = value
        elif sample_name == name + "_count":
            entry["count"] = value
        else:
            raise AssertionError(f"{sample_name} in histogram {name}")
    for key, entry in by_series.items():
        bounds = [b for b, _ in entry["buckets"]]
        counts = [c for _, c in entry["buckets"]]
        assert bounds == sorted(bounds) and bounds and bounds[-1] == math.inf, (name, key, bounds)
        assert counts == sorted(counts), f"{name}{key} buckets are not cumulative: {counts}"
        assert entry["count"] == counts[-1], (name, key, entry)
        assert entry["sum"] is not None and entry["sum"] >= 0, (name, key, entry)


def value_of(families: dict, family: str, sample: str, **labels: str) -> float | None:
    for name, sample_labels, value in families.get(family, {}).get("samples", []):
        if name == sample and all(sample_labels.get(k) == v for k, v in labels.items()):
            return value
    return None


def scrape(gust) -> dict[str, dict]:
    r = gust.get("/metrics")  # no token: Prometheus does not send one
    assert r.status_code == 200, (r.status_code, r.text[:500])
    return parse_exposition(r.text)


def test_metrics_is_prometheus_text_with_the_documented_families(gust):
    name = unique("metrics-text")
    gust.deploy(FUNCTIONS / FUNCTION, name=name)
    for _ in range(2):
        r = gust.get(f"/fn/{name}")
        assert r.status_code == 200, r.text

    r = gust.get("/metrics")
    assert r.status_code == 200, (r.status_code, r.text[:500])
    media_type, *params = [p.strip() for p in r.headers.get("content-type", "").split(";")]
    assert media_type == "text/plain", r.headers
    assert "version=0.0.4" in params, r.headers
    assert set(params) <= {"version=0.0.4", "charset=utf-8"}, r.headers

    # Counted as the call finishes, which may be just after its response: wait a moment for it.
    deadline = time.monotonic() + 10
    while True:
        families = scrape(gust)
        calls = value_of(families, "gust_invocations_total", "gust_invocations_total",
                         function=name, status="success")
        if calls == 2 or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert calls == 2, f"gust_invocations_total for {name}: {calls}"

    for family, expected_type in EXPORTED.items():
        if family in PRESENT_AFTER_A_CALL:
            assert family in families, f"{family} is missing; families: {sorted(families)}"
        if family in families:
            assert families[family]["type"] == expected_type, (family, families[family]["type"])
            assert families[family]["help"], f"{family} has no HELP"
    for family, content in families.items():
        assert content["type"] is not None, f"{family} has samples but no TYPE"
        if content["type"] == "histogram":
            check_histogram(family, content["samples"])
        if content["type"] == "counter":
            assert all(v >= 0 for _, _, v in content["samples"]), (family, content["samples"])

    assert value_of(families, "gust_invocation_duration_seconds",
                    "gust_invocation_duration_seconds_count", function=name) == 2
    assert value_of(families, "gust_cold_starts_total", "gust_cold_starts_total",
                    function=name) == 1
    assert value_of(families, "gust_init_duration_seconds", "gust_init_duration_seconds_count",
                    function=name) == 1
    states = {labels.get("state") for _, labels, _ in families["gust_instances"]["samples"]
              if labels.get("function") == name}
    assert states and states <= {"busy", "idle"}, families["gust_instances"]["samples"]
    assert value_of(families, "gust_instances", "gust_instances", function=name,
                    state="busy") in (None, 0)
    statuses = {labels.get("status")
                for _, labels, _ in families["gust_invocations_total"]["samples"]}
    # The activation statuses of docs/api.md.
    assert statuses <= {"success", "error", "timeout", "crashed", "throttled", "init_error",
                        "bad_response"}, statuses


# -- a real Prometheus ---------------------------------------------------------------------------

class Prometheus:
    """One Prometheus process scraping one gust server, and PromQL against it."""

    def __init__(self, directory: Path, target: str):
        self.directory = directory
        self.port = free_port()
        self.log_path = directory / "prometheus.log"
        log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(
            ["bash", str(PROMETHEUS_SH), "run", str(directory), str(self.port), target],
            stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL)
        log.close()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log(self) -> str:
        try:
            return self.log_path.read_bytes()[-10000:].decode("utf-8", "replace")
        except OSError:
            return ""

    def wait_ready(self) -> None:
        deadline = time.monotonic() + READY_TIMEOUT_S
        while True:
            if self.proc.poll() is not None:
                raise AssertionError(f"prometheus exited with {self.proc.returncode}:\n{self.log()}")
            try:
                if requests.get(self.url + "/-/ready", timeout=2).status_code == 200:
                    return
            except requests.RequestException:
                pass
            assert time.monotonic() < deadline, f"prometheus not ready:\n{self.log()}"
            time.sleep(0.1)

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=STOP_GRACE_S)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=STOP_GRACE_S)

    def query(self, expr: str) -> list[dict]:
        r = requests.get(self.url + "/api/v1/query", params={"query": expr}, timeout=10)
        assert r.status_code == 200, (expr, r.status_code, r.text)
        body = r.json()
        assert body["status"] == "success" and body["data"]["resultType"] == "vector", body
        return body["data"]["result"]

    def value(self, expr: str) -> float | None:
        """The value of a query that selects at most one series; None when it selects none."""
        result = self.query(expr)
        assert len(result) <= 1, (expr, result)
        return float(result[0]["value"][1]) if result else None

    def wait_value(self, expr: str, expected: float) -> float | None:
        """Polls until the query reads `expected`, giving up after SCRAPE_TIMEOUT_S; returns the
        last value read, for the caller's assertion."""
        deadline = time.monotonic() + SCRAPE_TIMEOUT_S
        while True:
            value = self.value(expr)
            if value == expected or time.monotonic() > deadline:
                return value
            time.sleep(0.2)

    def target_health(self) -> dict:
        r = requests.get(self.url + "/api/v1/targets", timeout=10)
        targets = r.json()["data"]["activeTargets"]
        return {t["scrapeUrl"]: (t["health"], t["lastError"]) for t in targets}


@pytest.fixture(scope="module")
def prometheus(gust, tmp_path_factory):
    """A real Prometheus scraping the session's gust server; skips only if it cannot be
    installed."""
    assert PROMETHEUS_SH.is_file(), f"{PROMETHEUS_SH} is missing"
    try:
        installed = subprocess.run(["bash", str(PROMETHEUS_SH), "install"], capture_output=True,
                                   text=True, timeout=INSTALL_TIMEOUT_S, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        pytest.skip(f"prometheus could not be installed: `{PROMETHEUS_SH} install` took more "
                    f"than {INSTALL_TIMEOUT_S} s")
    if installed.returncode != 0:
        pytest.skip(f"prometheus could not be installed (`{PROMETHEUS_SH} install` exited "
                    f"{installed.returncode}): {(installed.stdout + installed.stderr)[-2000:]}")

    server = Prometheus(tmp_path_factory.mktemp("prometheus"), f"127.0.0.1:{gust.port}")
    try:
        server.wait_ready()
        yield server
    finally:
        server.stop()


def test_prometheus_scrapes_invocation_counts_and_durations(gust, prometheus):
    gust.deploy(FUNCTIONS / FUNCTION, name=FUNCTION)
    for _ in range(CALLS):
        r = gust.get(f"/fn/{FUNCTION}")
        assert r.status_code == 200, r.text
        assert r.json() == {"hello": "metrics"}

    # Scraping works at all: otherwise every query below would just read "nothing".
    up = prometheus.wait_value('up{job="gust"}', 1)
    assert up == 1, f"prometheus cannot scrape gust: {prometheus.target_health()}"

    selector = f'{{function="{FUNCTION}"}}'
    calls = prometheus.wait_value(f"sum(gust_invocations_total{selector})", CALLS)
    assert calls == CALLS, (
        f"gust_invocations_total{selector} summed to {calls}: "
        f"{prometheus.query(f'gust_invocations_total{selector}')}")
    assert prometheus.value(
        f'gust_invocations_total{{function="{FUNCTION}",status="success"}}') == CALLS

    durations = prometheus.wait_value(f"gust_invocation_duration_seconds_count{selector}", CALLS)
    assert durations == CALLS, durations
    assert prometheus.value(
        f'gust_invocation_duration_seconds_bucket{{function="{FUNCTION}",le="+Inf"}}') == CALLS
    total_seconds = prometheus.value(f"gust_invocation_duration_seconds_sum{selector}")
    assert total_seconds is not None and 0 < total_seconds < CALLS * 30, total_seconds
    # histogram_quantile works on what we export: the buckets are well-formed for PromQL too.
    p50 = prometheus.value(
        f"histogram_quantile(0.5, sum by (le) (gust_invocation_duration_seconds_bucket{selector}))")
    assert p50 is not None and 0 < p50 <= 60, p50

    # One instance, called one call at a time: one cold start, the other calls warm.
    assert prometheus.wait_value(f"gust_cold_starts_total{selector}", 1) == 1
    assert prometheus.wait_value(f"gust_init_duration_seconds_count{selector}", 1) == 1
