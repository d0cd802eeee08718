# Prints while loading, then fails to load.
import sys

print("loading: about to fail")
print("loading: secret-ish detail on stderr", file=sys.stderr)
raise RuntimeError("broken at import")


def handler(event, context):
    return "unreachable"
