#!/usr/bin/env bash
# What an open dashboard costs `serve` (issue 31): the CPU `serve` uses while idle with
# nobody looking, against while a headless chromium keeps a dashboard page open (it polls
# every second), interleaved, in % of one core (from /proc/PID/stat). A few movie gets run
# every second throughout, so the pages have figures and traces to show.
#
# usage: scripts/bench-dashboard.sh [ROUNDS] [SECONDS] [PAGE]
#   (default 3 rounds of 30 s each way; PAGE: overview, instances (the default, the
#   heaviest: it asks for the sparklines' history), traces or logs)
#   BIN=path   the build to measure (default target/release/movieapp, built first)
# Needs scripts/test.sh's venv (playwright) and chromium (CHROMIUM, default
# /usr/bin/chromium). A benchmark, not a test: it measures and does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-3}
seconds=${2:-30}
page=${3:-instances}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/movieapp
fi
python=target/test-venv/bin/python
export CHROMIUM=${CHROMIUM:-/usr/bin/chromium}
work=$(mktemp -d)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; pids=(); }
trap 'stop; rm -rf "$work"' EXIT

port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
"$BIN" serve --data-dir "$work/data" --metadata-port 0 --rating-port 0 --movie-port 0 \
  --auth-port 0 --dashboard-port "$port" --log-level warn >"$work/ports" &
serve=$!
pids+=("$serve")
for _ in $(seq 100); do [ "$(wc -l <"$work/ports")" -ge 5 ] && break; sleep 0.1; done
url="http://127.0.0.1:$port/"
"$BIN" --data-dir "$work/data" movie put 1 --title T >/dev/null
"$BIN" --data-dir "$work/data" rate put 1 5 --user ann >/dev/null
( while :; do "$BIN" --data-dir "$work/data" movie get 1 >/dev/null 2>&1; sleep 0.2; done ) &
pids+=($!)

cpu() { # user+system ticks of serve
  awk '{ print $14 + $15 }' "/proc/$serve/stat"
}
hz=$(getconf CLK_TCK)
measure() { # measure LABEL: serve's CPU over $seconds, in % of a core
  local before after
  before=$(cpu)
  sleep "$seconds"
  after=$(cpu)
  awk -v a="$before" -v b="$after" -v hz="$hz" -v s="$seconds" -v l="$1" \
    'BEGIN { printf "%-8s %6.2f%% of a core\n", l, 100 * (b - a) / hz / s }'
}

echo "serve at $url; $rounds rounds of ${seconds}s; page: $page"
sleep 3
for round in $(seq "$rounds"); do
  measure closed
  "$python" tests/python/dashboard.py hold "$url" "$page" $((seconds + 6)) &
  viewer=$!
  sleep 5 # chromium starts; the page's first answers
  measure open
  wait "$viewer" || true
done
