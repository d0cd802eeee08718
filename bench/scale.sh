#!/usr/bin/env bash
# Scaling across functions (issue "Performance"): the same load spread over many functions
# against the same load on one. Deploys FUNCTIONS (100) copies of bench/functions/hello-py named
# bench-py-000..099, each with max_instances = MAX_INSTANCES (default 1: one warm instance per
# function, warmed before measuring, so no cold start happens during the runs), plus
# bench-scale-1, hello-py unchanged (max_instances 4, as run.sh's bench-py). wrk -t1 -cCONNECTIONS
# (64) for DURATION seconds drives both through the same Lua script, which picks each request's
# path: round-robin over the 100 URLs, or the one URL; RUNS rounds interleaved, medians shown.
# Target: 100-function throughput >= 0.5 x single-function throughput.
#
#   bench/scale.sh [GUST_BINARY] [--server URL] [--json]
#     GUST_BINARY   default build/release/src/gust; alone, the script starts its own server
#                   (sandboxed when run as root) from a copy of it, on 127.0.0.1
#     --server URL  use a running Gust at URL (127.0.0.1 only) with GUST_TOKEN from the
#                   environment (run.sh does this); the functions are removed again at the end
#     --json        one JSON object on stdout instead of the table (progress goes to stderr)
#   DURATION=5 RUNS=3 FUNCTIONS=100 MAX_INSTANCES=1 CONNECTIONS=64   the defaults
set -euo pipefail
cd "$(dirname "$0")/.."
gust=build/release/src/gust
server=
as_json=
while (($#)); do
  case $1 in
    --server) server=${2:?--server needs a URL}; shift 2 ;;
    --json) as_json=1; shift ;;
    -*) echo "scale.sh: unknown option $1" >&2; exit 2 ;;
    *) gust=$1; shift ;;
  esac
done
runs=${RUNS:-3}
functions=${FUNCTIONS:-100}
max_instances=${MAX_INSTANCES:-1}
connections=${CONNECTIONS:-64}
source bench/lib.sh
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/deps.sh" >&2; exit 1; }
[ -x "$gust" ] || { echo "no Gust binary at $gust: build it with make release" >&2; exit 1; }
((functions >= 1 && functions <= 1000)) || { echo "FUNCTIONS must be 1..1000" >&2; exit 2; }
say() { echo "scale.sh: $*" >&2; }
names=()
for i in $(seq 0 $((functions - 1))); do names+=("$(printf 'bench-py-%03d' "$i")"); done
single=bench-scale-1

if [ -n "$server" ]; then
  case $server in
    http://127.0.0.1:*) ;;
    *) echo "scale.sh: --server must be http://127.0.0.1:PORT" >&2; exit 2 ;;
  esac
  [ -n "${GUST_TOKEN:-}" ] || { echo "scale.sh: --server needs GUST_TOKEN" >&2; exit 2; }
  export GUST_URL=$server
  # Someone else's server: take our functions away again, on failure and Ctrl-C too.
  remove_functions() {
    for name in "${names[@]}" "$single"; do "$gust" rm "$name" >/dev/null 2>&1 || true; done
  }
  trap 'remove_functions; cleanup' EXIT
else
  gust=$(snapshot_gust "$gust")
  port=$(free_port)
  "$gust" serve --listen "127.0.0.1:$port" --data "$work/gust" > "$work/gust.log" 2>&1 &
  pids+=($!)
  wait_http "http://127.0.0.1:$port/healthz"
  export GUST_URL="http://127.0.0.1:$port" GUST_TOKEN
  GUST_TOKEN=$(cat "$work/gust/admin.token")
fi

# --- deploy and warm ----------------------------------------------------------------------------
mkdir -p "$work/scale-fn"
cp bench/functions/hello-py/* "$work/scale-fn/"
sed -i "s/^max_instances = .*/max_instances = $max_instances/" "$work/scale-fn/gust.toml"
grep -q "^max_instances = $max_instances\$" "$work/scale-fn/gust.toml" ||
  { echo "scale.sh: could not set max_instances in the copy of hello-py" >&2; exit 1; }
