#!/usr/bin/env bash
# Fuzzes the `/sdl` comment parser (fuzz/fuzz_targets/parse_comment.rs) for a fixed number of
# runs: a short smoke run for CI. SDL_GATE_FUZZ_RUNS overrides the count.
#
# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=address and the sancov passes);
# RUSTC_BOOTSTRAP=1 lets the stable toolchain accept them. New corpus entries go to a
# temporary folder so the run leaves the work tree clean; fuzz/seeds is read only.
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${SDL_GATE_FUZZ_RUNS:-20000}"
if ! command -v cargo-fuzz >/dev/null 2>&1; then
    echo "== installing cargo-fuzz" >&2
    cargo install cargo-fuzz --locked
fi
corpus="$(mktemp -d)"
trap 'rm -rf "$corpus"' EXIT
echo "== cargo fuzz run parse_comment ($runs runs)"
cd fuzz
RUSTC_BOOTSTRAP=1 cargo fuzz run parse_comment "$corpus" seeds/parse_comment -- \
    -runs="$runs" -max_len=4096 -timeout=10
