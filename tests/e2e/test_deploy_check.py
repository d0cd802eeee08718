"""A deploy starts the new code in a sandbox before it goes live: code that does not load (a
syntax error, a handler the module does not define, a bootstrap that does not start) fails the
deploy with the file and line, makes no version, and leaves the live version serving.
`gust deploy --force` (the API's ?force=true) deploys it anyway."""

from __future__ import annotations

import json
import os
import textwrap
from pathlib import Path

from conftest import error_of, pack, unique

GOOD_PY = "def handler(event, context):\n    return {'answer': 'good'}\n"


def write(directory: Path, files: dict[str, str], toml: str | None = None) -> Path:
    directory.mkdir(parents=True, exist_ok=True)
    for rel, text in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(textwrap.dedent(text))
    if toml is not None:
        (directory / "gust.toml").write_text(toml)
    return directory


def deploy_cli(gust, directory: Path, name: str, *extra: str):
    """`gust --json deploy`: (exit code, parsed stdout or None, stderr)."""
    done = gust.cli("--json", "deploy", str(directory), "--name", name, *extra)
    try:
        out = json.loads(done.stdout)
    except ValueError:
        out = None
    return done.returncode, out, done.stderr


def refused(gust, directory: Path, name: str) -> str:
    """Deploys `directory`, which must be refused as init_failed; returns the error message."""
    code, out, err = deploy_cli(gust, directory, name)
    assert code != 0, (out, err)
    assert out is not None and set(out) == {"error"}, (out, err)
    assert out["error"]["code"] == "init_failed", out
    return out["error"]["message"]


def live_one(gust, name: str) -> None:
    """Version 1 alone exists, is live, and answers."""
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 200 and r.json() == {"answer": "good"}, (r.status_code, r.text[:500])
    versions = gust.api("GET", f"/api/v1/functions/{name}/versions").json()["versions"]
    assert [(v["version"], v["live"]) for v in versions] == [(1, True)], versions


def deploy_good(gust, tmp_path: Path, name: str) -> None:
    gust.deploy(write(tmp_path / "good", {"main.py": GOOD_PY}), name=name)
    assert gust.get(f"/fn/{name}").json() == {"answer": "good"}


def test_python_syntax_error_fails_the_deploy_with_file_and_line_and_v1_stays_live(gust, tmp_path):
    name = unique("chk-pysyntax")
    deploy_good(gust, tmp_path, name)
    broken = write(tmp_path / "broken", {
        "main.py": "import helpers\n\ndef handler(event, context):\n    return helpers.x\n",
        "helpers.py": "x = 1\n\ndef oops(:\n    pass\n",
    })
    message = refused(gust, broken, name)
    assert "SyntaxError" in message and "(helpers.py, line 3)" in message, message
    assert "main.handler" in message, message
    live_one(gust, name)


def test_python_top_level_exception_names_the_line_and_shows_what_it_printed(gust, tmp_path):
    name = unique("chk-pyraise")
    deploy_good(gust, tmp_path, name)
    broken = write(tmp_path / "broken", {"main.py": """\
        print("connecting to the database")
        import os

        DB = os.environ["NO_SUCH_SETTING"]

        def handler(event, context):
            return DB
        """})
    message = refused(gust, broken, name)
    assert "KeyError" in message and "(main.py, line 4)" in message, message
    assert "connecting to the database" in message, message
    live_one(gust, name)


def test_missing_python_handler_fails_the_deploy(gust, tmp_path):
    name = unique("chk-pymissing")
    deploy_good(gust, tmp_path, name)
    broken = write(tmp_path / "broken", {"main.py": "def handle(event, context):\n    return 1\n"})
    message = refused(gust, broken, name)
    assert "Runtime.HandlerNotFound" in message and "handler" in message, message
    live_one(gust, name)


def test_node_syntax_errors_fail_the_deploy_with_file_and_line(gust, tmp_path):
    name = unique("chk-nodesyntax")
    deploy_good(gust, tmp_path, name)
    toml = 'runtime = "node"\nhandler = "index.handler"\n'
    cjs = write(tmp_path / "cjs", {"index.js": "exports.handler = async () => {\n  return 1 +;\n};\n"},
                toml)
    message = refused(gust, cjs, name)
    assert "SyntaxError" in message and "(index.js:2)" in message, message
    # An ES module's syntax error carries no position in Node 20; the adapter finds it anyway.
    esm = write(tmp_path / "esm", {
        "index.mjs": "import { value } from './lib/value.mjs';\nexport const handler = async () => value;\n",
        "lib/value.mjs": "export const value = 1;\n\nlet broken = ;\n",
    }, toml)
    message = refused(gust, esm, name)
    assert "SyntaxError" in message and "(lib/value.mjs:3)" in message, message
    live_one(gust, name)


def test_missing_node_export_fails_the_deploy(gust, tmp_path):
    name = unique("chk-nodemissing")
    deploy_good(gust, tmp_path, name)
    broken = write(tmp_path / "broken", {"index.js": "exports.other = async () => 1;\n"},
                   'runtime = "node"\nhandler = "index.handler"\n')
    message = refused(gust, broken, name)
    assert "Runtime.HandlerNotFound" in message and "index.handler" in message, message
    live_one(gust, name)


