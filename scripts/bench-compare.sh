#!/usr/bin/env bash
# Compares servers side by side in one interleaved run (issue 13): movieapp's `serve` with every
# service in one process, `serve` split (movie in one process, metadata and rating in another),
# and, when built, the comparison servers of ../shared/bench/: the bare tonic floor (echo) and the
# book's Go services (goref). The load generator (h2load, one thread) runs on CPU 0, the servers
# on CPU 1 (taskset), so server CPU per call is not blurred by the load generator's own work.
#
# usage: scripts/bench-compare.sh [SECONDS] [ROUNDS]   (default 10 s per measurement, 2 rounds)
#   BINARIES="name=path …"   movieapp builds to compare (default: movieapp=target/release/movieapp,
#                            built first); e.g. BINARIES="before=/tmp/old after=target/release/movieapp"
#   ECHO=path                the floor (default /tmp/echo-target/release/echo, if built)
#   GOREF=dir                the book's Go services (default /tmp/goref/bin, if built)
# Prints, per setup and call: calls/s, p99 and server CPU per call (utime+stime of the server
# processes over the measurement, divided by the calls answered). A benchmark, not a test: it
# measures, it does not assert, and it is not in CI. Compare ratios within one run only.
set -euo pipefail
cd "$(dirname "$0")/.."
duration=${1:-10}
rounds=${2:-2}
for tool in h2load taskset curl; do
  command -v "$tool" >/dev/null || { echo "bench-compare.sh: needs $tool (Debian: nghttp2-client, util-linux, curl)" >&2; exit 2; }
done
[ "$(nproc)" -ge 2 ] || { echo "bench-compare.sh: needs 2 CPUs to pin load and servers apart" >&2; exit 2; }

if [ -z "${BINARIES:-}" ]; then
  cargo build --release --quiet
  BINARIES="movieapp=target/release/movieapp"
fi
ECHO=${ECHO:-/tmp/echo-target/release/echo}
GOREF=${GOREF:-/tmp/goref/bin}
work=$(mktemp -d)
pids=()
stop_all() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  pids=()
}
trap 'stop_all; rm -rf "$work"' EXIT
ticks=$(getconf CLK_TCK)
# One gRPC frame: uncompressed, length 3, field 1 = "1" (movie_id:"1").
printf '\x00\x00\x00\x00\x03\x0a\x01\x31' >"$work/body"

# serve BIN PORTS_FILE SERVICES FLAGS…: `serve` on CPU 1, waiting for its announcements.
serve() {
  local bin=$1 ports=$2 services=$3; shift 3
  taskset -c 1 "$bin" serve --log-level warn --services "$services" "$@" >"$ports" &
  pids+=($!)
  local want
  want=$(tr ',' '\n' <<<"$services" | wc -l)
  for _ in $(seq 150); do [ "$(wc -l <"$ports")" -ge "$want" ] && return; sleep 0.1; done
  echo "bench-compare.sh: $bin serve did not start" >&2
  exit 1
}
addr() { awk -v s="$1" '$1 == s { print $4 }' "$2"; }

seed_movieapp() {
  local bin=$1 data=$2
  "$bin" --data-dir "$data" movie put 1 --title "The Movie" \
    --description "The Movie, the one and only" --director "Mr. D" >/dev/null
  "$bin" --data-dir "$data" rate put 1 5 --user alex >/dev/null
  "$bin" --data-dir "$data" rate put 1 4 --user sam >/dev/null
}

# CPU clock ticks (utime+stime) of the given pids.
cpu() {
  local total=0 p
  for p in "$@"; do
    total=$((total + $(awk '{ print $14 + $15 }' "/proc/$p/stat")))
  done
  echo "$total"
}

# measure SETUP CALL URL CONNS STREAMS PIDS…: one h2load run, one result line.
measure() {
  local setup=$1 call=$2 url=$3 conns=$4 streams=$5
  shift 5
  local log="$work/latency.log" status out before after answered rps p99 cpu_us
  status=$(curl -s --http2-prior-knowledge -H 'content-type: application/grpc' -H 'te: trailers' \
    --data-binary @"$work/body" -o /dev/null -D - "$url" | tr -d '\r' | awk -F': ' '$1 == "grpc-status" { print $2 }')
  if [ "$status" != 0 ]; then
    echo "bench-compare.sh: $setup $url answered grpc-status ${status:-missing}" >&2
    return
  fi
  before=$(cpu "$@")
  out=$(taskset -c 0 h2load -D "$duration" -c "$conns" -m "$streams" -t 1 --log-file="$log" \
    -H 'content-type: application/grpc' -H 'te: trailers' -d "$work/body" "$url")
  after=$(cpu "$@")
  answered=$(awk '/^requests:/ { print $8 }' <<<"$out")
  rps=$(awk '/^finished in/ { print $4 }' <<<"$out")
  p99=$(awk '{ print $3 }' "$log" | sort -n | awk '{ v[NR] = $1 } END { i = int(NR * 0.99); if (i < 1) i = 1; printf "%.2f", v[i] / 1000 }')
  cpu_us=$(awk -v t="$((after - before))" -v hz="$ticks" -v n="$answered" \
    'BEGIN { if (n > 0) printf "%.1f", t / hz * 1e6 / n; else print "-" }')
  printf '%-22s %-16s %6s %10s calls/s  p99 %7s ms  %7s µs CPU/call\n' \
    "$setup" "$call" "${conns}x$streams" "$rps" "$p99" "$cpu_us"
}

