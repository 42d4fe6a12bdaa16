#!/usr/bin/env bash
# Installs the pinned securesystemslib (the Python Secure Systems Library of in-toto and TUF)
# into a virtual environment and prints its python: tests/ledger_attestations.rs verifies
# sdl-gate's DSSE envelopes with it (SDL_GATE_SSLIB_PYTHON). Idempotent; the environment lives
# in .ci/cache/sslib unless a folder is given.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv="${1:-.ci/cache/sslib}"
version="1.3.0"
if ! "$venv/bin/python" -c "import securesystemslib, sys; sys.exit(securesystemslib.__version__ != '$version')" 2>/dev/null; then
  python3 -m venv "$venv" >&2
  "$venv/bin/pip" install --quiet --disable-pip-version-check "securesystemslib[crypto]==$version" >&2
fi
echo "$(cd "$venv" && pwd)/bin/python"
