# A handler as Lambda documents it; awslambdaric (the Runtime Interface Client) runs it.
import os


def handler(event, context):
    print("ric handler got", event)
    if event.get("fail"):
        raise ValueError("asked to fail")
    return {
        "hello": event.get("name", "world"),
        "request_id": context.aws_request_id,
        "function_name": context.function_name,
        "remaining_ms_positive": context.get_remaining_time_in_millis() > 0,
        "runtime_api_set": bool(os.environ.get("AWS_LAMBDA_RUNTIME_API")),
    }
