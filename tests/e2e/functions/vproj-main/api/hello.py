# A project entry in Vercel's Python shape; it uses a helper module from api/_util.py.
from http.server import BaseHTTPRequestHandler

from api._util import greeting


class handler(BaseHTTPRequestHandler):
    def do_GET(self):
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.end_headers()
        self.wfile.write(greeting("python").encode())
