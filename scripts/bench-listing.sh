#!/usr/bin/env bash
# Listing at scale (issue 29): a metadata.db of MOVIES movies (default 1 000 000, written
# straight into SQLite), a fresh `serve --services metadata` (release build), then
# ListMetadata with pages of 100 measured by `bench-load` (2 connections, 8 s each): page 1,
# and the last page (page 10 000 of a million; its token found by following the HTTP listing);
# p50, p99 and server CPU per call. A benchmark, not a test: it measures and does not assert.
#
# usage: scripts/bench-listing.sh [MOVIES]
#   BINARY=path   the build to measure (default: target/release/movieapp, built first)
set -euo pipefail
cd "$(dirname "$0")/.."
movies=${1:-1000000}
if [ -z "${BINARY:-}" ]; then
  cargo build --release --quiet
  BINARY=target/release/movieapp
fi
work=$(mktemp -d)
pid=
trap '[ -n "$pid" ] && kill "$pid" 2>/dev/null; rm -rf "$work"' EXIT

# The schema comes from movieapp itself (db migrate), the rows from one transaction.
"$BINARY" --data-dir "$work" db migrate >/dev/null
python3 - "$work/metadata.db" "$movies" <<'EOF'
import sqlite3, sys
db = sqlite3.connect(sys.argv[1])
n = int(sys.argv[2])
db.executemany(
    "INSERT INTO movies (id, title, description, director) VALUES (?, ?, '', 'Mr. D')",
    ((f"movie-{i:08d}", f"Title {i}") for i in range(n)))
db.commit()
EOF
"$BINARY" serve --data-dir "$work" --services metadata --metadata-port 0 --log-level warn >"$work/ports" &
pid=$!
for _ in $(seq 150); do [ -s "$work/ports" ] && break; sleep 0.1; done
addr=$(awk '{ print $4 }' "$work/ports")

# The token of the last page of 100 (page 10 000 of a million): follow the HTTP listing.
skip=$((movies - 100))
token=$(python3 - "$addr" "$skip" <<'EOF'
import json, sys, urllib.request
addr, skip = sys.argv[1], int(sys.argv[2])
token, seen = "", 0
while seen < skip:
    size = min(1000, skip - seen)
    url = f"http://{addr}/metadata/list?pageSize={size}&pageToken={token}"
    page = json.load(urllib.request.urlopen(url))
    seen += len(page["metadata"])
    token = page["nextPageToken"]
print(token)
EOF
)
echo "== ListMetadata, $movies movies, pages of 100"
last=$((skip / 100 + 1))
for page in 1 "$last"; do
  if [ "$page" = 1 ]; then body='{"page_size":100}'; else body="{\"page_size\":100,\"page_token\":\"$token\"}"; fi
  "$BINARY" bench-load --addr "$addr" --call MetadataService/ListMetadata -d "$body" -c 2 --duration 8s -o json |
    python3 -c '
import json, sys
r = json.load(sys.stdin)
cpu, lat = r["serverCpuUsPerCall"], r["latencyMs"]
cpu = "?" if cpu is None else "%.0f" % cpu
print("  page %s: %.0f calls/s, p50 %.3f ms, p99 %.3f ms, server CPU %s µs/call, errors %s"
      % (sys.argv[1], r["callsPerSecond"], lat["p50"], lat["p99"], cpu, r.get("errors") or "none"))' "$page"
done
