#!/usr/bin/env bash
# Warm-path throughput and latency: wrk against warm Gust functions (Python, Node) and, in the
# same run, against a plain Python http.server doing the same work. Prints one table with the
# ratio Gust/peer. Everything listens on 127.0.0.1 and stops when the script ends.
#
#   bench/warm.sh [GUST_BINARY]       (make bench builds a release binary and runs this)
#   DURATION=10 bench/warm.sh         seconds per measurement (default 5)
set -euo pipefail
cd "$(dirname "$0")/.."
gust=${1:-build/release/src/gust}
source bench/lib.sh
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/deps.sh" >&2; exit 1; }

gust_port=$(free_port)
"$gust" serve --listen "127.0.0.1:$gust_port" --data "$work/gust" > "$work/gust.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$gust_port/healthz"
export GUST_URL="http://127.0.0.1:$gust_port" GUST_TOKEN
GUST_TOKEN=$(cat "$work/gust/admin.token")
"$gust" --json deploy bench/functions/hello-py --name bench-py >/dev/null
"$gust" --json deploy bench/functions/hello-js --name bench-js >/dev/null

# The same server without per-activation /proc metering: what metering costs on the warm path.
bare_port=$(free_port)
"$gust" serve --listen "127.0.0.1:$bare_port" --data "$work/bare" --no-process-metering > "$work/bare.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$bare_port/healthz"
GUST_URL="http://127.0.0.1:$bare_port" GUST_TOKEN=$(cat "$work/bare/admin.token") \
  "$gust" --json deploy bench/functions/hello-py --name bench-py >/dev/null

# The same server without the sandbox: what isolation costs on the warm path.
open_port=$(free_port)
"$gust" serve --listen "127.0.0.1:$open_port" --data "$work/open" --sandbox none > "$work/open.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$open_port/healthz"
GUST_URL="http://127.0.0.1:$open_port" GUST_TOKEN=$(cat "$work/open/admin.token") \
  "$gust" --json deploy bench/functions/hello-py --name bench-py >/dev/null

peer_port=$(free_port)
"$python" bench/peers/python_http_server.py "$peer_port" --keep-alive &
pids+=($!)
peer10_port=$(free_port)
"$python" bench/peers/python_http_server.py "$peer10_port" &
pids+=($!)
wait_http "http://127.0.0.1:$peer_port/"
wait_http "http://127.0.0.1:$peer10_port/"

# Warm every instance the 64-connection runs will use.
for target in "$gust_port/fn/bench-py" "$gust_port/fn/bench-js" "$bare_port/fn/bench-py" \
  "$open_port/fn/bench-py"; do
  wrk -t1 -c8 -d1s "http://127.0.0.1:$target" >/dev/null 2>&1 || true
done

declare -A result
for connections in 64 1; do
  result[py_http10_$connections]=$(measure "http://127.0.0.1:$peer10_port/" "$connections")
  result[py_keepalive_$connections]=$(measure "http://127.0.0.1:$peer_port/" "$connections")
  result[gust_py_$connections]=$(measure "http://127.0.0.1:$gust_port/fn/bench-py" "$connections")
  result[gust_js_$connections]=$(measure "http://127.0.0.1:$gust_port/fn/bench-js" "$connections")
  result[gust_bare_$connections]=$(measure "http://127.0.0.1:$bare_port/fn/bench-py" "$connections")
  result[gust_open_$connections]=$(measure "http://127.0.0.1:$open_port/fn/bench-py" "$connections")
done

echo
echo "warm hello, wrk -t1 -d${duration}s, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-34s %5s %10s %9s %9s %14s\n' scenario conns "req/s" "p50 ms" "p99 ms" "gust/peer rps"
for connections in 64 1; do
  read -r best_rps _ _ <<<"${result[py_keepalive_$connections]}"
  read -r http10_rps _ _ <<<"${result[py_http10_$connections]}"
  ((http10_rps > best_rps)) && best_rps=$http10_rps
  for key in py_http10 py_keepalive gust_py gust_js gust_bare gust_open; do
    read -r rps p50 p99 <<<"${result[${key}_$connections]}"
    case $key in
      py_http10) name="peer: python http.server HTTP/1.0" ;;
      py_keepalive) name="peer: python http.server keep-alive" ;;
      gust_py) name="gust python3 (warm)" ;;
      gust_js) name="gust node (warm)" ;;
      gust_bare) name="gust python3, no /proc metering" ;;
      gust_open) name="gust python3, --sandbox none" ;;
    esac
    ratio="-"
    [[ $key == gust_* ]] && ratio=$(awk -v a="$rps" -v b="$best_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
    printf '%-34s %5s %10s %9s %9s %14s\n' "$name" "$connections" "$rps" "$p50" "$p99" "$ratio"
  done
done
