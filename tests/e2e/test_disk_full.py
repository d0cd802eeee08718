"""A full disk: the data dir on a small tmpfs, filled by a file. New work (invokes through the
gateway and the invoke API, async enqueues, deploys) is refused with 507 insufficient_storage in a
message that names no host path; the server stays up and serves again by itself once the file is
gone. Without the guard (--min-free-mb 0) the writes that meet the full disk answer the same."""
from __future__ import annotations

import subprocess
import time
from pathlib import Path

import pytest

from conftest import FUNCTIONS, error_of, pack, unique

TMPFS_MB = 64
RECOVERY_S = 10  # the guard samples every second


@pytest.fixture
def small_disk(tmp_path):
    mount = tmp_path / "disk"
    mount.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={TMPFS_MB}m", "tmpfs", str(mount)], check=True)
    yield mount
    # Lazily: a sandboxed instance's mount namespace may still hold it for a moment.
    subprocess.run(["umount", "-l", str(mount)], check=False)


def fill(disk: Path) -> Path:
    """Writes one file until the disk refuses more (ENOSPC)."""
    filler = disk / "filler"
    with open(filler, "wb") as f:
        chunk = b"\0" * (1 << 20)
        try:
            while True:
                f.write(chunk)
                f.flush()
        except OSError:
            pass
    return filler


def assert_refused_for_disk(response, what: str = "") -> None:
    assert response.status_code == 507, (what, response.status_code, response.text[:500])
    error = error_of(response)
    assert error["code"] == "insufficient_storage", error
    assert "/" not in error["message"], error
    assert "retry later" in error["message"], error


def invoke_attempts(gust, name: str) -> dict[str, object]:
    """New work of every kind, once each."""
    return {
        "gateway": gust.get(f"/fn/{name}"),
        "invoke API": gust.api("POST", f"/api/v1/functions/{name}/invoke", json={}),
        "async": gust.post(f"/fn/{name}", headers={"X-Gust-Invocation-Type": "Event"}, json={}),
    }


def wait_serving(gust, name: str) -> None:
    deadline = time.monotonic() + RECOVERY_S
    while True:
        r = gust.get(f"/fn/{name}")
        if r.status_code == 200 or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert r.status_code == 200, (r.status_code, r.text[:300])


def test_a_full_disk_refuses_new_work_with_507_and_serves_again_when_space_returns(gust_factory, small_disk):
    gust = gust_factory(data_dir=small_disk / "data", extra_args=("--min-free-mb", "16"))
    name = unique("disk")
    gust.deploy(FUNCTIONS / "metrics-hello", name=name)
    assert gust.get(f"/fn/{name}").status_code == 200

    filler = fill(small_disk)
    deadline = time.monotonic() + RECOVERY_S
    while gust.get(f"/fn/{name}").status_code != 507 and time.monotonic() < deadline:
        time.sleep(0.2)
    for kind, response in invoke_attempts(gust, name).items():
        assert_refused_for_disk(response, kind)
    deploy = gust.cli("deploy", FUNCTIONS / "metrics-hello", "--name", unique("disk"))
    assert deploy.returncode != 0
    assert "insufficient_storage" in deploy.stderr or "low on disk space" in deploy.stderr, deploy.stderr
    assert str(small_disk) not in deploy.stderr + deploy.stdout

    # Up all along, and says so to its operator.
    assert gust.get("/healthz").status_code == 200
    metrics = gust.get("/metrics").text
    assert "gust_disk_guard_refusing 1" in metrics
    assert "disk.low_refusing_new_work" in gust.log()

    filler.unlink()
    wait_serving(gust, name)
    for kind, response in invoke_attempts(gust, name).items():
        assert response.status_code in (200, 202), (kind, response.status_code, response.text[:300])
    gust.deploy(FUNCTIONS / "metrics-hello", name=unique("disk"))
    assert "gust_disk_guard_refusing 0" in gust.get("/metrics").text


def test_writes_that_meet_a_full_disk_answer_507_naming_no_path(gust_factory, small_disk):
    """The guard off: the store's and the deployer's own ENOSPC / SQLITE_FULL reach callers as
    507 without the paths, which go to the server log."""
    gust = gust_factory(data_dir=small_disk / "data", extra_args=("--min-free-mb", "0"))
    name = unique("disk")
    gust.deploy(FUNCTIONS / "metrics-hello", name=name)
    filler = fill(small_disk)

    assert_refused_for_disk(gust.post(f"/fn/{name}", headers={"X-Gust-Invocation-Type": "Event"}, json={}))
    bundle = pack({"main.py": "def handler(e, c):\n    return 'full'\n"})
    deploy = gust.api("POST", f"/api/v1/functions/{unique('disk')}/versions", data=bundle,
                      headers={"Content-Type": "application/gzip"})
    assert_refused_for_disk(deploy)
    assert "storage.full" in gust.log() and str(small_disk) in gust.log()
    assert gust.get("/healthz").status_code == 200

    filler.unlink()
    wait_serving(gust, name)


def test_a_caller_answered_500_because_its_record_was_late_is_recorded_as_that_500(gust_factory, small_disk,
                                                                                  tmp_path):
    """The disk full and the guard off: the journal takes records while it has preallocated room,
    then one it cannot take waits for a writer that cannot commit either, and its caller gets a
    500 after 10 s instead of the result. Once space returns, the record of that activation says
    the 500 (status withheld, nothing billed) — not the success that ran and was never delivered."""
    gust = gust_factory(data_dir=small_disk / "data", extra_args=("--min-free-mb", "0"))
    name = unique("late")
    code = tmp_path / "loud"
    code.mkdir()
    (code / "gust.toml").write_text('runtime = "python3"\nhandler = "main.handler"\n')
    (code / "main.py").write_text("def handler(event, context):\n"
                                  "    print('x' * 200000)\n"
                                  "    return 'ran'\n")
    gust.deploy(code, name=name)
    filler = fill(small_disk)
    answered = []
    for _ in range(300):  # each record carries ~200 KB of logs: the 8 MiB journal fills in ~40
        r = gust.post(f"/fn/{name}", timeout=60)
        answered.append(r)
        if r.status_code != 200:
            break
    late = answered[-1]
    assert late.status_code == 500, [a.status_code for a in answered[-3:]]
    assert "could not be recorded in time" in error_of(late)["message"]
    assert len(answered) > 1 and all(a.status_code == 200 for a in answered[:-1])

    filler.unlink()
    record = gust.activation(late.headers["X-Gust-Activation-Id"], timeout=30)
    assert record["status"] == "withheld", record
    assert record["http_status"] == 500 and record["billed_ms"] == 0
    assert "could not be recorded in time" in record["error"]
    # The answered ones are recorded as the successes their callers got, and billed.
    first = gust.activation(answered[0].headers["X-Gust-Activation-Id"])
    assert first["status"] == "success" and first["billed_ms"] > 0
    usage = gust.api("GET", f"/api/v1/usage?by=function").json()
    row = next(r for r in usage["rows"] if r["group"] == name)
    assert row["invocations"] == len(answered) and row["errors"] == 1
