"""Vercel-style projects: every api/ file is an entry, reachable under /fn/{project} and routed at
/api/...; helpers are not endpoints; a route can have only one holder."""

import json
import shutil

import pytest

from conftest import FUNCTIONS, error_of, pack_dir, unique


@pytest.fixture(scope="module")
def project(gust):
    # Routes are global, so only this module deploys a project holding /api/hello and /api/time.
    name = unique("vproj")
    result = gust.deploy(FUNCTIONS / "vproj-main", name=name)
    return name, result


def test_project_deploy_reports_one_route_per_endpoint_file(project):
    _, result = project
    routes = sorted(r[r.index("/api/"):] for r in result["routes"])
    assert routes == ["/api/event", "/api/hello", "/api/time"]


def test_project_entries_are_reachable_under_fn(gust, project):
    name, _ = project
    hello = gust.get(f"/fn/{name}/api/hello")
    assert hello.status_code == 200
    assert hello.text == "hello from python"
    time = gust.get(f"/fn/{name}/api/time")
    assert time.status_code == 200
    assert time.json()["entry"] == "time"


def test_project_entries_are_routed_at_api_paths(gust, project):
    hello = gust.get("/api/hello")
    assert hello.status_code == 200
    assert hello.text == "hello from python"
    time = gust.get("/api/time")
    assert time.status_code == 200
    assert time.json()["entry"] == "time"


def test_routed_event_has_project_route_key_and_requested_path(gust, project):
    r = gust.get("/api/event?k=v")
    assert r.status_code == 200
    assert r.json() == {"routeKey": "ANY /api/event", "rawPath": "/api/event", "query": {"k": "v"}}


def test_routed_activation_is_recorded_against_project_entry(gust, project):
    name, _ = project
    r = gust.get("/api/hello")
    activation = gust.activation(r.headers["X-Gust-Activation-Id"])
    assert activation["function"] == name
    assert activation["entry"] == "api/hello"


def test_underscore_helper_is_not_an_endpoint(gust, project):
    name, _ = project
    routed = gust.get("/api/_util")
    assert routed.status_code == 404
    assert error_of(routed)["code"] == "not_found"
    direct = gust.get(f"/fn/{name}/api/_util")
    assert direct.status_code == 404
    assert error_of(direct)["code"] == "not_found"


def test_routes_lists_project_routes(gust, project):
    name, _ = project
    listed = gust.cli("--json", "routes")
    assert listed.returncode == 0, listed.stderr
    mine = {r["path"]: r for r in json.loads(listed.stdout) if r["function"] == name}
    assert set(mine) == {"/api/event", "/api/hello", "/api/time"}
    assert mine["/api/hello"]["entry"] == "api/hello"
    assert mine["/api/hello"]["route"] == "ANY /api/hello"
    table = gust.cli("routes").stdout.splitlines()
    assert any(line.split() == ["ANY", "/api/time", name, "api/time"] for line in table), table


def test_project_entry_can_be_invoked_directly(gust, project):
    name, _ = project
    done = gust.cli("--json", "invoke", name, "--entry", "api/time",
                    "--data", json.dumps({"rawPath": "/api/time", "requestContext": {"http": {"method": "GET"}}}))
    assert done.returncode == 0, done.stdout + done.stderr
    out = json.loads(done.stdout)
    assert out["status"] == 200
    assert json.loads(out["result"]["body"])["entry"] == "time"


def test_second_project_claiming_a_held_route_is_refused_naming_the_holder(gust, project):
    holder, _ = project
    clash = unique("vproj-clash")
    done = gust.cli("deploy", FUNCTIONS / "vproj-clash", "--name", clash)
    assert done.returncode != 0
    assert holder in done.stderr, done.stderr
    assert "/api/hello" in done.stderr

    r = gust.api("POST", f"/api/v1/functions/{clash}/versions",
                 data=pack_dir(FUNCTIONS / "vproj-clash"), headers={"Content-Type": "application/gzip"})
    assert r.status_code == 409
    error = error_of(r)
    assert error["code"] == "conflict"
    assert holder in error["message"]

    assert gust.api("GET", f"/api/v1/functions/{clash}").status_code == 404
    assert gust.get("/api/hello").text == "hello from python"


