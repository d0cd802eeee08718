# Says what traceparent header it received, if any, and the trace id its environment carries
# (_X_AMZN_TRACE_ID, where Lambda puts it for tracing SDKs).
import os


def handler(event, context):
    return {"traceparent": (event.get("headers") or {}).get("traceparent"),
            "env_trace_id": os.environ.get("_X_AMZN_TRACE_ID")}
