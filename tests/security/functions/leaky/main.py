# Failures whose messages carry operator hints (a secret's name, this file's host path), for
# tests/security/test_caller_errors.py: the caller must see none of it, the owner all of it.
#
#   a file `init_fails` beside this one: the import raises
#   ?do=raise: the handler raises
import os

HERE = os.path.abspath(__file__)

if os.path.exists(os.path.join(os.path.dirname(HERE), "init_fails")):
    raise RuntimeError(f"cannot load the config beside {HERE} without DB_PASSWORD")


def handler(event, context):
    query = event.get("queryStringParameters") or {}
    if query.get("do") == "raise":
        raise KeyError(f"DB_PASSWORD is not set (read by {HERE})")
    return {"ok": True}
