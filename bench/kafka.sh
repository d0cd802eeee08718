#!/usr/bin/env bash
# Kafka triggers (issue 6, "Measure"), in one run against one broker (scripts/kafka.sh):
#  - throughput: RECORDS records (~100-byte values) on a fresh 4-partition topic, read (a) raw by
#    kcat (librdkafka) from the beginning to the end, median of RUNS reads, and (b) by a Gust
#    Kafka trigger (--batch 500 --window 100ms --start earliest) invoking a Python function that
#    counts its batch's records; Gust's time runs from `gust trigger kafka` to the last
#    activation's finish (so it includes the consumer group join and the cold starts);
#  - latency: a 1-partition topic with a --batch 1 trigger on a warm function; LATENCY_RECORDS
#    records produced ~LATENCY_GAP_MS ms apart, each carrying its produce time (µs); the handler logs
#    `time.time() - produced` when it starts (same host clock inside the sandbox): p50/p99.
# Starts the broker if it is not running (and stops it at the end only then).
#
#   bench/kafka.sh [GUST_BINARY]     RECORDS=100000 LATENCY_RECORDS=300 RUNS=3 LATENCY_GAP_MS=10 by default
set -euo pipefail
cd "$(dirname "$0")/.."
gust=${1:-build/release/src/gust}
records=${RECORDS:-100000}
latency_records=${LATENCY_RECORDS:-300}
runs=${RUNS:-3}
gap_ms=${LATENCY_GAP_MS:-10}
broker=127.0.0.1:9092
source bench/lib.sh
command -v kcat >/dev/null || { echo "kcat is missing: run scripts/deps.sh" >&2; exit 1; }
"$gust" trigger kafka --help >/dev/null 2>&1 || { echo "$gust has no 'trigger kafka' command" >&2; exit 1; }

started_kafka=0
stop_kafka() { if ((started_kafka)); then bash scripts/kafka.sh stop || true; fi; }
trap 'cleanup; stop_kafka' EXIT
if ! bash scripts/kafka.sh status >/dev/null 2>&1; then
  started_kafka=1
  timeout 900 bash scripts/kafka.sh start
fi
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
started_at=$(date -u +%Y-%m-%dT%H:%MZ)
now() { date +%s.%N; }
rate() { awk -v n="$1" -v s="$2" 'BEGIN { printf "%.0f", (s > 0 ? n / s : 0) }'; }

# --- the records and the raw rates -----------------------------------------------------------
suffix="$(date +%s)-$$"
topic="bench-kafka-$suffix" latency_topic="bench-kafka-latency-$suffix"
timeout 120 bash scripts/kafka.sh topic "$topic" 4 2>/dev/null
timeout 120 bash scripts/kafka.sh topic "$latency_topic" 1 2>/dev/null
"$python" -c '
import sys
pad = "x" * 92
sys.stdout.write("".join("%08d%s\n" % (i, pad) for i in range(int(sys.argv[1]))))' "$records" \
  > "$work/records.txt"
t0=$(now)
timeout 300 kcat -P -b "$broker" -t "$topic" < "$work/records.txt"
produce_s=$(awk -v a="$t0" -v b="$(now)" 'BEGIN { print b - a }')

raw=()
for _ in $(seq 1 "$runs"); do
  t0=$(now)
  got=$(timeout 300 kcat -C -b "$broker" -t "$topic" -o beginning -e -q | wc -l)
  t1=$(now)
  [ "$got" -eq "$records" ] || { echo "kcat read $got records, not $records" >&2; exit 1; }
  raw+=("$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')")
done
raw_s=$(printf '%s\n' "${raw[@]}" | median)

# --- Gust --------------------------------------------------------------------------------------
port=$(free_port)
"$gust" serve --listen "127.0.0.1:$port" --data "$work/gust" > "$work/gust.log" 2>&1 &
pids+=($!)
wait_http "http://127.0.0.1:$port/healthz"
export GUST_URL="http://127.0.0.1:$port"
GUST_TOKEN=$(cat "$work/gust/admin.token")
export GUST_TOKEN

