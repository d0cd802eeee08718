"""Tests for gust_adapter.py: each starts the real adapter as a child process, as the host does,
with one end of a socketpair inherited as GUST_SOCKET_FD, and speaks docs/protocol.md to it."""

import base64
import json
import os
import py_compile
import select
import socket
import struct
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

# Started as the host starts it: run_adapter.py imports gust_adapter from the bytecode the server
# writes at start (so a traceback test also covers frames that come from a .pyc).
ADAPTER = Path(__file__).resolve().parent / "run_adapter.py"
py_compile.compile(str(ADAPTER.parent / "gust_adapter.py"), doraise=True)
FRAME_PREFIX = struct.Struct(">II")
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
TIMEOUT_SECONDS = 10


class Adapter:
    """One running adapter process and the host's end of its socket."""

    def __init__(self, code_dir, handler, extra_env=None):
        host_end, adapter_end = socket.socketpair()
        self.adapter_fd = adapter_end.fileno()
        env = {
            "PATH": os.environ.get("PATH", "/usr/bin:/bin"),
            "GUST_SOCKET_FD": str(self.adapter_fd),
            "GUST_CODE_DIR": str(code_dir),
            "GUST_HANDLER": handler,
            "GUST_FUNCTION_NAME": "hello",
            "GUST_FUNCTION_VERSION": "7",
            "GUST_MEMORY_MB": "256",
        }
        env.update(extra_env or {})
        self.process = subprocess.Popen(
            [sys.executable, "-s", "-B", str(ADAPTER)], cwd=code_dir, env=env,
            pass_fds=[self.adapter_fd], stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        adapter_end.close()
        host_end.settimeout(TIMEOUT_SECONDS)
        self.sock = host_end
        self.reader = host_end.makefile("rb")
        self.next_id = 0

    def send_raw(self, data):
        self.sock.sendall(data)

    def send_frame(self, header, body=b""):
        header_bytes = json.dumps(header).encode()
        self.send_raw(FRAME_PREFIX.pack(len(header_bytes), len(body)) + header_bytes + body)

    def read_frame(self):
        prefix = self.reader.read(FRAME_PREFIX.size)
        assert len(prefix) == FRAME_PREFIX.size, f"no frame; stderr: {self.stderr_so_far()}"
        header_len, body_len = FRAME_PREFIX.unpack(prefix)
        # The host enforces the limits on the adapter too.
        assert header_len <= MAX_HEADER_BYTES
        assert body_len <= MAX_BODY_BYTES
        header = json.loads(self.reader.read(header_len).decode("utf-8"))
        body = self.reader.read(body_len)
        assert len(body) == body_len
        assert isinstance(header, dict) and isinstance(header["type"], str)
        return header, body

    def invoke(self, event, deadline_in_ms=5000, trace_id="Root=1-abc", raw_body=None):
        self.next_id += 1
        activation_id = f"act-{self.next_id}"
        self.send_frame({"type": "INVOKE", "id": activation_id,
                         "deadline_ms": int(time.time() * 1000) + deadline_in_ms,
                         "function_name": "hello", "function_version": "7", "memory_mb": 256,
                         "trace_id": trace_id},
                        json.dumps(event).encode() if raw_body is None else raw_body)
        header, body = self.read_frame()
        assert header["id"] == activation_id
        return header, body

    def result(self, event, **kwargs):
        header, body = self.invoke(event, **kwargs)
        assert header["type"] == "RESULT", (header, body)
        return json.loads(body)

    def available_stdout(self):
        """What the adapter has written to stdout so far, without waiting for more."""
        fd = self.process.stdout.fileno()
        chunks = []
        while select.select([fd], [], [], 0)[0]:
            chunk = os.read(fd, 65536)
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)

    def stderr_so_far(self):
        if self.process.poll() is None:
            return "<still running>"
        return self.process.stderr.read().decode(errors="replace")

    def wait(self):
        return self.process.wait(timeout=TIMEOUT_SECONDS)

    def close(self):
        self.reader.close()
        self.sock.close()
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=TIMEOUT_SECONDS)
        self.process.stdout.close()
        self.process.stderr.close()


