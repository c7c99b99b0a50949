#!/usr/bin/env bash
# Measures end-to-end ingestion of the rating feed on a release build: events/s from the
# first publish of `produce --generate N` to the last event applied (lag 0), while h2load
# keeps asking the rating service for an aggregate; reports that call's p99 during ingestion.
#
# usage: scripts/bench-feed.sh [EVENTS] [BROKER]   (default 100000, sqlite; e.g. kafka://127.0.0.1:9092)
# A benchmark, not a test: it measures, it does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
events=${1:-100000}
broker=${2:-sqlite}
command -v h2load >/dev/null || { echo "bench-feed.sh: needs h2load (apt-get install nghttp2-client)" >&2; exit 2; }

cargo build --release --quiet
bin=target/release/movieapp
work=$(mktemp -d)
export MOVIEAPP_DATA_DIR="$work/data"
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" serve --broker "$broker" --metadata-port 0 --rating-port 0 --movie-port 0 --auth-port 0 --log-level warn >"$work/ports" &
pid=$!
for _ in $(seq 100); do [ "$(wc -l <"$work/ports")" -ge 4 ] && break; sleep 0.1; done
rating=$(awk '$1 == "rating" { print $4 }' "$work/ports")
"$bin" rate put 1 5 --user bench --addr "$rating" >/dev/null

# GetAggregatedRating{record_id:"1", record_type:"movie"} as one gRPC frame.
printf '\x00\x00\x00\x00\x0a\x0a\x01\x31\x12\x05movie' >"$work/body"
h2load -D 30 -c 4 -m 1 -t 1 --log-file="$work/latency.log" \
  -H 'content-type: application/grpc' -H 'te: trailers' -d "$work/body" \
  "http://$rating/RatingService/GetAggregatedRating" >/dev/null &
load=$!
sleep 1

# Done when the rating group's committed offsets have moved on by the events produced (not
# "lag 0": tansu 0.6.0 misreports the end of a partition).
committed() {
  "$bin" feed status --broker "$broker" -o json |
    python3 -c 'import json, sys; print(sum(p["committed"] or 0 for p in json.load(sys.stdin)["partitions"]))'
}
before=$(committed)
start=$(date +%s%N)
"$bin" produce --broker "$broker" --generate "$events" --seed 1 >/dev/null
published=$(date +%s%N)
while [ "$(committed)" -lt $((before + events)) ]; do
  sleep 0.05
done
applied=$(date +%s%N)
kill "$load" 2>/dev/null || true
wait "$load" 2>/dev/null || true

awk -v b="$broker" -v n="$events" -v s="$start" -v p="$published" -v a="$applied" 'BEGIN {
  printf "broker %s: %d events published in %.2f s, all applied after %.2f s: %.0f events/s end to end\n",
    b, n, (p - s) / 1e9, (a - s) / 1e9, n / ((a - s) / 1e9) }'
# Latency of the GetAggregatedRating calls that started while ingesting.
awk -v s="$start" -v a="$applied" '$1 * 1000 >= s && $1 * 1000 <= a { print $3 }' "$work/latency.log" | sort -n |
  awk '{ v[NR] = $1 } END { if (NR) printf "GetAggregatedRating during ingestion: %d calls, p50 %.2f ms, p99 %.2f ms\n", NR, v[int(NR * 0.5) + 1] / 1000, v[int(NR * 0.99) + 1] / 1000 }'
