# Burns CPU in user space for ?ms milliseconds of its own process time (default 200) and says how
# much process time (user + system, as time.process_time counts it) the handler itself measured.
import time


def handler(event, context):
    target_s = float((event.get("queryStringParameters") or {}).get("ms", "200")) / 1000
    start = time.process_time()
    x = 0
    while time.process_time() - start < target_s:
        for i in range(2000):
            x += i * i
    return {"process_ms": (time.process_time() - start) * 1000}
