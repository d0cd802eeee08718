# Echoes the request's ?id back after a short pause, so requests overlap and queue.
import os
import time
import uuid

INSTANCE = uuid.uuid4().hex  # pids repeat across sandboxes: each function is pid 1 of its own


def handler(event, context):
    time.sleep(0.005)
    return {"id": (event.get("queryStringParameters") or {}).get("id"), "pid": os.getpid(), "instance": INSTANCE,
            "request_id": context.aws_request_id}