@pytest.fixture
def start(tmp_path):
    """start(files, handler) writes the files into tmp_path and starts an adapter on them."""
    started = []

    def start_adapter(files, handler, expect_ready=True, extra_env=None):
        for relative_path, source in files.items():
            path = tmp_path / relative_path
            path.parent.mkdir(parents=True, exist_ok=True)
            path.write_text(textwrap.dedent(source))
        adapter = Adapter(tmp_path, handler, extra_env)
        started.append(adapter)
        if expect_ready:
            header, body = adapter.read_frame()
            assert header == {"type": "READY"}, (header, body)
            assert body == b""
        return adapter

    yield start_adapter
    for adapter in started:
        adapter.close()


def http_event(method="GET", path="/", query="", headers=None, cookies=None, body=None,
               is_base64=False):
    return {
        "version": "2.0", "routeKey": "$default", "rawPath": path, "rawQueryString": query,
        "cookies": cookies or [], "headers": headers or {"host": "fn.example.com:8080"},
        "queryStringParameters": {}, "pathParameters": {},
        "requestContext": {"http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                                    "sourceIp": "203.0.113.9", "userAgent": "test"},
                           "requestId": "r1", "timeEpoch": 0},
        "body": body, "isBase64Encoded": is_base64,
    }


# --- Lambda shape -----------------------------------------------------------------------------

COUNTER_HANDLER = """
    calls = 0

    def handler(event, context):
        global calls
        calls += 1
        return {"calls": calls, "echo": event}
"""


def test_sends_ready_then_keeps_module_state_across_invocations(start):
    adapter = start({"main.py": COUNTER_HANDLER}, "main.handler")
    assert adapter.result({"n": 1}) == {"calls": 1, "echo": {"n": 1}}
    assert adapter.result({"n": 2}) == {"calls": 2, "echo": {"n": 2}}


def test_dotted_module_path(start):
    adapter = start({"pkg/__init__.py": "", "pkg/sub/__init__.py": "",
                     "pkg/sub/mod.py": "def fn(event, context):\n    return 'deep'\n"},
                    "pkg.sub.mod.fn")
    assert adapter.result({}) == "deep"


def test_none_result_is_json_null(start):
    adapter = start({"main.py": "def handler(event, context):\n    pass\n"}, "main.handler")
    header, body = adapter.invoke({})
    assert header == {"type": "RESULT", "id": "act-1"}
    assert body == b"null"


def test_context_carries_lambda_names_and_remaining_time(start):
    adapter = start({"main.py": """
        import os

        def handler(event, context):
            return {
                "function_name": context.function_name,
                "function_version": context.function_version,
                "aws_request_id": context.aws_request_id,
                "memory_limit_in_mb": context.memory_limit_in_mb,
                "invoked_function_arn": context.invoked_function_arn,
                "log_group_name": context.log_group_name,
                "log_stream_name": context.log_stream_name,
                "remaining": context.get_remaining_time_in_millis(),
                "trace": os.environ.get("_X_AMZN_TRACE_ID"),
                "socket_fd_env": os.environ.get("GUST_SOCKET_FD"),
            }
    """}, "main.handler")
    fields = adapter.result({}, deadline_in_ms=5000, trace_id="Root=1-5e1b4151-5ac6c58f")
    assert fields["function_name"] == "hello"
    assert fields["function_version"] == "7"
    assert fields["aws_request_id"] == "act-1"
    assert fields["memory_limit_in_mb"] == 256
    assert fields["invoked_function_arn"] == "arn:gust:lambda:local:000000000000:function:hello"
    assert fields["log_group_name"] == "/aws/lambda/hello"
    assert "[7]" in fields["log_stream_name"]
    assert 0 < fields["remaining"] <= 5000
    assert fields["trace"] == "Root=1-5e1b4151-5ac6c58f"
    assert fields["socket_fd_env"] is None  # user code never learns where the socket is


def test_remaining_time_is_zero_past_the_deadline(start):
    adapter = start({"main.py": """
        def handler(event, context):
            return context.get_remaining_time_in_millis()
    """}, "main.handler")
    assert adapter.result({}, deadline_in_ms=-1000) == 0


def test_control_socket_is_not_inherited_by_user_subprocesses(start):
    adapter = start({"main.py": """
        import os

        def handler(event, context):
            return os.get_inheritable(event["fd"])
    """}, "main.handler")
    assert adapter.result({"fd": adapter.adapter_fd}) is False


