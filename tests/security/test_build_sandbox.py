"""Dependency builds are inside the trust boundary (T-BUILD-*): npm lifecycle scripts, a local
package's setup.py run by pip, and Maven plugins run the tenant's code at deploy time. In the
sandboxed server they run as the tenant, in a sandbox of their own: no admin token, no master
key, no other tenant's files, no server environment, no server port, nothing writable but the
build. In the control server (builds unconfined) the same probes read the token, which proves
they would see it if they could.

Each probe writes what it got to build-probe.json in the build dir, which becomes the version's
code dir on the host: the test reads it there.
"""

from __future__ import annotations

import json
import shutil
import uuid
from pathlib import Path

import pytest

from conftest import CANARY, FUNCTIONS, host_ip, start_server, unique

PROBES = FUNCTIONS / "build-probe"
BUILD_TIMEOUT_S = 300


def make_tenant(mode) -> str:
    tenant = f"mallory-{uuid.uuid4().hex[:6]}"
    done = mode.server.cli("tenant", "create", tenant)
    assert done.returncode == 0, done.stdout + done.stderr
    return tenant


def deploy_as(server, tenant: str | None, directory: Path, name: str):
    args = (["--tenant", tenant] if tenant else []) + ["deploy", str(directory), "--name", name]
    return server.cli(*args, timeout=BUILD_TIMEOUT_S)


def victim_file(mode) -> Path:
    """A file of another tenant (default) that the attacker's build tries to read."""
    name = mode.deploy("hello", source="hello")
    return mode.code_dir(name) / "main.py"


def targets_for(mode, planted: Path) -> dict:
    data = mode.server.data
    port = mode.server.port
    return {
        "read": [str(data / "admin.token"), str(data / "master.key"), str(victim_file(mode)),
                 "/proc/1/environ", f"/proc/{mode.server.proc.pid}/environ"],
        "connect": [f"127.0.0.1:{port}", f"{host_ip()}:{port}"],
        "write": [str(planted), str(data / "functions" / planted.name)],
    }


def bundle(tmp_path: Path, files: dict[str, str], targets: dict) -> Path:
    directory = tmp_path / f"build-{uuid.uuid4().hex[:8]}"
    directory.mkdir()
    for rel, content in files.items():
        (directory / rel).parent.mkdir(parents=True, exist_ok=True)
        (directory / rel).write_text(content)
    (directory / "targets.json").write_text(json.dumps(targets))
    return directory


def probe_result(mode, name: str, where: str = "build-probe.json") -> dict:
    path = mode.code_dir(name) / where
    assert path.exists(), f"the build probe left no {where}: did the build step run?"
    return json.loads(path.read_text())


def assert_contained(mode, result: dict, targets: dict, planted: Path) -> None:
    token = (mode.server.data / "admin.token").read_text().strip()
    leaked = json.dumps(result)
    if not mode.sandboxed:
        # The control server's builds run unconfined: the same probe reads the token.
        assert result["read"][targets["read"][0]]["ok"], result["read"]
        assert token in leaked
        return
    assert token not in leaked, "a build read the admin token"
    for path in targets["read"]:
        assert not result["read"][path]["ok"], f"a build read {path}: {result['read'][path]}"
    assert CANARY not in leaked, "a build saw the server's environment"
    assert "GUST_TOKEN" not in result["environment"]
    for address in targets["connect"]:
        assert not result["connect"][address]["ok"], f"a build reached the server at {address}"
    for path in targets["write"]:
        assert not result["write"][path]["ok"], f"a build wrote {path}"
    assert not planted.exists()
    assert result["uid"] != 0


