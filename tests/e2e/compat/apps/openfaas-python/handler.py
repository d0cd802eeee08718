# An OpenFaaS python3-http template handler: handle(event, context).
import json


def handle(event, context):
    if event.path == "/json":
        data = json.loads(event.body or b"{}")
        return {"statusCode": 200, "body": {"received": data, "method": event.method},
                "headers": {"Content-Type": "application/json"}}
    return {
        "statusCode": 200,
        "body": "Hello from OpenFaaS! query=" + event.query.get("q", "") +
                " host=" + context.hostname + " ua=" + event.headers.get("User-Agent", ""),
    }
