"""Gust's Python runtime adapter: runs one function version's code inside one instance.

The host starts this file with an already-connected Unix stream socket inherited as
GUST_SOCKET_FD and speaks the framed protocol of docs/protocol.md over it. The user's
stdout and stderr stay on fds 1 and 2, which are pipes read by the host.

DESIGN: the adapter moves Loading -> Ready -> (Invoking -> Ready)* -> Exited.
  (1) Loading imports the user's code once and decides its *shape* once (Lambda function,
      Vercel BaseHTTPRequestHandler class, or WSGI app); the shape becomes one `invoke(event,
      context)` callable, so the per-request path never re-inspects the handler.
  (2) Exactly one reply (RESULT or ERROR) per INVOKE, and stdout/stderr are flushed before it,
      so every line the handler printed reaches its pipe before the host sees the reply.
  (3) The socket carries frames only. A user error never ends the instance; a broken stream
      (frame past a limit, header that is not a JSON object with a string `type`, EOF inside a
      frame) exits 2 at once, because nothing after it can be trusted.
Exit codes: 0 on EOF at a frame boundary (the host is done with us), 1 after INIT_ERROR, 2 on a
broken stream or an unusable environment.
"""

# Only what every instance needs is imported here; the rest where it is used, so an idle
# instance does not hold modules its function never needs (each costs resident memory). The
# import machinery is needed by every LOAD: imported here, before a pre-started instance stands
# by, it is off the cold start's path (~2 ms when it was imported at LOAD).
import importlib
import importlib.util
import json
import os
import socket
import struct
import sys
import time

EXIT_OK = 0
EXIT_INIT_ERROR = 1
EXIT_BROKEN_STREAM = 2

FRAME_PREFIX = struct.Struct(">II")
MAX_HEADER_BYTES = 64 * 1024
MAX_BODY_BYTES = 64 * 1024 * 1024
# Below this, prefix + header + body go out in one sendall(): one syscall, and the copy is cheap.
SINGLE_WRITE_BYTES = 64 * 1024
# Error messages travel in the frame header, which the host rejects past 64 KiB; the full text
# is always in the traceback body anyway.
MAX_ERROR_TYPE_CHARS = 256
MAX_ERROR_MESSAGE_CHARS = 4096
MAX_TRACEBACK_BYTES = 1024 * 1024

ADAPTER_FILE = __file__
COMPACT_JSON = (",", ":")


class BrokenStream(Exception):
    """The host's byte stream is unusable; the only safe reaction is to exit."""


class AdapterError(Exception):
    """A failure the adapter detects itself, reported under a Lambda-style `Runtime.*` type."""

    def __init__(self, error_type, message):
        super().__init__(message)
        self.error_type = error_type
        self.message = message


# --- frames -----------------------------------------------------------------------------------


def read_exactly(reader, size, what):
    data = reader.read(size)
    if len(data) != size:
        raise BrokenStream(f"EOF inside a frame while reading the {what}")
    return data


def read_frame(reader):
    """Returns (header, body), or None at EOF on a frame boundary."""
    prefix = reader.read(FRAME_PREFIX.size)
    if not prefix:
        return None
    if len(prefix) != FRAME_PREFIX.size:
        raise BrokenStream("EOF inside a frame prefix")
    header_len, body_len = FRAME_PREFIX.unpack(prefix)
    if header_len > MAX_HEADER_BYTES:
        raise BrokenStream(f"header_len {header_len} exceeds {MAX_HEADER_BYTES}")
    if body_len > MAX_BODY_BYTES:
        raise BrokenStream(f"body_len {body_len} exceeds {MAX_BODY_BYTES}")
    # The header is validated before the body is read so a bad frame costs no 64 MiB read.
    header_bytes = read_exactly(reader, header_len, "header")
    try:
        header = json.loads(header_bytes.decode("utf-8"))
    except ValueError as exc:  # UnicodeDecodeError is a ValueError too
        raise BrokenStream(f"frame header is not UTF-8 JSON: {exc}") from None
    if not isinstance(header, dict) or not isinstance(header.get("type"), str):
        raise BrokenStream("frame header is not a JSON object with a string `type`")
    body = read_exactly(reader, body_len, "body") if body_len else b""
    return header, body


def send_frame(sock, header, body=b""):
    header_bytes = json.dumps(header, separators=COMPACT_JSON).encode("ascii")
    prefix = FRAME_PREFIX.pack(len(header_bytes), len(body))
    if len(body) <= SINGLE_WRITE_BYTES:
        sock.sendall(prefix + header_bytes + body)
    else:
        sock.sendall(prefix + header_bytes)
        sock.sendall(body)