def test_output_is_in_the_pipes_before_the_reply(start):
    adapter = start({"main.py": """
        import sys

        def handler(event, context):
            print("printed line")
            sys.stdout.write("no newline yet")
            sys.stderr.write("err without newline")
            return "done"
    """}, "main.handler")
    assert adapter.result({}) == "done"
    # Read only what is already in the pipe: the adapter must have flushed before replying.
    assert adapter.available_stdout() == b"printed line\nno newline yet"
    fd = adapter.process.stderr.fileno()
    assert select.select([fd], [], [], 0)[0]
    assert os.read(fd, 65536) == b"err without newline"


def test_printed_lines_reach_the_pipe_while_the_handler_still_runs(start, tmp_path):
    release = tmp_path / "release"
    adapter = start({"main.py": """
        import os
        import time

        def handler(event, context):
            print("started")
            deadline = time.monotonic() + 60  # outlasts the test's wait below
            while not os.path.exists(event["release"]) and time.monotonic() < deadline:
                time.sleep(0.01)
            return "released"
    """}, "main.handler")
    adapter.send_frame({"type": "INVOKE", "id": "long", "deadline_ms": 0}, json.dumps(
        {"release": str(release)}).encode())
    # The handler is blocked until the file exists, so only line buffering can deliver this.
    ready, _, _ = select.select([adapter.process.stdout.fileno()], [], [], 5)
    assert ready, "the printed line is stuck in the adapter's buffer"
    assert os.read(adapter.process.stdout.fileno(), 65536) == b"started\n"
    release.touch()
    header, body = adapter.read_frame()
    assert header == {"type": "RESULT", "id": "long"} and body == b'"released"'


def test_init_output_is_flushed_before_ready(start):
    adapter = start({"main.py": """
        import sys
        sys.stdout.write("loading")

        def handler(event, context):
            return 1
    """}, "main.handler")
    assert adapter.available_stdout() == b"loading"


def resident_kib(pid):
    with open(f"/proc/{pid}/status") as status:
        return next(int(line.split()[1]) for line in status if line.startswith("VmRSS:"))


def test_a_new_trace_id_per_invocation_does_not_grow_the_instance(start):
    # Every activation has its own trace id. Setting one through putenv() leaked it in glibc's
    # setenv (~95 bytes an invocation, for the life of the instance); 20,000 would be ~1.9 MiB.
    adapter = start({"main.py": """
        import os

        def handler(event, context):
            return os.environ["_X_AMZN_TRACE_ID"]
    """}, "main.handler")
    for i in range(2000):  # warm: the allocator's arenas reach their steady size
        adapter.result({}, trace_id=f"Root=1-{i:032x}")
    before = resident_kib(adapter.process.pid)
    for i in range(20000):
        assert adapter.result({}, trace_id=f"Root=2-{i:032x}") == f"Root=2-{i:032x}"
    grown = resident_kib(adapter.process.pid) - before
    assert grown < 512, f"the instance grew by {grown} KiB over 20,000 invocations"


def test_exception_becomes_error_with_type_message_and_traceback(start):
    adapter = start({"main.py": """
        def helper():
            raise ValueError("bad input 42")

        def handler(event, context):
            if event.get("fail"):
                helper()
            return "ok"
    """}, "main.handler")
    header, body = adapter.invoke({"fail": True})
    assert header == {"type": "ERROR", "id": "act-1", "error_type": "ValueError",
                      "message": "bad input 42"}
    trace = body.decode()
    assert trace.startswith("Traceback (most recent call last):")
    assert 'main.py", line 3, in helper' in trace
    assert "gust_adapter.py" not in trace  # the adapter's own frames are noise to the user
    assert trace.rstrip().endswith("ValueError: bad input 42")
    assert adapter.result({}) == "ok"  # a user error does not end the instance


def test_huge_exception_message_keeps_the_header_within_its_limit(start):
    adapter = start({"main.py": """
        def handler(event, context):
            raise RuntimeError("\\U0001F600" * 100000)
    """}, "main.handler")
    header, body = adapter.invoke({})  # read_frame asserts header_len <= 64 KiB
    assert header["type"] == "ERROR" and header["error_type"] == "RuntimeError"
    assert 0 < len(header["message"]) < 100000


@pytest.mark.parametrize("returned", ["object()", "{1, 2}", "float('nan')", "'\\ud800'"])
def test_unserialisable_result_is_marshal_error(start, returned):
    adapter = start({"main.py": f"def handler(event, context):\n    return {returned}\n"},
                    "main.handler")
    header, _ = adapter.invoke({})
    assert header["type"] == "ERROR"
    assert header["error_type"] == "Runtime.MarshalError"
    assert header["message"].startswith("Unable to marshal response")


