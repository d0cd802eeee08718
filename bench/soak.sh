#!/usr/bin/env bash
# A bounded soak (issue 16): does a long run at a steady load leave the server flat? Starts a
# release `gust serve` on 127.0.0.1 (sandboxed when run as root, its default) with small retention
# budgets, deploys bench/functions/loud-py and loud-js (each call prints 4 KiB of logs), then
#   1. measures the peak: wrk -t1 -cCONNECTIONS, requests alternating Python / Node, as fast as
#      answers come (SOAK_PEAK_SECONDS);
#   2. soaks at SOAK_PERCENT of that peak for SOAK_SECONDS: the same wrk and connections, each
#      request paced by bench/soak.lua (the n-th is due n / rate s after the first; wrk2 is not in
#      Debian, h2load's --rate paces connections, not requests);
#   3. every SOAK_SAMPLE_SECONDS writes a CSV row: the server's RSS, open fds and threads
#      (/proc/PID), the data dir (du) and gust.db / -wal / -activations sizes, the requests and
#      4xx/5xx it counted (/metrics), the load average;
#   4. prints each metric's first/last/min/max/mean and least-squares slope per minute, over the
#      whole soak and over its second half (a bounded data dir climbs to its budget, then levels),
#      what wrk sent and the errors, and where the database's bytes are (SQLite's dbstat); the
#      server's log (retention.pruned events and the like) is kept next to the CSV.
#
#   bench/soak.sh [GUST_BINARY]      default build/release/src/gust (`make soak` builds it)
#   SOAK_SECONDS=600 SOAK_PERCENT=80 SOAK_CONNECTIONS=32 SOAK_PEAK_SECONDS=10
#   SOAK_SAMPLE_SECONDS=15 SOAK_CSV=build/soak.csv                                the defaults
#   SOAK_RETAIN_MB=64 SOAK_RETENTION_INTERVAL_S=10 SOAK_RETAIN_ACCESS_ROWS=100000   the server's retention
# The gateway's access log (a row per request) has only an age limit, in whole days: 0 (keep
# nothing past a retention pass) is the only value that bounds it within a soak; set 7 (the
# server's default) to watch it grow.
set -euo pipefail
cd "$(dirname "$0")/.."
gust=${1:-build/release/src/gust}
soak_seconds=${SOAK_SECONDS:-600}
percent=${SOAK_PERCENT:-80}
connections=${SOAK_CONNECTIONS:-32}
peak_seconds=${SOAK_PEAK_SECONDS:-10}
sample_seconds=${SOAK_SAMPLE_SECONDS:-15}
csv=${SOAK_CSV:-build/soak.csv}
retain_mb=${SOAK_RETAIN_MB:-64}
retention_interval_s=${SOAK_RETENTION_INTERVAL_S:-10}
retain_access_rows=${SOAK_RETAIN_ACCESS_ROWS:-100000}
source bench/lib.sh
say() { echo "soak.sh: $*" >&2; }
command -v wrk >/dev/null || { echo "wrk is missing: run scripts/deps.sh" >&2; exit 1; }
[ -x "$gust" ] || { echo "no Gust binary at $gust: build it with make release (make soak does)" >&2; exit 1; }
gust_source=$gust
gust=$(snapshot_gust "$gust")
mkdir -p "$(dirname "$csv")"

# --- the server, its functions, warm instances ---------------------------------------------------
data=$work/gust
retention=(--retain-mb "$retain_mb" --retention-interval-s "$retention_interval_s"
  --retain-access-rows "$retain_access_rows")
port=$(free_port)
"$gust" serve --listen "127.0.0.1:$port" --data "$data" "${retention[@]}" > "$work/gust.log" 2>&1 &
gust_pid=$!
pids+=($gust_pid)
wait_http "http://127.0.0.1:$port/healthz"
export GUST_URL="http://127.0.0.1:$port" GUST_TOKEN
GUST_TOKEN=$(cat "$data/admin.token")
"$gust" --json deploy bench/functions/loud-py --name soak-py >/dev/null
"$gust" --json deploy bench/functions/loud-js --name soak-js >/dev/null
for name in soak-py soak-js; do
  body=$(curl -sS --max-time 10 "$GUST_URL/fn/$name")
  [ "$body" = hello ] || { echo "$name answered '$body', not hello" >&2; exit 1; }
done
say "warming (every instance the connections will use)"
timeout 30 wrk -t1 -c"$connections" -d2s -s bench/soak.lua "$GUST_URL" >/dev/null 2>&1 || true

