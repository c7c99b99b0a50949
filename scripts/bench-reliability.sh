#!/usr/bin/env bash
# The reliability benchmark of book chapter 11, on a release build:
#
# 1. Stall: two metadata instances behind a movie service (three processes), GetMovieDetails
#    at a fixed rate for SECONDS (default 60), one metadata instance SIGSTOPped for 10 s in
#    the middle. Reports p50/p99/max latency and failed calls over the run and during the
#    stall, with retries on (the defaults) and off (calls.maxAttempts: 1); answers served
#    stale by the fallback count as failed (STALE). The latency of each call counts from its
#    intended send time (open loop, scripts/load_at_rate.py).
# 2. Overload: GetAggregatedRating at fixed rates from below to well past what a rating
#    service on one CPU (taskset) can serve, each call averaging 50 000 ratings in SQLite;
#    without and with a cap on calls in flight (rating.maxConcurrentCalls: 4). Reports the
#    p50/p99 of the calls admitted and how many were refused (RESOURCE_EXHAUSTED).
#
# usage: scripts/bench-reliability.sh [SECONDS] [RATE] [PARTS]
#   defaults: 60 s, 200 calls/s, PARTS "stall overload" (either alone runs just that part)
# Needs the test venv (scripts/test.sh makes it).
# A benchmark, not a test: it measures, it does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
seconds=${1:-60}
rate=${2:-200}
parts=${3:-stall overload}
python=target/test-venv/bin/python
[ -x "$python" ] || { echo "bench-reliability.sh: run scripts/test.sh first (it makes $python)" >&2; exit 2; }

cargo build --release --quiet
bin=target/release/movieapp
work=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

# start NAME DATA CONFIG SERVICES: serve on free ports (under $launch, e.g. taskset); its
# pid in $started, its ports in $work/NAME.ports.
launch=
start() {
  local name=$1 data=$2 config=$3 services=$4
  MOVIEAPP_SHUTDOWN_DRAIN_DELAY=0s $launch "$bin" serve --data-dir "$data" --config "$config" \
    --services "$services" --metadata-port 0 --rating-port 0 --movie-port 0 --auth-port 0 \
    --log-level error >"$work/$name.ports" 2>>"$work/serve.log" &
  started=$!
  pids+=("$started")
  local want
  want=$(tr ',' '\n' <<<"$services" | wc -l)
  for _ in $(seq 200); do [ "$(wc -l <"$work/$name.ports")" -ge "$want" ] && return; sleep 0.05; done
  echo "bench-reliability.sh: $name did not start; see $work/serve.log" >&2
  exit 1
}
addr() { awk -v s="$2" '$1 == s { print $4 }' "$work/$1.ports"; }
stop_all() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  pids=()
}

stall_run() {
  local label=$1 attempts=$2 data="$work/data-$1" config="$work/$1.yaml"
  mkdir -p "$data"
  printf 'calls:\n  maxAttempts: %s\n' "$attempts" >"$config"
  start "$label-a" "$data" "$config" metadata
  local stalled=$started
  start "$label-b" "$data" "$config" metadata
  start "$label-front" "$data" "$config" rating,movie
  "$bin" --data-dir "$data" movie put 1 --title "The Movie" --director "Mr. D" >/dev/null
  "$bin" --data-dir "$data" rate put 1 5 --user alex >/dev/null
  local from=$((seconds / 2 - 5)) to=$((seconds / 2 + 5))
  "$python" scripts/load_at_rate.py proto "$(addr "$label-front" movie)" "$rate" "$seconds" \
    --window "$from" $((to + 1)) >"$work/$label.json" &
  local load=$!
  sleep "$from"
  kill -STOP "$stalled"
  sleep $((to - from))
  kill -CONT "$stalled"
  wait "$load"
  stop_all
  "$python" - "$label" "$work/$label.json" <<'EOF'
import json, sys
label, r = sys.argv[1], json.load(open(sys.argv[2]))
for part in ("all", "window"):
    s = r[part]
    what = "whole run" if part == "all" else "stall window"
    print(f"{label:<11} {what:<12} {s['calls']:>6} calls  {s['failed']:>5} failed  "
          f"p50 {s['p50_ms']:>7} ms  p99 {s['p99_ms']:>7} ms  max {s['max_ms']:>7} ms  {s['failures'] or ''}")
EOF
}

if [[ $parts == *stall* ]]; then
  echo "Stall: GetMovieDetails at $rate/s for ${seconds}s; one of two metadata instances stopped for 10 s in the middle; per-try timeout 1 s"
  stall_run retries 3
  stall_run no-retries 1
fi

pin_server=
if command -v taskset >/dev/null && [ "$(nproc)" -ge 2 ]; then
  pin_server="taskset -c 1"
fi

overload_run() {
  local label=$1 cap=$2 data="$work/data-over-$1" config="$work/over-$1.yaml"
  mkdir -p "$data"
  printf 'rating:\n  maxConcurrentCalls: %s\n' "$cap" >"$config"
  launch=$pin_server start "over-$label" "$data" "$config" rating
  local rating
  rating=$(addr "over-$label" rating)
  # 50 000 ratings of movie 1: each read averages them all, a few milliseconds of SQLite.
  "$python" - "$data/rating.db" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1], timeout=10)
db.executemany("INSERT INTO ratings VALUES ('1', 'movie', ?, ?)",
               ((f"user{i}", i % 5 + 1) for i in range(50000)))
db.commit()
EOF
  for r in 50 100 200 400; do
    "$python" scripts/load_at_rate.py proto "$rating" "$r" 10 --call rating >"$work/over.json"
    "$python" - "$label" "$work/over.json" <<'EOF'
import json, sys
label, r = sys.argv[1], json.load(open(sys.argv[2]))
s = r["all"]
print(f"{label:<10} {r['rate']:>5.0f} calls/s  {s['calls'] - s['failed']:>5} admitted  "
      f"{s['failed']:>5} failed  admitted p50 {s['p50_ms']:>7} ms  p99 {s['p99_ms']:>7} ms  "
      f"{s['failures'] or ''}")
EOF
  done
  stop_all
}

if [[ $parts == *overload* ]]; then
  echo
  echo "Overload: GetAggregatedRating at fixed rates, 10 s each, against a rating service on one CPU"
  overload_run uncapped 0
  overload_run capped-4 4
fi
