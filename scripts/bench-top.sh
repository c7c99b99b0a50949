#!/usr/bin/env bash
# What `movieapp top` costs (issue 30): 5 `serve` processes sharing one registry (20
# instances), `bench-load` on one movie port for 10 s without `top`, then with `top`'s live
# view running (in tmux, 1 s interval) watching all 20; interleaved, ROUNDS times. Reports
# the load's p99 and calls/s each time, and top's CPU (utime+stime) as a share of one core.
# A benchmark, not a test: it measures and does not assert.
#
# usage: scripts/bench-top.sh [ROUNDS]   (default 2)
#   BINARY=path   the build to measure (default: target/release/movieapp, built first)
# Needs tmux.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-2}
command -v tmux >/dev/null || { echo "bench-top.sh: needs tmux" >&2; exit 2; }
if [ -z "${BINARY:-}" ]; then
  cargo build --release --quiet
  BINARY=target/release/movieapp
fi
BINARY=$(realpath "$BINARY")
work=$(mktemp -d)
socket="movieapp-bench-top-$$"
pids=()
trap 'tmux -L "$socket" kill-server 2>/dev/null || true; for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done; rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)

for n in 1 2 3 4 5; do
  "$BINARY" serve --data-dir "$work/data" --log-level warn --metadata-port 0 --rating-port 0 \
    --movie-port 0 --auth-port 0 >"$work/ports-$n" 2>/dev/null &
  pids+=($!)
done
for n in 1 2 3 4 5; do
  for _ in $(seq 100); do [ "$(wc -l <"$work/ports-$n")" -ge 4 ] && break; sleep 0.1; done
done
movie=$(awk '$1 == "movie" { print $4 }' "$work/ports-1")
"$BINARY" --data-dir "$work/data" movie put 1 --title "The Movie" >/dev/null
sleep 2
echo "instances registered: $("$BINARY" --data-dir "$work/data" registry list -o json | python3 -c 'import json,sys; print(len(json.load(sys.stdin)["instances"]))')"

load() {
  "$BINARY" bench-load --addr "$movie" --http 'GET /movie?id=1' -c 4 --duration 10s -o json |
    python3 -c 'import json,sys; r=json.load(sys.stdin); print("p99 %.3f ms, %.0f calls/s" % (r["latencyMs"]["p99"], r["callsPerSecond"]))'
}
cpu() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }

for round in $(seq "$rounds"); do
  echo "-- round $round"
  echo "  without top: $(load)"
  tmux -L "$socket" new-session -d -s top -x 160 -y 40 \
    "NO_COLOR=1 MOVIEAPP_DATA_DIR='$work/data' '$BINARY' top --interval 1s"
  sleep 2
  top_pid=$(pgrep -f "$BINARY top --interval 1s" | head -1)
  before=$(cpu "$top_pid")
  started=$(date +%s%N)
  with=$(load)
  after=$(cpu "$top_pid")
  ended=$(date +%s%N)
  echo "  with top:    $with; top used $(awk -v c=$((after - before)) -v t="$ticks" -v s=$started -v e=$ended \
    'BEGIN { printf "%.2f%% of a core", 100 * (c / t) / ((e - s) / 1e9) }') watching 20 instances"
  tmux -L "$socket" kill-server
done