# Runs wrk against both functions for $1 seconds at $2 requests/s (0: as fast as it can), its
# report to $3. Call it in the background: it execs, so $! is what to stop.
drive() {
  SOAK_RATE=$2 exec timeout --kill-after=10 $(($1 + 60)) wrk -t1 -c"$connections" -d"$1s" --timeout 10s \
    --latency -s bench/soak.lua "$GUST_URL" > "$3" 2>&1
}
# Prints "requests errors" from a wrk report: errors are non-2xx/3xx answers and socket errors.
wrk_counts() {
  awk '/ requests in / {n = $1}
       /Non-2xx or 3xx responses:/ {e += $NF}
       /Socket errors:/ {gsub(",", ""); e += $4 + $6 + $8 + $10}
       END {printf "%d %d\n", n, e}' "$1"
}

say "peak: wrk -t1 -c$connections -d${peak_seconds}s, as fast as answers come"
drive "$peak_seconds" 0 "$work/peak.txt" &
pids+=($!)
wait $!
peak_rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/peak.txt")
read -r _ peak_errors < <(wrk_counts "$work/peak.txt")
((peak_rps > 0 && peak_errors == 0)) ||
  { echo "the peak run failed ($peak_errors errors):" >&2; cat "$work/peak.txt" >&2; exit 1; }
rate=$((peak_rps * percent / 100))

