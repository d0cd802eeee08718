#!/usr/bin/env bash
# Gust against the peers, one command, one table (issue "Performance"). Starts on 127.0.0.1:
#   - the Python peer: bench/peers/python_http_server.py as users write it (HTTP/1.0) and with
#     HTTP/1.1 keep-alive; the stronger of the two at each connection count is "the python peer";
#   - workerd (npm `workerd`, pinned in bench/peers/workerd/) serving a module worker;
#   - nginx answering `return 200 "hello"` (the ceiling for an HTTP front door on this machine);
#   - Gust (sandboxed when run as root, its default) with bench/functions/hello-py and hello-js.
# Every target returns "hello". wrk drives each with 1 connection (latency) and 64 (throughput)
# for DURATION seconds, RUNS times interleaved; the table shows medians and the issue's ratios.
# Installs nginx, wrk and workerd if missing; stops everything it started on exit.
#
#   bench/run.sh [GUST_BINARY]    default build/release/src/gust (`make bench` builds it, then runs this)
#   DURATION=5 RUNS=3             the defaults
set -euo pipefail
cd "$(dirname "$0")/.."
gust=${1:-build/release/src/gust}
runs=${RUNS:-3}
command_line="DURATION=${DURATION:-5} RUNS=$runs bench/run.sh${1:+ $1}"
source bench/lib.sh

[ -x "$gust" ] || { echo "no Gust binary at $gust: build it with make release (make bench does)" >&2; exit 1; }

