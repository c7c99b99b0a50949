#!/usr/bin/env bash
# Floods (issue 25): what a flood of logins and a pile of stalled uploads do to `serve`.
# For each build, a fresh `serve` (release build, SQLite) is started and:
# - login flood: LOGINS logins at once (POST /token, HTTP/1.1, one connection each, by
#   h2load) for users that do not exist, so each costs a password hash as a real one would
#   and no lockout plays a part; meanwhile `bench-load` reads GetMetadata on its own port.
#   Reported: answers by status, the flood's duration, serve's peak RSS (VmHWM) over the
#   flood, and GetMetadata's p99 during the flood against the same load just before it.
# - stalled uploads: a second `serve`, limited to 512 file descriptors (prlimit), gets
#   STALLED gRPC UploadFile streams on 3 connections that send a first chunk and then
#   nothing. Reported: how they were answered at once, whether /healthz still answers while
#   they hang, and how many are still open after WAIT seconds (uploads.idleTimeout is 30 s).
#
# usage: scripts/bench-floods.sh
#   BINARIES="name=path …"  builds to compare in one run (default: movieapp=target/release/movieapp,
#                           built first), e.g. BINARIES="before=/tmp/old after=target/release/movieapp"
#   LOGINS=1000 STALLED=450 WAIT=40
# Each login the server lets run at once holds Argon2id's 19 MiB: a build without a bound
# on them needs LOGINS × 19 MiB (1 000: about 19 GB), so choose LOGINS for such a build
# with care. Needs h2load (Debian: nghttp2-client), prlimit, and python3 with grpcio
# (scripts/test.sh's venv has it). A benchmark, not a test: it measures and does not assert.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${GRPC_TEST_PYTHON:-target/test-venv/bin/python}
"$python" -c 'import grpc' 2>/dev/null || {
  echo "bench-floods.sh: needs python3 with grpcio: run scripts/test.sh once (its venv), or set GRPC_TEST_PYTHON" >&2
  exit 2
}
for tool in h2load prlimit; do
  command -v "$tool" >/dev/null || { echo "bench-floods.sh: needs $tool on PATH" >&2; exit 2; }
done
if [ -z "${BINARIES:-}" ]; then
  cargo build --release --quiet
  BINARIES="movieapp=target/release/movieapp"
