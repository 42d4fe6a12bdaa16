#!/usr/bin/env bash
# Installs GitHub's published REST description (npm `@octokit/openapi`, pinned) into the
# ignored .ci/cache folder when it is absent, and prints the path of
# generated/api.github.com.deref.json. The fake GitHub's tests validate every request the
# app sends and every answer the fake gives against it (SDL_GATE_GITHUB_OPENAPI).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=23.0.2
DIR=.ci/cache/octokit-openapi-$VERSION
FILE=$DIR/node_modules/@octokit/openapi/generated/api.github.com.deref.json
if [ ! -s "$FILE" ]; then
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --no-save --ignore-scripts \
    --prefix "$DIR" "@octokit/openapi@$VERSION" >&2
fi
if [ ! -s "$FILE" ]; then
  echo "error: @octokit/openapi@$VERSION installed but $FILE is missing" >&2
  exit 1
fi
echo "$PWD/$FILE"
