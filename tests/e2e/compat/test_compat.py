"""Code written for other platforms, deployed unmodified (issue: any language, no lock-in).

Each app under apps/ is written the way its platform documents it: aws-lambda-go, Rust's
lambda_runtime and Python's awslambdaric as `provided` bootstraps speaking the Lambda Runtime
API; a Java RequestHandler built with aws-lambda-java-core by Maven at deploy time; Flask and
Express apps listening on $PORT (runtime "http"); OpenWhisk actions and an OpenFaaS
python3-http handler (gust.toml `contract`). The Go and Rust clients are compiled here from the
Go module proxy and crates.io into ~/.cache/gust/compat, so a fresh machine rebuilds them.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import requests

from conftest import error_of, unique

APPS = Path(__file__).parent / "apps"
CACHE = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "gust" / "compat"
BUILD_TIMEOUT_S = 900


def invoke(gust, name: str, event) -> tuple[int, object, str]:
    """Lambda's direct Invoke: (status, parsed body, activation id)."""
    r = gust.api("POST", f"/api/v1/functions/{name}/invoke", data=json.dumps(event),
                 headers={"Content-Type": "application/json"})
    try:
        body = r.json()
    except ValueError:
        body = r.text
    return r.status_code, body, r.headers.get("X-Gust-Activation-Id", "")


def bundle_with(tmp_path: Path, app: str, extra: dict[str, Path] | None = None) -> Path:
    """A copy of apps/APP (without build outputs), plus compiled files."""
    target = tmp_path / app
    shutil.copytree(APPS / app, target, ignore=shutil.ignore_patterns("target", "node_modules",
                                                                       ".venv", "__pycache__"))
    for name, source in (extra or {}).items():
        shutil.copy2(source, target / name)
        os.chmod(target / name, 0o755)
    return target


def toolchain(name: str, *installed_at: str) -> str:
    """A toolchain's command: on PATH, or where its installer puts it (a CI shell's PATH may
    lack /usr/local/go/bin or ~/.cargo/bin)."""
    found = shutil.which(name) or next(
        (path for path in map(os.path.expanduser, installed_at) if os.access(path, os.X_OK)), None)
    assert found, f"{name} is not installed: run scripts/deps.sh"
    return found


def build(command: list[str], cwd: Path, env: dict[str, str]) -> None:
    tool = {"go": toolchain("go", "/usr/local/go/bin/go"),
            "cargo": toolchain("cargo", "~/.cargo/bin/cargo")}.get(command[0], command[0])
    # The tool's own directory first: cargo finds rustc there, go its toolchain.
    path = os.pathsep.join([os.path.dirname(tool), os.environ.get("PATH", "")])
    done = subprocess.run([tool, *command[1:]], cwd=cwd, env={**os.environ, "PATH": path, **env},
                          capture_output=True, text=True, timeout=BUILD_TIMEOUT_S)
    assert done.returncode == 0, f"{' '.join(command)} failed:\n{done.stdout}\n{done.stderr}"


def go_build(package: str, name: str) -> Path:
    """A package of apps/go-lambda built as AWS documents it: GOOS=linux go build -tags
    lambda.norpc."""
    out = CACHE / "go" / name
    out.parent.mkdir(parents=True, exist_ok=True)
    build(["go", "build", "-tags", "lambda.norpc", "-o", str(out), package], APPS / "go-lambda",
          {"CGO_ENABLED": "0", "GOOS": "linux", "GOFLAGS": "-mod=mod"})
    return out


@pytest.fixture(scope="session")
def go_bootstrap() -> Path:
    """lambda.Start with the v2 HTTP event."""
    return go_build(".", "bootstrap")


@pytest.fixture(scope="session")
def go_stream_bootstrap() -> Path:
    """An http.Handler behind lambdaurl.Start (response streaming)."""
    return go_build("./stream", "stream-bootstrap")


