# Sleeps ?ms milliseconds (default 300) without using the CPU.
import time


def handler(event, context):
    time.sleep(float((event.get("queryStringParameters") or {}).get("ms", "300")) / 1000)
    return {"slept": True}
