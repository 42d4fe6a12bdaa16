#!/usr/bin/env bash
# Installs the pinned graphql-core (the Python port of the GraphQL reference implementation)
# into a virtual environment and prints its python: the fake GitHub validates sdl-gate's GraphQL
# query against GitHub's schema with it (SDL_GATE_GRAPHQL_PYTHON, tests/fake_github/graphql.rs).
# Idempotent; the environment lives in .ci/cache/graphql-core unless a folder is given.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${1:-.ci/cache/graphql-core}"
version="3.2.8"
if ! "$venv/bin/python" -c "import graphql, sys; sys.exit(graphql.__version__ != '$version')" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "graphql-core==$version" >&2
fi
echo "$(cd "$venv" && pwd)/bin/python"