# One handler for both: it logs its batch's size and, for values "t=<µs>", how late it started.
mkdir -p "$work/fn"
printf 'runtime = "python3"\nhandler = "main.handler"\nmemory_mb = 128\nmax_instances = 4\n' \
  > "$work/fn/gust.toml"
cat > "$work/fn/main.py" <<'PY'
import base64, time
def handler(event, context):
    started = time.time()
    n = 0
    for records in event["records"].values():
        n += len(records)
        for r in records:
            value = base64.b64decode(r["value"])
            if value.startswith(b"t="):
                # Also against the record's CreateTime (ms), set by the producer's librdkafka.
                print("LAT %.3f %d" % ((started * 1e6 - int(value[2:])) / 1000.0,
                                       started * 1000 - r["timestamp"]))
    print("COUNT %d" % n)
    return {"count": n}
PY
"$gust" --json deploy "$work/fn" --name kcount >/dev/null
"$gust" --json deploy "$work/fn" --name klatency >/dev/null

# Reads every activation of function $1 (with logs) and prints, by $2:
#   count: "<records counted> <activations> <cold> <first started_at> <last finished_at>" (epoch s)
#   latency (createtime): how late each handler started after the time in the value (after the
#   record's CreateTime), ms, one a line.
cat > "$work/activations.py" <<'PY'
import datetime, json, os, sys, urllib.request
name, what = sys.argv[1], sys.argv[2]
out, cursor = [], ""
while True:
    req = urllib.request.Request(
        f"{os.environ['GUST_URL']}/api/v1/activations?function={name}&limit=1000&logs=1"
        f"&order=asc&cursor={cursor}",
        headers={"Authorization": "Bearer " + os.environ["GUST_TOKEN"]})
    page = json.load(urllib.request.urlopen(req, timeout=10))["activations"]
    if not page:
        break
    out += page
    cursor = page[-1]["id"]
t = lambda s: datetime.datetime.fromisoformat(s.replace("Z", "+00:00")).timestamp()
lines = [l for a in out for l in (a.get("logs") or "").splitlines()]
if what == "count":
    n = sum(int(l.split(" COUNT ", 1)[1]) for l in lines if " COUNT " in l)
    if not out:
        print(0, 0, 0, 0, 0)
    else:
        print(n, len(out), sum(1 for a in out if a.get("cold")),
              min(t(a["started_at"]) for a in out), max(t(a["finished_at"]) for a in out))
else:
    for l in lines:
        if " LAT " in l:
            print(l.split(" LAT ", 1)[1].split()[0 if what == "latency" else 1])
PY
activations() { "$python" "$work/activations.py" "$@"; }

# Throughput: from the trigger's creation until every record was counted.
t0=$(now)
"$gust" --json trigger kafka "$topic" --fn kcount --brokers "$broker" --batch 500 --window 100ms \
  --start earliest > "$work/trigger.json"
deadline=$((SECONDS + 600))
while :; do
  read -r counted invocations cold first_start last_finish < <(activations kcount count)
  ((counted >= records)) && break
  ((SECONDS < deadline)) || { echo "gust counted $counted of $records records in 600 s" >&2; exit 1; }
  sleep 0.5
