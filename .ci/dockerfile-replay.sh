#!/usr/bin/env bash
# Replays the Dockerfile's build stage on the host (no Docker engine here): exactly the files its
# COPYs take from the build context (after .dockerignore), in its order, into empty folders, then
# its cargo steps with the host target (`cargo build` checked as `cargo check`, `cargo chef cook`
# as `cargo chef cook --check`, `cargo chef prepare` and `cargo install` run as written). So a
# manifest, COPY or .dockerignore change that would break `docker build` breaks CI.
# See .ci/dockerfile_replay.py for what is replayed and what is skipped.
set -euo pipefail
cd "$(dirname "$0")/.."
# A folder of its own under target/, so repeated runs are warm and never touch target/debug.
export CARGO_TERM_COLOR=never
exec python3 .ci/dockerfile_replay.py \
  --dockerfile "${DOCKERFILE:-Dockerfile}" \
  --stage "${DOCKERFILE_STAGE:-build}" \
  --work target/dockerfile-replay/stages \
  --target-dir target/dockerfile-replay/cargo