# --- the soak, sampled ----------------------------------------------------------------------------
# Prints the server's counters from /metrics: "requests errors instances" (errors: 4xx and 5xx).
server_counts() {
  curl -sS --max-time 5 "$GUST_URL/metrics" | awk '
    /^gust_gateway_requests_total\{/ {n += $NF; if ($0 ~ /class="[45]xx"/) e += $NF}
    /^gust_instances\{/ {i += $NF}
    END {printf "%d %d %d\n", n, e, i}'
}
file_bytes() { stat -c %s "$1" 2>/dev/null || echo 0; }
# One CSV row, $1 seconds into the soak.
sample() {
  local status=/proc/$gust_pid/status rss threads fds data_kib requests errors instances
  rss=$(awk '/^VmRSS:/ {print $2}' "$status")
  threads=$(awk '/^Threads:/ {print $2}' "$status")
  fds=$(find "/proc/$gust_pid/fd" -mindepth 1 -maxdepth 1 2>/dev/null | wc -l)
  # Files come and go under du (instances' scratch, the WAL): it may complain, the sum stands.
  data_kib=$({ du -sk "$data" 2>/dev/null || true; } | cut -f1)
  read -r requests errors instances < <(server_counts)
  echo "$1,$rss,$fds,$threads,$data_kib,$(file_bytes "$data/gust.db"),$(file_bytes "$data/gust.db-wal")," \
    "$(($(file_bytes "$data/gust.db-activations") + $(file_bytes "$data/gust.db-activations-2"))),$requests,$errors,$instances,$(cut -d' ' -f1 /proc/loadavg)" |
    tr -d ' '
}

load_start=$(cut -d' ' -f1-3 /proc/loadavg)
say "soak: ${soak_seconds}s at $rate req/s ($percent % of $peak_rps), sampling every ${sample_seconds}s into $csv"
echo "elapsed_s,rss_kib,fds,threads,data_dir_kib,db_bytes,wal_bytes,journal_bytes,server_requests,server_errors,instances,load1" > "$csv"
drive "$soak_seconds" "$rate" "$work/soak.txt" &
wrk_pid=$!
pids+=($wrk_pid)
began=$SECONDS
sample 0 >> "$csv"
while kill -0 "$wrk_pid" 2>/dev/null; do
  next=$(( (SECONDS - began) / sample_seconds * sample_seconds + sample_seconds ))
  while ((SECONDS - began < next)) && kill -0 "$wrk_pid" 2>/dev/null; do sleep 1; done
  sample $((SECONDS - began)) >> "$csv"
done
wait "$wrk_pid" || { echo "wrk failed:" >&2; cat "$work/soak.txt" >&2; exit 1; }
load_end=$(cut -d' ' -f1-3 /proc/loadavg)
cp "$work/gust.log" "${csv%.csv}.gust.log"
read -r sent wrk_errors < <(wrk_counts "$work/soak.txt")
soak_rps=$(awk '/Requests\/sec/ {printf "%.0f", $2}' "$work/soak.txt")
# Where the database's bytes are, read while the server still holds it (a read-only reader).
"$python" - "$data/gust.db" > "$work/dbstat.txt" <<'PY' || echo "(dbstat failed)" > "$work/dbstat.txt"
import sqlite3, sys
db = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
rows = db.execute("SELECT name, SUM(pgsize) FROM dbstat GROUP BY name ORDER BY 2 DESC LIMIT 8").fetchall()
free = db.execute("PRAGMA freelist_count").fetchone()[0] * db.execute("PRAGMA page_size").fetchone()[0]
print("  ".join(f"{name} {size / 2**20:.1f}" for name, size in rows) + f"  (free pages {free / 2**20:.1f})")
PY
# Where the data dir's bytes are, by top-level entry (the largest first).
{ du -sk "$data"/* 2>/dev/null || true; } | sort -rn | head -8 |
  awk -v d="$data/" '{sub(d, "", $2); printf "%s %.1f  ", $2, $1 / 1024} END {print ""}' > "$work/du.txt"

# --- the report -----------------------------------------------------------------------------------
echo
echo "soak: $soak_seconds s at $rate req/s offered ($percent % of the $peak_rps req/s peak), wrk -t1 -c$connections," \
  "Python and Node alternating, 4 KiB of logs per call; $(nproc) cores, $(date -u '+%Y-%m-%d %H:%M UTC')"
echo "command: SOAK_SECONDS=$soak_seconds SOAK_PERCENT=$percent SOAK_CONNECTIONS=$connections" \
  "SOAK_RETAIN_MB=$retain_mb SOAK_RETENTION_INTERVAL_S=$retention_interval_s" \
  "SOAK_RETAIN_ACCESS_ROWS=$retain_access_rows bench/soak.sh${1:+ $1}"
echo "gust: $gust_source serve ${retention[*]} (sandbox: $([ "$(id -u)" -eq 0 ] && echo linux || echo none))"
echo "load average $load_start at the start, $load_end at the end; samples: $csv, server log: ${csv%.csv}.gust.log"
echo "wrk: $sent requests ($soak_rps req/s achieved), $wrk_errors errors" \
  "(non-2xx/3xx and socket errors); latency p50 $(awk '/^ +50%/ {print $2}' "$work/soak.txt")," \
  "p99 $(awk '/^ +99%/ {print $2}' "$work/soak.txt")"
"$python" - "$csv" <<'PY'
import csv, sys

rows = [{k: float(v) for k, v in row.items()} for row in csv.DictReader(open(sys.argv[1]))]


def slope_per_minute(points):
    """Least-squares slope of (seconds, value) points, per minute."""
    n = len(points)
    if n < 2:
        return 0.0
    mean_t = sum(t for t, _ in points) / n
    mean_v = sum(v for _, v in points) / n
    var = sum((t - mean_t) ** 2 for t, _ in points)
    return 60 * sum((t - mean_t) * (v - mean_v) for t, v in points) / var if var else 0.0


metrics = [("RSS MiB", "rss_kib", 1 / 1024), ("open fds", "fds", 1), ("threads", "threads", 1),
           ("data dir MiB (du)", "data_dir_kib", 1 / 1024), ("gust.db MiB", "db_bytes", 2**-20),
           ("gust.db-wal MiB", "wal_bytes", 2**-20), ("journal MiB", "journal_bytes", 2**-20),
           ("instances", "instances", 1), ("load average (1 min)", "load1", 1)]
half = rows[len(rows) // 2:]
print(f"{len(rows)} samples over {rows[-1]['elapsed_s']:.0f} s")
print(f"{'metric':22} {'first':>9} {'last':>9} {'min':>9} {'max':>9} {'mean':>9} {'slope/min':>10}"
      f" {'2nd half':>10}")
for label, key, scale in metrics:
    values = [r[key] * scale for r in rows]
    whole = slope_per_minute([(r["elapsed_s"], r[key] * scale) for r in rows])
    second = slope_per_minute([(r["elapsed_s"], r[key] * scale) for r in half])
    print(f"{label:22} {values[0]:9.1f} {values[-1]:9.1f} {min(values):9.1f} {max(values):9.1f}"
          f" {sum(values) / len(values):9.1f} {whole:+10.2f} {second:+10.2f}")
served = rows[-1]["server_requests"] - rows[0]["server_requests"]
errors = rows[-1]["server_errors"] - rows[0]["server_errors"]
print(f"server: {served:.0f} requests served during the soak, {errors:.0f} answered 4xx/5xx")
PY
echo "gust.db by table/index, MiB: $(cat "$work/dbstat.txt")"
echo "data dir by entry, MiB: $(cat "$work/du.txt")"