@pytest.fixture(scope="session")
def rust_bootstrap() -> Path:
    """apps/rust-lambda built with cargo (cargo lambda's output is the same `bootstrap`); the
    debug profile, which compiles in half the time of --release on CI's two cores."""
    target = CACHE / "rust-target"
    build(["cargo", "build", "--locked", "-q"], APPS / "rust-lambda",
          {"CARGO_TARGET_DIR": str(target)})
    return target / "debug" / "bootstrap"


# --- provided: the Lambda Runtime API -----------------------------------------------------------


def test_go_aws_lambda_go_answers_http_with_its_context(gust, tmp_path, go_bootstrap):
    name = unique("go-lambda")
    gust.deploy(bundle_with(tmp_path, "go-lambda", {"bootstrap": go_bootstrap}), name=name)
    r = gust.post(f"/fn/{name}/hello?name=gopher", data="payload")
    assert r.status_code == 201, r.text
    assert r.headers["X-Runtime"] == "go"
    body = r.json()
    activation = r.headers["X-Gust-Activation-Id"]
    assert body["greeting"] == "hello gopher"
    assert body["request_id"] == activation  # Lambda-Runtime-Aws-Request-Id reached the context
    assert body["function"] == name and body["memory_mb"] == 256
    assert body["function_arn"].endswith(f":function:{name}")
    assert body["method"] == "POST" and body["body"] == "payload"
    assert body["has_deadline"] is True  # Lambda-Runtime-Deadline-Ms became ctx.Deadline()
    record = gust.activation(activation)
    assert "go handler saw POST" in record["logs"], record["logs"]

    # The same instance serves the next call (warm), and an error is Lambda's error document.
    failed = gust.get(f"/fn/{name}/?fail=1")
    assert failed.status_code == 502
    # The error document is the owner's to read (the record); the caller gets its kind.
    assert "asked to fail" not in failed.text
    assert "asked to fail" in gust.activation(failed.headers["X-Gust-Activation-Id"])["error"]
    again = gust.get(f"/fn/{name}/?name=again")
    assert again.status_code == 201 and again.json()["greeting"] == "hello again"
    pools = [p for p in gust.api("GET", "/api/v1/instances").json()["pools"] if p["function"] == name]
    assert sum(p["instances"] for p in pools) == 1, pools


def test_go_lambdaurl_response_streams_as_chunked_http(gust, tmp_path, go_stream_bootstrap):
    name = unique("go-stream")
    bundle = bundle_with(tmp_path, "go-lambda", {"bootstrap": go_stream_bootstrap})
    gust.deploy(bundle, name=name)
    gust.get(f"/fn/{name}/warm")  # the cold start is not what this test times
    began = time.monotonic()
    with requests.get(f"{gust.url}/fn/{name}/path", stream=True, timeout=60) as r:
        assert r.status_code == 202, r.text
        assert r.headers["X-Streamed"] == "yes"
        assert r.headers["Content-Type"].startswith("text/plain")
        assert r.headers.get("Transfer-Encoding") == "chunked"
        assert r.headers["X-Gust-Activation-Id"]
        arrivals = []
        for line in r.iter_lines():
            arrivals.append((time.monotonic() - began, line.decode()))
    assert [line for _, line in arrivals] == [f"part {i} of /fn/{name}/path" for i in (1, 2, 3)]
    # The first part reached the client while the function was still writing the others
    # (it sleeps 0.4 s after each): streamed, not buffered to the end.
    assert arrivals[-1][0] - arrivals[0][0] > 0.5, arrivals
    record = gust.activation(r.headers["X-Gust-Activation-Id"])
    assert record["status"] == "success" and record["http_status"] == 202, record

    # A direct invoke cannot stream: the same function's reply is collected whole.
    status, body, _ = invoke(gust, name, {"rawPath": "/direct", "requestContext": {
        "http": {"method": "GET"}, "domainName": "x"}})
    assert status == 200, body
    assert body["statusCode"] == 202 and body["body"] == "".join(
        f"part {i} of /direct\n" for i in (1, 2, 3))