say "deploying $functions functions (max_instances = $max_instances) and $single"
began=$EPOCHREALTIME
for name in "${names[@]}"; do "$gust" --json deploy "$work/scale-fn" --name "$name" >/dev/null; done
"$gust" --json deploy bench/functions/hello-py --name "$single" >/dev/null
deploy_s=$(awk -v a="$began" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')

# Warm: one request per function, 4 at a time; each must answer hello.
say "warming $functions functions"
began=$EPOCHREALTIME
printf '%s\n' "${names[@]}" | xargs -P 4 -I{} sh -c \
  'body=$(curl -sS --max-time 30 "$0/fn/{}") && [ "$body" = hello ] || { echo "{} answered: $body" >&2; exit 255; }' \
  "$GUST_URL"
warm_s=$(awk -v a="$began" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
timeout 10 wrk -t1 -c"$connections" -d1s "$GUST_URL/fn/$single" >/dev/null 2>&1 || true

# The same Lua script for both scenarios, so the client's per-request cost is the same.
lua_paths() {
  local file=$1
  shift
  {
    echo "local paths = {"
    for name in "$@"; do echo "  \"/fn/$name\","; done
    echo "}"
    cat <<'LUA'
local n, i = #paths, 0
request = function()
  i = i % n + 1
  return wrk.format(nil, paths[i])
end
LUA
  } > "$file"
}
lua_paths "$work/many.lua" "${names[@]}"
lua_paths "$work/one.lua" "$single"
# A short pass over every URL: the scheduler has seen each one under load before measuring.
timeout 10 wrk -t1 -c"$connections" -d1s -s "$work/many.lua" "$GUST_URL/" >/dev/null 2>&1 || true

# Instances of our functions, from the control API: "all busy single" for the three groups.
instances() {
  curl -sS --max-time 10 -H "Authorization: Bearer $GUST_TOKEN" "$GUST_URL/api/v1/instances" |
    "$python" -c '
import json, sys
pools = json.load(sys.stdin)["pools"]
many = [p for p in pools if p["function"].startswith("bench-py-")]
print(sum(p["instances"] for p in many), len(many),
      sum(p["instances"] for p in pools if p["function"] == sys.argv[1]))' "$single"
}
read -r before_instances before_pools before_single < <(instances)
((before_pools == functions)) ||
  { echo "scale.sh: only $before_pools of $functions functions have instances after warming" >&2; exit 1; }

# --- load: RUNS rounds, the two scenarios in turn --------------------------------------------------
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
one=
many=
for round in $(seq 1 "$runs"); do
  say "round $round/$runs, $connections conn, 1 function"
  one+="$(measure "$GUST_URL/" "$connections" -s "$work/one.lua")"$'\n'
  say "round $round/$runs, $connections conn, $functions functions"
  many+="$(measure "$GUST_URL/" "$connections" -s "$work/many.lua")"$'\n'
done
load_after=$(cut -d' ' -f1-3 /proc/loadavg)
read -r after_instances after_pools after_single < <(instances)

med() { printf '%s' "$1" | awk -v c="$2" 'NF {print $c}' | median; }
one_rps=$(med "$one" 1)
many_rps=$(med "$many" 1)
ratio=$(awk -v a="$many_rps" -v b="$one_rps" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }')
met=$(awk -v v="$ratio" 'BEGIN { print (v >= 0.5 ? "met" : "NOT met") }')

if [ -n "$as_json" ]; then
  printf '{"functions": %d, "max_instances": %d, "connections": %d, "duration_s": %s, "runs": %d,' \
    "$functions" "$max_instances" "$connections" "$duration" "$runs"
  printf ' "single": {"rps": %s, "p50_ms": %s, "p99_ms": %s},' "$one_rps" "$(med "$one" 2)" "$(med "$one" 3)"
  printf ' "many": {"rps": %s, "p50_ms": %s, "p99_ms": %s},' "$many_rps" "$(med "$many" 2)" "$(med "$many" 3)"
  printf ' "ratio": %s, "instances_before": %d, "instances_after": %d, "single_instances": %d,' \
    "$ratio" "$before_instances" "$after_instances" "$after_single"
  printf ' "deploy_s": %s, "warm_s": %s, "load_before": "%s", "load_after": "%s"}\n' \
    "$deploy_s" "$warm_s" "$load_before" "$load_after"
  exit 0
fi
echo
echo "gust across functions: warm hello-py, wrk -t1 -c$connections -d${duration}s, one Lua script picking the path, median of $runs runs"
echo "machine: $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC'), load average $load_before at start, $load_after at end"
echo "gust: $GUST_URL; deployed $functions functions in ${deploy_s} s, warmed them in ${warm_s} s"
printf '%-52s %5s %9s %9s %9s  %s\n' scenario conns "req/s" "p50 ms" "p99 ms" instances
printf '%-52s %5s %9s %9s %9s  %s\n' "1 function ($single, max_instances 4)" "$connections" \
  "$one_rps" "$(med "$one" 2)" "$(med "$one" 3)" "$after_single"
printf '%-52s %5s %9s %9s %9s  %s\n' "$functions functions, round-robin (max_instances $max_instances)" \
  "$connections" "$many_rps" "$(med "$many" 2)" "$(med "$many" 3)" "$before_instances -> $after_instances"
echo
printf 'target: %s-function / 1-function req/s >= 0.5: %s, %s\n' "$functions" "$ratio" "$met"
