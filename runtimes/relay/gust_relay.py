"""Gust's relay: runs a program that speaks another platform's contract, inside one instance.

The host starts this file (like the Python adapter, with the socket GUST_SOCKET_FD and the
environment of docs/protocol.md) for three runtimes:
  provided  the code's executable (`bootstrap` by default) is a client of the AWS Lambda Runtime
            API; this process serves that API on 127.0.0.1 inside the sandbox and hands it each
            INVOKE (aws-lambda-go, Rust lambda_runtime, awslambdaric, any custom runtime).
  java      the same, with Gust's Java runtime (runtimes/java) as the Runtime API client: it
            loads the handler class and calls handleRequest(input, context).
  http      the handler is a command that listens on $PORT (the Knative / Cloud Run contract);
            each INVOKE of an HTTP event is proxied to it as the request it describes, and its
            response comes back byte for byte (the body base64 when it is not UTF-8 text).

DESIGN: the user's program is a child of this process, with stdout/stderr on the host's pipes;
when it exits, so does the relay (the host sees the instance die and answers 502). Init ends
(READY) when the program first asks for an invocation (provided, java) or answers on $PORT
(http). Replies are flushed frames, one per INVOKE, as in the Python adapter.
Exit codes: 0 on EOF from the host, 1 after INIT_ERROR, 2 on a broken stream.
"""

import base64
import http.client
import json
import os
import queue
import shlex
import socket
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "python"))
from gust_adapter import (  # noqa: E402  (the frame code is shared with the Python adapter)
    EXIT_BROKEN_STREAM, EXIT_INIT_ERROR, EXIT_OK, MAX_BODY_BYTES, BrokenStream, error_frame,
    function_path, host_socket, read_frame, send_frame, stand_by_for_load)

API_PREFIX = "/2018-06-01/runtime"
ARN_PREFIX = "arn:aws:lambda:gust-local-1:000000000000:function:"
# Headers that describe one hop, never relayed (RFC 9110 section 7.6.1), and the length, which
# the host recomputes.
HOP_BY_HOP = {"connection", "keep-alive", "proxy-connection", "te", "trailer",
              "transfer-encoding", "upgrade", "content-length"}


class Host:
    """The frame socket: one writer at a time (replies come from several threads)."""

    def __init__(self, sock):
        self.sock = sock
        self.reader = sock.makefile("rb")
        self.lock = threading.Lock()

    def send(self, header, body=b""):
        with self.lock:
            send_frame(self.sock, header, body)


def die(code, message):
    print(f"gust relay: {message}", file=sys.stderr, flush=True)
    os._exit(code)


def search_path():
    """PATH with the function's own tools first: its .venv (requirements.txt) and node_modules."""
    code_dir = function_dir()
    extra = [os.path.join(code_dir, ".venv", "bin"), os.path.join(code_dir, "node_modules", ".bin")]
    extra = [path for path in extra if os.path.isdir(path)]
    return os.pathsep.join(extra + [os.environ.get("PATH", "/usr/bin:/bin")])


def child_environment(extra):
    env = {key: value for key, value in os.environ.items()
           if not key.startswith("GUST_") or key in ("GUST_HANDLER", "GUST_FUNCTION_NAME",
                                                      "GUST_FUNCTION_VERSION", "GUST_MEMORY_MB")}
    env["PATH"] = search_path()
    env.update(extra)
    return env


def function_dir():
    return os.environ.get("GUST_CODE_DIR") or os.getcwd()


class Child:
    """The user's process, started in the code dir. Until `serving` its exit is an init failure
    the caller reads from `exit_code`; after, it ends the relay (the host sees the instance die).
    Popen's OSError reaches the caller."""

    def __init__(self, command, env, what, on_exit=lambda: None):
        self.process = subprocess.Popen(command, cwd=function_dir(), env=env,
                                        stdin=subprocess.DEVNULL)
        self.exit_code = None
        self.serving = False
        self.what = what
        threading.Thread(target=self._wait, args=(on_exit,), daemon=True).start()

    def start_serving(self):
        """From now on its exit ends the relay. False if it has exited already. (Each side
        writes its flag before reading the other's, so one of them sees the exit.)"""
        self.serving = True
        return self.exit_code is None

    def _wait(self, on_exit):
        self.exit_code = self.process.wait()
        on_exit()
        if self.serving:
            die(EXIT_OK if self.exit_code == 0 else EXIT_BROKEN_STREAM,
                f"the {self.what} exited with status {self.exit_code}")