def test_rust_lambda_runtime_answers_direct_invokes(gust, tmp_path, rust_bootstrap):
    name = unique("rust-lambda")
    gust.deploy(bundle_with(tmp_path, "rust-lambda", {"bootstrap": rust_bootstrap}), name=name)
    status, body, activation = invoke(gust, name, {"firstName": "Ferris"})
    assert status == 200, body
    assert body["message"] == "Hello, Ferris!"
    assert body["request_id"] == activation
    assert body["function_arn"].endswith(f":function:{name}")
    assert body["deadline_ms"] > time.time() * 1000
    assert "rust handler greets Ferris" in gust.activation(activation)["logs"]
    status, body, activation = invoke(gust, name, {"firstName": "fail"})
    assert status == 502, body
    assert "asked to fail" in json.dumps(body)
    assert gust.activation(activation)["status"] != "success"


def test_python_awslambdaric_bootstrap_with_requirements(gust, tmp_path):
    name = unique("python-ric")
    gust.deploy(bundle_with(tmp_path, "python-ric"), name=name)  # pip installs awslambdaric
    status, body, activation = invoke(gust, name, {"name": "ric"})
    assert status == 200, body
    assert body == {"hello": "ric", "request_id": activation, "function_name": name,
                    "remaining_ms_positive": True, "runtime_api_set": True}
    assert "ric handler got" in gust.activation(activation)["logs"]
    status, body, _ = invoke(gust, name, {"fail": True})
    assert status == 502
    assert "ValueError" in json.dumps(body) and "asked to fail" in json.dumps(body)


def test_provided_without_a_bootstrap_fails_with_what_to_do(gust, tmp_path):
    (tmp_path / "gust.toml").write_text('runtime = "provided"\n')
    (tmp_path / "README").write_text("no bootstrap here\n")
    name = unique("no-bootstrap")
    gust.deploy(tmp_path, name=name, force=True)  # meant not to load
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 502
    assert "bootstrap" in gust.activation(r.headers["X-Gust-Activation-Id"])["error"]


def test_provided_bootstrap_that_reports_an_init_error(gust, tmp_path):
    (tmp_path / "gust.toml").write_text('runtime = "provided"\n')
    (tmp_path / "bootstrap").write_text(
        "#!/bin/sh\n"
        "curl -s -X POST -d '{\"errorMessage\":\"missing config\",\"errorType\":\"Init.Config\"}' "
        "http://$AWS_LAMBDA_RUNTIME_API/2018-06-01/runtime/init/error\nsleep 5\n")
    os.chmod(tmp_path / "bootstrap", 0o755)
    name = unique("init-error")
    gust.deploy(tmp_path, name=name, force=True)  # meant not to load
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 502
    assert "missing config" not in error_of(r)["message"]
    assert "missing config" in gust.activation(r.headers["X-Gust-Activation-Id"])["error"]


