# syntax=docker/dockerfile:1
# The movieapp image: the one binary, able to run any or all of the services.
#
#   docker build -t movieapp .
#   docker run -d --name movieapp -p 8081-8085:8081-8085 -v movieapp-data:/var/lib/movieapp movieapp
#   docker exec movieapp movieapp auth user add alex --role writer
#
# It listens on all interfaces, so auth is on for writes (auth.mode writes): reads are
# open, writes need a token from `movieapp login`; the dashboard (8085) an admin's. The configuration is
# /etc/movieapp/movieapp.yaml (configs/base.yaml; mount another over it, or set
# MOVIEAPP_* variables). One service per container: `serve --services metadata`, with
# HEALTH_ADDR=127.0.0.1:8081 so that the health check asks that service.
#
# The binary is built with cargo-auditable: its dependency list is embedded, so scanners
# (cargo audit bin, trivy, syft) audit what is shipped. Pass the commit for
# `movieapp version` (.git is not in the build context):
#   docker build --build-arg BUILD_GIT_COMMIT=$(git rev-parse HEAD) -t movieapp .
# To package a binary built already (as CI does, scripts/image-test.sh), replace the build
# stage with a directory holding usr/local/bin/movieapp:
#   podman build --build-context build=DIR -t movieapp .

ARG RUST_VERSION=1.95

FROM rust:${RUST_VERSION}-bookworm AS build
WORKDIR /src
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    cargo install --locked cargo-auditable@0.7.7
COPY . .
ARG BUILD_GIT_COMMIT=unknown
# The registry and target directories are cached between builds, so a change to the
# source rebuilds movieapp alone.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo auditable build --release --locked --bin movieapp \
    && cp target/release/movieapp /usr/local/bin/movieapp

FROM debian:bookworm-slim
# ca-certificates: TLS to Consul, Kafka or MySQL with public certificates.
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --no-log-init --uid 10001 --user-group \
       --home-dir /var/lib/movieapp --create-home --shell /usr/sbin/nologin movieapp
COPY --from=build /usr/local/bin/movieapp /usr/local/bin/movieapp
COPY configs/base.yaml /etc/movieapp/movieapp.yaml
ENV MOVIEAPP_CONFIG=/etc/movieapp/movieapp.yaml \
    MOVIEAPP_DATA_DIR=/var/lib/movieapp \
    MOVIEAPP_LISTEN_HOST=0.0.0.0 \
    MOVIEAPP_AUTH_MODE=writes \
    HEALTH_ADDR=127.0.0.1:8083
USER 10001:10001
WORKDIR /var/lib/movieapp
VOLUME ["/var/lib/movieapp"]
# metadata, rating, movie, auth: gRPC and HTTP on each; the dashboard.
EXPOSE 8081 8082 8083 8084 8085
# One gRPC health check (grpc.health.v1): exit 0 only when SERVING.
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/bin/sh", "-c", "exec movieapp health --addr \"$HEALTH_ADDR\" --timeout 3s"]
ENTRYPOINT ["movieapp"]
CMD ["serve"]