def test_event_that_is_not_json_is_unmarshal_error(start):
    adapter = start({"main.py": COUNTER_HANDLER}, "main.handler")
    header, _ = adapter.invoke(None, raw_body=b"{not json")
    assert header["type"] == "ERROR" and header["error_type"] == "Runtime.UnmarshalError"
    assert adapter.result(1) == {"calls": 1, "echo": 1}  # the handler never saw the bad event


def test_an_event_nested_past_pythons_stack_is_unmarshal_error_not_a_dead_instance(start):
    adapter = start({"main.py": COUNTER_HANDLER}, "main.handler")
    header, _ = adapter.invoke(None, raw_body=b"[" * 100000 + b"]" * 100000)
    assert header["type"] == "ERROR" and header["error_type"] == "Runtime.UnmarshalError"
    assert "deeper than Python's json can read" in header["message"]
    assert adapter.result(1) == {"calls": 1, "echo": 1}


def test_a_result_nested_past_pythons_stack_is_marshal_error(start):
    adapter = start({"main.py": """
        def handler(event, context):
            value = []
            for _ in range(100000):
                value = [value]
            return value if event == "deep" else "fine"
    """}, "main.handler")
    header, _ = adapter.invoke("deep")
    assert header["type"] == "ERROR" and header["error_type"] == "Runtime.MarshalError"
    assert adapter.result("flat") == "fine"


def test_an_openwhisk_json_body_nested_past_pythons_stack_reaches_the_action_as_text(start):
    adapter = start({"__main__.py": """
        def main(params):
            return {"kind": type(params.get("__ow_body")).__name__}
    """}, "__main__.main", extra_env={"GUST_CONTRACT": "openwhisk"})
    deep = "[" * 100000 + "]" * 100000
    assert adapter.result(http_event("POST", body=deep, headers={"content-type": "application/json"})) \
        == {"kind": "str"}
    assert adapter.result({"plain": True}) == {"kind": "NoneType"}  # the instance lives on


# --- load failures ------------------------------------------------------------------------------

# --- pre-started instances (GUST_PRESTARTED=1: the function arrives with LOAD) -------------

ENV_HANDLER = """
    import os

    def handler(event, context):
        return {"mode": os.environ.get("MODE"), "name": os.environ["GUST_FUNCTION_NAME"], "cwd": os.getcwd()}
"""


def test_prestarted_adapter_waits_for_load_then_runs_the_function_it_names(start, tmp_path):
    code = tmp_path / "code"
    adapter = start({"code/main.py": ENV_HANDLER}, "", expect_ready=False,
                    extra_env={"GUST_PRESTARTED": "1", "GUST_CODE_DIR": "", "GUST_FUNCTION_NAME": ""})
    # STANDBY, then nothing before LOAD: the adapter does not know its function yet.
    assert adapter.read_frame()[0] == {"type": "STANDBY"}
    assert not select.select([adapter.sock], [], [], 0.3)[0]
    adapter.send_frame({"type": "LOAD", "env": {"GUST_CODE_DIR": str(code), "GUST_HANDLER": "main.handler",
                                                "GUST_FUNCTION_NAME": "loaded", "MODE": "prod"}})
    header, _ = adapter.read_frame()
    assert header == {"type": "READY"}
    invoked, body = adapter.invoke({})
    assert invoked["type"] == "RESULT", (invoked, body)
    assert json.loads(body) == {"mode": "prod", "name": "loaded", "cwd": str(code)}


def test_prestarted_adapter_refuses_anything_but_load_first(start):
    adapter = start({}, "", expect_ready=False, extra_env={"GUST_PRESTARTED": "1"})
    assert adapter.read_frame()[0] == {"type": "STANDBY"}
    adapter.send_frame({"type": "INVOKE", "id": "a1", "deadline_ms": 0})
    assert adapter.wait() == 2
    assert "LOAD" in adapter.stderr_so_far()


def init_error(adapter):
    header, body = adapter.read_frame()
    assert header["type"] == "INIT_ERROR", header
    assert adapter.wait() == 1
    return header, body.decode()


def test_import_error_is_init_error_and_exit_1(start):
    adapter = start({"main.py": "import no_such_module_xyz\n\ndef handler(e, c):\n    pass\n"},
                    "main.handler", expect_ready=False)
    header, trace = init_error(adapter)
    assert header["error_type"] == "ModuleNotFoundError"
    assert "no_such_module_xyz" in header["message"]
    assert 'main.py", line 1' in trace


