# A helper, not an endpoint: names starting with "_" are never routed.


def greeting(who):
    return f"hello from {who}"


def handler(event, context):
    return {"statusCode": 200, "body": "helper was routed"}