def test_provided_shell_bootstrap_sees_lambdas_headers_and_environment(gust, tmp_path):
    """The Runtime API tutorial's shell bootstrap: every header and variable a runtime reads."""
    (tmp_path / "gust.toml").write_text('runtime = "provided"\nhandler = "bootstrap"\n')
    (tmp_path / "bootstrap").write_text(
        "#!/bin/sh\nset -eu\n"
        "while true; do\n"
        "  HEADERS=$(mktemp)\n"
        "  EVENT=$(curl -sS -LD \"$HEADERS\" "
        "\"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/next\")\n"
        "  ID=$(grep -Fi Lambda-Runtime-Aws-Request-Id \"$HEADERS\" | tr -d '[:space:]' | cut -d: -f2)\n"
        "  H=$(grep -i '^Lambda-Runtime-' \"$HEADERS\" | cut -d: -f1 | tr -d '\\r' | sort | tr '\\n' ,)\n"
        "  RESPONSE=\"{\\\"event\\\":$EVENT,\\\"headers\\\":\\\"$H\\\",\\\"handler\\\":\\\"$_HANDLER\\\","
        "\\\"root\\\":\\\"$LAMBDA_TASK_ROOT\\\",\\\"memory\\\":\\\"$AWS_LAMBDA_FUNCTION_MEMORY_SIZE\\\","
        "\\\"version\\\":\\\"$AWS_LAMBDA_FUNCTION_VERSION\\\"}\"\n"
        "  curl -sS -X POST \"http://${AWS_LAMBDA_RUNTIME_API}/2018-06-01/runtime/invocation/$ID/response\" "
        "-d \"$RESPONSE\" >/dev/null\n"
        "done\n")
    os.chmod(tmp_path / "bootstrap", 0o755)
    name = unique("shell-runtime")
    gust.deploy(tmp_path, name=name)
    r = gust.api("POST", f"/api/v1/functions/{name}/invoke", data='{"k": [1, 2]}',
                 headers={"traceparent": "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01"})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["event"] == {"k": [1, 2]}
    headers = set(filter(None, body["headers"].lower().split(",")))
    assert {"lambda-runtime-aws-request-id", "lambda-runtime-deadline-ms",
            "lambda-runtime-invoked-function-arn", "lambda-runtime-trace-id"} <= headers, headers
    assert body["handler"] == "bootstrap" and body["root"] == "/code"
    assert body["memory"] == "256" and body["version"] == "1"


# --- java -----------------------------------------------------------------------------------


def test_java_request_handler_built_by_maven_at_deploy(gust, tmp_path):
    name = unique("java-core")
    gust.deploy(bundle_with(tmp_path, "java-core"), name=name)  # mvn package at deploy time
    status, body, activation = invoke(gust, name, {"name": "Duke"})
    assert status == 200, body
    assert body == (f"Hello Duke from {name} request {activation} memory 512 remaining>0 true")
    assert "java handler got Duke" in gust.activation(activation)["logs"]
    status, body, _ = invoke(gust, name, {"name": "fail"})
    assert status == 502
    assert "IllegalStateException" in json.dumps(body) and "asked to fail" in json.dumps(body)


def test_java_pojo_handler_maps_input_and_output(gust, tmp_path):
    bundle = bundle_with(tmp_path, "java-core")
    (bundle / "gust.toml").write_text('runtime = "java"\nhandler = "example.Orders::handleRequest"\n')
    name = unique("java-pojo")
    gust.deploy(bundle, name=name)
    status, body, _ = invoke(gust, name, {"item": "tea", "quantity": 3, "price": 2.5, "extra": 1})
    assert status == 200, body
    assert body == {"item": "tea", "total": 7.5}


def test_java_plain_class_without_aws_dependencies(gust, tmp_path):
    bundle = bundle_with(tmp_path, "java-plain")
    build(["javac", "--release", "17", "-d", str(bundle), str(bundle / "Greeter.java")], bundle, {})
    name = unique("java-plain")
    gust.deploy(bundle, name=name)
    status, body, _ = invoke(gust, name, {"name": "plain", "x": 1})
    assert status == 200, body
    assert body == {"greeting": "hi plain", "keys": 2}


def test_java_prebuilt_jar_is_on_the_class_path(gust, tmp_path):
    """A bundle that is just a jar (what `mvn package` or `gradle jar` hands a Lambda user)."""
    sources = bundle_with(tmp_path, "java-plain")
    classes = tmp_path / "classes"
    build(["javac", "--release", "17", "-d", str(classes), str(sources / "Greeter.java")], sources, {})
    bundle = tmp_path / "jar-bundle"
    bundle.mkdir()
    build(["jar", "--create", "--file", str(bundle / "greeter.jar"), "-C", str(classes), "."],
          bundle, {})
    (bundle / "gust.toml").write_text((sources / "gust.toml").read_text())
    name = unique("java-jar")
    gust.deploy(bundle, name=name)
    status, body, _ = invoke(gust, name, {"name": "jar"})
    assert status == 200, body
    assert body == {"greeting": "hi jar", "keys": 1}


