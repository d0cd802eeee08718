"""The `provided` runtime (T-PRIV-1, T-FS-1/3, T-NET-1 and the Runtime API): the relay and the
user's bootstrap run in one sandbox with the same confinement as Python and Node, and the Runtime
API an instance serves on its loopback is reachable from that instance only."""


def test_provided_bootstrap_is_confined_and_its_runtime_api_is_private(mode):
    first = mode.deploy("probe-provided-a", source="probe-provided", runtime="provided",
                        handler="bootstrap")
    second = mode.deploy("probe-provided-b", source="probe-provided", runtime="provided",
                         handler="bootstrap")
    data = str(mode.server.data.resolve())
    args = {"serverPort": mode.server.port, "readPaths": [f"{data}/admin.token", "/etc/shadow"]}
    r = mode.server.post(f"/fn/{first}", json=args, timeout=90)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    report = r.json()
    # The second instance tries the first one's Runtime API (to steal its invocations).
    r = mode.server.post(f"/fn/{second}", json={**args, "peer": report["runtimeApi"]}, timeout=90)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    other = r.json()
    if mode.sandboxed:
        assert 2 <= len(report["tasks"]) <= 8, report["tasks"]  # the relay and the bootstrap only
        for pid, status in report["tasks"].items():
            for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
                assert int(status[field], 16) == 0, (pid, field, status)
            assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", (pid, status)
        assert report["uid"] == 1000
        assert not report["writeCode"]["ok"], report
        assert not any(v["ok"] for v in report["reads"].values()), report["reads"]
        assert not report["server"]["ok"], report["server"]
        assert not other["peer"]["ok"], other["peer"]
    else:
        assert report["uid"] == 0 and report["writeCode"]["ok"], report
        assert all(v["ok"] for v in report["reads"].values()), report["reads"]
        assert other["peer"]["ok"], other["peer"]  # unconfined: why the sandbox matters
    mode.assert_healthy()