def error_frame(frame_type, activation_id, error_type, message, trace_text):
    header = {"type": frame_type, "error_type": error_type[:MAX_ERROR_TYPE_CHARS],
              "message": message[:MAX_ERROR_MESSAGE_CHARS]}
    if activation_id is not None:
        header["id"] = activation_id
    # ensure_ascii escaping can grow a character to 12 bytes; halve until the header fits.
    while len(json.dumps(header, separators=COMPACT_JSON)) > MAX_HEADER_BYTES and header["message"]:
        header["message"] = header["message"][: len(header["message"]) // 2]
    body = trace_text.encode("utf-8", "backslashreplace")[:MAX_TRACEBACK_BYTES]
    return header, body


def flush_user_output():
    # User code may have replaced or closed the streams; a failed flush must not cost the reply.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except Exception:
            pass


# --- errors -----------------------------------------------------------------------------------


def describe_exception(exc):
    """(error_type, message, traceback text) for an exception raised by or through user code."""
    if isinstance(exc, AdapterError):
        return exc.error_type, exc.message, ""
    try:
        message = str(exc)
    except Exception:
        message = f"<unprintable {type(exc).__name__}>"
    # The adapter's own frames (and importlib's) lead every traceback; the user only cares
    # about the frames from their code onwards.
    tb = exc.__traceback__
    while tb is not None and (tb.tb_frame.f_code.co_filename == ADAPTER_FILE
                              or tb.tb_frame.f_code.co_filename.startswith("<frozen importlib")):
        tb = tb.tb_next
    import traceback
    trace_text = "".join(traceback.format_exception(type(exc), exc, tb))
    return type(exc).__name__, message, trace_text


def code_location(exc, code_dir):
    """(path relative to the code dir, line) of where in the function's own files `exc` arose,
    or None: a SyntaxError's own position, else the innermost traceback frame in the code dir
    (outside its .venv, whose packages are not the function's to fix)."""
    root = os.path.realpath(code_dir) + os.sep

    def relative(filename):
        if not filename or not os.path.isabs(filename):  # "<frozen os>", "<string>"
            return None
        real = os.path.realpath(filename)
        if not real.startswith(root) or real[len(root):].startswith(".venv" + os.sep):
            return None
        return real[len(root):]

    if isinstance(exc, SyntaxError) and exc.lineno and relative(exc.filename):
        return relative(exc.filename), exc.lineno
    found = None
    tb = exc.__traceback__
    while tb is not None:
        path = relative(tb.tb_frame.f_code.co_filename)
        if path:
            found = (path, tb.tb_lineno)
        tb = tb.tb_next
    return found


def describe_init_exception(exc, code_dir):
    """describe_exception() for a failure to load, its message ending with where in the
    function's code it happened, "(api/users.py, line 3)": a deploy's load check shows it."""
    error_type, message, trace_text = describe_exception(exc)
    where = code_location(exc, code_dir)
    if where is None:
        return error_type, message, trace_text
    if isinstance(exc, SyntaxError) and exc.msg:
        message = exc.msg  # its str() names the file by its base name alone
    return error_type, f"{message} ({where[0]}, line {where[1]})", trace_text


# --- the context object -----------------------------------------------------------------------


class LambdaContext:
    """What Lambda passes as `context`, under Lambda's attribute names so ported code runs."""

    __slots__ = ("function_name", "function_version", "aws_request_id", "memory_limit_in_mb",
                 "invoked_function_arn", "log_group_name", "log_stream_name", "identity",
                 "client_context", "trace_id", "_deadline_ms")

    def __init__(self, invoke_header, log_stream_name):
        name = invoke_header.get("function_name") or os.environ.get("GUST_FUNCTION_NAME", "")
        self.function_name = name
        self.function_version = str(invoke_header.get("function_version")
                                    or os.environ.get("GUST_FUNCTION_VERSION", "$LATEST"))
        self.aws_request_id = invoke_header["id"]
        try:
            self.memory_limit_in_mb = int(invoke_header.get("memory_mb")
                                          or os.environ.get("GUST_MEMORY_MB", 0))
        except (TypeError, ValueError):
            self.memory_limit_in_mb = 0
        self.invoked_function_arn = f"arn:gust:lambda:local:000000000000:function:{name}"
        self.log_group_name = f"/aws/lambda/{name}"
        self.log_stream_name = log_stream_name
        self.identity = None
        self.client_context = None
        # The W3C trace id of this activation (run_activation also shows it as _X_AMZN_TRACE_ID).
        trace_id = invoke_header.get("trace_id")
        self.trace_id = trace_id if isinstance(trace_id, str) else ""
        deadline_ms = invoke_header.get("deadline_ms")
        self._deadline_ms = deadline_ms if isinstance(deadline_ms, (int, float)) else 0

    def get_remaining_time_in_millis(self):
        return max(0, int(self._deadline_ms - time.time() * 1000))

    def __repr__(self):
        return (f"LambdaContext(function_name={self.function_name!r}, "
                f"aws_request_id={self.aws_request_id!r})")


# --- HTTP shapes: the API Gateway v2 event in, the v2 response dict out ------------------------


class HttpRequest:
    """The parts of an API Gateway HTTP API payload v2.0 event both HTTP shapes need."""

    __slots__ = ("method", "raw_path", "raw_query", "headers", "cookie_header", "body",
                 "source_ip", "protocol", "content_length", "host", "scheme")

    def __init__(self, event):
        if not isinstance(event, dict):
            raise AdapterError("Runtime.InvalidEvent",
                               "an HTTP handler needs an API Gateway v2 event (a JSON object), "
                               f"got {type(event).__name__}")
        http = (event.get("requestContext") or {}).get("http") or {}
        self.method = http.get("method") or "GET"
        self.raw_path = event.get("rawPath") or http.get("path") or "/"
        self.raw_query = event.get("rawQueryString") or ""
        self.source_ip = http.get("sourceIp") or ""
        self.protocol = http.get("protocol") or "HTTP/1.1"
        # (name as sent, lowercase name, value); v2 moves cookies out of headers, so a cookie
        # header is rebuilt from `cookies` when that list is present.
        cookies = event.get("cookies")
        self.cookie_header = "; ".join(cookies) if cookies else None
        self.headers = []
        self.content_length = None
        self.host = None
        self.scheme = "http"
        for name, value in (event.get("headers") or {}).items():
            lower_name = name.lower()
            if lower_name == "cookie":
                if self.cookie_header is None:
                    self.cookie_header = value
                continue
            if lower_name == "content-length":
                self.content_length = value
            elif lower_name == "host":
                self.host = value
            elif lower_name == "x-forwarded-proto":
                self.scheme = value.split(",", 1)[0].strip() or "http"
            self.headers.append((name, lower_name, value))
        body = event.get("body")
        if not body:
            self.body = b""
        elif event.get("isBase64Encoded"):
            import base64
            self.body = base64.b64decode(body)
        else:
            self.body = body.encode("utf-8")
        # Handlers size their body reads by Content-Length; a request that arrived chunked has
        # none, so one is supplied from the body the host already collected.
        if self.content_length is None and self.body:
            self.content_length = str(len(self.body))
            self.headers.append(("content-length", "content-length", self.content_length))

    def server_name_and_port(self):
        default_port = 443 if self.scheme == "https" else 80
        if not self.host:
            return "localhost", default_port
        name, separator, port = self.host.rpartition(":")
        if separator and port.isdigit():  # "[::1]" has no digits after its last colon
            return name, int(port)
        return self.host, default_port


def http_response(status_code, header_pairs, body):
    """The v2 response dict the host turns into an HTTP response (Lambda's v2 rules)."""
    headers = {}
    first_spelling = {}  # lowercase name -> the spelling first used, to merge case-insensitively
    cookies = []
    for name, value in header_pairs:
        lower_name = name.lower()
        if lower_name == "set-cookie":
            cookies.append(value)  # joining Set-Cookie with ", " would corrupt Expires dates
            continue
        key = first_spelling.get(lower_name)
        if key is None:
            first_spelling[lower_name] = name
            headers[name] = value
        else:
            headers[key] = f"{headers[key]}, {value}"
    try:
        text = body.decode("utf-8")
        is_base64 = False
    except UnicodeDecodeError:
        import base64
        text = base64.b64encode(body).decode("ascii")
        is_base64 = True
    response = {"statusCode": status_code, "headers": headers, "body": text,
                "isBase64Encoded": is_base64}
    if cookies:
        response["cookies"] = cookies
    return response


def parse_response_head(head):
    """(status code, [(name, value)]) from what a handler wrote before the blank line."""
    lines = head.decode("latin-1").split("\r\n")  # BaseHTTPRequestHandler encodes latin-1
    status_code = 200
    if lines[0].startswith("HTTP/"):
        parts = lines.pop(0).split(None, 2)
        try:
            status_code = int(parts[1])
        except (IndexError, ValueError):
            raise AdapterError("Runtime.InvalidResponse",
                               f"handler wrote a malformed status line: {parts!r}") from None
    header_pairs = []
    for line in lines:
        name, separator, value = line.partition(":")
        if separator:
            header_pairs.append((name.strip(), value.strip()))
    return status_code, header_pairs


class StubServer:
    """Stands in for the HTTPServer a BaseHTTPRequestHandler normally gets."""

    __slots__ = ("server_name", "server_port", "server_address")

    def __init__(self, name, port):
        self.server_name = name
        self.server_port = port
        self.server_address = (name, port)


def discard_log_message(*args):
    # The host logs every request itself; BaseHTTPRequestHandler's access line on stderr would
    # land in the function's own log as noise.
    pass


def send_response_without_server_headers(self, code, message=None):
    # BaseHTTPRequestHandler adds Server (which names the Python version) and Date for the
    # socket it thinks it owns; the host is the real server and sets those.
    self.log_request(code)
    self.send_response_only(code, message)


def make_vercel_invoker(handler_class, base_class, message_class):
    """Runs a BaseHTTPRequestHandler subclass on one request without a socket or a server."""
    quiet_log = handler_class.log_message is base_class.log_message
    quiet_server_headers = handler_class.send_response is base_class.send_response

    def invoke(event, context):
        request = HttpRequest(event)
        headers = message_class()
        for name, _, value in request.headers:
            headers[name] = value
        if request.cookie_header is not None:
            headers["Cookie"] = request.cookie_header
        path = request.raw_path
        if request.raw_query:
            path = f"{path}?{request.raw_query}"
        requestline = f"{request.method} {path} HTTP/1.1"

        # __new__ skips __init__, which would read a request from a socket and answer it.
        instance = handler_class.__new__(handler_class)
        instance.request = instance.connection = None
        instance.client_address = (request.source_ip, 0)
        instance.server = StubServer(*request.server_name_and_port())
        import io
        import types
        instance.rfile = io.BytesIO(request.body)
        instance.wfile = io.BytesIO()
        instance.raw_requestline = requestline.encode("latin-1", "replace") + b"\r\n"
        instance.requestline = requestline
        instance.command = request.method
        instance.path = path
        instance.request_version = "HTTP/1.1"
        instance.headers = headers
        instance.close_connection = True
        if quiet_log:
            instance.log_message = discard_log_message
        if quiet_server_headers:
            instance.send_response = types.MethodType(send_response_without_server_headers,
                                                      instance)

        do_method = getattr(instance, "do_" + request.method, None)
        if do_method is None:
            # The same answer BaseHTTPRequestHandler.handle_one_request gives.
            instance.send_error(501, f"Unsupported method ({request.method!r})")
        else:
            do_method()
        return response_from_handler_output(instance)

    return invoke


def response_from_handler_output(instance):
    written = instance.wfile.getvalue()
    if written.startswith(b"HTTP/"):
        head, _, body = written.partition(b"\r\n\r\n")
        status_code, header_pairs = parse_response_head(head)
        # Interim 1xx responses (send_response_only(100)) precede the real one.
        while 100 <= status_code < 200 and body.startswith(b"HTTP/"):
            head, _, body = body.partition(b"\r\n\r\n")
            status_code, header_pairs = parse_response_head(head)
        return http_response(status_code, header_pairs, body)
    # Best effort for handlers that never called end_headers(): their status and headers are
    # still in the buffer, and everything in wfile is body.
    pending = getattr(instance, "_headers_buffer", None)
    if pending:
        status_code, header_pairs = parse_response_head(b"".join(pending))
        return http_response(status_code, header_pairs, written)
    return http_response(200, [], written)


def make_wsgi_invoker(app):
    """Runs a PEP 3333 application on one request, buffering the whole response."""
    import io
    import urllib.parse
    unquote_to_bytes = urllib.parse.unquote_to_bytes

    def invoke(event, context):
        request = HttpRequest(event)
        server_name, server_port = request.server_name_and_port()
        environ = {
            "REQUEST_METHOD": request.method,
            "SCRIPT_NAME": "",
            # PEP 3333: PATH_INFO is decoded bytes carried in a latin-1 str.
            "PATH_INFO": unquote_to_bytes(request.raw_path).decode("latin-1"),
            "QUERY_STRING": request.raw_query,
            "SERVER_NAME": server_name,
            "SERVER_PORT": str(server_port),
            "SERVER_PROTOCOL": request.protocol,
            "REMOTE_ADDR": request.source_ip,
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": request.scheme,
            "wsgi.input": io.BytesIO(request.body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": False,
            "wsgi.multiprocess": True,
            "wsgi.run_once": False,
            # The body is complete, so apps may read to EOF without a Content-Length.
            "wsgi.input_terminated": True,
        }
        for name, lower_name, value in request.headers:
            if lower_name == "content-type":
                environ["CONTENT_TYPE"] = value
            elif lower_name == "content-length":
                environ["CONTENT_LENGTH"] = value
            elif "_" not in name:
                # Dropped when they contain "_": "X_User" and "X-User" would both become
                # HTTP_X_USER, letting a client spoof a header a proxy set.
                environ["HTTP_" + name.upper().replace("-", "_")] = value
        if request.cookie_header is not None:
            environ["HTTP_COOKIE"] = request.cookie_header

        started = []  # [status, headers] once start_response has been called
        chunks = []

        def start_response(status, response_headers, exc_info=None):
            if exc_info is not None:
                try:
                    if chunks:  # PEP 3333: too late to change the status; re-raise instead
                        raise exc_info[1].with_traceback(exc_info[2])
                finally:
                    exc_info = None
            elif started:
                raise AssertionError("start_response called a second time without exc_info")
            started[:] = (status, response_headers)
            return chunks.append

        result = app(environ, start_response)
        try:
            for chunk in result:
                if chunk:
                    chunks.append(chunk)
        finally:
            close = getattr(result, "close", None)
            if close is not None:
                close()
        if not started:
            raise AdapterError("Runtime.InvalidResponse",
                               "the WSGI app returned without calling start_response")
        status, response_headers = started
        try:
            status_code = int(status.split(None, 1)[0])
        except (IndexError, ValueError):
            raise AdapterError("Runtime.InvalidResponse",
                               f"the WSGI app gave a malformed status {status!r}") from None
        return http_response(status_code, response_headers, b"".join(chunks))

    return invoke


def make_lambda_invoker(handler):
    # The handler itself already has the invoker's signature.
    return handler


# --- loading the user's code ------------------------------------------------------------------


def http_handler_base():
    # A class can only subclass BaseHTTPRequestHandler if user code imported http.server, so
    # functions that did not are spared its ~50 ms import.
    server_module = sys.modules.get("http.server")
    return server_module.BaseHTTPRequestHandler if server_module is not None else None


def is_http_handler_class(candidate, base_class):
    # isinstance(..., type) first: issubclass() raises TypeError on instances, which is what
    # Vercel's loader does for `handler = app` (a Flask object).
    return (base_class is not None and isinstance(candidate, type)
            and issubclass(candidate, base_class))


def is_plain_function(candidate):
    import functools
    import types
    return isinstance(candidate, (types.FunctionType, types.BuiltinFunctionType,
                                  types.MethodType, functools.partial))


def vercel_invoker(handler_class, base_class):
    message_class = sys.modules["http.client"].HTTPMessage  # imported by http.server
    return make_vercel_invoker(handler_class, base_class, message_class)


def load_file_module(code_dir, relative_path):
    file_path = os.path.join(code_dir, relative_path)
    if not os.path.isfile(file_path):
        raise AdapterError("Runtime.HandlerNotFound", f"no file {relative_path!r} in the code")
    # "api/hello.py" is loaded as module "api.hello" when that name is free, so `__name__`
    # (loggers, pickling, dataclasses) reads naturally; names like "api/[id].py" are not
    # identifiers and fall back to a fixed one.
    dotted = relative_path[:-3].replace(os.sep, ".").replace("/", ".")
    module_name = dotted
    if not all(part.isidentifier() for part in dotted.split(".")) or dotted in sys.modules:
        module_name = "gust_handler_module"
    spec = importlib.util.spec_from_file_location(module_name, file_path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[module_name] = module  # before exec, as `import` does, for self-references
    try:
        spec.loader.exec_module(module)
    except BaseException:
        del sys.modules[module_name]
        raise
    return module


def invoker_for_file(module, relative_path, attr):
    base_class = http_handler_base()
    if attr:
        candidate = getattr(module, attr, None)
        if candidate is None:
            raise AdapterError("Runtime.HandlerNotFound",
                               f"{relative_path!r} has no attribute {attr!r}")
        if is_http_handler_class(candidate, base_class):
            return vercel_invoker(candidate, base_class)
        if not callable(candidate):
            raise AdapterError("Runtime.HandlerNotFound",
                               f"{relative_path}:{attr} is not callable")
        # An explicit attribute follows the same naming rule as the default lookup below.
        if attr in ("app", "application"):
            return make_wsgi_invoker(candidate)
        return make_lambda_invoker(candidate)

    # Vercel's lookup order, then Lambda's function.
    for name in ("handler", "Handler"):
        candidate = getattr(module, name, None)
        if is_http_handler_class(candidate, base_class):
            return vercel_invoker(candidate, base_class)
    for name in ("app", "application"):
        candidate = getattr(module, name, None)
        if callable(candidate):
            return make_wsgi_invoker(candidate)
    candidate = getattr(module, "handler", None)
    if is_plain_function(candidate):
        return make_lambda_invoker(candidate)
    if candidate is not None:
        raise AdapterError(
            "Runtime.HandlerNotFound",
            f"`handler` in {relative_path!r} is a {type(candidate).__name__}, not a "
            "BaseHTTPRequestHandler subclass or a function; a WSGI app must be named `app`")
    raise AdapterError(
        "Runtime.HandlerNotFound",
        f"{relative_path!r} defines none of: a `handler`/`Handler` BaseHTTPRequestHandler "
        "subclass, an `app`/`application` WSGI callable, a `handler(event, context)` function")


def invoker_for_module_attr(spec):
    module_name, _, attr = spec.rpartition(".")
    if not module_name or not attr:
        raise AdapterError("Runtime.MalformedHandlerName",
                           f"bad handler {spec!r}: expected module.attr or path.py[:attr]")
    # Lambda accepts "dir/module.handler" too.
    module = importlib.import_module(module_name.replace("/", "."))
    candidate = getattr(module, attr, None)
    if candidate is None:
        raise AdapterError("Runtime.HandlerNotFound",
                           f"module {module_name!r} has no attribute {attr!r}")
    base_class = http_handler_base()
    if is_http_handler_class(candidate, base_class):
        return vercel_invoker(candidate, base_class)
    if not callable(candidate):
        raise AdapterError("Runtime.HandlerNotFound", f"{spec} is not callable")
    return make_lambda_invoker(candidate)


# --- other platforms' contracts (gust.toml `contract`) ----------------------------------------


def function_path(event):
    """(the path below the function, the prefix cut off): a call through /fn/NAME[@q]/rest or
    /t/TENANT/fn/NAME[@q]/rest is "/rest" to the function, as an app mounted at its own root
    expects; a gateway route (routeKey not $default) keeps its whole path."""
    raw = event.get("rawPath") or "/"
    if event.get("routeKey", "$default") != "$default":
        return raw, ""
    parts = raw.split("/")
    if len(parts) >= 3 and parts[1] == "fn":
        cut = 3
    elif len(parts) >= 5 and parts[1] == "t" and parts[3] == "fn":
        cut = 5
    else:
        return raw, ""
    return "/" + "/".join(parts[cut:]), "/".join(parts[:cut])


def is_http_event(event):
    return (isinstance(event, dict) and isinstance(event.get("requestContext"), dict)
            and isinstance(event["requestContext"].get("http"), dict))


def openwhisk_params(event):
    """OpenWhisk web-action parameters: the query and a JSON object body merged, plus the
    `__ow_*` fields; any other event is passed as the parameters themselves."""
    if not is_http_event(event):
        return dict(event) if isinstance(event, dict) else {"value": event}
    request = HttpRequest(event)
    import base64
    import urllib.parse
    params = dict(urllib.parse.parse_qsl(request.raw_query, keep_blank_values=True))
    headers = {lower: value for _, lower, value in request.headers}
    if request.cookie_header:
        headers["cookie"] = request.cookie_header
    content_type = headers.get("content-type", "")
    if request.body:
        parsed = None
        if "json" in content_type:
            try:
                parsed = json.loads(request.body)
            except (ValueError, RecursionError):
                parsed = None
        if isinstance(parsed, dict):
            params.update(parsed)
        elif "x-www-form-urlencoded" in content_type:
            params.update(urllib.parse.parse_qsl(request.body.decode("utf-8", "replace"),
                                                 keep_blank_values=True))
        else:
            params["__ow_body"] = (request.body.decode("utf-8") if "text" in content_type
                                   else base64.b64encode(request.body).decode())
    params["__ow_method"] = request.method.lower()
    params["__ow_headers"] = headers
    params["__ow_path"] = function_path(event)[0]
    return params


def openwhisk_reply(result, http_event):
    """An action's dict as Lambda's v2 reply: `{"error": ...}` fails the activation; a dict with
    statusCode/headers/body is an HTTP response (an object body sent as JSON); any other dict is
    the JSON result."""
    if isinstance(result, dict) and "error" in result:
        error = result["error"]
        message = error if isinstance(error, str) else json.dumps(error)
        raise AdapterError("Action.ApplicationError", message)
    if not http_event or not isinstance(result, dict):
        return result
    if not any(key in result for key in ("statusCode", "headers", "body")):
        return result
    headers = dict(result.get("headers") or {})
    body = result.get("body", "")
    encoded = False
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    elif body is None:
        body = ""
    else:
        body = str(body)
        content_type = next((v for k, v in headers.items() if k.lower() == "content-type"), "")
        # OpenWhisk expects a binary body base64-encoded by the action.
        encoded = bool(content_type) and not any(
            kind in content_type for kind in ("text", "json", "xml", "javascript"))
    return {"statusCode": int(result.get("statusCode") or (200 if body else 204)),
            "headers": headers, "body": body, "isBase64Encoded": encoded}


def make_openwhisk_invoker(main):
    def invoke(event, context):
        return openwhisk_reply(main(openwhisk_params(event)), is_http_event(event))
    return invoke


class OpenFaasEvent:
    """What the python3-http template passes as `event` (Flask's request, in its names)."""

    def __init__(self, event):
        if is_http_event(event):
            request = HttpRequest(event)
            self.body = request.body
            self.headers = HeaderView((name, value) for name, _, value in request.headers)
            self.method = request.method
            import urllib.parse
            self.query = dict(urllib.parse.parse_qsl(request.raw_query, keep_blank_values=True))
            self.path = function_path(event)[0]
        else:
            self.body = json.dumps(event).encode()
            self.headers = HeaderView([("Content-Type", "application/json")])
            self.method = "POST"
            self.query = {}
            self.path = "/"


class HeaderView(dict):
    """Case-insensitive `get`, as Flask's request.headers has."""

    def __init__(self, pairs):
        super().__init__()
        for name, value in pairs:
            self[name.lower()] = value

    def get(self, name, default=None):
        return super().get(name.lower(), default)

    def __getitem__(self, name):
        return super().__getitem__(name.lower())

    def __contains__(self, name):
        return super().__contains__(name.lower())


class OpenFaasContext:
    def __init__(self):
        self.hostname = os.environ.get("HOSTNAME", "localhost")


def openfaas_reply(result):
    """The template's format_response: a dict gives statusCode/body/headers (an object body as
    JSON), None an empty 200, anything else the body of a 200."""
    import base64
    if result is None:
        return {"statusCode": 200, "headers": {}, "body": ""}
    if not isinstance(result, dict):
        if isinstance(result, bytes):
            return {"statusCode": 200, "headers": {"Content-Type": "application/octet-stream"},
                    "body": base64.b64encode(result).decode(), "isBase64Encoded": True}
        return {"statusCode": 200, "headers": {"Content-Type": "text/html; charset=utf-8"},
                "body": str(result)}
    headers = {str(k): str(v) for k, v in (result.get("headers") or {}).items()}
    body = result.get("body", "")
    encoded = False
    if isinstance(body, (dict, list)):
        body = json.dumps(body)
        headers.setdefault("Content-Type", "application/json")
    elif isinstance(body, bytes):
        body, encoded = base64.b64encode(body).decode(), True
    else:
        body = "" if body is None else str(body)
    return {"statusCode": int(result.get("statusCode", 200)), "headers": headers, "body": body,
            "isBase64Encoded": encoded}


def make_openfaas_invoker(handle):
    def invoke(event, context):
        return openfaas_reply(handle(OpenFaasEvent(event), OpenFaasContext()))
    return invoke


def contract_function(spec, code_dir):
    """The plain function GUST_HANDLER names (`module.attr`, `path.py:attr`, `__main__.attr`)."""
    path, _, attr = spec.partition(":")
    if path.endswith(".py"):
        module, name = load_file_module(code_dir, path), attr or "main"
    else:
        module_name, _, name = spec.rpartition(".")
        if not module_name or not name:
            raise AdapterError("Runtime.MalformedHandlerName",
                               f"bad handler {spec!r}: expected module.function")
        if module_name == "__main__":  # an OpenWhisk zip action; not this adapter's __main__
            module = load_file_module(code_dir, "__main__.py")
        else:
            module = importlib.import_module(module_name.replace("/", "."))
    candidate = getattr(module, name, None)
    if not callable(candidate):
        raise AdapterError("Runtime.HandlerNotFound", f"{spec!r} is not a function in the code")
    return candidate


def load_invoker(spec, code_dir):
    """The `invoke(event, context)` callable for GUST_HANDLER, shape decided here once."""
    if not spec:
        raise AdapterError("Runtime.MalformedHandlerName", "GUST_HANDLER is empty")
    contract = os.environ.get("GUST_CONTRACT", "lambda")
    if contract == "openwhisk":
        return make_openwhisk_invoker(contract_function(spec, code_dir))
    if contract == "openfaas":
        return make_openfaas_invoker(contract_function(spec, code_dir))
    path, _, attr = spec.partition(":")
    if path.endswith(".py"):
        module = load_file_module(code_dir, path)
        return invoker_for_file(module, path, attr)
    if attr:
        raise AdapterError("Runtime.MalformedHandlerName",
                           f"bad handler {spec!r}: `:attr` needs a file path ending in .py")
    return invoker_for_module_attr(spec)


# --- the loop ---------------------------------------------------------------------------------


def show_trace_id(trace_id):
    """os.environ["_X_AMZN_TRACE_ID"] for this activation, as Lambda's runtime sets it for tracing
    libraries, but in os.environ's mapping only: putenv() would hand the value to glibc's setenv,
    which keeps every distinct string it was ever given (~95 bytes an invocation, never freed, and
    slower with each). So the process sees it and its child processes do not."""
    key = os.environ.encodekey("_X_AMZN_TRACE_ID")
    if trace_id:
        os.environ._data[key] = os.environ.encodevalue(trace_id)
    else:
        os.environ._data.pop(key, None)


def run_activation(invoke, invoke_header, body, log_stream_name):
    """The reply frame (header, body) for one INVOKE; never raises for user errors."""
    activation_id = invoke_header["id"]
    context = LambdaContext(invoke_header, log_stream_name)
    show_trace_id(context.trace_id)

    try:
        event = json.loads(body)
    except ValueError as exc:
        return error_frame("ERROR", activation_id, "Runtime.UnmarshalError",
                           f"the event is not JSON: {exc}", "")
    except RecursionError:
        return error_frame("ERROR", activation_id, "Runtime.UnmarshalError",
                           "the event nests arrays and objects deeper than Python's json can read", "")
    try:
        result = invoke(event, context)
    except Exception as exc:
        return error_frame("ERROR", activation_id, *describe_exception(exc))
    try:
        # allow_nan=False: NaN is not JSON and the host's parser would reject the reply.
        payload = json.dumps(result, ensure_ascii=False, allow_nan=False,
                             separators=COMPACT_JSON).encode("utf-8")
    except Exception as exc:  # TypeError, ValueError (NaN, cycles), RecursionError, surrogates
        return error_frame("ERROR", activation_id, "Runtime.MarshalError",
                           f"Unable to marshal response: {exc}", "")
    if len(payload) > MAX_BODY_BYTES:
        return error_frame("ERROR", activation_id, "Function.ResponseSizeTooLarge",
                           f"response is {len(payload)} bytes; the limit is {MAX_BODY_BYTES}", "")
    return {"type": "RESULT", "id": activation_id}, payload


def serve(sock, reader, invoke, log_stream_name):
    while True:
        frame = read_frame(reader)
        if frame is None:
            return EXIT_OK
        header, body = frame
        if header["type"] != "INVOKE":
            continue  # nothing else flows host -> adapter today; newer hosts may add types
        if not isinstance(header.get("id"), str):
            raise BrokenStream("INVOKE without a string `id` cannot be answered")
        reply_header, reply_body = run_activation(invoke, header, body, log_stream_name)
        flush_user_output()
        send_frame(sock, reply_header, reply_body)


def report_broken(reason):
    print(f"gust python adapter: {reason}", file=sys.stderr, flush=True)


def add_virtual_environment(code_dir):
    """The host starts us with -S: no site-packages but the function's own. Under -S Python
    neither sets sys.prefix to a virtual environment nor adds its packages, so add the version's
    .venv (built from its requirements.txt at deploy time), .pth files included — whether this
    interpreter runs from it or is the base interpreter of a pre-started instance."""
    if not sys.flags.no_site:
        return
    for venv in (os.path.dirname(os.path.dirname(sys.executable)), os.path.join(code_dir, ".venv")):
        if os.path.isfile(os.path.join(venv, "pyvenv.cfg")):
            import site
            site.addsitedir(os.path.join(
                venv, "lib", f"python{sys.version_info[0]}.{sys.version_info[1]}", "site-packages"))
            return


def await_load(reader):
    """A pre-started instance (GUST_PRESTARTED=1) is started before anyone knows which function
    it will run: its first frame, LOAD, carries the function's environment. None on a clean EOF
    (the host retired it unused)."""
    frame = read_frame(reader)
    if frame is None:
        return None
    header, _ = frame
    env = header.get("env")
    if header["type"] != "LOAD" or not isinstance(env, dict):
        raise BrokenStream("a pre-started instance's first frame must be LOAD with an `env` object")
    return {str(key): str(value) for key, value in env.items()}


def host_socket():
    """The inherited socket to the host. GUST_SOCKET_FD is popped, and the descriptor made
    non-inheritable, so the user's code and its children never see, and never write on, it.
    Raises KeyError, ValueError or OSError when the host gave none."""
    socket_fd = int(os.environ.pop("GUST_SOCKET_FD"))
    os.set_inheritable(socket_fd, False)
    return socket.socket(fileno=socket_fd)


def stand_by_for_load(sock, reader):
    """A pre-started instance (GUST_PRESTARTED=1): STANDBY, then the function's environment
    from LOAD, applied, in its code dir. False on a clean EOF (the host retired it unused).
    Raises BrokenStream, or the socket's errors."""
    send_frame(sock, {"type": "STANDBY"})
    env = await_load(reader)
    if env is None:
        return False
    os.environ.update(env)
    if os.path.isdir(os.environ.get("GUST_CODE_DIR", "")):
        os.chdir(os.environ["GUST_CODE_DIR"])
    return True


def main():
    if sys.stdout is not None:
        sys.stdout.reconfigure(line_buffering=True)  # print() lines leave promptly even on a pipe
    try:
        sock = host_socket()
    except (KeyError, ValueError, OSError) as exc:
        report_broken(f"no usable GUST_SOCKET_FD: {exc!r}")
        return EXIT_BROKEN_STREAM
    reader = sock.makefile("rb")
    if os.environ.pop("GUST_PRESTARTED", None) == "1":
        try:
            if not stand_by_for_load(sock, reader):
                return EXIT_OK
        except BrokenStream as exc:
            report_broken(f"broken stream from the host: {exc}")
            return EXIT_BROKEN_STREAM
        except (BrokenPipeError, ConnectionResetError):
            return EXIT_OK

    code_dir = os.environ.get("GUST_CODE_DIR") or os.getcwd()
    # sys.path[0] is this adapter's folder when run as a script; user imports must never
    # resolve there, so the code dir takes its place.
    if sys.path and sys.path[0] == os.path.dirname(os.path.abspath(ADAPTER_FILE)):
        sys.path[0] = code_dir
    else:
        sys.path.insert(0, code_dir)
    add_virtual_environment(code_dir)
    version = os.environ.get("GUST_FUNCTION_VERSION", "$LATEST")
    log_stream_name = f"{time.strftime('%Y/%m/%d')}/[{version}]{os.urandom(16).hex()}"

    try:
        invoke = load_invoker(os.environ.get("GUST_HANDLER", ""), code_dir)
    except (Exception, SystemExit) as exc:  # sys.exit() at import time is an init failure too
        flush_user_output()
        try:
            send_frame(sock, *error_frame("INIT_ERROR", None,
                                          *describe_init_exception(exc, code_dir)))
        except OSError:
            pass  # the host is gone; the exit code still says why
        return EXIT_INIT_ERROR

    try:
        flush_user_output()
        send_frame(sock, {"type": "READY"})
        return serve(sock, reader, invoke, log_stream_name)
    except BrokenStream as exc:
        report_broken(f"broken stream from the host: {exc}")
        return EXIT_BROKEN_STREAM
    except (BrokenPipeError, ConnectionResetError):
        return EXIT_OK  # the host went away mid-reply: the same as EOF


if __name__ == "__main__":
    sys.exit(main())
