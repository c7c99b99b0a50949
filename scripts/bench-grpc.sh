#!/usr/bin/env bash
# Load-tests the gRPC services of a release build with h2load (Debian: nghttp2-client), the
# way the foundation issue measures them: GetMovieDetails at 16 and 64 connections and
# GetMetadata at 16, reporting requests/s, p99 latency and the peak resident memory of serve.
#
# usage: scripts/bench-grpc.sh [SECONDS]   (default 10 per run)
# A benchmark, not a test: it measures, it does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
command -v h2load >/dev/null || { echo "bench-grpc.sh: needs h2load (apt-get install nghttp2-client)" >&2; exit 2; }
command -v curl >/dev/null || { echo "bench-grpc.sh: needs curl" >&2; exit 2; }

cargo build --release --quiet
bin=target/release/movieapp
work=$(mktemp -d)
pid=
cleanup() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT

"$bin" serve --data-dir "$work/data" --metadata-port 0 --rating-port 0 --movie-port 0 --auth-port 0 \
  --log-level warn >"$work/ports" &
pid=$!
for _ in $(seq 100); do [ "$(wc -l <"$work/ports")" -ge 4 ] && break; sleep 0.1; done
addr() { awk -v s="$1" '$1 == s { print $4 }' "$work/ports"; }
metadata=$(addr metadata) rating=$(addr rating) movie=$(addr movie)

"$bin" movie put 1 --title "The Movie" --description "The Movie, the one and only" \
  --director "Mr. D" --addr "$metadata" >/dev/null
"$bin" rate put 1 5 --user alex --addr "$rating" >/dev/null
"$bin" rate put 1 4 --user sam --addr "$rating" >/dev/null

# One gRPC frame: uncompressed, length 3, field 1 = "1" (movie_id:"1").
printf '\x00\x00\x00\x00\x03\x0a\x01\x31' >"$work/body"

# h2load counts HTTP 200 as success; gRPC errors are HTTP 200 too, so check grpc-status.
check() {
  local url=$1 status
  status=$(curl -s --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$work/body" -o /dev/null -D - "$url" | tr -d '\r' | awk -F': ' '$1 == "grpc-status" { print $2 }')
  if [ "$status" != 0 ]; then
    echo "bench-grpc.sh: $url answered grpc-status ${status:-missing}, not 0" >&2
    exit 1
  fi
}

run() {
  local name=$1 url=$2 conns=$3 log="$work/latency.log" out rps p99
  check "$url"
  out=$(h2load -D "$duration" -c "$conns" -m 1 -t 1 --log-file="$log" \
    -H 'content-type: application/grpc' -H 'te: trailers' -d "$work/body" "$url")
  rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
  # Log lines: start time (us), HTTP status, duration (us).
  p99=$(awk '{ print $3 }' "$log" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 }')
  printf '%-16s %4s conns  %10s req/s  p99 %6s ms  (%s)\n' "$name" "$conns" "$rps" "$p99" \
    "$(awk '/^requests:/ { print $8, $9, $10, $11 }' <<<"$out")"
  check "$url"
}

echo "h2load, ${duration}s per run, 1 stream per connection, 1 h2load thread, on $(nproc) cores"
run GetMovieDetails "http://$movie/MovieService/GetMovieDetails" 16
run GetMovieDetails "http://$movie/MovieService/GetMovieDetails" 64
run GetMetadata "http://$metadata/MetadataService/GetMetadata" 16
run GetMetadata "http://$metadata/MetadataService/GetMetadata" 64
echo "serve peak resident memory: $(awk '/^VmHWM/ { print $2, $3 }' /proc/$pid/status)"
