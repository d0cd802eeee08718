# Answers with the size of the body it received, decoded.
import base64
import hashlib


def handler(event, context):
    body = event.get("body") or ""
    data = base64.b64decode(body) if event.get("isBase64Encoded") else body.encode()
    return {"length": len(data), "sha256": hashlib.sha256(data).hexdigest()}
