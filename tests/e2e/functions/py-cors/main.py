# Answers with the method it ran for, so a CORS test can tell which request reached it.


def handler(event, context):
    method = event["requestContext"]["http"]["method"]
    return {"statusCode": 200, "headers": {"Content-Type": "text/plain"}, "body": f"hi {method}"}