def test_syntax_error_is_init_error(start):
    adapter = start({"api/broken.py": "def handler(:\n"}, "api/broken.py", expect_ready=False)
    header, _ = init_error(adapter)
    assert header["error_type"] == "SyntaxError"


def test_init_error_names_the_file_and_line_in_the_code(start):
    # The path relative to the code dir, not the base name SyntaxError's str() gives: a deploy's
    # load check shows it to say what to fix.
    adapter = start({"main.py": "import api.lib\n\ndef handler(e, c):\n    pass\n",
                     "api/__init__.py": "", "api/lib.py": "x = 1\ny = (\n"},
                    "main.handler", expect_ready=False)
    header, _ = init_error(adapter)
    assert header["error_type"] == "SyntaxError"
    assert header["message"].endswith("(api/lib.py, line 2)"), header["message"]
    adapter = start({"main.py": "import os\n\nvalue = os.environ['NO_SUCH_VAR_XYZ']\n"},
                    "main.handler", expect_ready=False)
    header, _ = init_error(adapter)
    assert header["error_type"] == "KeyError"
    assert header["message"] == "'NO_SUCH_VAR_XYZ' (main.py, line 3)", header["message"]


def test_missing_attribute_is_handler_not_found(start):
    adapter = start({"main.py": "x = 1\n"}, "main.handler", expect_ready=False)
    header, _ = init_error(adapter)
    assert header["error_type"] == "Runtime.HandlerNotFound"
    assert "'handler'" in header["message"]


def test_handler_name_without_module_is_malformed(start):
    adapter = start({}, "handler", expect_ready=False)
    header, _ = init_error(adapter)
    assert header["error_type"] == "Runtime.MalformedHandlerName"


def test_callable_instance_named_handler_is_reported_not_type_error(start):
    # Vercel's loader dies with "TypeError: issubclass() arg 1 must be a class" here.
    adapter = start({"api/index.py": """
        class Flaskish:
            def __call__(self, environ, start_response):
                pass

        handler = Flaskish()
    """}, "api/index.py", expect_ready=False)
    header, _ = init_error(adapter)
    assert header["error_type"] == "Runtime.HandlerNotFound"
    assert "Flaskish" in header["message"] and "`app`" in header["message"]


# --- Vercel BaseHTTPRequestHandler shape ------------------------------------------------------

VERCEL_HANDLER = """
    from http.server import BaseHTTPRequestHandler


    class handler(BaseHTTPRequestHandler):
        def do_GET(self):
            body = f"path={self.path} x-test={self.headers['X-Test']} "
            body += f"cookie={self.headers['Cookie']} client={self.client_address[0]}"
            self.send_response(200)
            self.send_header("Content-Type", "text/plain; charset=utf-8")
            self.send_header("Set-Cookie", "session=abc; Path=/")
            self.send_header("Set-Cookie", "theme=dark")
            self.send_header("X-Multi", "one")
            self.send_header("x-multi", "two")
            self.end_headers()
            self.wfile.write(body.encode())

        def do_POST(self):
            length = int(self.headers["Content-Length"])
            data = self.rfile.read(length)
            self.send_response(201)
            self.end_headers()
            self.wfile.write(b"echo:" + data)

        def do_PATCH(self):
            self.send_response(202)
            self.send_header("X-Partial", "yes")
            self.wfile.write(b"no end_headers")

        def do_DELETE(self):
            self.send_response(200)
            self.end_headers()
            self.wfile.write(bytes(range(256)))
"""


def test_vercel_get_maps_request_and_response(start):
    adapter = start({"api/hello.py": VERCEL_HANDLER}, "api/hello.py")
    response = adapter.result(http_event(
        path="/api/hello", query="a=1&b=two",
        headers={"host": "fn.example.com", "x-test": "yes"}, cookies=["k=v", "k2=v2"]))
    assert response["statusCode"] == 200
    assert response["body"] == ("path=/api/hello?a=1&b=two x-test=yes cookie=k=v; k2=v2 "
                                "client=203.0.113.9")
    assert response["isBase64Encoded"] is False
    assert response["cookies"] == ["session=abc; Path=/", "theme=dark"]
    assert response["headers"]["Content-Type"] == "text/plain; charset=utf-8"
    assert response["headers"]["X-Multi"] == "one, two"
    # The host is the real server: no Python version leak, no second Date.
    assert "Server" not in response["headers"] and "Date" not in response["headers"]


