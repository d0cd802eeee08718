#!/usr/bin/env bash
# Gust against the peers, one command, one table (issue "Performance"). Starts on 127.0.0.1:
#   - the Python peer: bench/peers/python_http_server.py as users write it (HTTP/1.0) and with
#     HTTP/1.1 keep-alive; the stronger of the two at each connection count is "the python peer";
#   - workerd (npm `workerd`, pinned in bench/peers/workerd/) serving a module worker;
#   - nginx answering `return 200 "hello"` (the ceiling for an HTTP front door on this machine);
#   - Gust (sandboxed when run as root, its default) with bench/functions/hello-py and hello-js.
# Every target returns "hello". wrk drives each with 1 connection (latency) and 64 (throughput)
# for DURATION seconds, RUNS times interleaved; the table shows medians and the issue's ratios.
# Then the issue's other targets, each measured in the same run:
#   - scaling across functions: bench/scale.sh against this Gust (100 functions, round-robin);
#   - cold starts: bench/coldstart.py's server run (full sandbox, pre-started Python instance);
#   - sandbox creation rate: bench/sandbox_rate.py (gust-sandbox driven directly);
#   - density: bench/density.py (DENSITY_N idle warm instances held at once, their PSS).
# Installs nginx, wrk and workerd if missing; stops everything it started on exit. Gust runs
# from a copy of GUST_BINARY (and its gust-sandbox): a rebuild during the run cannot change it.
#
#   bench/run.sh [GUST_BINARY]    default build/release/src/gust (`make bench` builds it, then runs this)
#   DURATION=5 RUNS=3             the defaults (also for scale.sh)
#   COLD_N=40 SANDBOX_SECONDS=5 DENSITY_N=1000   cold starts per runtime, seconds per sandbox-rate
#                                 mode, instances held by density.py
set -euo pipefail
cd "$(dirname "$0")/.."
gust=${1:-build/release/src/gust}
runs=${RUNS:-3}
cold_n=${COLD_N:-40}
sandbox_seconds=${SANDBOX_SECONDS:-5}
density_n=${DENSITY_N:-1000}
command_line="DURATION=${DURATION:-5} RUNS=$runs bench/run.sh${1:+ $1}"
[ "$cold_n$sandbox_seconds$density_n" = "4051000" ] ||
  command_line="COLD_N=$cold_n SANDBOX_SECONDS=$sandbox_seconds DENSITY_N=$density_n $command_line"
source bench/lib.sh

[ -x "$gust" ] || { echo "no Gust binary at $gust: build it with make release (make bench does)" >&2; exit 1; }
gust_source=$gust
gust=$(snapshot_gust "$gust")

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
declare -A root_pid=([py_http10]=$!)
port=$(free_port)
url[py_keepalive]=http://127.0.0.1:$port/
"$python" bench/peers/python_http_server.py "$port" --keep-alive > "$work/py_keepalive.log" 2>&1 &
pids+=($!)
root_pid[py_keepalive]=$!

port=$(free_port)
url[workerd]=http://127.0.0.1:$port/
"$peers/node_modules/.bin/workerd" serve "$peers/config.capnp" --socket-addr "http=127.0.0.1:$port" \
  > "$work/workerd.log" 2>&1 &
pids+=($!)
root_pid[workerd]=$!

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
root_pid[nginx]=$!

port=$(free_port)
"$gust" serve --listen "127.0.0.1:$port" --data "$work/gust" > "$work/gust.log" 2>&1 &
gust_pid=$!
pids+=($gust_pid)
root_pid[gust_py]=$gust_pid root_pid[gust_js]=$gust_pid
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
      read -r self_before children_before < <(cpu_ticks "${root_pid[$target]}")
      sample=$(measure "${url[$target]}" "$connections")
      read -r self_after children_after < <(cpu_ticks "${root_pid[$target]}")
      # CPU per request, in µs: the server process itself, then its children (Gust's instances,
      # nginx's workers; workerd and http.server do the work in one process).
      sample+=$(awk -v n="${sample##* }" -v s=$((self_after - self_before)) \
        -v c=$((children_after - children_before)) -v hz="$(getconf CLK_TCK)" \
        'BEGIN { printf " %.0f %.0f", (n > 0 ? s / hz * 1e6 / n : 0), (n > 0 ? c / hz * 1e6 / n : 0) }')
      samples[${target}_$connections]+="$sample"$'\n'
    done
  done
done

