#!/usr/bin/env bash
# Builds the container image from the project's Dockerfile and runs it as the README says,
# with podman (CI runs it after scripts/test.sh). It checks that:
# - the image runs movieapp as PID 1, as uid 10001, on a read-only root filesystem, and
#   `podman healthcheck run` reports it healthy;
# - the book's flow works from the host through the published ports: a user added in the
#   container, a token from `movieapp login`, metadata and a rating put, the movie read back;
# - the data outlives the container: a new one on the same volume serves it;
# - `podman stop` drains it and it exits 0 within the drain time (SIGTERM to PID 1);
# - two containers, `serve --services metadata,rating` and `serve --services movie` with
#   static discovery between them, answer GetMovieDetails together;
# - the shipped binary carries its dependency list (cargo auditable), without rsa;
# - deploy/compose/compose.yaml parses (podman-compose config), and a broken one does not.
# It prints the image's size and how long each part took.
#
#   scripts/image-test.sh          # packages target/release/movieapp (built with cargo
#                                  # auditable if missing): the Dockerfile's build stage is
#                                  # replaced by that binary (--build-context build=DIR)
#   scripts/image-test.sh --full   # the whole multi-stage build from source, as a user's
#                                  # `docker build .` (about 10 minutes on 2 cores)
#
# Needs root or sudo: it installs podman, buildah, runc and debootstrap from Debian when
# missing, and makes the base image debian:bookworm-slim locally with debootstrap (no image
# registry is reachable here). --full also makes a local rust:1.95-bookworm image from this
# machine's Rust toolchain. Podman runs with runc and cgroupfs (a containers.conf under
# target/image-test): crun cannot set RLIMIT_NOFILE on these machines.
set -euo pipefail
cd "$(dirname "$0")/.."

full=false
case "${1:-}" in
  "") ;;
  --full) full=true ;;
  -h | --help) sed -n '2,/^set -e/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
  *) echo "scripts/image-test.sh: unknown argument '$1' (expected nothing or --full)" >&2; exit 2 ;;
esac

say() { printf 'image-test: %s\n' "$*" >&2; }
fail() {
  say "FAILED: $*"
  [ -s "$work/podman.log" ] && { say "podman said:"; grep -v systemd "$work/podman.log" | tail -15 >&2; }
  exit 1
}
started=$SECONDS
if [ "$(id -u)" = 0 ]; then sudo=""; else sudo="sudo"; fi

work="$PWD/target/image-test"
mkdir -p "$work"
: >"$work/podman.log"
image=localhost/movieapp:test
prefix=movieapp-image-test

# --- podman, set up for these machines -------------------------------------------------
if ! command -v podman >/dev/null || ! command -v runc >/dev/null || ! command -v debootstrap >/dev/null; then
  say "installing podman, buildah, runc and debootstrap (Debian packages)"
  $sudo apt-get update -qq >/dev/null
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
    podman buildah runc debootstrap containernetworking-plugins iptables >/dev/null
fi
conf="$work/containers.conf"
cat >"$conf" <<'EOF'
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
[engine]
runtime = "runc"
cgroup_manager = "cgroupfs"
events_logger = "file"
EOF
# Podman's stderr goes to a log: without systemd it complains, harmlessly, that it cannot
# time the periodic health checks. `fail` shows the log's end.
pm() { $sudo env CONTAINERS_CONF="$conf" podman "$@" 2>>"$work/podman.log"; }
# A container's output, stdout and stderr (movieapp logs on stderr).
logs() { $sudo env CONTAINERS_CONF="$conf" podman logs "$1" 2>&1; }

cleanup() {
  pm rm -f -t 0 "$prefix-1" "$prefix-2" "$prefix-a" "$prefix-b" >/dev/null 2>&1 || true
  pm volume rm -f "$prefix-data" "$prefix-movie" >/dev/null 2>&1 || true
}
trap cleanup EXIT
cleanup