def test_vercel_post_reads_body_and_does_not_log_to_stderr(start):
    adapter = start({"api/hello.py": VERCEL_HANDLER}, "api/hello.py")
    response = adapter.result(http_event(method="POST", body="hi there",
                                         headers={"content-length": "8"}))
    assert response["statusCode"] == 201
    assert response["body"] == "echo:hi there"
    assert "cookies" not in response
    fd = adapter.process.stderr.fileno()
    assert not select.select([fd], [], [], 0)[0]  # no BaseHTTPRequestHandler access line


def test_vercel_post_without_content_length_gets_one(start):
    adapter = start({"api/hello.py": VERCEL_HANDLER}, "api/hello.py")
    payload = bytes([0, 1, 2, 255])
    response = adapter.result(http_event(method="POST", headers={},
                                         body=base64.b64encode(payload).decode(),
                                         is_base64=True))
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == b"echo:" + payload


def test_vercel_missing_method_is_501(start):
    adapter = start({"api/hello.py": VERCEL_HANDLER}, "api/hello.py")
    response = adapter.result(http_event(method="PUT"))
    assert response["statusCode"] == 501
    assert "Unsupported method ('PUT')" in response["body"]


def test_vercel_binary_body_is_base64(start):
    adapter = start({"api/hello.py": VERCEL_HANDLER}, "api/hello.py")
    response = adapter.result(http_event(method="DELETE"))
    assert response["isBase64Encoded"] is True
    assert base64.b64decode(response["body"]) == bytes(range(256))


def test_vercel_body_written_without_end_headers(start):
    adapter = start({"api/hello.py": VERCEL_HANDLER}, "api/hello.py")
    response = adapter.result(http_event(method="PATCH"))
    assert response["statusCode"] == 202
    assert response["headers"]["X-Partial"] == "yes"
    assert response["body"] == "no end_headers"


def test_vercel_send_error_and_custom_log_message_kept(start):
    adapter = start({"api/err.py": """
        import sys
        from http.server import BaseHTTPRequestHandler

        class handler(BaseHTTPRequestHandler):
            def log_message(self, format, *args):
                sys.stderr.write("custom:" + (format % args) + "\\n")

            def do_GET(self):
                self.send_error(404, "nothing here")
    """}, "api/err.py")
    response = adapter.result(http_event(path="/missing"))
    assert response["statusCode"] == 404
    assert "nothing here" in response["body"]
    assert response["headers"]["Content-Type"] == "text/html;charset=utf-8"
    fd = adapter.process.stderr.fileno()
    assert select.select([fd], [], [], 0)[0]
    assert b'custom:"GET /missing HTTP/1.1" 404' in os.read(fd, 65536)


def test_capitalised_handler_class(start):
    adapter = start({"api/cap.py": """
        from http.server import BaseHTTPRequestHandler

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                self.send_response(200)
                self.end_headers()
                self.wfile.write(b"capital " + self.server.server_name.encode())
    """}, "api/cap.py")
    assert adapter.result(http_event())["body"] == "capital fn.example.com"


def test_module_attr_naming_a_handler_class_is_vercel_shape(start):
    adapter = start({"index.py": VERCEL_HANDLER}, "index.handler")
    assert adapter.result(http_event(method="DELETE"))["isBase64Encoded"] is True


def test_file_path_with_explicit_attr(start):
    adapter = start({"api/multi.py": """
        def other(event, context):
            return {"picked": "other"}

        def handler(event, context):
            return {"picked": "handler"}
    """}, "api/multi.py:other")
    assert adapter.result({}) == {"picked": "other"}


def test_file_with_lambda_function_named_handler(start):
    adapter = start({"api/lam.py": COUNTER_HANDLER}, "api/lam.py")
    assert adapter.result("x") == {"calls": 1, "echo": "x"}


# --- WSGI shape -------------------------------------------------------------------------------

