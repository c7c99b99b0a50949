#!/usr/bin/env bash
# Counts the instructions `serve` executes per GetMovieDetails, with valgrind's callgrind:
# the difference between a run of 1 000 calls and a run of 4 000, divided by 3 000. Unlike
# requests/s, the count hardly depends on what else the machine is doing, so two builds (or
# settings) can be compared on a busy machine. OTEL_* and MOVIEAPP_* variables pass through,
# e.g. OTEL_EXPORTER_OTLP_ENDPOINT=http://127.0.0.1:4317 to include trace export.
#
# usage: scripts/bench-instructions.sh [BINARY]   (default: a fresh release build)
# Needs valgrind and h2load (Debian: valgrind, nghttp2-client). A benchmark: it measures.
set -euo pipefail
cd "$(dirname "$0")/.."
for tool in valgrind h2load; do
  command -v "$tool" >/dev/null || { echo "bench-instructions.sh: needs $tool" >&2; exit 2; }
done
if [ $# -ge 1 ]; then bin=$1; else cargo build --release --quiet; bin=target/release/movieapp; fi

# Prints the instructions of one serve run that answers $1 calls.
count() {
  local calls=$1 work pid
  work=$(mktemp -d)
  valgrind --tool=callgrind --callgrind-out-file="$work/out" "$bin" serve --data-dir "$work/data" \
    --metadata-port 0 --rating-port 0 --movie-port 0 --auth-port 0 --log-level warn >"$work/ports" 2>"$work/log" &
  pid=$!
  for _ in $(seq 600); do [ "$(wc -l <"$work/ports")" -ge 4 ] && break; sleep 0.1; done
  local movie
  movie=$(awk '$1 == "movie" { print $4 }' "$work/ports")
  [ -n "$movie" ] || { echo "bench-instructions.sh: serve did not start: $(cat "$work/log")" >&2; exit 1; }
  "$bin" --data-dir "$work/data" movie put 1 --title "The Movie" >/dev/null
  "$bin" --data-dir "$work/data" rate put 1 5 --user alex >/dev/null
  printf '\x00\x00\x00\x00\x03\x0a\x01\x31' >"$work/body" # movie_id: "1"
  h2load -n "$calls" -c 4 -m 1 -t 1 -H 'content-type: application/grpc' -H 'te: trailers' \
    -d "$work/body" "http://$movie/MovieService/GetMovieDetails" >"$work/h2load"
  grep -q "succeeded, 0 failed, 0 errored" "$work/h2load" || { cat "$work/h2load" >&2; exit 1; }
  kill -TERM "$pid"; wait "$pid" 2>/dev/null || true
  awk '/^(summary|totals):/ { print $2; exit }' "$work/out"
  rm -rf "$work"
}

small=$(count 1000)
large=$(count 4000)
echo "$(( (large - small) / 3000 )) instructions per GetMovieDetails ($bin)"
