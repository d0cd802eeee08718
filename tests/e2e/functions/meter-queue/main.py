# Holds the only instance for 500 ms, so a second call at the same time waits in the queue.
import time


def handler(event, context):
    time.sleep(0.5)
    return {"slept_ms": 500}