WSGI_APP = """
    import json

    closed = 0


    class Body:
        def __init__(self, chunks):
            self.chunks = chunks

        def __iter__(self):
            return iter(self.chunks)

        def close(self):
            global closed
            closed += 1


    def app(environ, start_response):
        seen = {key: environ.get(key) for key in (
            "REQUEST_METHOD", "PATH_INFO", "QUERY_STRING", "CONTENT_TYPE", "CONTENT_LENGTH",
            "HTTP_X_TEST", "HTTP_COOKIE", "HTTP_X_UNDER_SCORE", "SERVER_NAME", "SERVER_PORT",
            "REMOTE_ADDR", "wsgi.url_scheme")}
        seen["body"] = environ["wsgi.input"].read().decode()
        seen["closed_before"] = closed
        start_response("418 I'm a teapot", [
            ("Content-Type", "application/json"), ("Set-Cookie", "a=1"), ("Set-Cookie", "b=2"),
            ("Vary", "Accept"), ("Vary", "Cookie")])
        return Body([json.dumps(seen).encode(), b""])
"""


def test_wsgi_app_gets_environ_and_response_is_mapped(start):
    adapter = start({"api/wsgi.py": WSGI_APP}, "api/wsgi.py")
    response = adapter.result(http_event(
        method="POST", path="/api/caf%C3%A9", query="q=1",
        headers={"host": "fn.example.com:8443", "x-forwarded-proto": "https", "x-test": "t",
                 "content-type": "text/plain", "x_under_score": "spoof"},
        cookies=["c=1"], body="payload"))
    assert response["statusCode"] == 418
    assert response["cookies"] == ["a=1", "b=2"]
    assert response["headers"] == {"Content-Type": "application/json", "Vary": "Accept, Cookie"}
    seen = json.loads(response["body"])
    assert seen == {
        "REQUEST_METHOD": "POST", "PATH_INFO": "/api/caf\u00c3\u00a9", "QUERY_STRING": "q=1",
        "CONTENT_TYPE": "text/plain", "CONTENT_LENGTH": "7", "HTTP_X_TEST": "t",
        "HTTP_COOKIE": "c=1", "HTTP_X_UNDER_SCORE": None, "SERVER_NAME": "fn.example.com",
        "SERVER_PORT": "8443", "REMOTE_ADDR": "203.0.113.9", "wsgi.url_scheme": "https",
        "body": "payload", "closed_before": 0}
    # close() on the response iterable ran after the first request.
    assert json.loads(adapter.result(http_event())["body"])["closed_before"] == 1


def test_callable_instance_named_handler_falls_through_to_app(start):
    adapter = start({"api/index.py": """
        class Flaskish:
            def __call__(self, environ, start_response):
                start_response("200 OK", [])
                return [b"wsgi via app"]

        app = Flaskish()
        handler = app
    """}, "api/index.py")
    assert adapter.result(http_event())["body"] == "wsgi via app"


def test_wsgi_app_that_never_starts_response_is_an_error(start):
    adapter = start({"app.py": "def app(environ, start_response):\n    return [b'x']\n"},
                    "app.py")
    header, _ = adapter.invoke(http_event())
    assert header["type"] == "ERROR" and header["error_type"] == "Runtime.InvalidResponse"


def test_http_shape_given_a_non_http_event_is_an_error(start):
    adapter = start({"api/hello.py": VERCEL_HANDLER}, "api/hello.py")
    header, _ = adapter.invoke([1, 2])
    assert header["type"] == "ERROR" and header["error_type"] == "Runtime.InvalidEvent"


# --- the stream -------------------------------------------------------------------------------

def test_eof_exits_0(start):
    adapter = start({"main.py": COUNTER_HANDLER}, "main.handler")
    adapter.result({})
    adapter.sock.shutdown(socket.SHUT_WR)
    assert adapter.wait() == 0


@pytest.mark.parametrize("frame", [
    FRAME_PREFIX.pack(MAX_HEADER_BYTES + 1, 0) + b"{" * 16,
    FRAME_PREFIX.pack(17, MAX_BODY_BYTES + 1) + b'{"type":"INVOKE"}',
    FRAME_PREFIX.pack(2, 0) + b"[]",
    FRAME_PREFIX.pack(11, 0) + b'{"type":42}',
    FRAME_PREFIX.pack(3, 0) + b"\xff{}",
    FRAME_PREFIX.pack(17, 10) + b'{"type":"INVOKE"}' + b"short",  # then EOF inside the body
    FRAME_PREFIX.pack(17, 2) + b'{"type":"INVOKE"}' + b"{}",  # an INVOKE cannot lack its id
], ids=["header-too-long", "body-too-long", "not-object", "type-not-string", "not-utf8",
        "eof-in-body", "invoke-without-id"])