def test_redeploying_the_holder_keeps_its_routes(gust, project, tmp_path):
    name, _ = project
    changed = tmp_path / "vproj-main"
    shutil.copytree(FUNCTIONS / "vproj-main", changed)
    (changed / "api" / "extra.py").write_text("def handler(event, context):\n    return 'extra'\n")
    again = gust.deploy(changed, name=name)
    assert again["unchanged"] is False
    assert gust.get("/api/hello").text == "hello from python"
    assert gust.get("/api/extra").json() == "extra"
    restored = gust.deploy(FUNCTIONS / "vproj-main", name=name)
    assert restored["version"] == again["version"] + 1
    assert gust.get("/api/extra").status_code == 404
    assert gust.get("/api/hello").text == "hello from python"


def test_project_route_under_api_v1_is_refused(gust, tmp_path):
    (tmp_path / "api" / "v1").mkdir(parents=True)
    (tmp_path / "api" / "v1" / "functions.py").write_text(
        "def handler(event, context):\n    return {'hijacked': True}\n")
    name = unique("hijack")
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=pack_dir(tmp_path),
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_argument"
    listed = gust.api("GET", "/api/v1/functions")
    assert listed.status_code == 200
    assert "functions" in listed.json()


def write_project(directory, files):
    for relative, answer in files.items():
        path = directory / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(f"def handler(event, context):\n    return '{answer}'\n")
    return directory


def test_removing_a_project_frees_its_routes_for_another(gust, tmp_path):
    route = f"freed_{unique('r').replace('-', '_')}"
    first = unique("proj-first")
    gust.deploy(write_project(tmp_path / "a", {f"api/{route}.py": "first"}), name=first)
    assert gust.get(f"/api/{route}").json() == "first"
    assert gust.cli("rm", first).returncode == 0
    gone = gust.get(f"/api/{route}")
    assert gone.status_code == 404
    assert error_of(gone)["code"] == "not_found"
    second = unique("proj-second")
    gust.deploy(write_project(tmp_path / "b", {f"api/{route}.py": "second"}), name=second)
    assert gust.get(f"/api/{route}").json() == "second"


def test_new_project_version_without_a_file_drops_its_route(gust, tmp_path):
    kept = f"kept_{unique('r').replace('-', '_')}"
    dropped = f"dropped_{unique('r').replace('-', '_')}"
    name = unique("proj-shrink")
    gust.deploy(write_project(tmp_path / "v1", {f"api/{kept}.py": "v1", f"api/{dropped}.py": "v1"}),
                name=name)
    assert gust.get(f"/api/{dropped}").json() == "v1"
    gust.deploy(write_project(tmp_path / "v2", {f"api/{kept}.py": "v2"}), name=name)
    assert gust.get(f"/api/{kept}").json() == "v2"
    assert gust.get(f"/api/{dropped}").status_code == 404


def test_rollback_of_a_project_restores_its_routes(gust, tmp_path):
    old = f"old_{unique('r').replace('-', '_')}"
    new = f"new_{unique('r').replace('-', '_')}"
    name = unique("proj-rollback")
    gust.deploy(write_project(tmp_path / "v1", {f"api/{old}.py": "v1"}), name=name)
    gust.deploy(write_project(tmp_path / "v2", {f"api/{new}.py": "v2"}), name=name)
    assert gust.cli("rollback", name, "1").returncode == 0
    assert gust.get(f"/fn/{name}/api/{old}").json() == "v1"  # the live code is v1's
    assert gust.get(f"/api/{old}").status_code == 200
    assert gust.get(f"/api/{old}").json() == "v1"
    assert gust.get(f"/api/{new}").status_code == 404
    routes = {r["path"] for r in gust.api("GET", "/api/v1/routes").json()["routes"]
              if r["function"] == name}
    assert routes == {f"/api/{old}"}


def test_project_detail_lists_its_entries(gust, project):
    name, _ = project
    detail = gust.api("GET", f"/api/v1/functions/{name}").json()
    entries = {e["path"]: e for e in detail["entries"]}
    assert set(entries) == {"api/event", "api/hello", "api/time"}
    assert entries["api/hello"]["runtime"] == "python3"
    assert entries["api/time"]["runtime"] == "node"
    assert entries["api/hello"]["url"].endswith(f"/fn/{name}/api/hello")
