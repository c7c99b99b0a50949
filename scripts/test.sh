#!/usr/bin/env bash
# The test command: sets up what the tests need, then runs every test.
#
# Needs only the Rust toolchain and python3. The independent-client test speaks gRPC to the
# running binary with Python grpcio, installed here into a venv under target/ (created once,
# reused while tests/python/requirements.txt is unchanged).
# Extra arguments go to `cargo test`, e.g. `scripts/test.sh --test cli book_flow`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
stamp="$venv/.requirements"
if ! cmp -s tests/python/requirements.txt "$stamp" 2>/dev/null; then
  echo "scripts/test.sh: setting up the Python venv for the gRPC client test in $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt "$stamp"
fi
export GRPC_TEST_PYTHON="$PWD/$venv/bin/python"

cargo test --locked "$@"
