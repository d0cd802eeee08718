"""Deploying through the real CLI: versions, live, rollback, removal, gust.toml errors and
dependency installation."""

import hashlib
import io
import json
import os
import subprocess
import textwrap
import zipfile
from pathlib import Path

import pytest

from conftest import FUNCTIONS, error_of, pack, unique

SERVER_PYTHON = "/root/.pyenv/versions/3.11.7/bin/python3"


def write_version(directory: Path, answer: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "main.py").write_text(textwrap.dedent(f"""\
        def handler(event, context):
            return {{"answer": "{answer}", "version": context.function_version}}
        """))
    return directory


def test_each_deploy_makes_a_new_live_version(gust, tmp_path):
    name = unique("versions")
    first = gust.deploy(write_version(tmp_path / "v1", "one"), name=name)
    assert first["function"] == name
    assert first["version"] == 1
    assert first["url"].endswith(f"/fn/{name}")
    assert gust.get(f"/fn/{name}").json()["answer"] == "one"

    second = gust.deploy(write_version(tmp_path / "v2", "two"), name=name)
    assert second["version"] == 2
    assert gust.get(f"/fn/{name}").json()["answer"] == "two"
    assert gust.get(f"/fn/{name}@1").json()["answer"] == "one"
    assert gust.get(f"/fn/{name}@2").json()["answer"] == "two"


def test_rollback_makes_the_old_version_answer_and_versions_marks_it_live(gust, tmp_path):
    name = unique("rollback")
    gust.deploy(write_version(tmp_path / "v1", "one"), name=name)
    gust.deploy(write_version(tmp_path / "v2", "two"), name=name)

    listed = gust.cli("--json", "versions", name)
    assert listed.returncode == 0, listed.stderr
    live = {v["version"]: v["live"] for v in json.loads(listed.stdout)}
    assert live == {1: False, 2: True}

    rolled = gust.cli("rollback", name, "1")
    assert rolled.returncode == 0, rolled.stderr
    assert gust.get(f"/fn/{name}").json()["answer"] == "one"
    assert gust.get(f"/fn/{name}@2").json()["answer"] == "two"

    listed = gust.cli("--json", "versions", name)
    live = {v["version"]: v["live"] for v in json.loads(listed.stdout)}
    assert live == {1: True, 2: False}

    table = gust.cli("versions", name)
    assert table.returncode == 0, table.stderr
    rows = {line.split()[0]: line for line in table.stdout.splitlines()[1:] if line.strip()}
    assert set(rows) == {"v1", "v2"}
    assert "live" in rows["v1"].split()
    assert "live" not in rows["v2"].split()


def test_rollback_to_missing_version_fails_and_keeps_live(gust, tmp_path):
    name = unique("rollback-missing")
    gust.deploy(write_version(tmp_path / "v1", "one"), name=name)
    rolled = gust.cli("rollback", name, "7")
    assert rolled.returncode != 0
    assert gust.get(f"/fn/{name}").json()["answer"] == "one"


def test_ls_lists_deployed_function_with_live_version(gust, tmp_path):
    name = unique("listed")
    gust.deploy(write_version(tmp_path / "v1", "one"), name=name)
    gust.deploy(write_version(tmp_path / "v2", "two"), name=name)
    listed = gust.cli("--json", "ls")
    assert listed.returncode == 0, listed.stderr
    mine = [f for f in json.loads(listed.stdout) if f["name"] == name]
    assert len(mine) == 1
    assert mine[0]["live_version"] == 2
    assert mine[0]["versions"] == 2
    table = gust.cli("ls")
    assert any(line.split()[:2] == [name, "v2"] for line in table.stdout.splitlines())


def test_rm_makes_function_404_and_deletes_its_code(gust, tmp_path):
    name = unique("removed")
    gust.deploy(write_version(tmp_path / "v1", "one"), name=name)
    gust.deploy(write_version(tmp_path / "v2", "two"), name=name)
    code_dir = gust.data / "functions" / "default" / name
    assert code_dir.is_dir()
    assert gust.get(f"/fn/{name}").status_code == 200  # an instance is running too

    removed = gust.cli("rm", name)
    assert removed.returncode == 0, removed.stderr

    for path in (f"/fn/{name}", f"/fn/{name}@1"):
        r = gust.get(path)
        assert r.status_code == 404, path
        assert error_of(r)["code"] == "not_found"
    assert gust.api("GET", f"/api/v1/functions/{name}").status_code == 404
    assert not code_dir.exists()
    listed = json.loads(gust.cli("--json", "ls").stdout)
    assert name not in [f["name"] for f in listed]


