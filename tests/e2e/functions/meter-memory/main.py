# Allocates ?mb megabytes (default 100) and touches every page of them, so they are resident;
# ?mb=0 allocates nothing. The buffer is freed before the handler returns.


def handler(event, context):
    mb = int((event.get("queryStringParameters") or {}).get("mb", "100"))
    touched = 0
    if mb:
        buffer = bytearray(mb * 1024 * 1024)
        for i in range(0, len(buffer), 4096):
            buffer[i] = 1
            touched += 1
        del buffer
    return {"pages_touched": touched}