done
gust_s=$(awk -v a="$t0" -v b="$last_finish" 'BEGIN { print b - a }')
steady_s=$(awk -v a="$first_start" -v b="$last_finish" 'BEGIN { print b - a }')
trigger_id=$("$python" -c 'import json,sys; print(json.load(sys.stdin)["id"])' < "$work/trigger.json")
lag=unknown
for _ in $(seq 1 40); do  # the consumer measures its lag about once a second
  lag=$("$gust" --json trigger ls | "$python" -c '
import json, sys
ls = json.load(sys.stdin)
t = [t for t in (ls["triggers"] if isinstance(ls, dict) else ls) if t["id"] == sys.argv[1]][0]
print(t["lag"]["total"] if t.get("lag") else "unknown")' "$trigger_id")
  [ "$lag" = 0 ] && break
  sleep 0.5
done
"$gust" trigger rm "$trigger_id" >/dev/null

# Latency, batch 1: warm the function through the trigger first, then the timed records.
"$gust" --json trigger kafka "$latency_topic" --fn klatency --brokers "$broker" --batch 1 \
  --window 10ms --start earliest >/dev/null
printf 'warm\nwarm\nwarm\n' | timeout 60 kcat -P -b "$broker" -t "$latency_topic"
deadline=$((SECONDS + 120))
until [ "$(activations klatency count | cut -d' ' -f1)" -ge 3 ]; do
  ((SECONDS < deadline)) || { echo "the latency trigger delivered nothing in 120 s" >&2; exit 1; }
  sleep 0.3
done
"$python" -c '
import sys, time
for _ in range(int(sys.argv[1])):
    print("t=%d" % (time.time() * 1e6), flush=True)
    time.sleep(float(sys.argv[2]) / 1000)' "$latency_records" "$gap_ms" \
  | timeout 120 kcat -P -b "$broker" -t "$latency_topic" -X linger.ms=0
deadline=$((SECONDS + 120))
until [ "$(activations klatency latency | wc -l)" -ge "$latency_records" ]; do
  ((SECONDS < deadline)) || { echo "not every latency record arrived in 120 s" >&2; exit 1; }
  sleep 0.5
done
read -r p50 p99 max < <(activations klatency latency | sort -n | awk '
  {a[NR]=$1} END { i50 = int(NR*0.50 + 0.999); i99 = int(NR*0.99 + 0.999); print a[i50], a[i99], a[NR] }')
read -r c50 c99 < <(activations klatency createtime | sort -n | awk '
  {a[NR]=$1} END { print a[int(NR*0.50 + 0.999)], a[int(NR*0.99 + 0.999)] }')
load_end=$(cut -d' ' -f1-3 /proc/loadavg)

# --- the table ---------------------------------------------------------------------------------
raw_rate=$(rate "$records" "$raw_s")
gust_rate=$(rate "$records" "$gust_s")
echo
echo "Kafka triggers against kcat (librdkafka), one broker on 127.0.0.1, one run"
echo "command: RECORDS=$records LATENCY_RECORDS=$latency_records LATENCY_GAP_MS=$gap_ms RUNS=$runs bench/kafka.sh $gust"
echo "machine: $(nproc) cores, $started_at, load average $load_start at start, $load_end at end"
printf '%-64s %12s\n' measure value
printf '%-64s %12s\n' "produce: kcat -P, $records x 100 B values, 4 partitions (rec/s)" "$(rate "$records" "$produce_s")"
printf '%-64s %12s\n' "raw consume: kcat -C -o beginning -e, median of $runs (rec/s)" "$raw_rate"
printf '%-64s %12s\n' "gust trigger, batch 500, window 100ms: create -> last (rec/s)" "$gust_rate"
printf '%-64s %12s\n' "  same, first activation start -> last finish (rec/s)" "$(rate "$records" "$steady_s")"
printf '%-64s %12s\n' "  activations (cold) / lag after" "$invocations ($cold) / $lag"
printf '%-64s %12s\n' "ratio gust / kcat (rec/s)" "$(awk -v a="$gust_rate" -v b="$raw_rate" 'BEGIN { printf "%.3f", a / b }')"
printf '%-64s %12s\n' "latency produce -> handler start, batch 1: p50 / p99 / max (ms)" "$p50 / $p99 / $max"
printf '%-64s %12s\n' "  the same against the record's CreateTime (ms resolution): p50 / p99" "$c50 / $c99"
printf '%-64s %12s\n' "  ($latency_records records ~$gap_ms ms apart, function warm)" ""