def test_redeploy_after_rm_starts_again_at_version_1_with_new_code(gust, tmp_path):
    name = unique("reborn")
    gust.deploy(write_version(tmp_path / "v1", "old"), name=name)
    gust.deploy(write_version(tmp_path / "v2", "old2"), name=name)
    assert gust.cli("rm", name).returncode == 0
    again = gust.deploy(write_version(tmp_path / "v3", "new"), name=name)
    assert again["version"] == 1
    assert gust.get(f"/fn/{name}").json()["answer"] == "new"


BAD_TOMLS = {
    "unknown-key": ('runtime = "python3"\nhandler = "main.handler"\nmemroy_mb = 128\n', 3),
    "wrong-type": ('runtime = "python3"\n\ntimeout_s = "thirty"\n', 3),
    "out-of-range": ('runtime = "python3"\nmemory_mb = 1\n', 2),
    "bad-runtime": ('\n\n\n\nruntime = "ruby"\n', 5),
}


@pytest.mark.parametrize("case", sorted(BAD_TOMLS))
def test_cli_deploy_rejects_bad_gust_toml_naming_the_line(gust, tmp_path, case):
    text, line = BAD_TOMLS[case]
    directory = write_version(tmp_path / "fn", "never")
    (directory / "gust.toml").write_text(text)
    name = unique("badtoml")
    done = gust.cli("deploy", directory, "--name", name)
    assert done.returncode != 0
    assert f"gust.toml:{line}" in done.stderr, done.stderr
    assert gust.api("GET", f"/api/v1/functions/{name}").status_code == 404


@pytest.mark.parametrize("case", sorted(BAD_TOMLS))
def test_server_rejects_bundle_with_bad_gust_toml_naming_the_line(gust, case):
    # A client other than the CLI can upload anything: the server checks gust.toml itself.
    text, line = BAD_TOMLS[case]
    name = unique("badtoml-api")
    bundle = pack({"gust.toml": text, "main.py": "def handler(e, c):\n    return 1\n"})
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=bundle,
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 400
    error = error_of(r)
    assert error["code"] == "invalid_argument"
    assert f"gust.toml:{line}" in error["message"]
    assert gust.api("GET", f"/api/v1/functions/{name}").status_code == 404


def test_requirements_txt_is_installed_and_importable(gust, tmp_path):
    probe = subprocess.run([SERVER_PYTHON, "-s", "-c", "import slugify"], capture_output=True,
                           timeout=60)
    assert probe.returncode != 0, "python-slugify is installed in the server's python: the test proves nothing"
    name = unique("requirements")
    done = gust.cli("deploy", FUNCTIONS / "py-requirements", "--name", name)
    assert done.returncode == 0, done.stdout + done.stderr
    progress = [line for line in done.stdout.splitlines() if line.startswith("  │ ")]
    assert any("requirements.txt" in line for line in progress), done.stdout
    assert any("python-slugify" in line or "python_slugify" in line for line in progress), done.stdout
    r = gust.get(f"/fn/{name}?text=Hello%20World%21%20%C3%84rger")
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["slug"] == "hello-world-arger"
    # Imported from the version's own virtual environment (the sandbox shows the code at /code).
    assert body["module"].startswith("/code/.venv/"), body["module"]


def test_requirements_txt_that_cannot_install_fails_the_deploy(gust, tmp_path):
    directory = write_version(tmp_path / "fn", "never")
    (directory / "requirements.txt").write_text("this-package-does-not-exist-gust-e2e==0.0.0\n")
    name = unique("bad-requirements")
    done = gust.cli("deploy", directory, "--name", name)
    assert done.returncode != 0
    assert "requirements.txt" in done.stderr, done.stderr
    assert gust.api("GET", f"/api/v1/functions/{name}").status_code == 404


