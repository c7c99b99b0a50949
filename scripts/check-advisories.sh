#!/usr/bin/env bash
# Checks Cargo.lock against the RustSec advisory database, offline, from a local copy:
#
#   git clone https://github.com/rustsec/advisory-db /path/to/advisory-db   # where reachable
#   scripts/check-advisories.sh /path/to/advisory-db
#
# CI cannot reach the database, so this is run by hand (and before a release). It places a
# clone of the copy where cargo-deny looks for its database, then runs
# `cargo deny --offline check advisories`. Exit 0: no advisory applies; 1: one does (cargo
# deny prints which, and the path that brings the crate in); 2: wrong usage.
set -euo pipefail
cd "$(dirname "$0")/.."

if [[ $# -ne 1 || ! -d "$1/crates" ]]; then
    echo "usage: scripts/check-advisories.sh ADVISORY_DB_DIR (a copy of rustsec/advisory-db, with its crates/ folder)" >&2
    exit 2
fi
command -v cargo-deny >/dev/null || cargo install --locked cargo-deny
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
# cargo-deny keeps the default database in <db-path>/advisory-db-<hash of its URL>.
git clone --quiet "$1" "$work/db/advisory-db-3157b0e258782691"
printf '[advisories]\ndb-path = "%s"\n' "$work/db" > "$work/deny.toml"
echo "advisory database: $(git -C "$1" log -1 --format='%h, %cd' --date=short)"
cargo deny --offline --config "$work/deny.toml" check advisories