# --- what the peers need, installed only when missing ------------------------------------------
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
missing=()
command -v wrk >/dev/null || missing+=(wrk)
command -v curl >/dev/null || missing+=(curl)
[ -x /usr/sbin/nginx ] || missing+=(nginx)
if ((${#missing[@]})); then
  echo "run.sh: installing ${missing[*]}" >&2
  # Debian starts nginx's system service on install unless policy-rc.d says no: say no for the
  # install if nothing on this machine does already (this script runs its own nginx).
  policy=/usr/sbin/policy-rc.d
  made_policy=
  if [ ! -e "$policy" ]; then
    printf '#!/bin/sh\nexit 101\n' | "${sudo_cmd[@]}" tee "$policy" >/dev/null
    "${sudo_cmd[@]}" chmod +x "$policy"
    made_policy=1
  fi
  status=0
  "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq &&
    "${sudo_cmd[@]}" env DEBIAN_FRONTEND=noninteractive \
      apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null || status=$?
  [ -z "$made_policy" ] || "${sudo_cmd[@]}" rm -f "$policy"
  ((status == 0)) || { echo "apt-get install ${missing[*]} failed" >&2; exit 1; }
fi
command -v node >/dev/null && command -v npm >/dev/null ||
  { echo "node and npm are missing: run scripts/deps.sh" >&2; exit 1; }
peers=bench/peers/workerd
if [ ! -x "$peers/node_modules/.bin/workerd" ] ||
   [ "$peers/package-lock.json" -nt "$peers/node_modules/.package-lock.json" ]; then
  echo "run.sh: npm ci in $peers" >&2
  (cd "$peers" && npm ci --no-audit --no-fund --loglevel=error >/dev/null)
fi

# --- start everything ---------------------------------------------------------------------------
declare -A url
port=$(free_port)
url[py_http10]=http://127.0.0.1:$port/
"$python" bench/peers/python_http_server.py "$port" > "$work/py_http10.log" 2>&1 &
pids+=($!)
port=$(free_port)
url[py_keepalive]=http://127.0.0.1:$port/
"$python" bench/peers/python_http_server.py "$port" --keep-alive > "$work/py_keepalive.log" 2>&1 &
pids+=($!)

port=$(free_port)
url[workerd]=http://127.0.0.1:$port/
"$peers/node_modules/.bin/workerd" serve "$peers/config.capnp" --socket-addr "http=127.0.0.1:$port" \
  > "$work/workerd.log" 2>&1 &
pids+=($!)

port=$(free_port)
url[nginx]=http://127.0.0.1:$port/
mkdir -p "$work/nginx"
# In the foreground, pid and logs in $work. No access log and no cap on requests per connection:
# the ceiling, not a production front door.
cat > "$work/nginx/nginx.conf" <<EOF
daemon off;
master_process on;
worker_processes auto;
pid $work/nginx/nginx.pid;
error_log $work/nginx/error.log;
events { worker_connections 1024; }
http {
  access_log off;
  keepalive_requests 1000000;
  client_body_temp_path $work/nginx/body;
  proxy_temp_path $work/nginx/proxy;
  fastcgi_temp_path $work/nginx/fastcgi;
  uwsgi_temp_path $work/nginx/uwsgi;
  scgi_temp_path $work/nginx/scgi;
  server {
    listen 127.0.0.1:$port;
    default_type text/plain;
    location / { return 200 "hello"; }
  }
}
EOF
/usr/sbin/nginx -p "$work/nginx" -c "$work/nginx/nginx.conf" -e "$work/nginx/error.log" &
pids+=($!)

port=$(free_port)
"$gust" serve --listen "127.0.0.1:$port" --data "$work/gust" > "$work/gust.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/healthz"
export GUST_URL="http://127.0.0.1:$port" GUST_TOKEN
GUST_TOKEN=$(cat "$work/gust/admin.token")
"$gust" --json deploy bench/functions/hello-py --name bench-py >/dev/null
"$gust" --json deploy bench/functions/hello-js --name bench-js >/dev/null
url[gust_py]=$GUST_URL/fn/bench-py
url[gust_js]=$GUST_URL/fn/bench-js

targets=(py_http10 py_keepalive workerd nginx gust_py gust_js)
for target in "${targets[@]}"; do
  wait_http "${url[$target]}"
  body=$(curl -sS --max-time 5 "${url[$target]}")
  [ "$body" = hello ] || { echo "$target at ${url[$target]} answered '$body', not hello" >&2; exit 1; }
done
# Warm: start every instance the 64-connection runs will use (max_instances = 4 each).
for target in gust_py gust_js workerd; do
  timeout 10 wrk -t1 -c64 -d1s "${url[$target]}" >/dev/null 2>&1 || true
done

# --- references: process start-up in the same run ------------------------------------------------
# Prints the median wall time in ms of 10 runs of a command.
wall_ms() {
  for _ in $(seq 1 10); do
    local start=$EPOCHREALTIME
    "$@" >/dev/null 2>&1
    awk -v a="$start" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f\n", (b - a) * 1000 }'
  done | median
}
# The interpreter itself, not a version manager's shim in front of it.
python_start=$(wall_ms "$python" -c pass)
node_start=$(wall_ms node -e 0)

# --- load: RUNS rounds, each target in turn, so noise spreads over all of them -------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
declare -A samples
for round in $(seq 1 "$runs"); do
  for connections in 1 64; do
    for target in "${targets[@]}"; do
      echo "run.sh: round $round/$runs, $connections conn, $target" >&2
      samples[${target}_$connections]+="$(measure "${url[$target]}" "$connections")"$'\n'
    done
  done
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The median of column $2 (1 rps, 2 p50, 3 p99) of a target's samples.
med() { printf '%s' "${samples[$1]}" | awk -v c="$2" 'NF {print $c}' | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
micros() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.0f", (a - b) * 1000 }'; }
verdict() { awk -v v="$1" -v op="$2" -v t="$3" 'BEGIN { ok = (op == ">=" ? v >= t : v <= t); print (ok ? "met" : "NOT met") }'; }

declare -A name=(
  [py_http10]="python http.server, HTTP/1.0"
  [py_keepalive]="python http.server, keep-alive"
  [workerd]="workerd, module worker"
  [nginx]="nginx, return 200"
  [gust_py]="gust python3 (warm, sandboxed)"
  [gust_js]="gust node (warm, sandboxed)"
)
[ "$(id -u)" -eq 0 ] || { name[gust_py]="gust python3 (warm)"; name[gust_js]="gust node (warm)"; }

echo
echo "gust against the peers: warm hello, wrk -t1 -d${duration}s, median of $runs runs"
echo "machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $load_before at start, $load_after at end"
echo "command: $command_line"
echo "gust: $gust"
printf '%-32s %5s %9s %9s %9s  %s\n' scenario conns "req/s" "p50 ms" "p99 ms" "ratio (req/s)"
declare -A python_peer
for connections in 1 64; do
  python_peer[$connections]=py_keepalive
  (($(med "py_http10_$connections" 1) > $(med "py_keepalive_$connections" 1))) && python_peer[$connections]=py_http10
  for target in "${targets[@]}"; do
    key=${target}_$connections
    note=
    case $target in
      "${python_peer[$connections]}") note="the python peer" ;;
      gust_py) note="$(ratio "$(med "$key" 1)" "$(med "${python_peer[$connections]}_$connections" 1)") x python peer" ;;
      gust_js) note="$(ratio "$(med "$key" 1)" "$(med "workerd_$connections" 1)") x workerd" ;;
    esac
    printf '%-32s %5s %9s %9s %9s  %s\n' "${name[$target]}" "$connections" \
      "$(med "$key" 1)" "$(med "$key" 2)" "$(med "$key" 3)" "$note"
  done
done

py_ratio=$(ratio "$(med gust_py_64 1)" "$(med "${python_peer[64]}_64" 1)")
js_ratio=$(ratio "$(med gust_js_64 1)" "$(med workerd_64 1)")
echo
echo "targets (issue 7), same run:"
printf '  %-50s %10s  %-12s %s\n' "gust python / python peer, req/s at 64 conns" "$py_ratio" ">= 2" \
  "$(verdict "$py_ratio" ">=" 2)"
printf '  %-50s %10s  %-12s %s\n' "gust node / workerd, req/s at 64 conns" "$js_ratio" ">= 1" \
  "$(verdict "$js_ratio" ">=" 1)"
for target in gust_py gust_js; do
  added_p50=$(micros "$(med "${target}_1" 2)" "$(med nginx_1 2)")
  added_p99=$(micros "$(med "${target}_1" 3)" "$(med nginx_1 3)")
  printf '  %-50s %10s  %-12s %s\n' "platform-added p50, ${target#gust_} - nginx, 1 conn" "${added_p50} us" \
    "<= 100 us" "$(verdict "$added_p50" "<=" 100)"
  printf '  %-50s %10s  %-12s %s\n' "platform-added p99, ${target#gust_} - nginx, 1 conn" "${added_p99} us" \
    "<= 1000 us" "$(verdict "$added_p99" "<=" 1000)"
done
echo "references, median of 10 wall times: python3 -c pass ${python_start} ms ($python)," \
  "node -e 0 ${node_start} ms ($(command -v node))"
