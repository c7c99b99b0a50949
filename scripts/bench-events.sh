#!/usr/bin/env bash
# What publishing rating changes costs the writes (issue 28): the rating feed's ingestion
# (every event a rating write, in batches) with `features.ratingChangeEvents` off and on,
# interleaved, each on a fresh `serve` (release build, SQLite, the embedded broker):
# - events/s from the first publish of `produce --generate N` to the last event applied;
# - with events on, how long after that the relay has published the last change
#   (`movieapp_outbox_pending` back to 0), and the changes published;
# - rating.db's size (with its WAL);
# - then PutRating calls, each a new rating, for PUT_SECONDS through `bench-load` (16
#   connections, on CPU 0; `serve` on CPU 1): calls/s and the server's CPU per call.
#
# usage: scripts/bench-events.sh [EVENTS] [ROUNDS]   (default 200000, 2)
#   BIN=path   the build to measure (default target/release/movieapp, built first)
#   PUT_SECONDS=n   how long the PutRating phase lasts (default 10)
# A benchmark, not a test: it measures and does not assert; compare within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-200000}
rounds=${2:-2}
put_seconds=${PUT_SECONDS:-10}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/movieapp
fi
work=$(mktemp -d)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; rm -rf "$work"' EXIT

now() { date +%s%N; }

measure() { # measure on|off ROUND
  local mode=$1 data="$work/data-$1-$2"
  mkdir -m 700 -p "$data"
  local enabled=false
  [ "$mode" = on ] && enabled=true
  printf 'features:\n  ratingChangeEvents: %s\n' "$enabled" >"$work/$mode.yaml"
  taskset -c 1 "$BIN" serve --data-dir "$data" --config "$work/$mode.yaml" --metadata-port 0 --rating-port 0 \
    --movie-port 0 --auth-port 0 --log-level warn >"$work/ports" &
  pid=$!
  for _ in $(seq 100); do [ "$(wc -l <"$work/ports")" -ge 4 ] && break; sleep 0.1; done
  local rating
  rating=$(awk '$1 == "rating" { print $4 }' "$work/ports")
  committed() {
    "$BIN" feed status --data-dir "$data" -o json 2>/dev/null |
      python3 -c 'import json, sys; print(sum(p["committed"] or 0 for p in json.load(sys.stdin)["partitions"]))' 2>/dev/null ||
      echo 0
  }
  pending() {
    curl -s "http://$rating/metrics" | awk '$1 == "movieapp_outbox_pending" { print $2 }'
  }
  local start applied published
  start=$(now)
  taskset -c 0 "$BIN" produce --data-dir "$data" --generate "$events" --seed 1 >/dev/null
  while [ "$(committed)" -lt "$events" ]; do sleep 0.05; done
  applied=$(now)
  while [ "$(pending)" != 0 ]; do sleep 0.05; done
  published=$(now)
  local changes=0
  if [ "$mode" = on ]; then
    changes=$("$BIN" feed status --data-dir "$data" --topic rating-changes -o json |
      python3 -c 'import json, sys; print(sum(p["endOffset"] for p in json.load(sys.stdin)["partitions"]))')
  fi
  # Each call a new rating (record w0, w1, …), so each changes something.
  local puts
  puts=$(taskset -c 0 "$BIN" bench-load --addr "$rating" --call RatingService/PutRating \
    -d '{"recordId":"w{n}","recordType":"movie","userId":"u","ratingValue":5}' \
    --vary 1000000 --duration "${put_seconds}s" -c 16 -o json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print("%.0f %.1f %d" % (r["callsPerSecond"], r["serverCpuUsPerCall"], r["ok"]))')
  stop
  local size
  size=$(cat "$data"/rating.db* | wc -c)
  awk -v m="$mode" -v r="$2" -v n="$events" -v s="$start" -v a="$applied" -v p="$published" \
    -v c="$changes" -v z="$size" -v w="$puts" 'BEGIN {
    split(w, put, " ")
    printf "events %-3s round %d: %d feed events applied in %.2f s (%.0f events/s); changes published %.2f s later (%d on rating-changes); rating.db %.1f MB; PutRating %d calls/s, %.1f µs server CPU/call (%d calls)\n",
      m, r, n, (a - s) / 1e9, n / ((a - s) / 1e9), (p - a) / 1e9, c, z / 1e6, put[1], put[2], put[3] }'
}

for round in $(seq "$rounds"); do
  measure off "$round"
  measure on "$round"
done
