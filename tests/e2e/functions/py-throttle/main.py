# Holds its only instance for ?s seconds, so later calls queue behind it.
import time


def handler(event, context):
    time.sleep(float((event.get("queryStringParameters") or {}).get("s", "0")))
    return {"slept": True}
