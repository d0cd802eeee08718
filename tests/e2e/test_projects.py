"""Vercel-style projects: every api/ file is an entry, reachable under /fn/{project} and routed at
/api/...; helpers are not endpoints; a route can have only one holder."""

import json

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
    activation = gust.api("GET", f"/api/v1/activations/{r.headers['X-Gust-Activation-Id']}").json()
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


def test_redeploying_the_holder_keeps_its_routes(gust, project):
    name, _ = project
    again = gust.deploy(FUNCTIONS / "vproj-main", name=name)
    assert again["version"] >= 2
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
