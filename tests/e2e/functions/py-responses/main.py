# Returns the response shape named by ?shape, to exercise Lambda's v2 response rules.
import base64

SHAPES = {
    "list": [1, "two", None],
    "string": "just text",
    "number": 42,
    "null": None,
    "no-status": {"body": "not a response", "headers": {"x": "y"}},
    "default-content-type": {"statusCode": 200, "body": '{"a": 1}'},
    "base64": {"statusCode": 200, "headers": {"content-type": "application/octet-stream"},
               "isBase64Encoded": True, "body": base64.b64encode(bytes(range(256))).decode()},
    "multi-value": {"statusCode": 200, "multiValueHeaders": {"x-multi": ["a", "b"]}, "body": "mv"},
    "status-600": {"statusCode": 600, "body": "x"},
    "status-99": {"statusCode": 99, "body": "x"},
    "header-newline": {"statusCode": 200, "headers": {"x-evil": "a\r\nInjected: yes"}, "body": "x"},
    "bad-base64": {"statusCode": 200, "isBase64Encoded": True, "body": "!!!not base64!!!"},
    "204-empty": {"statusCode": 204, "body": ""},
    "204-with-body": {"statusCode": 204, "body": "should not be sent"},
    "304-with-body": {"statusCode": 304, "body": "should not be sent"},
}


def handler(event, context):
    return SHAPES[(event.get("queryStringParameters") or {})["shape"]]