def test_java_missing_class_is_an_init_error_naming_it(gust, tmp_path):
    bundle = bundle_with(tmp_path, "java-plain")
    (bundle / "gust.toml").write_text('runtime = "java"\nhandler = "example.Missing"\n')
    name = unique("java-missing")
    gust.deploy(bundle, name=name, force=True)  # meant not to load
    status, body, _ = invoke(gust, name, {})
    assert status == 502
    assert "example.Missing" in json.dumps(body)


# --- http: servers on $PORT --------------------------------------------------------------------


def test_flask_app_on_port_is_proxied(gust, tmp_path):
    name = unique("flask")
    gust.deploy(bundle_with(tmp_path, "flask-app"), name=name)
    hello = gust.get(f"/fn/{name}/")
    assert hello.status_code == 200, hello.text
    assert hello.text == "Hello Gust!"
    assert hello.headers["Content-Type"].startswith("text/html")
    item = gust.request("PUT", f"/fn/{name}/items/42?a=1&b=two", json={"q": [1]},
                        cookies={"session": "s1"})
    assert item.status_code == 200, item.text
    assert item.headers["X-Framework"] == "flask"
    assert item.json() == {"id": "42", "method": "PUT", "query": {"a": "1", "b": "two"},
                           "json": {"q": [1]}, "cookie": "s1", "service": name}
    assert item.cookies.get("seen") == "42"
    binary = gust.get(f"/fn/{name}/binary")
    assert binary.status_code == 200 and binary.content == bytes(range(256))
    missing = gust.get(f"/fn/{name}/nope")
    assert missing.status_code == 404  # the app's own 404, relayed
    # Instances are reused: one server process answered all of these.
    pools = [p for p in gust.api("GET", "/api/v1/instances").json()["pools"] if p["function"] == name]
    assert sum(p["instances"] for p in pools) == 1, pools


def test_express_app_on_port_with_npm_install(gust, tmp_path):
    name = unique("express")
    gust.deploy(bundle_with(tmp_path, "express-app"), name=name)  # npm install at deploy
    assert gust.get(f"/fn/{name}/").text == "Hello World!"
    r = gust.post(f"/fn/{name}/echo/bird?x=1", json={"a": 1})
    assert r.status_code == 202, r.text
    assert r.headers["X-Framework"] == "express"
    assert r.json() == {"word": "bird", "body": {"a": 1}, "query": {"x": "1"},
                        "revision": f"{name}-1"}
    # A direct invoke (any non-HTTP event) arrives as POST / with the event as JSON.
    status, body, activation = invoke(gust, name, {"eventSource": "test"})
    assert status == 200, body
    assert body == {"handled": {"eventSource": "test"}}
    assert "event from test" in gust.activation(activation)["logs"]


def test_http_server_that_exits_before_listening_fails_with_its_output(gust, tmp_path):
    (tmp_path / "gust.toml").write_text('runtime = "http"\nhandler = "python3 server.py"\n')
    (tmp_path / "server.py").write_text("import sys\nprint('cannot start: no DB')\nsys.exit(3)\n")
    name = unique("http-exit")
    gust.deploy(tmp_path, name=name, force=True)  # meant not to load
    r = gust.get(f"/fn/{name}")
    assert r.status_code == 502
    message = gust.activation(r.headers["X-Gust-Activation-Id"])["error"]
    assert "status 3" in message and "$PORT" in message, message


