# Large bodies and hostile replies for tests/security/test_bounded_memory.py.
#
#   ?do=size[&sleep=S]       the request body's size as the function received it (after S s)
#   ?do=big&mb=N             a 200 whose body is N MiB of text
#   ?do=announce&mb=N        writes a RESULT frame header announcing an N MiB body on the
#                            protocol socket itself, never sends the body, and hangs
import base64
import os
import struct
import json
import time


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    do = query.get("do", "size")
    if do == "size":
        body = event.get("body") or ""
        size = len(base64.b64decode(body)) if event.get("isBase64Encoded") else len(body.encode())
        del body, event
        time.sleep(float(query.get("sleep", "0")))
        return {"size": size}
    if do == "big":
        return {"statusCode": 200, "headers": {"content-type": "text/plain"},
                "body": "x" * (int(query.get("mb", "40")) << 20)}
    if do == "announce":
        header = json.dumps({"type": "RESULT", "id": context.aws_request_id}).encode()
        body_len = min(int(query.get("mb", "60")) << 20, 0xFFFFFFFF)
        fd = int(os.environ.get("GUST_SOCKET_FD", "3"))
        os.write(fd, struct.pack(">II", len(header), body_len) + header)
        time.sleep(float(query.get("hang", "8")))
        os._exit(0)
    raise ValueError(f"unknown do={do}")