fi
logins=${LOGINS:-1000} stalled=${STALLED:-450} wait_s=${WAIT:-40}
work=$(mktemp -d)
pid=
stop() { [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null; pid=; }
trap 'stop; rm -rf "$work"' EXIT

# serve BIN DATA [prlimit args…]: starts serve on free ports, sets $pid and addr().
serve() {
  local bin=$1 data=$2
  shift 2
  rm -rf "$data" && mkdir -p "$data" && chmod 700 "$data"
  "$@" "$bin" serve --data-dir "$data" --log-level error --metadata-port 0 --rating-port 0 \
    --movie-port 0 --auth-port 0 >"$work/ports" 2>"$work/serve.log" &
  pid=$!
  for _ in $(seq 150); do [ "$(wc -l <"$work/ports")" -ge 4 ] && break; sleep 0.1; done
  [ "$(wc -l <"$work/ports")" -ge 4 ] || { cat "$work/serve.log" >&2; exit 1; }
}
addr() { awk -v s="$1" '$1 == s { print $4 }' "$work/ports"; }
# p99 in ms and calls/s of 8 s of GetMetadata, 2 connections.
reads() {
  "$1" bench-load --addr "$(addr metadata)" --call MetadataService/GetMetadata -d '{"movie_id":"1"}' \
    -c 2 --duration 8s -o json |
    python3 -c 'import json, sys; r = json.load(sys.stdin); print("%.2f ms p99 at %.0f calls/s" % (r["latencyMs"]["p99"], r["callsPerSecond"]))'
}

cat >"$work/stall.py" <<'EOF'
# STALLED UploadFile streams on 3 channels, each sending a first chunk and then nothing.
import sys, threading, time, urllib.request
import grpc

movie, health, count, wait_s = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
channels = [grpc.insecure_channel(movie, options=[("grpc.use_local_subchannel_pool", 1)]) for _ in range(3)]
for c in channels:
    grpc.channel_ready_future(c).result(timeout=10)
release = threading.Event()

def messages(n):
    # UploadRequest{filename (1), chunk (2), movie_id (3)}
    name = f"stalled-{n}.bin".encode()
    yield b"\x0a" + bytes([len(name)]) + name + b"\x12\x04data" + b"\x1a\x011"
    release.wait()

calls = [channels[n % 3].stream_unary("/MovieService/UploadFile").future(messages(n), timeout=3600)
         for n in range(count)]
time.sleep(3)
def codes():
    seen = {}
    for call in calls:
        if call.done():
            code = call.exception().code().name if call.exception() else "OK"
            seen[code] = seen.get(code, 0) + 1
    return ", ".join(f"{n} {c}" for c, n in sorted(seen.items())) or "none"
print(f"  after 3 s: {sum(not c.done() for c in calls)} of {count} streams open; answered: {codes()}")
try:
    start = time.perf_counter()
    urllib.request.urlopen(f"http://{health}/healthz", timeout=5).read()
    print(f"  /healthz while they hang: answered in {(time.perf_counter() - start) * 1e3:.1f} ms")
except Exception as e:
    print(f"  /healthz while they hang: no answer ({e})")
time.sleep(max(wait_s - 3, 0))
print(f"  after {wait_s:.0f} s: {sum(not c.done() for c in calls)} streams still open; answered: {codes()}")
release.set()
for c in channels:
    c.close()
EOF

for entry in $BINARIES; do
  name=${entry%%=*} bin=${entry#*=}
  echo "== $name"
  serve "$bin" "$work/$name-logins"
  "$bin" movie put 1 --title "The Movie" --director "Mr. D" --addr "$(addr metadata)" >/dev/null
  echo "  GetMetadata before the flood: $(reads "$bin")"
  printf '{"username":"nobody","password":"wrong password"}' >"$work/login.json"
  reads "$bin" >"$work/during" &
  loader=$!
  sleep 1
  start=$(date +%s%N)
  h2load --h1 -n "$logins" -c "$logins" -t 1 -H 'content-type: application/json' -d "$work/login.json" \
    "http://$(addr auth)/token" >"$work/h2load.out" 2>&1 || true
  took=$(( ($(date +%s%N) - start) / 1000000 ))
  wait "$loader"
  peak=$(awk '/^VmHWM:/ { printf "%.0f", $2 / 1024 }' "/proc/$pid/status")
  codes=$(grep -E '^status codes:' "$work/h2load.out" | sed 's/^status codes: //')
  answered=$(grep -E '^requests:' "$work/h2load.out" | sed 's/^requests: //')
  echo "  $logins logins at once: $answered; status codes: $codes; in $took ms"
  echo "  serve's peak RSS: $peak MB"
  echo "  GetMetadata during the flood: $(cat "$work/during")"
  # h2load counts classes only: the service's own counters say which errors.
  curl -s "http://$(addr auth)/metrics" |
    awk '/^movieapp_errors_total\{/ && /token/ { match($0, /error="[a-z_]+"/); e[substr($0, RSTART + 7, RLENGTH - 8)] += $NF }
         END { for (k in e) printf "%s%s %d", (n++ ? ", " : "  errors counted by serve: "), k, e[k]; if (n) print "" }'
  stop

  serve "$bin" "$work/$name-uploads" prlimit --nofile=512
  echo "  $stalled stalled uploads on 3 connections, serve limited to 512 file descriptors:"
  "$python" "$work/stall.py" "$(addr movie)" "$(addr movie)" "$stalled" "$wait_s"
  echo "  serve's open file descriptors at the end: $(ls "/proc/$pid/fd" | wc -l)"
  stop
done