def test_package_json_dependency_is_installed_and_usable(gust):
    name = unique("npm")
    done = gust.cli("deploy", FUNCTIONS / "node-deps", "--name", name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert any("npm install" in line for line in done.stdout.splitlines()), done.stdout
    yes = gust.get(f"/fn/{name}?value=42")
    assert yes.status_code == 200, yes.text
    assert yes.json()["isNumber"] is True
    # Resolved from the version's own node_modules (the sandbox shows the code at /code).
    assert yes.json()["resolved"].startswith("/code/node_modules/"), yes.json()["resolved"]
    no = gust.get(f"/fn/{name}?value=abc")
    assert no.json()["isNumber"] is False


def test_gust_toml_env_reaches_the_function(gust, tmp_path):
    (tmp_path / "gust.toml").write_text(
        'runtime = "python3"\nhandler = "app.main"\nenv = { MODE = "prod", GREETING = "hi there" }\n')
    (tmp_path / "app.py").write_text(
        "import os\n\ndef main(event, context):\n"
        "    return {k: os.environ.get(k) for k in ('MODE', 'GREETING')}\n")
    name = unique("env")
    gust.deploy(tmp_path, name=name)
    assert gust.get(f"/fn/{name}").json() == {"MODE": "prod", "GREETING": "hi there"}


def test_gust_toml_name_is_used_when_no_name_is_given(gust, tmp_path):
    name = unique("named-in-toml")
    (tmp_path / "gust.toml").write_text(f'name = "{name}"\nruntime = "python3"\n')
    (tmp_path / "main.py").write_text("def handler(event, context):\n    return 'named'\n")
    result = gust.deploy(tmp_path)
    assert result["function"] == name
    assert gust.get(f"/fn/{name}").json() == "named"


def test_directory_the_cli_cannot_run_is_refused_before_upload(gust, tmp_path):
    (tmp_path / "README.md").write_text("no code here\n")
    done = gust.cli("deploy", tmp_path, "--name", unique("nothing"))
    assert done.returncode != 0
    assert "gust.toml" in done.stderr and "main.py" in done.stderr, done.stderr


def test_invalid_function_name_is_refused(gust, tmp_path):
    write_version(tmp_path, "x")
    done = gust.cli("deploy", tmp_path, "--name", "Not_Valid!")
    assert done.returncode != 0
    assert "Not_Valid!" in done.stderr
    r = gust.api("POST", "/api/v1/functions/UPPER/versions",
                 data=pack({"main.py": "def handler(e, c):\n    return 1\n"}))
    assert r.status_code == 400
    assert error_of(r)["code"] == "invalid_argument"


def test_api_deploy_reports_the_bundle_digest_and_size(gust):
    name = unique("digest")
    bundle = pack({"main.py": "def handler(e, c):\n    return 'digest'\n"})
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=bundle,
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 201, r.text
    body = r.json()
    assert body["function"] == name
    assert body["version"] == 1
    assert body["runtime"] == "python3"
    assert body["bundle_sha256"] == hashlib.sha256(bundle).hexdigest()
    assert body["bundle_bytes"] == len(bundle)
    assert body["unchanged"] is False
    assert gust.get(f"/fn/{name}").json() == "digest"


def test_deploying_the_live_bundle_again_keeps_its_version(gust):
    name = unique("unchanged")
    bundle = pack({"main.py": "def handler(e, c):\n    return 'same'\n"})
    first = gust.api("POST", f"/api/v1/functions/{name}/versions", data=bundle)
    assert first.status_code == 201
    again = gust.api("POST", f"/api/v1/functions/{name}/versions", data=bundle)
    assert again.status_code == 201, again.text
    assert again.json()["version"] == 1
    assert again.json()["unchanged"] is True
    versions = gust.api("GET", f"/api/v1/functions/{name}/versions").json()["versions"]
    assert [v["version"] for v in versions] == [1]
    assert gust.get(f"/fn/{name}").json() == "same"


def test_cli_deploy_of_an_unchanged_directory_says_so_and_keeps_the_version(gust, tmp_path):
    name = unique("unchanged-cli")
    directory = write_version(tmp_path / "fn", "steady")
    assert gust.deploy(directory, name=name)["version"] == 1
    done = gust.cli("deploy", directory, "--name", name)
    assert done.returncode == 0, done.stderr
    assert "unchanged" in done.stdout, done.stdout
    listed = json.loads(gust.cli("--json", "versions", name).stdout)
    assert [v["version"] for v in listed] == [1]


def test_redeploying_an_older_versions_code_makes_a_new_live_version(gust, tmp_path):
    # "Identical" is measured against the live version only, as with Lambda's PublishVersion.
    name = unique("back-again")
    a = write_version(tmp_path / "a", "a")
    b = write_version(tmp_path / "b", "b")
    assert gust.deploy(a, name=name)["version"] == 1
    assert gust.deploy(b, name=name)["version"] == 2
    third = gust.deploy(a, name=name)
    assert third["version"] == 3
    assert third["unchanged"] is False
    assert gust.get(f"/fn/{name}").json()["answer"] == "a"


def test_zip_bundle_deploys(gust):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as z:
        z.writestr("main.py", "def handler(e, c):\n    return 'from a zip'\n")
    name = unique("zipped")
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=out.getvalue(),
                 headers={"Content-Type": "application/zip"})
    assert r.status_code == 201, r.text
    assert gust.get(f"/fn/{name}").json() == "from a zip"


