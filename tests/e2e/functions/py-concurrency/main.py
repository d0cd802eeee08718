# Echoes the request's ?id back after a short pause, so requests overlap and queue.
import os
import time


def handler(event, context):
    time.sleep(0.005)
    return {"id": (event.get("queryStringParameters") or {}).get("id"), "pid": os.getpid(),
            "request_id": context.aws_request_id}