# --- base images ------------------------------------------------------------------------
if ! pm image exists docker.io/library/debian:bookworm-slim; then
  say "making debian:bookworm-slim with debootstrap --variant=minbase"
  t=$SECONDS
  $sudo rm -rf "$work/rootfs"
  $sudo debootstrap --variant=minbase bookworm "$work/rootfs" http://deb.debian.org/debian >"$work/debootstrap.log" 2>&1 \
    || fail "debootstrap (log: $work/debootstrap.log)"
  $sudo tar -C "$work/rootfs" -c . | pm import - docker.io/library/debian:bookworm-slim >/dev/null
  $sudo rm -rf "$work/rootfs"
  say "base image made in $((SECONDS - t)) s"
fi

commit=$(git rev-parse HEAD 2>/dev/null || echo unknown)
t=$SECONDS
if $full; then
  rust_version=$(sed -n 's/^ARG RUST_VERSION=//p' Dockerfile)
  rust_image="docker.io/library/rust:${rust_version}-bookworm"
  if ! pm image exists "$rust_image"; then
    say "making $rust_image from this machine's toolchain ($(rustc --version))"
    # The machine's own certificate authorities go in too, for crates.io behind a proxy
    # that re-signs TLS (as here).
    ctx="$work/rust-image"
    rm -rf "$ctx"
    mkdir -p "$ctx/ca"
    cp /usr/local/share/ca-certificates/*.crt "$ctx/ca/" 2>/dev/null || true
    cat >"$ctx/Containerfile" <<'EOF'
FROM debian:bookworm-slim
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates gcc g++ libc6-dev make perl pkg-config zlib1g-dev git \
    && rm -rf /var/lib/apt/lists/*
COPY ca/ /usr/local/share/ca-certificates/
RUN update-ca-certificates
COPY --from=toolchain . /usr/local/rust
ENV PATH=/usr/local/cargo/bin:/usr/local/rust/bin:/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    CARGO_HOME=/usr/local/cargo
RUN mkdir -p /usr/local/cargo/bin && cargo --version
EOF
    pm build --pull=never --network host --format docker \
      --build-context toolchain="$(rustc --print sysroot)" \
      -t "$rust_image" "$ctx" >"$work/rust-image.log" 2>&1 \
      || fail "building $rust_image (log: $work/rust-image.log)"
  fi
  say "building the image from source (the Dockerfile's two stages)"
  pm build --pull=never --network host --format docker \
    --build-arg BUILD_GIT_COMMIT="$commit" -t "$image" . >"$work/build.log" 2>&1 \
    || fail "podman build (log: $work/build.log)"
else
  command -v cargo-auditable >/dev/null || cargo install --locked --quiet cargo-auditable@0.7.7
  say "building target/release/movieapp (cargo auditable)"
  cargo auditable build --release --locked --bin movieapp --quiet
  rm -rf "$work/binary"
  mkdir -p "$work/binary/usr/local/bin"
  cp target/release/movieapp "$work/binary/usr/local/bin/movieapp"
  say "building the image around it (the Dockerfile's build stage replaced)"
  pm build --pull=never --network host --format docker \
    --build-context build="$work/binary" \
    --build-arg BUILD_GIT_COMMIT="$commit" -t "$image" . >"$work/build.log" 2>&1 \
    || fail "podman build (log: $work/build.log)"
fi
build_time=$((SECONDS - t))
size=$(pm image inspect --format '{{.Size}}' "$image")
say "image $image built in $build_time s: $((size / 1000000)) MB"
healthcheck=$(pm image inspect --format '{{json .Config.Healthcheck}}' "$image")
[ -n "$healthcheck" ] && [ "$healthcheck" != null ] \
  || fail "the image has no HEALTHCHECK (built without --format docker?)"

# --- the shipped binary -----------------------------------------------------------------
t=$SECONDS
shipped="$work/shipped-movieapp"
pm run --rm --entrypoint cat "$image" /usr/local/bin/movieapp >"$shipped"
chmod +x "$shipped"
"$shipped" version -o json >"$work/version.json"
python3 - "$shipped" "$work/version.json" "$commit" <<'EOF' || fail "the shipped binary's build record"
import json, subprocess, sys, tempfile, zlib
binary, version, commit = sys.argv[1:]
v = json.load(open(version))
assert v["commit"] == commit, f"movieapp version says commit {v['commit']}, expected {commit}"
assert v["profile"] == "release", v
# cargo auditable: zlib-compressed JSON in the ELF section .dep-v0.
with tempfile.NamedTemporaryFile() as out:
    subprocess.run(["objcopy", f"--dump-section=.dep-v0={out.name}", binary, "/dev/null"],
                   check=True, stderr=subprocess.DEVNULL)
    data = open(out.name, "rb").read()
assert data, "no .dep-v0 section: the binary was not built with cargo auditable"
packages = {p["name"] for p in json.loads(zlib.decompress(data))["packages"]}
for name in ["movieapp", "tonic", "rusqlite", "jsonwebtoken", "ring"]:
    assert name in packages, f"{name} is not in the embedded dependency list"
for name in ["rsa", "inferno", "serde_yaml", "serde_yml"]:
    assert name not in packages, f"{name} is in the embedded dependency list"
print(f"image-test: the shipped binary is {v['version']} at {v['commit'][:12]}, embeds {len(packages)} dependencies", file=sys.stderr)
EOF

# --- one container, as the README runs it -----------------------------------------------
free_ports() {
  python3 -c 'import socket
ss = [socket.socket() for _ in range(int(__import__("sys").argv[1]))]
for s in ss: s.bind(("127.0.0.1", 0))
print(" ".join(str(s.getsockname()[1]) for s in ss))' "$1"
}
read -r p1 p2 p3 p4 <<<"$(free_ports 4)"
run_one() { # name
  pm run -d --name "$1" --read-only \
    -p "127.0.0.1:$p1:8081" -p "127.0.0.1:$p2:8082" -p "127.0.0.1:$p3:8083" -p "127.0.0.1:$p4:8084" \
    -v "$prefix-data:/var/lib/movieapp" "$image" >/dev/null
}
wait_healthy() { # name
  local deadline=$((SECONDS + 60))
  until pm healthcheck run "$1" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ] || [ "$(pm inspect --format '{{.State.Running}}' "$1")" != true ]; then
      logs "$1" | tail -20 >&2
      fail "$1 did not become healthy"
    fi
    sleep 0.5
  done
}
client() { XDG_STATE_HOME="$work/state" HOME="$work/state" "$shipped" "$@"; }

run_one "$prefix-1"
wait_healthy "$prefix-1"
say "healthy after $((SECONDS - t)) s: podman healthcheck run exits 0"
status=$(pm exec "$prefix-1" cat /proc/1/status)
[ "$(pm exec "$prefix-1" cat /proc/1/comm)" = movieapp ] || fail "PID 1 is not movieapp"
grep -qP '^Uid:\t10001\t10001\t10001\t10001$' <<<"$status" || fail "PID 1 does not run as uid 10001: $(grep Uid <<<"$status")"
pm exec "$prefix-1" touch /usr/local/bin/x 2>/dev/null && fail "the root filesystem is writable"
say "PID 1 is movieapp, as uid 10001, on a read-only root filesystem"

rm -rf "$work/state"
mkdir -p "$work/state"
printf 'correct-horse-9\n' | pm exec -i "$prefix-1" movieapp auth user add alex --role writer >/dev/null
printf 'correct-horse-9\n' | client login --user alex --addr "127.0.0.1:$p4" >/dev/null
client movie put 1 --title 'The Movie' --director 'Mr. D' --addr "127.0.0.1:$p1" >/dev/null
client rate put 1 5 --user alex --addr "127.0.0.1:$p2" >/dev/null
client rate put 1 4 --user sam --addr "127.0.0.1:$p2" >/dev/null
if client movie put 2 --title 'No token' --director x --addr "127.0.0.1:$p1" --token not-a-token >/dev/null 2>&1; then
  fail "a write with a bad token was accepted"
fi
check_movie() { # addr, what
  client movie get 1 --addr "$1" -o json | python3 -c '
import json, sys
m = json.load(sys.stdin)
assert m["metadata"]["title"] == "The Movie", m
assert abs(m["rating"] - 4.5) < 1e-9, m
' || fail "$2: movie 1 is not what was put"
}
check_movie "127.0.0.1:$p3" "the book's flow"
say "the book's flow from the host: login, put metadata and ratings, GetMovieDetails"

t=$SECONDS
pm stop -t 30 "$prefix-1" >/dev/null
stop_time=$((SECONDS - t))
code=$(pm inspect --format '{{.State.ExitCode}}' "$prefix-1")
[ "$code" = 0 ] || { logs "$prefix-1" | tail -20 >&2; fail "podman stop: exit code $code, expected 0"; }
# shutdown.drainDelay 1s + drainTimeout 10s.
[ "$stop_time" -le 11 ] || fail "podman stop took $stop_time s, more than the drain time (11 s)"
logs "$prefix-1" >"$work/stopped.log"
grep -q draining "$work/stopped.log" || fail "no drain in the log"
say "podman stop: drained, exit 0 in $stop_time s"

pm rm "$prefix-1" >/dev/null
run_one "$prefix-2"
wait_healthy "$prefix-2"
check_movie "127.0.0.1:$p3" "a new container on the same volume"
pm stop -t 30 "$prefix-2" >/dev/null
pm rm "$prefix-2" >/dev/null
say "the data outlived the container: a new one on the same volume serves it"

# --- two containers: metadata and rating in one, movie in the other ---------------------
pm run -d --name "$prefix-a" --read-only -e HEALTH_ADDR=127.0.0.1:8081 \
  -v "$prefix-data:/var/lib/movieapp" "$image" serve --services metadata,rating >/dev/null
wait_healthy "$prefix-a"
ip=$(pm inspect --format '{{.NetworkSettings.IPAddress}}' "$prefix-a")
[ -n "$ip" ] || fail "no address for $prefix-a"
cat >"$work/movie.yaml" <<EOF
# The movie service's container: metadata and rating are in another, found statically.
listenHost: 0.0.0.0
serviceDiscovery:
  backend: static
  static:
    metadata: [$ip:8081]
    rating: [$ip:8082]
EOF
chmod 644 "$work/movie.yaml"
pm run -d --name "$prefix-b" --read-only -p "127.0.0.1:$p3:8083" \
  -v "$work/movie.yaml:/etc/movieapp/movieapp.yaml:ro" -v "$prefix-movie:/var/lib/movieapp" \
  "$image" serve --services movie >/dev/null
wait_healthy "$prefix-b"
check_movie "127.0.0.1:$p3" "movie in one container, metadata and rating in another"
say "two containers serve GetMovieDetails together (static discovery, $ip)"

# --- the compose file ---------------------------------------------------------------------
venv="$work/venv"
[ -x "$venv/bin/podman-compose" ] || {
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check podman-compose==1.6.0
}
compose() { $sudo env CONTAINERS_CONF="$conf" "$venv/bin/podman-compose" "$@"; }
compose -f deploy/compose/compose.yaml config >"$work/compose.out" 2>&1 \
  || { cat "$work/compose.out" >&2; fail "podman-compose config deploy/compose/compose.yaml"; }
grep -q '^services:' "$work/compose.out" || fail "podman-compose config printed no services"
sed 's/^services:/services:\n  broken: [/' deploy/compose/compose.yaml >"$work/broken-compose.yaml"
if compose -f "$work/broken-compose.yaml" config >/dev/null 2>&1; then
  fail "podman-compose config accepted a broken compose file: the check cannot fail"
fi
say "deploy/compose/compose.yaml parses (podman-compose config)"

say "ok: image $((size / 1000000)) MB, built in $build_time s; $((SECONDS - started)) s in all"
