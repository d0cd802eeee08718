# Helpers shared by the bench/*.sh scripts; source it after `cd` to the repository root.
# Sets $python, $work (a temp dir removed on exit) and $pids (killed on exit), and defines
# free_port, wait_http, measure (req/s, p50 ms, p99 ms, requests), cpu_ticks and median.
# DURATION is seconds per wrk run (default 5).
duration=${DURATION:-5}
python=$(python3 -c 'import sys; print(sys.executable)')

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

free_port() { "$python" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

# Waits up to 10 s for an HTTP answer at $1.
wait_http() {
  for _ in $(seq 1 100); do curl -fsS --max-time 1 "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done
  echo "nothing answered at $1" >&2; return 1
}

# Prints "requests/s p50_ms p99_ms" for one wrk run; extra arguments go to wrk. Fails on any
# non-2xx answer, so a broken target never passes for a fast one.
measure() {
  local url=$1 connections=$2
  shift 2
  timeout $((duration + 30)) wrk -t1 -c"$connections" -d"${duration}s" --latency "$@" "$url" \
    > "$work/wrk.txt" 2>&1 || true
  grep -q "Non-2xx" "$work/wrk.txt" && { echo "non-2xx answers from $url:" >&2; cat "$work/wrk.txt" >&2; exit 1; }
  awk '
    /Requests\/sec/ {rps=$2}
    /^ +50%/ {p50=$2} /^ +99%/ {p99=$2}
    function ms(v) { if (v ~ /us$/) return v/1000; if (v ~ /ms$/) return v+0; if (v ~ /s$/) return v*1000; return v }
    / requests in / {n=$1}
    END { printf "%.0f %.3f %.3f %d\n", rps, ms(p50), ms(p99), n }' "$work/wrk.txt"
}

# CPU time (user + system, in clock ticks) of process $1 itself, then of all its descendants
# alive now (a server's instances: the sandbox's keeper and init, and the interpreter).
cpu_ticks() {
  "$python" - "$1" <<'PY'
import os, sys
root, parent, ticks = int(sys.argv[1]), {}, {}
for entry in os.listdir("/proc"):
    if entry.isdigit():
        try:
            fields = open(f"/proc/{entry}/stat").read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        ticks[int(entry)] = int(fields[11]) + int(fields[12])
def descends(pid):
    while pid in parent and pid != root:
        pid = parent[pid]
    return pid == root
print(ticks.get(root, 0), sum(t for pid, t in ticks.items() if pid != root and descends(pid)))
PY
}

# The median of the numbers on stdin, one a line.
median() { sort -n | awk '{a[NR]=$0} END {print a[int((NR+1)/2)]}'; }

# Copies a gust binary and the gust-sandbox next to it into $work/bin and prints the copy's path
# (the server runs the helper next to its own binary): a rebuild of the tree during a long run
# cannot swap or break the binaries under it. Waits (up to 60 s) while a link is writing them.
snapshot_gust() {
  local source dir name path before after
  source=$(readlink -f "$1")
  dir=$work/bin
  mkdir -p "$dir"
  for name in "$(basename "$source")" gust-sandbox; do
    path=$(dirname "$source")/$name
    for attempt in $(seq 1 61); do
      ((attempt <= 60)) || { echo "$path is missing or keeps changing (a build in progress?)" >&2; return 1; }
      before=$(stat -c '%Y %s' "$path" 2>/dev/null) || { sleep 1; continue; }
      if [ -x "$path" ] && (($(date +%s) - ${before%% *} >= 2)); then
        cp -p "$path" "$dir/$name"
        after=$(stat -c '%Y %s' "$path" 2>/dev/null) || after=
        [ "$before" = "$after" ] && break
      fi
      sleep 1
    done
  done
  echo "$dir/$(basename "$source")"
}

# Prints a Python expression over `d`, the JSON document in file $1: json_get FILE 'd["x"]'.
json_get() { "$python" -c 'import json, sys; d = json.load(open(sys.argv[1])); print(eval(sys.argv[2]))' "$1" "$2"; }
