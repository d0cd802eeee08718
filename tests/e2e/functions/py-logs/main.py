# Prints one line to stdout and one to stderr, tagged with ?tag, then answers.
import sys

print("module loading")  # belongs to the instance's first activation
calls = 0


def handler(event, context):
    global calls
    calls += 1
    tag = (event.get("queryStringParameters") or {}).get("tag", "untagged")
    print(f"out-line {tag}")
    print(f"err-line {tag}", file=sys.stderr)
    return {"tag": tag, "calls": calls}
