#!/usr/bin/env bash
# How soon another process serves a rating written through one (issue 28): two `serve`
# processes on one data directory (one rating database, one embedded broker), and, for
# each round, a write through A's HTTP API (once B has cached the record's old value),
# then B polled every 0.5 ms until it serves the new value. The delay runs from A's
# acknowledgement to B's first answer with the new value. Reported as percentiles, with
# `features.ratingChangeEvents` on (B's cache dropped by the event) and off (B waits out
# its 1 s cache TTL).
#
# usage: scripts/bench-invalidation.sh [ROUNDS]   (default 200 with events on; a tenth,
#                                                  at least 5, with them off)
#   BIN=path   the build to measure (default target/release/movieapp, built first)
#   MOVIEAPP_DATABASE_URL, MOVIEAPP_DATABASE_PASSWORD   measure on MySQL instead: both
#              processes use that database (and still share the data directory's broker)
# A benchmark, not a test: it measures and does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
rounds=${1:-200}
if [ -z "${BIN:-}" ]; then
  cargo build --release --quiet
  BIN=target/release/movieapp
fi
work=$(mktemp -d)
pids=()
stop() { for p in "${pids[@]}"; do kill "$p" 2>/dev/null && wait "$p" 2>/dev/null; done; pids=(); }
trap 'stop; rm -rf "$work"' EXIT

start() { # start NAME DATA CONFIG: sets addr to the rating service's address
  "$BIN" serve --data-dir "$2" --config "$3" --metadata-port 0 --rating-port 0 \
    --movie-port 0 --auth-port 0 --log-level warn >"$work/ports-$1" &
  pids+=($!)
  for _ in $(seq 100); do [ "$(wc -l <"$work/ports-$1")" -ge 4 ] && break; sleep 0.1; done
  addr=$(awk '$1 == "rating" { print $4 }' "$work/ports-$1")
}

measure() { # measure on|off ROUNDS
  local data="$work/data-$1" enabled=false
  mkdir -m 700 -p "$data"
  [ "$1" = on ] && enabled=true
  printf 'features:\n  ratingChangeEvents: %s\n' "$enabled" >"$work/$1.yaml"
  local a b addr
  start a "$data" "$work/$1.yaml"
  a=$addr
  start b "$data" "$work/$1.yaml"
  b=$addr
  python3 - "$a" "$b" "$2" "$1" <<'PY'
import http.client, random, sys, time

a, b, rounds, mode = sys.argv[1], sys.argv[2], int(sys.argv[3]), sys.argv[4]
record = f"bench-{mode}-{int(time.time())}"

def conn(addr):
    host, port = addr.rsplit(":", 1)
    return http.client.HTTPConnection(host, int(port), timeout=5)

writer, reader = conn(a), conn(b)

def call(c, method, path):
    c.request(method, path)
    r = c.getresponse()
    return r.status, r.read().decode()

delays = []
for i in range(rounds):
    value = i % 5 + 1
    call(reader, "GET", f"/rating?id={record}&type=movie")  # B caches the old value
    status, body = call(writer, "PUT", f"/rating?id={record}&type=movie&userId=ann&value={value}")
    if status != 200:
        sys.exit(f"write {i}: HTTP {status}: {body}")
    acked = time.perf_counter()
    while True:
        status, body = call(reader, "GET", f"/rating?id={record}&type=movie")
        if status == 200 and float(body) == value:
            break
        if time.perf_counter() - acked > 5:
            sys.exit(f"round {i}: B never served {value}")
        time.sleep(0.0005)
    delays.append((time.perf_counter() - acked) * 1000)
    # B has served, and cached, the new value. A random pause, so that the rounds do not
    # fall into step with the broker's 50 ms poll.
    time.sleep(random.uniform(0.01, 0.06))

delays.sort()
def pct(p):
    return delays[min(len(delays) - 1, int(p / 100 * len(delays)))]
print(f"events {mode:<3}: {len(delays)} writes, another process served the new value after "
      f"p50 {pct(50):.1f} ms, p90 {pct(90):.1f} ms, p99 {pct(99):.1f} ms, max {delays[-1]:.1f} ms")
PY
  stop
}

measure on "$rounds"
off=$((rounds / 10))
measure off $((off < 5 ? 5 : off))