def test_T_BUILD_1_npm_preinstall_script_is_contained_and_shown(mode, tmp_path):
    tenant = make_tenant(mode)
    planted = tmp_path / f"planted-{uuid.uuid4().hex[:6]}"
    targets = targets_for(mode, planted)
    package = {"name": "evil", "version": "1.0.0", "scripts": {"preinstall": "node probe.js"}}
    directory = bundle(tmp_path, {
        "gust.toml": 'runtime = "node"\nhandler = "index.handler"\n',
        "index.js": "exports.handler = async () => ({ ok: true });\n",
        "package.json": json.dumps(package),
        "probe.js": (PROBES / "probe.js").read_text(),
    }, targets)
    name = unique("npm-evil")
    done = deploy_as(mode.server, tenant, directory, name)
    assert done.returncode == 0, done.stdout + done.stderr
    # The user sees what ran: the declared script first, then its own output.
    assert "preinstall: node probe.js" in done.stdout, done.stdout
    assert "build probe: done" in done.stdout, done.stdout
    assert_contained(mode, probe_result(mode, name), targets, planted)
    mode.assert_healthy()


def test_T_BUILD_2_pip_building_a_local_package_runs_setup_py_contained(mode, tmp_path):
    tenant = make_tenant(mode)
    planted = tmp_path / f"planted-{uuid.uuid4().hex[:6]}"
    targets = targets_for(mode, planted)
    setup_py = (
        "import os, runpy\n"
        "here = os.path.dirname(os.path.abspath(__file__))\n"
        "runpy.run_path(os.path.join(here, '..', 'probe.py'))\n"
        "from setuptools import setup\n"
        "setup(name='evilpkg', version='1.0', py_modules=[])\n")
    directory = bundle(tmp_path, {
        "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
        "main.py": "def handler(event, context):\n    return {'ok': True}\n",
        "requirements.txt": "./localpkg\n",
        "localpkg/setup.py": setup_py,
        "probe.py": (PROBES / "probe.py").read_text(),
    }, targets)
    name = unique("pip-evil")
    done = deploy_as(mode.server, tenant, directory, name)
    assert done.returncode == 0, done.stdout + done.stderr
    assert_contained(mode, probe_result(mode, name), targets, planted)


def test_T_BUILD_3_maven_plugin_cannot_read_the_admin_token(mode, tmp_path):
    if not shutil.which("mvn"):
        pytest.skip("mvn is not installed")
    tenant = make_tenant(mode)
    token_path = mode.server.data / "admin.token"
    pom = f"""<?xml version="1.0" encoding="UTF-8"?>
<project xmlns="http://maven.apache.org/POM/4.0.0">
  <modelVersion>4.0.0</modelVersion>
  <groupId>example</groupId><artifactId>evil</artifactId><version>1.0</version>
  <properties>
    <maven.compiler.source>17</maven.compiler.source><maven.compiler.target>17</maven.compiler.target>
  </properties>
  <build><plugins><plugin>
    <groupId>org.apache.maven.plugins</groupId><artifactId>maven-antrun-plugin</artifactId>
    <version>3.1.0</version>
    <executions><execution><phase>validate</phase><goals><goal>run</goal></goals>
      <configuration><target>
        <loadfile property="stolen" srcFile="{token_path}" failonerror="false"/>
        <property name="stolen" value="nothing"/>
        <echo file="${{project.basedir}}/build-probe.txt" message="${{stolen}}"/>
      </target></configuration>
    </execution></executions>
  </plugin></plugins></build>
</project>
"""
    directory = bundle(tmp_path, {
        "gust.toml": 'runtime = "java"\nhandler = "example.Hello::handleRequest"\n',
        "pom.xml": pom,
        "src/main/java/example/Hello.java": (
            "package example;\npublic class Hello {\n"
            "  public Object handleRequest(Object input, Object context) { return \"hi\"; }\n}\n"),
    }, {"read": [], "connect": [], "write": []})
    name = unique("mvn-evil")
    done = deploy_as(mode.server, tenant, directory, name)
    assert done.returncode == 0, done.stdout + done.stderr
    stolen = (mode.code_dir(name) / "build-probe.txt").read_text().strip()
    token = token_path.read_text().strip()
    if mode.sandboxed:
        assert stolen == "nothing", "a Maven plugin read the admin token"
    else:
        assert stolen == token