# --- the other targets, each bounded; a failure is reported in the table, not fatal --------------
export DURATION=$duration RUNS=$runs
# Runs a command with a time limit, its JSON (stdout) to $work/$1.json; stderr passes through.
# Prints nothing; returns the command's status.
json_run() {
  local name=$1 limit=$2
  shift 2
  echo "run.sh: $name" >&2
  timeout --foreground --kill-after=30 "$limit" "$@" > "$work/$name.json" && [ -s "$work/$name.json" ]
}
json_run scale 900 bash bench/scale.sh "$gust" --server "$GUST_URL" --json || echo "run.sh: scale.sh failed" >&2
# The rest starts servers and sandboxes of its own: stop this Gust (its ~110 instances) first.
kill "$gust_pid" 2>/dev/null || true
wait "$gust_pid" 2>/dev/null || true
json_run cold 600 "$python" - "$gust" "$cold_n" "$work/cold" <<'PY' || echo "run.sh: cold starts failed" >&2
# bench/coldstart.py's server run with the default sandbox (full, a pre-started Python
# instance per tenant): every request finds no warm instance (--idle-ttl 0).
import json, pathlib, signal, sys
sys.path.insert(0, "bench")
import coldstart


def interrupted(*_):
    raise KeyboardInterrupt()


signal.signal(signal.SIGTERM, interrupted)
gust, n, work = sys.argv[1], int(sys.argv[2]), pathlib.Path(sys.argv[3])
work.mkdir(parents=True, exist_ok=True)
out = {"n": n}
for name, (client, init) in coldstart.run_server(gust, "prestart", work, n).items():
    out[name] = {"e2e_p50": coldstart.pct(client, 50), "e2e_p99": coldstart.pct(client, 99),
                 "init_p50": coldstart.pct(init, 50), "init_p99": coldstart.pct(init, 99)}
print(json.dumps(out))
PY
json_run sandbox 300 "$python" bench/sandbox_rate.py "$gust" --duration "$sandbox_seconds" --json ||
  echo "run.sh: sandbox_rate.py failed" >&2
json_run density 600 "$python" bench/density.py "$gust" --n "$density_n" --json ||
  echo "run.sh: density.py failed" >&2
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

# The median of column $2 (1 rps, 2 p50, 3 p99, 4 requests, 5 and 6 CPU µs per request in the
# process itself and in its children) of a target's samples.
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
echo "gust: $gust_source"
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
# Where throughput goes on a machine whose cores wrk, the server and its instances share.
echo
echo "CPU per request at 64 connections, µs (median of $runs; /proc utime + stime; wrk not counted)"
printf '%-32s %9s %9s %9s\n' scenario process children total
for target in "${targets[@]}"; do
  key=${target}_64
  printf '%-32s %9s %9s %9s\n' "${name[$target]}" "$(med "$key" 5)" "$(med "$key" 6)" \
    "$(($(med "$key" 5) + $(med "$key" 6)))"
done

# --- the other targets' own figures ---------------------------------------------------------------
have() { [ -s "$work/$1.json" ]; }
j() { json_get "$work/$1.json" "$2"; }
echo
if have scale; then
  echo "across functions (bench/scale.sh, this Gust): wrk -t1 -c$(j scale 'd["connections"]') -d${duration}s, one Lua script picking each request's path, median of $runs runs"
  printf '%-52s %5s %9s %9s %9s  %s\n' scenario conns "req/s" "p50 ms" "p99 ms" instances
  for which in single many; do
    if [ $which = single ]; then label="1 function (max_instances 4)"; count=$(j scale 'd["single_instances"]')
    else
      label="$(j scale 'd["functions"]') functions, round-robin (max_instances $(j scale 'd["max_instances"]'))"
      count="$(j scale 'd["instances_before"]') -> $(j scale 'd["instances_after"]')"
    fi
    printf '%-52s %5s %9s %9s %9s  %s\n' "$label" "$(j scale 'd["connections"]')" "$(j scale "d['$which']['rps']")" \
      "$(j scale "'%.3f' % d['$which']['p50_ms']")" "$(j scale "'%.3f' % d['$which']['p99_ms']")" "$count"
  done
else
  echo "across functions (bench/scale.sh): failed, see its messages above"