def test_bundle_over_64_mib_answers_413(gust):
    r = gust.api("POST", f"/api/v1/functions/{unique('huge')}/versions",
                 data=os.urandom(65 * (1 << 20)), headers={"Content-Type": "application/gzip"})
    assert r.status_code == 413
    assert error_of(r)["code"] == "too_large"


def test_streamed_deploy_reports_progress_then_error_for_a_failed_install(gust):
    name = unique("ndjson")
    bundle = pack({"main.py": "def handler(e, c):\n    return 1\n",
                   "requirements.txt": "this-package-does-not-exist-gust-e2e==0.0.0\n"})
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=bundle,
                 headers={"Content-Type": "application/gzip", "Accept": "application/x-ndjson"})
    assert r.headers["content-type"].startswith("application/x-ndjson"), r.headers
    events = [json.loads(line) for line in r.text.splitlines() if line.strip()]
    assert events[0]["event"] == "progress"
    assert all(e["event"] == "progress" and isinstance(e["message"], str) for e in events[:-1])
    assert events[-1]["event"] == "error", events[-1]
    assert "this-package-does-not-exist-gust-e2e" in events[-1]["error"]["message"]
    assert gust.api("GET", f"/api/v1/functions/{name}").status_code == 404


def test_streamed_deploy_without_dependencies_answers_plain_201(gust):
    name = unique("ndjson-plain")
    r = gust.api("POST", f"/api/v1/functions/{name}/versions",
                 data=pack({"main.py": "def handler(e, c):\n    return 1\n"}),
                 headers={"Content-Type": "application/gzip", "Accept": "application/x-ndjson"})
    assert r.status_code == 201
    assert r.json()["version"] == 1


def test_function_detail_shows_live_config(gust, tmp_path):
    (tmp_path / "gust.toml").write_text('runtime = "python3"\nmemory_mb = 512\ntimeout_s = 7\n')
    (tmp_path / "main.py").write_text("def handler(e, c):\n    return c.memory_limit_in_mb\n")
    name = unique("detail")
    gust.deploy(tmp_path, name=name)
    detail = gust.api("GET", f"/api/v1/functions/{name}").json()
    assert detail["name"] == name
    assert detail["live_version"] == 1
    assert detail["config"]["memory_mb"] == 512
    assert detail["config"]["timeout_s"] == 7
    assert gust.get(f"/fn/{name}").json() == 512


def test_python_sources_are_compiled_at_deploy_and_one_that_does_not_compile_is_left_to_its_import(gust):
    # Bytecode written at deploy spares every cold start the compile of the function's modules.
    name = unique("bytecode")
    bundle = pack({
        "main.py": textwrap.dedent("""\
            import os
            import helper

            def handler(event, context):
                if (event.get("queryStringParameters") or {}).get("fail"):
                    helper.fail()
                return {"main": os.path.exists(__spec__.cached),
                        "helper": os.path.exists(helper.__spec__.cached)}
            """),
        "helper.py": "def fail():\n    raise RuntimeError('from helper')\n",
        "broken.py": "def (:\n",
    })
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=bundle,
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 201, r.text
    answer = gust.get(f"/fn/{name}")
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"main": True, "helper": True}
    # A traceback names the file where the sandbox shows it, not where the deploy compiled it.
    failed = gust.get(f"/fn/{name}?fail=1")
    assert failed.status_code == 502, failed.text
    logs = gust.activation(failed.headers["X-Gust-Activation-Id"])["logs"]
    assert 'File "/code/helper.py"' in logs, logs
    assert "from helper" in logs, logs
