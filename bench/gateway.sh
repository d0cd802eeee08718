#!/usr/bin/env bash
# What the gateway's features cost on the warm path: the same warm Python hello, in one run on one
# server, called (a) at /fn/<name> (public, no CORS: the pipeline matches and invokes) and (b)
# through a route with an API key, a rate limit (high enough never to refuse) and CORS (the
# request carries an Origin), so every stage runs. Medians of RUNS wrk runs each.
#
#   bench/gateway.sh [GUST_BINARY]     DURATION=5 RUNS=3 by default
set -euo pipefail
cd "$(dirname "$0")/.."
gust=${1:-build/release/src/gust}
duration=${DURATION:-5}
runs=${RUNS:-3}
python=$(python3 -c 'import sys; print(sys.executable)')
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/deps.sh" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
port=$(free_port)
"$gust" serve --listen "127.0.0.1:$port" --data "$work/gust" > "$work/gust.log" 2>&1 &
pids+=($!)
for _ in $(seq 1 100); do curl -fsS "http://127.0.0.1:$port/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
export GUST_URL="http://127.0.0.1:$port"
GUST_TOKEN=$(cat "$work/gust/admin.token")
export GUST_TOKEN
"$gust" --json deploy bench/functions/hello-py --name bench-py >/dev/null
"$gust" --json route add 'GET /hello' bench-py --auth key --rate 1000000/s \
  --cors-origin https://app.example.com >/dev/null
key=$("$gust" --json key create bench --rate 1000000/s)
credentials=$(echo "$key" | "$python" -c 'import json,sys; k=json.load(sys.stdin); print(k["client_id"] + "." + k["secret"])')

# Prints "requests/s p50_ms p99_ms" for one wrk run.
measure() {
  local url=$1 connections=$2
  shift 2
  wrk -t1 -c"$connections" -d"${duration}s" --latency "$@" "$url" > "$work/wrk.txt" 2>&1 || true
  grep -q "Non-2xx" "$work/wrk.txt" && { echo "non-2xx answers from $url:" >&2; cat "$work/wrk.txt" >&2; exit 1; }
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    END { printf "%.0f %.3f %.3f\n", rps, ms(p50), ms(p99) }' "$work/wrk.txt"
}
median() { sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }

wrk -t1 -c8 -d1s "http://127.0.0.1:$port/fn/bench-py" >/dev/null 2>&1 || true
echo
echo "gateway features on/off, warm python hello, wrk -t1 -d${duration}s, median of $runs, $(nproc) cores, $(date -u +%Y-%m-%dT%H:%MZ)"
printf '%-44s %5s %10s %9s %9s %8s\n' scenario conns "req/s" "p50 ms" "p99 ms" "on/off"
for connections in 64 1; do
  off=() on=()
  for _ in $(seq 1 "$runs"); do
    off+=("$(measure "http://127.0.0.1:$port/fn/bench-py" "$connections")")
    on+=("$(measure "http://127.0.0.1:$port/hello" "$connections" -H "Authorization: Bearer $credentials" \
      -H "Origin: https://app.example.com")")
  done
  off_rps=$(printf '%s\n' "${off[@]}" | awk '{print $1}' | median)
  on_rps=$(printf '%s\n' "${on[@]}" | awk '{print $1}' | median)
  off_p50=$(printf '%s\n' "${off[@]}" | awk '{print $2}' | median)
  on_p50=$(printf '%s\n' "${on[@]}" | awk '{print $2}' | median)
  off_p99=$(printf '%s\n' "${off[@]}" | awk '{print $3}' | median)
  on_p99=$(printf '%s\n' "${on[@]}" | awk '{print $3}' | median)
  printf '%-44s %5s %10s %9s %9s %8s\n' "off: /fn/bench-py (public, no CORS)" "$connections" "$off_rps" "$off_p50" "$off_p99" "-"
  printf '%-44s %5s %10s %9s %9s %8s\n' "on: route + key + rate limit + CORS" "$connections" "$on_rps" "$on_p50" "$on_p99" \
    "$(awk -v a="$on_rps" -v b="$off_rps" 'BEGIN { printf "%.3f", (b > 0 ? a / b : 0) }')"
done
