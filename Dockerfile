# syntax=docker/dockerfile:1
# sdl-gate: one static (musl) binary, shipped in three images:
#   docker build .                 the default image: distroless, `serve`, non-root (uid 65532)
#   docker build --target gitlab . the GitLab CI job's image: a shell and git, non-root
#   docker build --target action . the GitHub Action's image: distroless, root (GitHub requires it)
#   docker build --target binary --output type=local,dest=out .   the bare binary (releases)
#
# The dependency layer is built by cargo-chef from a recipe that `cargo chef prepare` derives
# from the whole build context (COPY . .), so a new [[test]], [[example]] or [[bench]] target in
# Cargo.toml can never make this file drift from the manifest; the layer is still cached until
# Cargo.toml or Cargo.lock change. .ci/dockerfile-replay.sh replays the `build` stage in CI.

# Automatic BuildKit argument; declared here so that FROM lines may use it.
ARG TARGETARCH

FROM rust:1.95-slim-bookworm AS chef
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# musl-tools: the C compiler aws-lc-sys needs for the musl target; cmake: aws-lc's build.
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools cmake \
 && rm -rf /var/lib/apt/lists/*
RUN cargo install cargo-chef --locked --version 0.1.78
WORKDIR /src

# The recipe: the manifest, the lock file and the skeleton of every declared target.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

# Each platform builds natively for its own musl target (no cross C toolchain needed);
# CARGO_BUILD_TARGET is read by cargo itself, so the cargo steps below name no target.
FROM chef AS build-amd64
ENV CARGO_BUILD_TARGET=x86_64-unknown-linux-musl
FROM chef AS build-arm64
ENV CARGO_BUILD_TARGET=aarch64-unknown-linux-musl

# hadolint ignore=DL3006
FROM build-${TARGETARCH} AS build
WORKDIR /src
RUN rustup target add "$CARGO_BUILD_TARGET"
COPY --from=planner /src/recipe.json recipe.json
# The dependencies, in their own layer: only a change of the recipe rebuilds them.
RUN cargo chef cook --release --locked --recipe-path recipe.json
COPY . .
RUN cargo build --release --locked --bin sdl-gate
RUN cp "target/$CARGO_BUILD_TARGET/release/sdl-gate" /sdl-gate \
 && mkdir -p /data

# The bare binary, for release assets: `--target binary --output type=local,dest=out`.
FROM scratch AS binary
COPY --from=build /sdl-gate /sdl-gate

# The GitLab CI image: GitLab runs job scripts with a shell, and `sdl-gate gitlab-ci` runs git
# in the checkout when it has no API token.
FROM alpine:3.22 AS gitlab
# hadolint ignore=DL3018
RUN apk add --no-cache git ca-certificates
COPY --from=build /sdl-gate /usr/local/bin/sdl-gate
USER 65532:65532

# The GitHub Action's image. No USER: GitHub runs Docker container actions as the image's
# default user and requires it to be root, because the workspace, GITHUB_OUTPUT and
# GITHUB_STEP_SUMMARY belong to the runner's user; a non-root action cannot write its outputs.
# distroless publishes no version tags; `latest` is its root variant (`nonroot` is the other).
# hadolint ignore=DL3007
FROM gcr.io/distroless/static-debian12:latest AS action
COPY --from=build /sdl-gate /usr/local/bin/sdl-gate
ENTRYPOINT ["sdl-gate"]
CMD ["action"]

# The default image: the service. No shell, no package manager; distroless' nonroot user. It
# listens on every interface of the container and keeps its SQLite database and the evidence
# ledger's signing key in /data (mount a volume there, or set SDL_GATE_DATABASE_URL to
# PostgreSQL and mount the one key every replica shares at SDL_GATE_LEDGER_KEY_PATH).
FROM gcr.io/distroless/static-debian12:nonroot AS default
COPY --from=build /sdl-gate /usr/local/bin/sdl-gate
COPY --from=build --chown=65532:65532 /data /data
ENV SDL_GATE_LISTEN=0.0.0.0:8080 \
    SDL_GATE_DATABASE_URL=sqlite:///data/sdl-gate.db \
    SDL_GATE_LEDGER_KEY_PATH=/data/sdl-gate-ledger.pem \
    SDL_GATE_SESSION_KEY_PATH=/data/sdl-gate-session.key
WORKDIR /data
EXPOSE 8080
USER 65532:65532
ENTRYPOINT ["sdl-gate"]
CMD ["serve"]
