"""The peer: a Vercel-shaped Python function served by the standard library's http.server.

Run as users write it (HTTP/1.0, a connection per request) or, with --keep-alive, with
HTTP/1.1 keep-alive and TCP_NODELAY (the stronger of the two; without TCP_NODELAY keep-alive
stalls 40 ms per request on Nagle + delayed ACK).
"""
import socket
import sys
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"hello"
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


class KeepAliveHandler(handler):
    protocol_version = "HTTP/1.1"

    def setup(self):
        super().setup()
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


if __name__ == "__main__":
    port = int(sys.argv[1])
    keep_alive = "--keep-alive" in sys.argv
    server = ThreadingHTTPServer(("127.0.0.1", port), KeepAliveHandler if keep_alive else handler)
    server.daemon_threads = True
    server.serve_forever()