def test_http_runtime_serves_concurrent_requests_in_one_instance(gust, tmp_path):
    (tmp_path / "gust.toml").write_text(
        'runtime = "http"\nhandler = "python3 server.py"\nconcurrency = 4\nmax_instances = 1\n')
    (tmp_path / "server.py").write_text(
        "import os, time\n"
        "from http.server import ThreadingHTTPServer, BaseHTTPRequestHandler\n"
        "class H(BaseHTTPRequestHandler):\n"
        "    protocol_version = 'HTTP/1.1'\n"
        "    def do_GET(self):\n"
        "        time.sleep(0.5)\n"
        "        body = str(os.getpid()).encode()\n"
        "        self.send_response(200); self.send_header('Content-Length', str(len(body)))\n"
        "        self.end_headers(); self.wfile.write(body)\n"
        "ThreadingHTTPServer(('127.0.0.1', int(os.environ['PORT'])), H).serve_forever()\n")
    name = unique("http-concurrent")
    gust.deploy(tmp_path, name=name)
    assert gust.get(f"/fn/{name}").status_code == 200  # warm up
    started = time.monotonic()
    with ThreadPoolExecutor(max_workers=4) as pool:
        answers = list(pool.map(lambda _: gust.get(f"/fn/{name}"), range(4)))
    elapsed = time.monotonic() - started
    assert [a.status_code for a in answers] == [200] * 4
    assert len({a.text for a in answers}) == 1  # one server process
    assert elapsed < 1.9, f"4 requests of 0.5 s took {elapsed:.2f} s: not served concurrently"


# --- OpenWhisk and OpenFaaS contracts ------------------------------------------------------------


@pytest.mark.parametrize("app", ["openwhisk-python", "openwhisk-node"])
def test_openwhisk_action_as_web_action_and_direct_invoke(gust, tmp_path, app):
    name = unique(app)
    gust.deploy(bundle_with(tmp_path, app), name=name)
    status, body, _ = invoke(gust, name, {"name": "Whisk"})
    expected_key = "greeting" if app.endswith("python") else "payload"
    assert status == 200, body
    assert "Whisk" in body[expected_key]
    r = gust.get(f"/fn/{name}?name=Web")
    assert r.status_code == 200, r.text
    assert "Web" in r.json()[expected_key]
    assert r.json()["method"] == "get"
    if app.endswith("python"):
        raw = gust.post(f"/fn/{name}", json={"raw": "data", "name": "x"})
        assert raw.status_code == 201 and raw.text == "raw data"
        assert raw.headers["Content-Type"].startswith("text/plain")
        failed = gust.get(f"/fn/{name}?name=fail")
        assert failed.status_code == 502
        record = gust.activation(failed.headers["X-Gust-Activation-Id"])
        assert "asked to fail" in record["error"], record
    else:
        html = gust.get(f"/fn/{name}?html=1&name=Node")
        assert html.status_code == 200 and html.text == "<h1>Hello Node</h1>"
        assert html.headers["Content-Type"].startswith("text/html")


def test_openfaas_python3_http_handler(gust, tmp_path):
    name = unique("openfaas")
    gust.deploy(bundle_with(tmp_path, "openfaas-python"), name=name)
    r = gust.get(f"/fn/{name}?q=42", headers={"User-Agent": "compat-test"})
    assert r.status_code == 200, r.text
    assert r.text.startswith("Hello from OpenFaaS! query=42 host=")
    assert r.text.endswith("ua=compat-test")
    j = gust.post(f"/fn/{name}/json", json={"n": 1})
    assert j.status_code == 200, j.text
    assert j.json() == {"received": {"n": 1}, "method": "POST"}


def test_contract_for_the_wrong_runtime_is_refused_at_deploy(gust, tmp_path):
    (tmp_path / "gust.toml").write_text('runtime = "node"\ncontract = "openfaas"\n')
    (tmp_path / "handler.js").write_text("module.exports = async () => 'x'\n")
    done = gust.cli("deploy", str(tmp_path), "--name", unique("bad-contract"))
    assert done.returncode != 0
    assert "python3" in done.stderr, done.stderr
