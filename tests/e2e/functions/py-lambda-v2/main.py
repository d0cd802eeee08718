# A Lambda v2 response object: status, headers (non-string values too), cookies and a body.


def handler(event, context):
    return {
        "statusCode": 201,
        "headers": {"content-type": "text/plain; charset=utf-8", "x-answer": 42, "x-flag": True},
        "cookies": ["session=abc; Path=/", "theme=dark"],
        "body": "created by lambda v2",
    }
