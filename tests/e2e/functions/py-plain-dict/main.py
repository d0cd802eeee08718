# No gust.toml: main.py runs main.handler on python3. A dict without statusCode is the answer.


def handler(event, context):
    return {"greeting": "hello", "numbers": [1, 2, 3], "nested": {"ok": True}}