def test_broken_stream_exits_2(start, frame):
    adapter = start({"main.py": COUNTER_HANDLER}, "main.handler")
    adapter.send_raw(frame)
    adapter.sock.shutdown(socket.SHUT_WR)
    assert adapter.wait() == 2
    assert "broken stream" in adapter.process.stderr.read().decode()


def test_unknown_frame_type_is_ignored(start):
    adapter = start({"main.py": COUNTER_HANDLER}, "main.handler")
    adapter.send_frame({"type": "PING"})
    assert adapter.result({}) == {"calls": 1, "echo": {}}


def test_large_result_body(start):
    adapter = start({"main.py": "def handler(event, context):\n    return 'x' * 3000000\n"},
                    "main.handler")
    assert adapter.result({}) == "x" * 3000000


# --- other platforms' contracts (GUST_CONTRACT) ---------------------------------------------

OPENWHISK_ECHO = """
    def main(params):
        if params.get("fail"):
            return {"error": {"reason": "asked"}}
        if params.get("web"):
            return {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": "iVBORw0="}
        return {"params": params}
"""


def test_openwhisk_web_action_params_merge_query_json_body_and_ow_fields(start):
    adapter = start({"__main__.py": OPENWHISK_ECHO}, "__main__.main",
                    extra_env={"GUST_CONTRACT": "openwhisk"})
    event = http_event("POST", "/fn/hello/sub/path", query="a=1&a=2&b=x",
                       headers={"Content-Type": "application/json", "X-Thing": "y"},
                       body=json.dumps({"b": "from-body", "n": 3}))
    params = adapter.result(event)["params"]
    assert params["a"] == "2" and params["b"] == "from-body" and params["n"] == 3
    assert params["__ow_method"] == "post"
    assert params["__ow_path"] == "/sub/path"  # below the function, as OpenWhisk's __ow_path
    assert params["__ow_headers"]["x-thing"] == "y"


def test_openwhisk_non_json_body_is_ow_body_and_binary_web_body_is_base64(start):
    adapter = start({"__main__.py": OPENWHISK_ECHO}, "__main__.main",
                    extra_env={"GUST_CONTRACT": "openwhisk"})
    raw = adapter.result(http_event("PUT", "/fn/hello", headers={"Content-Type": "application/octet-stream"},
                                    body=base64.b64encode(b"\x00\x01").decode(), is_base64=True))
    assert raw["params"]["__ow_body"] == base64.b64encode(b"\x00\x01").decode()
    web = adapter.result(http_event(query="web=1"))
    assert web == {"statusCode": 200, "headers": {"Content-Type": "image/png"}, "body": "iVBORw0=",
                   "isBase64Encoded": True}
    # A trigger's event (not HTTP) is the parameters themselves.
    assert adapter.result({"x": 1}) == {"params": {"x": 1}}


def test_openwhisk_error_result_fails_the_activation(start):
    adapter = start({"__main__.py": OPENWHISK_ECHO}, "__main__.main",
                    extra_env={"GUST_CONTRACT": "openwhisk"})
    header, _ = adapter.invoke({"fail": True})
    assert header["type"] == "ERROR"
    assert header["error_type"] == "Action.ApplicationError"
    assert json.loads(header["message"]) == {"reason": "asked"}


def test_openfaas_handle_gets_flask_like_event_and_formats_like_the_template(start):
    adapter = start({"handler.py": """
        def handle(event, context):
            if event.path == "/none":
                return None
            if event.path == "/text":
                return "plain " + event.headers.get("x-CASE", "?")
            return {"statusCode": 201, "body": {"len": len(event.body), "q": event.query},
                    "headers": {"X-A": 1}}
    """}, "handler.handle", extra_env={"GUST_CONTRACT": "openfaas"})
    reply = adapter.result(http_event("POST", "/fn/f/json", query="q=1", body="abc"))
    assert reply["statusCode"] == 201
    assert json.loads(reply["body"]) == {"len": 3, "q": {"q": "1"}}
    assert reply["headers"] == {"X-A": "1", "Content-Type": "application/json"}
    text = adapter.result(http_event(path="/fn/f/text", headers={"X-Case": "ok"}))
    assert text["statusCode"] == 200 and text["body"] == "plain ok"
    empty = adapter.result(http_event(path="/fn/f/none"))
    assert empty == {"statusCode": 200, "headers": {}, "body": ""}
