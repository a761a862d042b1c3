# syntax=docker/dockerfile:1
# The tanis server image: one binary, `tanis`, whose subcommand picks the role (serve, worker, migrate,
# set-role). docker-compose.yml runs two nodes, a worker and a one-shot migration from this one image.
#
#   docker build -t tanis .
#
# Needs BuildKit for the cache mounts: the default builder where the buildx plugin is installed (Docker 23+
# from Docker's packages), or DOCKER_BUILDKIT=1 on older engines. docker-compose 1.29 builds through the
# docker CLI, so the same holds for `docker-compose build`.
#
# Configuration comes from TANIS_* environment variables (src/config/; unknown keys are refused).

# --- Build -------------------------------------------------------------------------------------------------

# The workspace needs Rust 1.94 (rust-version in Cargo.toml). Bookworm, because the runtime stage is bookworm:
# the binary links the builder's glibc dynamically, so both stages must agree on it.
FROM rust:1.95-bookworm AS builder

WORKDIR /src

# No sqlx `query!` macro reads a database at compile time (only `sqlx::migrate!`, which reads files); offline
# mode makes sure a DATABASE_URL in the build environment is never used.
ENV SQLX_OFFLINE=true \
    CARGO_TERM_COLOR=never

# The whole workspace, not just the root package: Cargo loads every member's manifest (`[workspace] members`:
# client, proto, signaling, workers, bench) before building `-p tanis`, and tanis depends on proto, workers and
# signaling by path. Also needed at compile time: vendor/sqlx-core and vendor/tungstenite ([patch.crates-io] in
# Cargo.toml), migrations/ (embedded by `sqlx::migrate!` in src/store/migrate.rs) and
# src/domain/common_passwords.txt (`include_str!`). .dockerignore keeps target/, .git and the like out of the context.
COPY . .

# Dependencies are cached in BuildKit cache mounts rather than in a layer: the registry (downloads) and target/
# (compiled crates) survive between builds, so a source change recompiles only the workspace crates. (The usual
# alternative, a layer built from stub sources, needs stubs for all six members and is defeated by Cargo's
# mtime fingerprints.) The cache mount is not part of the image, so the binary is copied out in the same step.
# --locked: Cargo.lock is authoritative; a manifest change without a lock update fails here, not in production.
RUN --mount=type=cache,id=tanis-cargo-registry,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,id=tanis-cargo-git,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,id=tanis-target,target=/src/target,sharing=locked \
    cargo build --release --locked -p tanis --bin tanis \
 && install -D -m 0755 target/release/tanis /out/tanis

# --- Runtime -----------------------------------------------------------------------------------------------

FROM debian:bookworm-slim

# TLS to PostgreSQL uses rustls with bundled webpki roots, so ca-certificates is only for anything that consults
# the system store; it is small. SQLite is compiled into the binary (sqlx's bundled libsqlite3-sys).
# Unpinned on purpose: a rebuild should pick up the current root certificates and security updates.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/*

# A fixed, unprivileged uid/gid so volume ownership is predictable across rebuilds and hosts. /data is 0700:
# tanis keeps generated secrets there (when they are not configured) and refuses ones readable by others.
RUN groupadd --gid 10001 tanis \
 && useradd --uid 10001 --gid 10001 --no-create-home --home-dir /data --shell /usr/sbin/nologin tanis \
 && install -d -o 10001 -g 10001 -m 0700 /data

COPY --from=builder /out/tanis /usr/local/bin/tanis

# Defaults that only make sense in a container (the binary's own defaults are for a developer's machine):
# listen on every interface, not loopback; keep the SQLite file and generated secrets in the volume; the
# embedded TURN server (on by default, UDP) likewise on every interface. Override any of them at `docker run`.
ENV TANIS_LISTEN=0.0.0.0:8080 \
    TANIS_DATA_DIR=/data \
    TANIS_VIDEO__TURN_LISTEN=0.0.0.0:3478

# Numeric, so orchestrators can verify runAsNonRoot without reading /etc/passwd.
USER 10001:10001
WORKDIR /data
# Only a single-node SQLite deployment writes here; with PostgreSQL and explicit secrets nothing is written.
VOLUME ["/data"]

# 8080: HTTP and WebSocket (behind nginx in docker-compose.yml). 3478/udp: the embedded TURN server's default
# port (video.turn_listen). Publishing 3478 alone is not enough for TURN: its relay sockets use ephemeral UDP
# ports and relay to each other through the public address, which Docker's bridge NAT breaks; run the embedded
# server with host networking, or use coturn (the `turn` profile of docker-compose.yml).
EXPOSE 8080/tcp 3478/udp

# Liveness without adding curl: bash (in debian-slim) opens the TCP connection itself through /dev/tcp and
# checks for a 200 from GET /healthz on the port of TANIS_LISTEN (assumed reachable on 127.0.0.1, true for
# 0.0.0.0 and [::]). /healthz, not /readyz: a database outage should not get every node marked unhealthy
# and restarted; /readyz is for load balancers that probe (docs/operations.md). Only `serve` listens:
# containers running `worker` or `migrate` from this image should disable it (docker-compose.yml does).
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "l=${TANIS_LISTEN:-:8080}; exec 3<>\"/dev/tcp/127.0.0.1/${l##*:}\" && printf 'GET /healthz HTTP/1.1\\r\\nHost: localhost\\r\\nConnection: close\\r\\n\\r\\n' >&3 && read -r -t 2 _ code _ <&3 && [[ $code == 200 ]]"]

ENTRYPOINT ["tanis"]
CMD ["serve"]
