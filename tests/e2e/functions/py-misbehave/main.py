# Misbehaves on request: ?do=sleep | exit | raise | bad-status | object-body. Otherwise it
# answers with a module-level counter and its instance id, which show whether the instance survived.
import os
import time
import uuid

# Which instance answered: pids repeat across sandboxes (each function is pid 1 of its own).
INSTANCE = uuid.uuid4().hex

calls = 0


def handler(event, context):
    global calls
    calls += 1
    do = (event.get("queryStringParameters") or {}).get("do") or event.get("do")
    if do == "sleep":
        time.sleep(30)
    elif do == "exit":
        os._exit(3)
    elif do == "raise":
        raise ValueError("asked to raise")
    elif do == "bad-status":
        return {"statusCode": "abc", "body": "never sent"}
    elif do == "object-body":
        return {"statusCode": 200, "body": {"an": "object"}}
    return {"calls": calls, "pid": os.getpid(), "instance": INSTANCE}
