"""The core escape checks from the Node runtime (T-PRIV-1, T-FS-1/3, T-INF-1, T-NET-1): a second
interpreter, with V8 and libuv threads of its own, gets the same confinement as Python."""


def test_node_instance_is_confined_like_python(mode):
    name = mode.deploy("probe-node", source="probe-node", runtime="node", handler="index.handler")
    data = str(mode.server.data.resolve())
    r = mode.server.post(f"/fn/{name}", json={"serverPort": mode.server.port,
                                              "readPaths": [f"{data}/admin.token", "/etc/shadow"]},
                         timeout=90)
    assert r.status_code == 200, (r.status_code, r.text[:500])
    report = r.json()
    assert len(report["tasks"]) >= 4, report["tasks"]  # node always runs helper threads
    if mode.sandboxed:
        for tid, status in report["tasks"].items():
            for field in ("CapEff", "CapPrm", "CapBnd", "CapAmb"):
                assert int(status[field], 16) == 0, (tid, field, status)
            assert status["NoNewPrivs"] == "1" and status["Seccomp"] == "2", (tid, status)
        assert report["uid"] == 1000
        assert not report["writeCode"]["ok"] and not report["writeUsr"]["ok"], report
        assert not any(v["ok"] for v in report["reads"].values()), report["reads"]
        assert report["pids"] <= 8, report["pids"]
        assert not report["server"]["ok"], report["server"]
    else:
        assert report["uid"] == 0 and report["writeCode"]["ok"] and report["writeUsr"]["ok"], report
        assert all(v["ok"] for v in report["reads"].values()), report["reads"]
        assert report["server"]["ok"], report["server"]
    mode.assert_healthy()
