# syntax=docker/dockerfile:1
# sdl-gate: a static (musl) binary in a distroless image, run as a non-root user.

FROM rust:1.95-slim-bookworm AS build
SHELL ["/bin/bash", "-o", "pipefail", "-c"]
# hadolint ignore=DL3008
RUN apt-get update \
 && apt-get install -y --no-install-recommends musl-tools cmake \
 && rm -rf /var/lib/apt/lists/* \
 && rustup target add x86_64-unknown-linux-musl
WORKDIR /src

# Dependencies first, in their own layer: only Cargo.toml and Cargo.lock invalidate it.
COPY Cargo.toml Cargo.lock ./
RUN mkdir -p src benches \
 && echo 'fn main() {}' > src/main.rs \
 && touch src/lib.rs \
 && awk '/^\[\[bench\]\]/{f=1;next} f&&/^name/{gsub(/"/,"",$3);print $3;f=0}' Cargo.toml \
    | while read -r b; do echo 'fn main() {}' > "benches/$b.rs"; done \
 && cargo build --release --locked --target x86_64-unknown-linux-musl \
 && rm -rf src benches

COPY src ./src
COPY config ./config
COPY migrations ./migrations
RUN touch src/main.rs src/lib.rs \
 && cargo build --release --locked --target x86_64-unknown-linux-musl \
 && cp target/x86_64-unknown-linux-musl/release/sdl-gate /sdl-gate

# The GitLab CI image (`docker build --target gitlab .`): GitLab runs job scripts with a shell,
# and `sdl-gate gitlab-ci` runs git in the checkout when it has no API token.
FROM alpine:3.22 AS gitlab
# hadolint ignore=DL3018
RUN apk add --no-cache git ca-certificates
COPY --from=build /sdl-gate /usr/local/bin/sdl-gate
USER 65532:65532

# The default image (the GitHub Action, `serve`): no shell, no package manager.
FROM gcr.io/distroless/static-debian12:nonroot
COPY --from=build /sdl-gate /usr/local/bin/sdl-gate
# distroless' nonroot user
USER 65532:65532
ENTRYPOINT ["sdl-gate"]