# --- provided and java: the Lambda Runtime API --------------------------------------------------


class RuntimeApi:
    """The state behind the Runtime API: invocations waiting for `next`, and those handed out."""

    def __init__(self, host):
        self.host = host
        self.pending = queue.Queue()
        self.lock = threading.Lock()
        self.in_flight = {}  # request id -> INVOKE header
        self.ready = threading.Event()
        self.init_error = None  # (error_type, message, trace) once /runtime/init/error is posted

    def reply(self, request_id, header, body):
        with self.lock:
            if self.in_flight.pop(request_id, None) is None:
                return False
        self.host.send(header, body)
        return True


def error_from_body(body):
    """Lambda's error document {"errorType", "errorMessage", "stackTrace"} (any of it may be
    missing or the body may not be JSON at all)."""
    try:
        document = json.loads(body or b"{}")
    except (ValueError, RecursionError):
        document = {"errorMessage": body.decode("utf-8", "replace")}
    if not isinstance(document, dict):
        document = {"errorMessage": json.dumps(document)}
    trace = document.get("stackTrace") or ""
    if isinstance(trace, list):
        trace = "\n".join(str(line) for line in trace)
    return (str(document.get("errorType") or "Runtime.Unknown"),
            str(document.get("errorMessage") or ""), str(trace))


