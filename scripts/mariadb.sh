#!/usr/bin/env bash
# A throwaway MariaDB server for the tests, run as the current user in a temp directory,
# with its own socket and port: no system service, nothing left behind.
#
#   eval "$(scripts/mariadb.sh start)"   # installs Debian's mariadb-server if missing,
#                                        # starts a server, exports MYSQL_TEST_URL
#                                        # (root, for creating test databases) and
#                                        # MARIADB_TEST_DIR
#   scripts/mariadb.sh down DIR          # stops the server, keeping its data and port
#   scripts/mariadb.sh up DIR            # starts it again (a database restart, for tests)
#   scripts/mariadb.sh stop DIR          # stops it and removes DIR
#
# The server also has a user `movie` with password `movie-test-pw`, for the tests that
# give a password the way an operator would.
set -euo pipefail

start() {
  if ! command -v mariadbd >/dev/null || ! command -v mariadb-install-db >/dev/null; then
    echo "scripts/mariadb.sh: installing mariadb-server (Debian) for the MySQL tests" >&2
    if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi
    $sudo apt-get update -qq >/dev/null
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      mariadb-server mariadb-client >/dev/null
  fi
  local dir user port
  dir="$(mktemp -d "${TMPDIR:-/tmp}/movieapp-mariadb.XXXXXX")"
  user="$(id -un)"
  mariadb-install-db --no-defaults --datadir="$dir/data" --user="$user" \
    --auth-root-authentication-method=normal --skip-test-db >"$dir/install.log" 2>&1 || {
    cat "$dir/install.log" >&2
    exit 1
  }
  port="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
  echo "$port" >"$dir/port"
  up "$dir"
  mariadb --no-defaults --socket="$dir/mysqld.sock" -uroot -e "
    CREATE USER IF NOT EXISTS 'root'@'127.0.0.1';
    GRANT ALL ON *.* TO 'root'@'127.0.0.1' WITH GRANT OPTION;
    CREATE USER 'movie'@'127.0.0.1' IDENTIFIED BY 'movie-test-pw';
    GRANT ALL ON *.* TO 'movie'@'127.0.0.1';" || {
    cat "$dir/error.log" >&2
    exit 1
  }
  echo "export MYSQL_TEST_URL='mysql://root@127.0.0.1:$port/'"
  echo "export MARIADB_TEST_DIR='$dir'"
}

up() {
  local dir="$1" user
  user="$(id -un)"
  # Small and fast: the data is thrown away, so durability is not needed.
  mariadbd --no-defaults --datadir="$dir/data" --socket="$dir/mysqld.sock" \
    --port="$(cat "$dir/port")" --bind-address=127.0.0.1 --pid-file="$dir/mysqld.pid" \
    --user="$user" --log-error="$dir/error.log" --skip-log-bin \
    --innodb-buffer-pool-size=64M --innodb-flush-log-at-trx-commit=0 \
    --innodb-doublewrite=0 --skip-name-resolve --max-connections=500 >/dev/null 2>&1 &
  for _ in $(seq 1 300); do
    if mariadb-admin --no-defaults --socket="$dir/mysqld.sock" -uroot ping >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  echo "scripts/mariadb.sh: the server in $dir did not start:" >&2
  cat "$dir/error.log" >&2
  exit 1
}

down() {
  local dir="$1"
  if [ -f "$dir/mysqld.pid" ]; then
    kill "$(cat "$dir/mysqld.pid")" 2>/dev/null || true
    for _ in $(seq 1 300); do
      [ -f "$dir/mysqld.pid" ] || break
      sleep 0.1
    done
  fi
}

stop() {
  down "$1"
  rm -rf "$1"
}

case "${1:-}" in
  start) start ;;
  up) up "${2:?usage: scripts/mariadb.sh up DIR}" ;;
  down) down "${2:?usage: scripts/mariadb.sh down DIR}" ;;
  stop) stop "${2:?usage: scripts/mariadb.sh stop DIR}" ;;
  *) echo "usage: scripts/mariadb.sh start | up DIR | down DIR | stop DIR" >&2; exit 2 ;;
esac
