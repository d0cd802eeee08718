# bench/soak.sh's Python function: a log-heavy handler, 4 lines of 1 KiB on stdout per call, so
# the soak's data dir fills with logs the way a chatty production function's would.
LINE = "x" * 1000


def handler(event, context):
    for i in range(4):
        print(f"{context.aws_request_id} line {i} {LINE}")
    return {"statusCode": 200, "headers": {"content-type": "text/plain"}, "body": "hello"}