# bench_load SETUP BIN URL_ADDR METHOD CONNS STREAMS: the same measurement with movieapp's own
# load generator (its figures are trustworthy when it drives close to what h2load does).
bench_load() {
  local setup=$1 bin=$2 target=$3 method=$4 conns=$5 streams=$6 out
  out=$(taskset -c 0 "$bin" bench-load --addr "$target" --call "$method" -d '{"movie_id":"1"}' \
    -c "$conns" --streams "$streams" --duration "${duration}s" -o json)
  awk -v setup="$setup" -v call="${method#*/}" -v shape="${conns}x$streams" '
    /"callsPerSecond"/ { gsub(/[,]/, "", $2); rps = $2 }
    /"p99"/ { gsub(/[,]/, "", $2); p99 = $2 }
    /"serverCpuUsPerCall"/ { gsub(/[,]/, "", $2); cpu = $2 }
    END {
      cpu = (cpu == "null" || cpu == "") ? "-" : sprintf("%.1f", cpu)
      printf "%-22s %-16s %6s %10.2f calls/s  p99 %7.2f ms  %7s µs CPU/call (bench-load)\n", setup, call, shape, rps, p99, cpu
    }' <<<"$out"
}

echo "h2load on CPU 0, servers on CPU 1; ${duration}s per measurement, $rounds rounds, interleaved"
for round in $(seq "$rounds"); do
  echo "-- round $round"
  for entry in $BINARIES; do
    name=${entry%%=*} bin=${entry#*=}
    # Every service in one process.
    data="$work/$name-all-$round"
    serve "$bin" "$work/ports" metadata,rating,movie --data-dir "$data" \
      --metadata-port 0 --rating-port 0 --movie-port 0
    seed_movieapp "$bin" "$data"
    movie=$(addr movie "$work/ports") metadata=$(addr metadata "$work/ports")
    measure "$name all-in-one" GetMovieDetails "http://$movie/MovieService/GetMovieDetails" 16 1 "${pids[@]}"
    measure "$name all-in-one" GetMetadata "http://$metadata/MetadataService/GetMetadata" 16 1 "${pids[@]}"
    measure "$name all-in-one" GetMetadata "http://$metadata/MetadataService/GetMetadata" 1 64 "${pids[@]}"
    bench_load "$name all-in-one" "$bin" "$movie" MovieService/GetMovieDetails 16 1
    bench_load "$name all-in-one" "$bin" "$metadata" MetadataService/GetMetadata 16 1
    echo "$name all-in-one: peak resident memory $(awk '/^VmHWM/ { print $2, $3 }' "/proc/${pids[0]}/status")"
    stop_all
    # Split: metadata and rating in one process, movie in another.
    data="$work/$name-split-$round"
    serve "$bin" "$work/ports-mr" metadata,rating --data-dir "$data" --metadata-port 0 --rating-port 0
    serve "$bin" "$work/ports-m" movie --data-dir "$data" --movie-port 0
    seed_movieapp "$bin" "$data"
    movie=$(addr movie "$work/ports-m")
    measure "$name split" GetMovieDetails "http://$movie/MovieService/GetMovieDetails" 16 1 "${pids[@]}"
    stop_all
  done
  if [ -x "$ECHO" ]; then
    taskset -c 1 "$ECHO" 127.0.0.1:38081 >/dev/null 2>&1 &
    pids+=($!)
    sleep 0.5
    measure "bare tonic (echo)" GetMetadata "http://127.0.0.1:38081/MetadataService/GetMetadata" 16 1 "${pids[@]}"
    measure "bare tonic (echo)" GetMetadata "http://127.0.0.1:38081/MetadataService/GetMetadata" 1 64 "${pids[@]}"
    stop_all
  fi
  if [ -x "$GOREF/movie" ]; then
    # As ../shared/bench/goref/run.sh starts them: each reads default.yaml from its directory.
    for entry in metadata=18081 rating=18082 movie=18083; do
      svc=${entry%%=*} port=${entry#*=}
      mkdir -p "$work/go/$svc"
      printf 'api:\n  port: %s\n' "$port" >"$work/go/$svc/default.yaml"
      (cd "$work/go/$svc" && exec env METADATA_ADDR=localhost:18081 RATING_ADDR=localhost:18082 \
        taskset -c 1 "$GOREF/$svc" >log 2>&1) &
      pids+=($!)
    done
    sleep 1
    "$GOREF/goref-seed" -metadata 127.0.0.1:18081 -rating 127.0.0.1:18082 -id 1 >/dev/null
    measure "book's Go" GetMovieDetails "http://127.0.0.1:18083/MovieService/GetMovieDetails" 16 1 "${pids[@]}"
    measure "book's Go" GetMetadata "http://127.0.0.1:18081/MetadataService/GetMetadata" 16 1 "${pids[@]}"
    measure "book's Go" GetMetadata "http://127.0.0.1:18081/MetadataService/GetMetadata" 1 64 "${pids[@]}"
    stop_all
  fi
done