def test_T_BUILD_4_a_failing_install_script_fails_the_deploy_with_its_output(mode, tmp_path):
    package = {"name": "broken", "version": "1.0.0",
               "scripts": {"postinstall": "echo cannot-compile-the-addon >&2; exit 3"}}
    directory = bundle(tmp_path, {
        "gust.toml": 'runtime = "node"\nhandler = "index.handler"\n',
        "index.js": "exports.handler = async () => ({ ok: true });\n",
        "package.json": json.dumps(package),
        # Each bundle is new code: the same bytes again would be the same version, not a new one.
        "VERSION": uuid.uuid4().hex,
    }, {})
    name = unique("npm-broken")
    done = deploy_as(mode.server, None, directory, name)
    assert done.returncode != 0
    out = done.stdout + done.stderr
    assert "npm install failed" in out and "cannot-compile-the-addon" in out, out
    r = mode.server.get(f"/fn/{name}")
    assert r.status_code == 404, (r.status_code, r.text[:300])  # nothing went live


def writer_bundle(tmp_path: Path, mib: int, files: int = 1, into: str = "'.'") -> Path:
    """A Node function whose postinstall writes `files` files of `mib` MiB into `into` (a JS
    expression: the build dir by default)."""
    script = (f"node -e \"for (let i = 0; i < {files}; i++) require('fs').writeFileSync("
              f"require('path').join({into}, 'blob' + i + '.bin'), Buffer.alloc({mib} << 20, 1))\"")
    package = {"name": "big", "version": "1.0.0", "scripts": {"postinstall": script}}
    return bundle(tmp_path, {
        "gust.toml": 'runtime = "node"\nhandler = "index.handler"\n',
        "index.js": "exports.handler = async () => ({ ok: true });\n",
        "package.json": json.dumps(package),
        # Each bundle is new code: the same bytes again would be the same version, not a new one.
        "VERSION": uuid.uuid4().hex,
    }, {})


@pytest.mark.parametrize("server_mode", ["sandbox", "control"])
def test_T_BUILD_5_disk_per_version_and_per_tenant_is_capped_with_413(server_mode, tmp_path):
    server = start_server(tmp_path / "gust", server_mode,
                          extra_args=("--max-version-mb", "16", "--tenant-disk-mb", "40"))
    try:
        # One version over its cap: the build is stopped and nothing goes live.
        too_big = unique("too-big")
        done = deploy_as(server, None, writer_bundle(tmp_path, 24), too_big)
        assert done.returncode != 0
        assert "more than a version may hold (16 MiB)" in done.stdout + done.stderr, done.stderr
        assert not list(server.data.glob(f"functions/*/{too_big}/v*"))
        # The package cache is the build's too: many files under the per-file limit are stopped.
        done = deploy_as(server, None, writer_bundle(tmp_path, 10, files=3,
                                                     into="process.env.npm_config_cache"),
                         unique("cache-filler"))
        assert done.returncode != 0
        assert "more than a version may hold (16 MiB)" in done.stdout + done.stderr, done.stderr
        # Versions under the cap add up to the tenant's quota; the one past it is refused.
        name = unique("fill")
        refused = None
        for _ in range(4):
            done = deploy_as(server, None, writer_bundle(tmp_path, 12), name)
            if done.returncode != 0:
                refused = done.stdout + done.stderr
                break
        assert refused and "disk quota" in refused and "40 MiB" in refused, refused
        # Room comes back when the tenant removes what it holds.
        assert server.cli("rm", name).returncode == 0
        done = deploy_as(server, None, writer_bundle(tmp_path, 12), unique("after"))
        assert done.returncode == 0, done.stdout + done.stderr
    finally:
        server.stop()


def test_T_BUILD_6_build_network_none_refuses_downloads_precisely(tmp_path):
    server = start_server(tmp_path / "gust", "sandbox", extra_args=("--build-network", "none"))
    try:
        directory = bundle(tmp_path, {
            "gust.toml": 'runtime = "python3"\nhandler = "main.handler"\n',
            "main.py": "def handler(event, context):\n    return {'ok': True}\n",
            "requirements.txt": "python-slugify==8.0.4\n",
        }, {})
        done = deploy_as(server, None, directory, unique("offline"))
        assert done.returncode != 0
        assert "installing requirements.txt failed" in done.stdout + done.stderr, done.stderr
    finally:
        server.stop()