fi
if have cold; then
  echo "cold starts (bench/coldstart.py's server: full sandbox, pre-started Python instance, --idle-ttl 0), $cold_n sequential each, ms p50 / p99:"
  for runtime in python node; do
    printf '  %-8s client e2e %6.1f / %6.1f   server init_ms %6.1f / %6.1f\n' "$runtime" \
      "$(j cold "d['$runtime']['e2e_p50']")" "$(j cold "d['$runtime']['e2e_p99']")" \
      "$(j cold "d['$runtime']['init_p50']")" "$(j cold "d['$runtime']['init_p99']")"
  done
else
  echo "cold starts (bench/coldstart.py): failed, see its messages above"
fi
if have sandbox; then
  echo "sandbox creation (bench/sandbox_rate.py): $(j sandbox 'd["command"]') in a fresh sandbox, $(j sandbox 'd["concurrency"]') in flight, ${sandbox_seconds} s per mode"
  j sandbox '"\n".join("  %-50s %7.0f/s  p50 %6.2f ms  p99 %6.2f ms  failed %d" % ({"spawn": "/bin/true spawned directly (the driver ceiling)", "helper": "gust-sandbox, no cgroup", "cgroup": "gust-sandbox + per-sandbox cgroup (as the server)"}[r["mode"]], r["per_second"], r["p50_ms"], r["p99_ms"], r["failures"]) for r in d["results"])'
else
  echo "sandbox creation (bench/sandbox_rate.py): failed, see its messages above"
fi
if have density; then
  echo "density (bench/density.py, its own Gust): $(j density 'd["held"]') of $(j density 'd["requested"]') idle warm Python instances held at once, ramp $(j density 'd["ramp_s"]') s$(j density '"; " + d["stopped"] if d["stopped"] else ""')$(j density '"; %d failed requests, first: %s" % (d["failed_requests"], d["first_failure"]) if d["failed_requests"] else ""')"
  j density '"  PSS %.0f MiB over %d processes (%s): %.2f MiB per instance, %.0f instances per GiB; the server %.1f MiB" % (d["pss_total_kib"] / 1024, d["processes"], ", ".join("%d %s" % (v["processes"], k) for k, v in sorted(d["by_comm"].items())), d["pss_per_instance_kib"] / 1024, d["instances_per_gib_pss"], d["server_pss_kib"] / 1024)'
else
  echo "density (bench/density.py): failed, see its messages above"
fi

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
target() {  # label, value as printed, value, operator, target as printed, target
  printf '  %-50s %10s  %-12s %s\n' "$1" "$2" "$4 $5" "$(verdict "$3" "$4" "$6")"
}
missing() { printf '  %-50s %10s  %-12s %s\n' "$1" failed "$2" "NOT measured"; }
if have scale; then
  value=$(j scale '"%.2f" % d["ratio"]')
  target "gust $(j scale 'd["functions"]') functions / 1 function, req/s at $(j scale 'd["connections"]') conns" \
    "$value" "$value" ">=" 0.5 0.5
else
  missing "gust 100 functions / 1 function, req/s at 64 conns" ">= 0.5"
fi
for spec in "python e2e_p50 5" "python e2e_p99 20" "node e2e_p50 50"; do
  read -r runtime key limit <<<"$spec"
  label="cold start ${key#e2e_}, $runtime (at the client)"
  if have cold; then
    value=$(j cold "round(d['$runtime']['$key'], 1)")
    target "$label" "$value ms" "$value" "<=" "$limit ms" "$limit"
  else
    missing "$label" "<= $limit ms"
  fi
done
for mode in helper cgroup; do
  label="sandboxes created per second, $mode"
  [ $mode = helper ] && label="sandboxes created per second (gust-sandbox alone)"
  [ $mode = cgroup ] && label="  same, with a cgroup per sandbox (as the server)"
  if have sandbox; then
    value=$(j sandbox "round(next(r['per_second'] for r in d['results'] if r['mode'] == '$mode'))")
    target "$label" "$value/s" "$value" ">=" "1000/s" 1000
  else
    missing "$label" ">= 1000/s"
  fi
done
if have density; then
  value=$(j density 'round(d["instances_per_gib_pss"])')
  target "idle warm instances per GiB of PSS ($(j density 'd["held"]') held)" "$value" "$value" ">=" 500 500
  value=$(j density 'd["held"]')
  target "idle warm instances held at once" "$value" "$value" ">=" 1000 1000
else
  missing "idle warm instances per GiB of PSS" ">= 500"
  missing "idle warm instances held at once" ">= 1000"
fi
echo "references, median of 10 wall times: python3 -c pass ${python_start} ms ($python)," \
  "node -e 0 ${node_start} ms ($(command -v node))"
