#!/usr/bin/env bash
# `make run`: starts gust serve in the foreground with every example deployed.
# Usage: scripts/run.sh GUST_BINARY LISTEN DATA_DIR
set -euo pipefail
gust=$1
listen=$2
data=$3
url="http://$listen"

# The sandbox needs root (a host uid per tenant, cgroups); without it, say so and run unconfined.
isolation=()
if [ "$(id -u)" != 0 ]; then
  echo "make run: not root, so functions run WITHOUT the sandbox (--sandbox none); run as root to isolate them" >&2
  isolation=(--sandbox none)
fi
"$gust" serve --listen "$listen" --data "$data" "${isolation[@]}" &
server=$!
trap 'kill $server 2>/dev/null; wait $server 2>/dev/null' EXIT INT TERM

for _ in $(seq 1 100); do
  curl -fsS "$url/healthz" >/dev/null 2>&1 && break
  if ! kill -0 $server 2>/dev/null; then echo "gust serve failed to start" >&2; exit 1; fi
  sleep 0.1
done

export GUST_URL=$url GUST_TOKEN
GUST_TOKEN=$(cat "$data/admin.token")
for example in examples/*/; do
  "$gust" deploy "$example" || echo "warning: could not deploy $example" >&2
done

cat <<TEXT

Gust is running at $url  (Ctrl-C stops it)
  admin token: $GUST_TOKEN   (in $data/admin.token)
  the CLI finds this server from this directory (./.gust); elsewhere: $gust login $url TOKEN

Try:
  curl '$url/fn/hello-python?name=ada'
  curl '$url/fn/hello-node?name=ada'
  curl '$url/api/hello?name=ada'          # the Vercel-style project in examples/vercel-python
  $gust ls
  $gust logs hello-python -f
TEXT
wait $server