def test_each_entry_of_a_project_is_checked(gust, tmp_path):
    name = unique("chk-project")
    top = name.replace("-", "_")  # project routes are global: keep this test's to itself
    project = write(tmp_path / "project", {
        f"api/{top}/fine.py": GOOD_PY,
        f"api/{top}/users/broken.py": "def handler(event, context)\n    return 1\n",
        f"api/{top}/hello.js": "module.exports = (req, res) => res.end('ok');\n",
        f"api/{top}/nodefault.js": "exports.notDefault = 1;\n",
    })
    message = refused(gust, project, name)
    assert f"api/{top}/users/broken.py, line 1" in message, message
    assert f"api/{top}/nodefault.js: " in message, message
    assert "fine.py: " not in message and "hello.js: " not in message, message
    r = gust.api("GET", f"/api/v1/functions/{name}")
    assert r.status_code == 404, r.text  # nothing was recorded, not even the function


def test_a_provided_bootstrap_that_cannot_start_fails_the_deploy(gust, tmp_path):
    name = unique("chk-provided")
    deploy_good(gust, tmp_path, name)
    broken = write(tmp_path / "broken", {"bootstrap": "#!/bin/sh\necho never\n"},
                   'runtime = "provided"\n')
    os.chmod(broken / "bootstrap", 0o644)  # not executable
    message = refused(gust, broken, name)
    assert "bootstrap" in message and "executable" in message, message
    live_one(gust, name)


def test_an_http_server_that_exits_fails_the_deploy_with_its_output(gust, tmp_path):
    name = unique("chk-http")
    deploy_good(gust, tmp_path, name)
    broken = write(tmp_path / "broken", {"server.sh": "echo 'cannot bind: config missing' >&2\nexit 3\n"},
                   'runtime = "http"\nhandler = "sh server.sh"\n')
    message = refused(gust, broken, name)
    assert "cannot bind: config missing" in message, message
    live_one(gust, name)


def test_force_deploys_code_that_does_not_load(gust, tmp_path):
    name = unique("chk-force")
    deploy_good(gust, tmp_path, name)
    broken = write(tmp_path / "broken", {"main.py": "def handler(:\n"})
    code, out, err = deploy_cli(gust, broken, name, "--force")
    assert code == 0, (out, err)
    assert out["version"] == 2 and out["load_checked"] is False, out
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 502 and "failed to initialize" in error_of(r)["message"], r.text
    # The caller is told the kind of failure; its owner reads the error in the record.
    assert "SyntaxError" in gust.activation(r.headers["X-Gust-Activation-Id"])["error"]
    r = gust.get(f"/fn/{name}@1")
    assert r.status_code == 200 and r.json() == {"answer": "good"}, r.text


def test_api_answers_422_init_failed_and_force_true_deploys(gust):
    name = unique("chk-api")
    bundle = pack({"main.py": "x = 1\n\nif x:\n  def handler(e, c): return 1\n else: pass\n"})
    r = gust.api("POST", f"/api/v1/functions/{name}/versions", data=bundle,
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 422, (r.status_code, r.text)
    error = error_of(r)
    assert error["code"] == "init_failed" and "(main.py, line 5)" in error["message"], error
    assert gust.api("GET", f"/api/v1/functions/{name}").status_code == 404
    r = gust.api("POST", f"/api/v1/functions/{name}/versions?force=true", data=bundle,
                 headers={"Content-Type": "application/gzip"})
    assert r.status_code == 201, (r.status_code, r.text)
    assert r.json()["version"] == 1 and r.json()["load_checked"] is False


def test_cli_without_json_exits_non_zero_and_says_why_on_stderr(gust, tmp_path):
    name = unique("chk-plain")
    broken = write(tmp_path / "broken", {"main.py": "def handler(event, context):\n  return (\n"})
    done = gust.cli("deploy", str(broken), "--name", name)
    assert done.returncode != 0, (done.stdout, done.stderr)
    assert "main.py, line 2" in done.stderr and "--force" in done.stderr, done.stderr
    assert "Deployed" not in done.stdout, done.stdout


def test_secrets_are_redacted_from_the_error(gust, tmp_path):
    name = unique("chk-secret")
    value = "s3cr3t-" + unique("v")
    r = gust.api("PUT", "/api/v1/secrets/CHK_DB_PASSWORD", json={"value": value})
    assert r.status_code in (200, 201), r.text
    broken = write(tmp_path / "broken", {"main.py": """\
        import os
        raise RuntimeError("cannot connect with " + os.environ["CHK_DB_PASSWORD"])
        """}, 'runtime = "python3"\nhandler = "main.handler"\nsecrets = ["CHK_DB_PASSWORD"]\n')
    message = refused(gust, broken, name)
    assert "cannot connect with [REDACTED:CHK_DB_PASSWORD]" in message, message
    assert value not in message


def test_the_check_runs_sandboxed_so_import_time_code_cannot_read_host_files(gust_factory, tmp_path):
    """Module top-level code runs during the check: in a `--sandbox linux` server it must see no
    host file, neither /etc/shadow nor the data dir's admin token and master key."""
    server = gust_factory(extra_args=("--sandbox", "linux"))
    token = (server.data / "admin.token").read_text().strip()
    targets = ["/etc/shadow", str(server.data / "admin.token"), str(server.data / "master.key"),
               str(server.data / "gust.db")]
    probe = write(tmp_path / "probe", {"main.py": f"""\
        found = []
        for path in {targets!r}:
            try:
                with open(path, "rb") as f:
                    found.append(path + " READ " + f.read(64).hex())
            except OSError as exc:
                found.append(path + " " + type(exc).__name__)
        raise RuntimeError("probe: " + "; ".join(found))
        """})
    name = unique("chk-hostile")
    message = refused(server, probe, name)
    assert "probe: " in message, message
    assert " READ " not in message, message
    assert token not in message and token.encode().hex()[:40] not in message
    for path in targets:
        assert f"{path} FileNotFoundError" in message or f"{path} PermissionError" in message, message