def make_api_handler(api):
    # Imported here: http.server costs ~70 ms of start-up that runtime http does not need.
    import http.server

    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"  # runtime clients keep one connection open

        def setup(self):
            super().setup()
            # Head and body leave in separate writes: without this, Nagle's algorithm holds the
            # body until the client's delayed ACK, ~40 ms per exchange.
            self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def log_message(self, *args):
            pass  # the function's logs are its own output, not this server's

        def answer(self, status, document, headers=()):
            payload = json.dumps(document).encode()
            self.send_response(status)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(payload)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(payload)

        def body_pieces(self):
            """The request body as it arrives: chunk by chunk when chunked (streaming)."""
            if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
                total = 0
                while True:
                    size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                    if size == 0:
                        while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                            pass  # trailers (streaming errors arrive here) are not relayed
                        return
                    total += size
                    if total > MAX_BODY_BYTES:
                        raise ValueError("body too large")
                    piece = self.rfile.read(size)
                    self.rfile.readline()
                    yield piece
            length = int(self.headers.get("Content-Length") or 0)
            if length > MAX_BODY_BYTES:
                raise ValueError("body too large")
            if length:
                yield self.rfile.read(length)

        def read_body(self):
            return b"".join(self.body_pieces())

        def stream_response(self, request_id):
            """Lambda's response streaming: relayed as CHUNK frames when the caller can take
            them (an HTTP request), else collected into one ordinary reply."""
            with api.lock:
                invoke = api.in_flight.get(request_id)
            if invoke is None:
                return self.answer(400, {"errorMessage": f"unknown or finished request {request_id}",
                                         "errorType": "InvalidRequestID"})
            live = bool(invoke.get("stream"))
            content_type = self.headers.get("Content-Type") or "application/octet-stream"
            # An HTTP integration response starts with a JSON prelude {statusCode, headers,
            # cookies} and eight NUL bytes (what lambdaurl and awslambda.HttpResponseStream write).
            integration = content_type.startswith(
                "application/vnd.awslambda.http-integration-response")
            head = None if integration else {"statusCode": 200,
                                             "headers": {"Content-Type": content_type}}
            pending, collected = b"", []
            if live and head is not None:
                api.host.send({"type": "CHUNK", "id": request_id, "head": head})
            try:
                for piece in self.body_pieces():
                    if head is None:
                        pending += piece
                        end = pending.find(b"\0" * 8)
                        if end < 0:
                            if len(pending) > 64 * 1024:
                                raise ValueError("no end of the prelude in the first 64 KiB")
                            continue
                        prelude = json.loads(pending[:end] or b"{}")
                        if not isinstance(prelude, dict):
                            raise ValueError("the prelude is not a JSON object")
                        head = {"statusCode": int(prelude.get("statusCode") or 200),
                                "headers": prelude.get("headers") or {},
                                "cookies": prelude.get("cookies") or []}
                        piece, pending = pending[end + 8:], b""
                        if live:
                            api.host.send({"type": "CHUNK", "id": request_id, "head": head})
                    if not piece:
                        continue
                    if live:
                        sys.stdout.flush()
                        api.host.send({"type": "CHUNK", "id": request_id}, piece)
                    else:
                        collected.append(piece)
            except (ValueError, TypeError, OSError, RecursionError) as exc:
                # A bad prelude, an oversized or broken stream, or a bootstrap gone mid-way: the
                # invocation still gets its one reply.
                api.reply(request_id, *error_frame("ERROR", request_id, "Runtime.StreamError",
                                                   f"the streamed response is unusable: {exc}", ""))
                try:
                    return self.answer(400, {"errorMessage": str(exc), "errorType": "StreamError"})
                except OSError:
                    return None
            if head is None:  # the stream ended inside its prelude: what came is the body
                head = {"statusCode": 200, "headers": {}}
                if live:
                    api.host.send({"type": "CHUNK", "id": request_id, "head": head}, pending)
                else:
                    collected.append(pending)
            sys.stdout.flush()
            if live:
                api.reply(request_id, {"type": "RESULT", "id": request_id, "streamed": True}, b"null")
            else:
                body = b"".join(collected)
                head = head or {"statusCode": 200, "headers": {}}
                try:
                    text, encoded = body.decode("utf-8"), False
                except UnicodeDecodeError:
                    text, encoded = base64.b64encode(body).decode(), True
                api.reply(request_id, {"type": "RESULT", "id": request_id},
                          json.dumps({**head, "body": text, "isBase64Encoded": encoded}).encode())
            self.answer(202, {"status": "OK"})

        def do_GET(self):
            if self.path != API_PREFIX + "/invocation/next":
                return self.answer(404, {"errorMessage": f"no such path {self.path}",
                                         "errorType": "InvalidRequest"})
            api.ready.set()
            header, body = api.pending.get()
            with api.lock:
                api.in_flight[header["id"]] = header
            headers = [("Lambda-Runtime-Aws-Request-Id", header["id"]),
                       ("Lambda-Runtime-Deadline-Ms", str(header.get("deadline_ms", 0))),
                       ("Lambda-Runtime-Invoked-Function-Arn",
                        ARN_PREFIX + os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function"))]
            if header.get("trace_id"):
                headers.append(("Lambda-Runtime-Trace-Id", header["trace_id"]))
            if header.get("client_context"):
                headers.append(("Lambda-Runtime-Client-Context", header["client_context"]))
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            for name, value in headers:
                self.send_header(name, value)
            self.end_headers()
            self.wfile.write(body)

        def do_POST(self):
            path = self.path
            prefix = API_PREFIX + "/invocation/"
            # Streaming is announced by the header (Node's and Rust's clients) or by the HTTP
            # integration content type alone (aws-lambda-go's lambdaurl sends no header).
            streaming = (self.headers.get("Lambda-Runtime-Function-Response-Mode", "").lower() ==
                         "streaming" or self.headers.get("Content-Type", "").startswith(
                             "application/vnd.awslambda.http-integration-response"))
            if path.startswith(prefix) and path.endswith("/response") and streaming:
                return self.stream_response(path[len(prefix):].partition("/")[0])
            try:
                body = self.read_body()
            except ValueError as exc:
                return self.answer(413, {"errorMessage": str(exc), "errorType": "RequestTooLarge"})
            if path == API_PREFIX + "/init/error":
                api.init_error = error_from_body(body)
                api.ready.set()
                return self.answer(202, {"status": "OK"})
            if not path.startswith(prefix) or path.count("/") != 5:
                return self.answer(404, {"errorMessage": f"no such path {path}",
                                         "errorType": "InvalidRequest"})
            request_id, _, verb = path[len(prefix):].partition("/")
            sys.stdout.flush()
            if verb == "response":
                try:
                    json.loads(body or b"null")
                    result = body or b"null"
                except RecursionError:
                    result = body  # JSON too deep to walk here: the host refuses it, precisely
                except ValueError:
                    # Not JSON: Lambda passes the bytes on as they are; here they become a JSON
                    # string, which an HTTP caller receives as its text.
                    result = json.dumps(body.decode("utf-8", "replace")).encode()
                sent = api.reply(request_id, {"type": "RESULT", "id": request_id}, result)
            elif verb == "error":
                error_type = self.headers.get("Lambda-Runtime-Function-Error-Type")
                kind, message, trace = error_from_body(body)
                sent = api.reply(request_id, *error_frame("ERROR", request_id, error_type or kind,
                                                          message, trace))
            else:
                return self.answer(404, {"errorMessage": f"no such path {path}",
                                         "errorType": "InvalidRequest"})
            if not sent:
                return self.answer(400, {"errorMessage": f"unknown or finished request {request_id}",
                                         "errorType": "InvalidRequestID"})
            self.answer(202, {"status": "OK"})

    return Handler


def java_binary():
    """The JDK's java by a path that works in the sandbox: /usr/bin/java goes through
    /etc/alternatives, which the sandbox does not show; Debian's default-java link stays in /usr."""
    for home in (os.environ.get("JAVA_HOME", ""), "/usr/lib/jvm/default-java"):
        candidate = os.path.join(home, "bin", "java") if home else ""
        if candidate and os.access(candidate, os.X_OK):
            return candidate
    return "java"


def java_command():
    here = os.path.dirname(os.path.abspath(__file__))
    lib = os.path.normpath(os.path.join(here, "..", "java", "lib"))
    code_dir = function_dir()
    # The runtime's classes come from a CDS archive when runtimes/java/build.sh installed one
    # (under /usr, which the sandbox shows at the host's paths, as the archive requires). Its
    # class path must lead the JVM's, exactly as recorded; without it, the jars of lib/.
    archive, runtime_path = None, [os.path.join(lib, "*")]
    cds = os.environ.get("GUST_JAVA_CDS_DIR", "/usr/local/lib/gust/java")
    try:
        with open(os.path.join(cds, "runtime.classpath")) as listing:
            recorded = listing.read().split()
        if recorded and all(os.path.isfile(jar) for jar in recorded) and os.path.isfile(
                os.path.join(cds, "runtime.jsa")):
            archive, runtime_path = os.path.join(cds, "runtime.jsa"), recorded
    except OSError:
        pass
    # Lambda's layout (classes at the root, lib/*.jar), jars at the root, and a Maven build.
    class_path = [*runtime_path, code_dir, os.path.join(code_dir, "*"), os.path.join(code_dir, "lib", "*"),
                  os.path.join(code_dir, "target", "classes"), os.path.join(code_dir, "target", "lib", "*")]
    for name in sorted(os.listdir(os.path.join(code_dir, "target"))) if os.path.isdir(
            os.path.join(code_dir, "target")) else []:
        if name.endswith(".jar") and not name.startswith("original-"):
            class_path.append(os.path.join(code_dir, "target", name))
    memory = int(os.environ.get("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "256"))
    command = [java_binary(), f"-Xmx{max(32, memory * 3 // 4)}m"]
    # Start-up over peak throughput, as a function lives short: C1 only, the serial collector,
    # the JDK's class-data-sharing archive, no perf-data file. GUST_JAVA_TUNING=off (in the
    # function's env) runs the JVM's defaults, for comparison (bench/runtimes.py).
    if os.environ.get("GUST_JAVA_TUNING") != "off":
        command += ["-XX:+UseSerialGC", "-XX:TieredStopAtLevel=1", "-Xshare:auto",
                    "-XX:-UsePerfData"]
        if archive:
            command.append(f"-XX:SharedArchiveFile={archive}")
    return command + ["-cp", os.pathsep.join(class_path), "dev.gust.runtime.Main"]


def run_runtime_api(host):
    api = RuntimeApi(host)
    handler_class = make_api_handler(api)
    import http.server
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler_class)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, daemon=True).start()
    address = f"127.0.0.1:{server.server_address[1]}"
    handler = os.environ.get("GUST_HANDLER", "bootstrap")
    code_dir = function_dir()
    if os.environ.get("GUST_RUNTIME") == "java":
        command = java_command()
    else:
        executable = os.path.join(code_dir, handler)
        if not os.path.isfile(executable):
            return init_failed(host, "Runtime.InvalidEntrypoint",
                               f"no executable '{handler}' in the bundle: a provided function "
                               "needs a `bootstrap` file (or name it with handler = ...)")
        if not os.access(executable, os.X_OK):
            return init_failed(host, "Runtime.InvalidEntrypoint",
                               f"'{handler}' is not executable: chmod +x it before deploying")
        command = [executable]
    env = child_environment({"AWS_LAMBDA_RUNTIME_API": address, "_HANDLER": handler,
                             "AWS_REGION": os.environ.get("AWS_REGION", "gust-local-1"),
                             "AWS_DEFAULT_REGION": os.environ.get("AWS_REGION", "gust-local-1"),
                             "AWS_EXECUTION_ENV": "gust_" + os.environ.get("GUST_RUNTIME", "provided"),
                             "AWS_LAMBDA_LOG_GROUP_NAME": "/gust/" + os.environ.get(
                                 "AWS_LAMBDA_FUNCTION_NAME", "function"),
                             "AWS_LAMBDA_LOG_STREAM_NAME": os.urandom(16).hex()})
    try:
        child = Child(command, env, "runtime process", on_exit=api.ready.set)
    except OSError as exc:
        return init_failed(host, "Runtime.InvalidEntrypoint", f"cannot start {command[0]}: {exc}")
    api.ready.wait()
    if api.init_error:
        child.process.kill()
        return init_failed(host, *api.init_error)
    if not child.start_serving():
        return init_failed(host, "Runtime.ExitError",
                           f"{os.path.basename(command[0])} exited with status {child.exit_code} "
                           "before asking for an invocation")
    sys.stdout.flush()
    host.send({"type": "READY"})
    while True:
        frame = read_frame(host.reader)
        if frame is None:
            child.process.kill()
            return EXIT_OK
        header, body = frame
        if header["type"] != "INVOKE":
            continue
        if not isinstance(header.get("id"), str):
            raise BrokenStream("INVOKE without a string `id` cannot be answered")
        api.pending.put((header, body))


def init_failed(host, error_type, message, trace=""):
    sys.stdout.flush()
    sys.stderr.flush()
    try:
        host.send(*error_frame("INIT_ERROR", None, error_type, message, trace))
    except OSError:
        pass
    return EXIT_INIT_ERROR


# --- http: a server on $PORT ---------------------------------------------------------------------


def http_request_of(event):
    """(method, target, headers, body) for one event: the request an HTTP event describes, or a
    POST / carrying any other event as JSON (cron, Kafka, queued invocations)."""
    context = event.get("requestContext") if isinstance(event, dict) else None
    if not isinstance(context, dict) or not isinstance(context.get("http"), dict):
        payload = json.dumps(event).encode()
        return "POST", "/", [("Content-Type", "application/json"),
                             ("X-Gust-Event", "1")], payload
    method = context["http"].get("method", "GET")
    # The app is mounted at its own root; the prefix it was reached under is forwarded, as
    # reverse proxies do, for apps that build absolute links.
    target, prefix = function_path(event)
    if event.get("rawQueryString"):
        target += "?" + event["rawQueryString"]
    headers = []
    for name, value in (event.get("headers") or {}).items():
        if name.lower() not in HOP_BY_HOP:
            headers.append((name, value))
    if event.get("cookies"):
        headers.append(("Cookie", "; ".join(event["cookies"])))
    if prefix:
        headers.append(("X-Forwarded-Prefix", prefix))
    source_ip = context["http"].get("sourceIp")
    if source_ip:
        headers.append(("X-Forwarded-For", source_ip))
    body = event.get("body") or ""
    body = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    return method, target, headers, body


class Upstream:
    """Keep-alive connections to the function's server, one per concurrent invocation."""

    def __init__(self, port):
        self.port = port
        self.idle = queue.LifoQueue()

    def exchange(self, method, target, headers, body, timeout):
        for attempt in (0, 1):
            try:
                connection = self.idle.get_nowait()
            except queue.Empty:
                connection = http.client.HTTPConnection("127.0.0.1", self.port)
                attempt = 1  # a fresh connection failing is an answer, not a stale socket
            connection.timeout = timeout
            if connection.sock is None:
                connection.connect()
                connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            connection.sock.settimeout(timeout)
            try:
                connection.putrequest(method, target, skip_host=True, skip_accept_encoding=True)
                if not any(name.lower() == "host" for name, _ in headers):
                    connection.putheader("Host", f"127.0.0.1:{self.port}")
                for name, value in headers:
                    connection.putheader(name, value)
                if body or method not in ("GET", "HEAD", "DELETE", "OPTIONS"):
                    connection.putheader("Content-Length", str(len(body)))
                connection.endheaders(body)
                response = connection.getresponse()
                payload = response.read() if method != "HEAD" else b""
            except (ConnectionError, http.client.RemoteDisconnected, BrokenPipeError):
                connection.close()
                if attempt == 1:
                    raise
                continue
            if response.will_close:
                connection.close()
            else:
                self.idle.put(connection)
            return response, payload
        raise ConnectionError("unreachable")


def http_reply(response, payload):
    headers, cookies = {}, []
    for name, value in response.getheaders():
        lower = name.lower()
        if lower in HOP_BY_HOP:
            continue
        if lower == "set-cookie":
            cookies.append(value)
        elif name in headers:
            headers[name] += ", " + value
        else:
            headers[name] = value
    try:
        text, encoded = payload.decode("utf-8"), False
    except UnicodeDecodeError:
        text, encoded = base64.b64encode(payload).decode(), True
    reply = {"statusCode": response.status, "headers": headers, "body": text,
             "isBase64Encoded": encoded}
    if cookies:
        reply["cookies"] = cookies
    return reply


def wait_until_serving(port, ready_path, child):
    while child.exit_code is None:
        try:
            if not ready_path:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return True
            connection = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            connection.request("GET", ready_path)
            status = connection.getresponse().status
            connection.close()
            if status < 500:
                return True
        except OSError:
            pass
        time.sleep(0.005)
    return False


def free_port():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def run_http(host):
    command_text = os.environ.get("GUST_HANDLER", "")
    try:
        command = shlex.split(command_text)
    except ValueError as exc:
        return init_failed(host, "Runtime.InvalidEntrypoint", f"handler is not a command line: {exc}")
    if not command:
        return init_failed(host, "Runtime.InvalidEntrypoint",
                           "handler must be the command that listens on $PORT")
    port = int(os.environ.get("PORT") or free_port())
    name = os.environ.get("AWS_LAMBDA_FUNCTION_NAME", "function")
    version = os.environ.get("AWS_LAMBDA_FUNCTION_VERSION", "1")
    env = child_environment({"PORT": str(port), "K_SERVICE": name,
                             "K_REVISION": f"{name}-{version}", "K_CONFIGURATION": name})
    try:
        child = Child(command, env, "server process")
    except OSError as exc:
        return init_failed(host, "Runtime.InvalidEntrypoint", f"cannot start {command[0]}: {exc}")
    if not (wait_until_serving(port, os.environ.get("GUST_READY_PATH", ""), child)
            and child.start_serving()):
        return init_failed(host, "Runtime.ExitError",
                           f"`{command_text}` exited with status {child.exit_code} before "
                           f"listening on $PORT ({port})")
    upstream = Upstream(port)
    sys.stdout.flush()
    host.send({"type": "READY"})

    def serve_one(header, body):
        request_id = header["id"]
        try:
            event = json.loads(body)
            method, target, headers, payload = http_request_of(event)
            timeout = max(0.001, header.get("deadline_ms", 0) / 1000 - time.time()) \
                if header.get("deadline_ms") else None
            response, answer = upstream.exchange(method, target, headers, payload, timeout)
            reply = http_reply(response, answer)
            if not isinstance(event, dict) or "requestContext" not in event:
                # Events other than HTTP requests: a 2xx is success (its JSON body the result),
                # anything else a failure that retries and dead-letters like an exception.
                if response.status >= 300:
                    frame = error_frame("ERROR", request_id, f"Http.{response.status}",
                                        answer.decode("utf-8", "replace")[:4096], "")
                    sys.stdout.flush()
                    return host.send(*frame)
                try:
                    reply = json.loads(answer or b"null")
                except (ValueError, RecursionError):
                    reply = answer.decode("utf-8", "replace")
            result = json.dumps(reply, ensure_ascii=False).encode()
        except (OSError, http.client.HTTPException) as exc:
            frame = error_frame("ERROR", request_id, "Runtime.UpstreamError",
                                f"the server on $PORT did not answer: {exc!r}", "")
            sys.stdout.flush()
            return host.send(*frame)
        except ValueError as exc:
            frame = error_frame("ERROR", request_id, "Runtime.UnmarshalError",
                                f"the event is not JSON: {exc}", "")
            return host.send(*frame)
        except Exception as exc:  # a reply for every INVOKE, whatever went wrong here
            frame = error_frame("ERROR", request_id, "Runtime.RelayError", repr(exc), "")
            return host.send(*frame)
        sys.stdout.flush()
        host.send({"type": "RESULT", "id": request_id}, result)

    while True:
        frame = read_frame(host.reader)
        if frame is None:
            child.process.terminate()
            return EXIT_OK
        header, body = frame
        if header["type"] != "INVOKE":
            continue
        if not isinstance(header.get("id"), str):
            raise BrokenStream("INVOKE without a string `id` cannot be answered")
        # With concurrency > 1 the host sends several INVOKEs at once: each gets its own thread.
        threading.Thread(target=serve_one, args=(header, body), daemon=True).start()


def main():
    try:
        host = Host(host_socket())
    except (KeyError, ValueError, OSError) as exc:
        die(EXIT_BROKEN_STREAM, f"no usable GUST_SOCKET_FD: {exc!r}")
    if os.environ.pop("GUST_PRESTARTED", None) == "1":
        # Started before anyone knew which function it would run (docs/protocol.md, STANDBY and
        # LOAD): what costs time is loaded now, the function's environment comes with LOAD.
        import http.server  # noqa: F401  (the Runtime API's server, ~70 ms)
        try:
            if not stand_by_for_load(host.sock, host.reader):
                return EXIT_OK
        except BrokenStream as exc:
            die(EXIT_BROKEN_STREAM, f"broken stream from the host: {exc}")
        except (BrokenPipeError, ConnectionResetError):
            return EXIT_OK
    runtime = os.environ.get("GUST_RUNTIME", "provided")
    try:
        return run_http(host) if runtime == "http" else run_runtime_api(host)
    except BrokenStream as exc:
        die(EXIT_BROKEN_STREAM, f"broken stream from the host: {exc}")
    except (BrokenPipeError, ConnectionResetError):
        return EXIT_OK


if __name__ == "__main__":
    code = main()
    sys.stdout.flush()
    os._exit(code)
