"""Run by a build step (pip building ./localpkg's setup.py) as hostile code would: tries the
host's secrets, the server's environment, its port and the disk outside the build, and writes
what it got to build-probe.json beside this file. targets.json (written by the test) names the
host paths and addresses to try."""

import json
import os
import socket

HERE = os.path.dirname(os.path.abspath(__file__))


def attempt(action):
    try:
        return {"ok": True, "value": action()}
    except Exception as e:  # every failure is a result here
        return {"ok": False, "error": f"{type(e).__name__}: {e}"}


def read(path):
    with open(path, "rb") as f:
        return f.read(4096).decode("utf-8", "replace")


def connect(address):
    host, port = address.rsplit(":", 1)
    with socket.create_connection((host, int(port)), timeout=3):
        return "connected"


def write(path):
    with open(path, "w") as f:
        f.write("written by a build")
    return path


def main():
    with open(os.path.join(HERE, "targets.json")) as f:
        targets = json.load(f)
    result = {
        "uid": os.getuid(),
        "environment": dict(os.environ),
        "read": {path: attempt(lambda p=path: read(p)) for path in targets["read"]},
        "connect": {a: attempt(lambda a=a: connect(a)) for a in targets["connect"]},
        "write": {path: attempt(lambda p=path: write(p)) for path in targets["write"]},
    }
    with open(os.path.join(HERE, "build-probe.json"), "w") as f:
        json.dump(result, f)


main()
