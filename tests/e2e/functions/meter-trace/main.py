# Says what traceparent header it received, if any, and the trace id its context and environment
# carry (context.trace_id; _X_AMZN_TRACE_ID, where Lambda puts it for tracing SDKs).
import os


def handler(event, context):
    return {"traceparent": (event.get("headers") or {}).get("traceparent"),
            "context_trace_id": getattr(context, "trace_id", None),
            "env_trace_id": os.environ.get("_X_AMZN_TRACE_ID")}
