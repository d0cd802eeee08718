# A plain WSGI app in a Vercel-style project file.


def app(environ, start_response):
    length = int(environ.get("CONTENT_LENGTH") or 0)
    body = environ["wsgi.input"].read(length) if length else b""
    text = "wsgi {} {} {} {}".format(environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                                     environ.get("QUERY_STRING", ""), body.decode())
    start_response("200 OK", [("Content-Type", "text/plain"), ("X-Shape", "wsgi")])
    return [text.encode()]
