#!/usr/bin/env bash
# The whole test suite (the README's test command). Starts the services the tests need
# (PostgreSQL for the store suite) when it can, then runs every test.
set -euo pipefail
cd "$(dirname "$0")/.."
# shellcheck source=.ci/services.sh
if ! source .ci/services.sh; then
  echo "note: PostgreSQL could not be started here: the PostgreSQL half of the store tests skips (under CI=true it fails)"
fi
if [ ! -d ../shared/fixtures ]; then
  echo "note: ../shared/fixtures is absent: the fixture conformance tests will skip and say so"
fi
# The page tests drive a real browser (Debian's chromium + chromedriver) and read the printed
# report with poppler's pdftotext (tests/web_browser.rs).
if ! command -v chromedriver >/dev/null 2>&1 || ! command -v chromium >/dev/null 2>&1 || ! command -v pdftotext >/dev/null 2>&1; then
  if [ "$(id -u)" = 0 ]; then
    echo "installing chromium, chromium-driver and poppler-utils for the browser tests"
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver poppler-utils >/dev/null \
      || echo "note: the browser could not be installed: the browser tests skip (under CI=true they fail)"
  else
    echo "note: chromium/chromedriver/pdftotext missing and not root: the browser tests skip (under CI=true they fail)"
  fi
fi
# GitHub's REST description (@octokit/openapi): the fake GitHub checks every request and answer
# against it.
SDL_GATE_GITHUB_OPENAPI="$(bash .ci/openapi.sh)"
export SDL_GATE_GITHUB_OPENAPI
# GitHub's GraphQL schema (@octokit/graphql-schema) and graphql-core (PyPI): the fake GitHub
# validates the GraphQL query sdl-gate sends against the schema (tests/fake_github/graphql.rs).
SDL_GATE_GITHUB_GRAPHQL_SCHEMA="$(bash .ci/graphql-schema.sh)"
export SDL_GATE_GITHUB_GRAPHQL_SCHEMA
if SDL_GATE_GRAPHQL_PYTHON="$(bash tests/real-tools/graphql.sh)"; then
  export SDL_GATE_GRAPHQL_PYTHON
else
  echo "note: graphql-core could not be installed: the GraphQL schema check fails under CI=true"
fi
# securesystemslib (PyPI): an implementation we did not write verifies the ledger's DSSE
# attestations (tests/ledger_attestations.rs).
if SDL_GATE_SSLIB_PYTHON="$(bash tests/real-tools/sslib.sh)"; then
  export SDL_GATE_SSLIB_PYTHON
else
  echo "note: securesystemslib could not be installed: the DSSE check skips (under CI=true it fails)"
fi
cargo test --all-targets --no-fail-fast
cargo test --doc
