# Answers with ?pad bytes of padding (default 0), or raises when ?fail=1, so usage has errors and
# bytes out to add up.


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if query.get("fail") == "1":
        raise RuntimeError("asked to fail")
    return {"pad": "x" * int(query.get("pad", "0")), "body_length": len(event.get("body") or "")}
