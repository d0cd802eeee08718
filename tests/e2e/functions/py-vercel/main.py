# Vercel's Python shape, unmodified: a BaseHTTPRequestHandler subclass named `handler`.
import json
from http.server import BaseHTTPRequestHandler
from urllib.parse import parse_qs, urlparse


class handler(BaseHTTPRequestHandler):
    def _reply(self, status, payload):
        body = json.dumps(payload).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("X-Shape", "vercel-python")
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self):
        query = parse_qs(urlparse(self.path).query)
        self._reply(200, {"method": "GET", "q": query.get("q", [None])[0],
                          "header": self.headers.get("X-Test-Header")})

    def do_POST(self):
        length = int(self.headers.get("Content-Length", 0))
        body = self.rfile.read(length).decode()
        self._reply(202, {"method": "POST", "body": body,
                          "header": self.headers.get("X-Test-Header")})
