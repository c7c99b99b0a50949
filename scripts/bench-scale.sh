#!/usr/bin/env bash
# Reads as the data grows (issue 27): for each size, a fresh `serve` (release build, SQLite,
# the embedded feed) is loaded through the feed with that many rating events, a tenth of them
# for movie 1 (the best seller), then measured:
# - ingestion: events/s from the first publish to the last event applied;
# - the data: ratings stored, movie 1's share, rating.db bytes per rating;
# - cold reads (the cache's entry expired): GetAggregatedRating of movie 1 and of a movie
#   with few ratings, one at a time (median of 15), and 16 at once on movie 1 (the slowest),
#   timed by Python grpcio and, when h2load is there, by h2load;
# - steady load: GetMovieDetails and GetAggregatedRating of movie 1 with `bench-load`
#   (4 connections, 8 s each): calls/s, p50, p99 and server CPU per call.
#
# usage: scripts/bench-scale.sh [EVENTS…]   (default: 10000 1000000 10000000)
#   BINARIES="name=path …"   builds to compare in one run (default: movieapp=target/release/movieapp,
#                            built first), e.g. BINARIES="before=/tmp/old after=target/release/movieapp"
#   PRODUCER=path            the build that publishes the events (default: the last of BINARIES;
#                            it needs `produce --hot`)
# Needs python3 with grpcio (scripts/test.sh's venv has it). A benchmark, not a test: it
# measures and does not assert; compare ratios within one run.
set -euo pipefail
cd "$(dirname "$0")/.."
sizes=("$@")
[ ${#sizes[@]} -gt 0 ] || sizes=(10000 1000000 10000000)
python=${GRPC_TEST_PYTHON:-target/test-venv/bin/python}
"$python" -c 'import grpc' 2>/dev/null || {
  echo "bench-scale.sh: needs python3 with grpcio: run scripts/test.sh once (its venv), or set GRPC_TEST_PYTHON" >&2
  exit 2
}
if [ -z "${BINARIES:-}" ]; then
  cargo build --release --quiet
  BINARIES="movieapp=target/release/movieapp"
fi
producer=${PRODUCER:-${BINARIES##*=}}
work=$(mktemp -d)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; rm -rf "$work"' EXIT

# Cold reads of GetAggregatedRating, timed by a client that is not movieapp.
cat >"$work/cold.py" <<'EOF'
import statistics, sys, threading, time
import grpc

addr, hot, few = sys.argv[1], sys.argv[2], sys.argv[3]
channel = grpc.insecure_channel(addr)
grpc.channel_ready_future(channel).result(timeout=10)
call = channel.unary_unary("/RatingService/GetAggregatedRating")

def request(record):
    # GetAggregatedRatingRequest{record_id (1), record_type (2) = "movie"}
    rid = record.encode()
    return b"\x0a" + bytes([len(rid)]) + rid + b"\x12\x05movie"

def timed(record):
    start = time.perf_counter()
    call(request(record), timeout=30)
    return time.perf_counter() - start

def cold(record, n=15):
    samples = []
    for _ in range(n):
        time.sleep(1.1)  # the cache keeps an aggregate for 1 s
        samples.append(timed(record))
    return statistics.median(samples)

hot_ms, few_ms = cold(hot) * 1e3, cold(few) * 1e3
def together(n=16):
    results = [0.0] * n
    def one(i):
        results[i] = timed(hot)
    threads = [threading.Thread(target=one, args=(i,)) for i in range(n)]
    for t in threads: t.start()
    for t in threads: t.join()
    return max(results) * 1e3

time.sleep(1.1)
slowest = together()
# The same 16 calls answered from the cache: what this client's threads cost by themselves.
warm = min(together() for _ in range(5))
print(f"  cold GetAggregatedRating, median of 15: movie {hot} {hot_ms:.2f} ms, movie {few} {few_ms:.2f} ms "
      f"({hot_ms / few_ms:.2f}x)")
print(f"  16 concurrent cold reads of movie {hot}: slowest {slowest:.2f} ms ({slowest / hot_ms:.2f}x one read; "
      f"16 cached reads at once: slowest {warm:.2f} ms)")
EOF

committed() {
  "$producer" feed status -o json |
    python3 -c 'import json, sys; print(sum(p["committed"] or 0 for p in json.load(sys.stdin)["partitions"]))'
}

for size in "${sizes[@]}"; do
  for entry in $BINARIES; do
    name=${entry%%=*} bin=${entry#*=}
    export MOVIEAPP_DATA_DIR="$work/$name-$size"
    rm -rf "$MOVIEAPP_DATA_DIR"
    "$bin" serve --log-level warn --metadata-port 0 --rating-port 0 --movie-port 0 --auth-port 0 >"$work/ports" &
    pid=$!
    for _ in $(seq 150); do [ "$(wc -l <"$work/ports")" -ge 4 ] && break; sleep 0.1; done
    addr() { awk -v s="$1" '$1 == s { print $4 }' "$work/ports"; }
    rating=$(addr rating) movie=$(addr movie)
    "$bin" movie put 1 --title "The Movie" --director "Mr. D" --addr "$(addr metadata)" >/dev/null
    # Users and records grow with the size, so that most events are new ratings.
    users=$((size / 10 > 1000 ? size / 10 : 1000))
    records=$((size / 50 > 100 ? size / 50 : 100))
    start=$(date +%s%N)
    "$producer" produce --generate "$size" --seed 1 --users "$users" --records "$records" --hot 10 >/dev/null
    while [ "$(committed)" -lt "$size" ]; do sleep 0.2; done
    applied=$(date +%s%N)
    echo "== $name, $size events"
    awk -v n="$size" -v s="$start" -v a="$applied" 'BEGIN {
      printf "  ingestion: %.1f s, %.0f events/s end to end\n", (a - s) / 1e9, n / ((a - s) / 1e9) }'
    python3 - "$MOVIEAPP_DATA_DIR/rating.db" <<'EOF'
import os, sqlite3, sys
path = sys.argv[1]
db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
total = db.execute("SELECT COUNT(*) FROM ratings").fetchone()[0]
hot = db.execute("SELECT COUNT(*) FROM ratings WHERE record_id = '1'").fetchone()[0]
size = sum(os.path.getsize(path + s) for s in ("", "-wal") if os.path.exists(path + s))
print(f"  data: {total} ratings, movie 1 has {hot} ({100 * hot / max(total, 1):.1f}%); "
      f"rating.db {size / 1e6:.1f} MB, {size / max(total, 1):.0f} bytes per rating")
EOF
    # A movie with few ratings: the generator's records are 1..records.
    "$python" "$work/cold.py" "$rating" 1 2
    if command -v h2load >/dev/null; then
      # The same with h2load, whose own cost does not hide the server's: per round, one
      # cold read alone, then 16 at once on 16 connections, then those 16 again from the
      # cache; medians of 5 rounds.
      printf '\x00\x00\x00\x00\x0a\x0a\x011\x12\x05movie' >"$work/agg.body"
      h2() {
        rm -f "$work/h2.log" # h2load appends to its log
        h2load -n "$1" -c "$1" -m 1 -t 1 --log-file="$work/h2.log" -H 'content-type: application/grpc' \
          -H 'te: trailers' -d "$work/agg.body" "http://$rating/RatingService/GetAggregatedRating" >/dev/null
        sort -n -k3 "$work/h2.log" | tail -1 | awk '{ print $3 }'
      }
      for _ in 1 2 3 4 5; do
        sleep 1.1; one=$(h2 1)
        sleep 1.1; many=$(h2 16)
        echo "$one $many $(h2 16)" # the last: the same 16 answered from the cache
      done >"$work/rounds"
      one=$(awk '{ print $1 }' "$work/rounds" | sort -n | sed -n 3p)
      many=$(awk '{ print $2 }' "$work/rounds" | sort -n | sed -n 3p)
      cached=$(awk '{ print $3 }' "$work/rounds" | sort -n | sed -n 3p)
      awk -v one="$one" -v many="$many" -v cached="$cached" 'BEGIN {
        printf "  16 concurrent cold reads (h2load): slowest %.2f ms, one cold read %.2f ms (%.2fx); 16 cached: slowest %.2f ms\n",
          many / 1000, one / 1000, many / one, cached / 1000 }'
    fi
    for call in "MovieService/GetMovieDetails $movie {\"movie_id\":\"1\"}" \
                "RatingService/GetAggregatedRating $rating {\"record_id\":\"1\",\"record_type\":\"movie\"}"; do
      read -r method target body <<<"$call"
      "$bin" bench-load --addr "$target" --call "$method" -d "$body" -c 4 --duration 8s -o json |
        python3 -c '
import json, sys
r = json.load(sys.stdin)
cpu, lat, rate = r["serverCpuUsPerCall"], r["latencyMs"], r["callsPerSecond"]
cpu = "?" if cpu is None else "%.1f" % cpu
print("  %s: %.0f calls/s, p50 %.3f ms, p99 %.3f ms, server CPU %s µs/call"
      % (sys.argv[1], rate, lat["p50"], lat["p99"], cpu))' "$method"
    done
    stop
  done
done
