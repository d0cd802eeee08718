import json

# Module-level state lives as long as the warm instance: this counter proves reuse.
calls = 0


def handler(event, context):
    global calls
    calls += 1
    name = (event.get("queryStringParameters") or {}).get("name", "world")
    print(f"greeting {name} (call {calls} of this instance)")
    return {
        "statusCode": 200,
        "headers": {"content-type": "application/json"},
        "body": json.dumps({"message": f"hello, {name}", "calls": calls,
                            "request_id": context.aws_request_id}),
    }
