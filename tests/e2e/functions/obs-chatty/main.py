import sys


def handler(event, context):
    lines = int((event.get("queryStringParameters") or {}).get("lines", "10"))
    for i in range(lines):
        print(f"line {i:06d} " + "x" * 100)
    sys.stdout.flush()
    return {"printed": lines}
