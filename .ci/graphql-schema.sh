#!/usr/bin/env bash
# Installs GitHub's published GraphQL schema (npm `@octokit/graphql-schema`, pinned) into the
# ignored .ci/cache folder when it is absent, and prints the path of its schema.graphql. The fake
# GitHub validates the GraphQL query sdl-gate sends against it (SDL_GATE_GITHUB_GRAPHQL_SCHEMA).
set -euo pipefail
cd "$(dirname "$0")/.."
VERSION=15.26.1
DIR=.ci/cache/octokit-graphql-schema
FILE=$DIR/node_modules/@octokit/graphql-schema/schema.graphql
if [ ! -s "$FILE" ] || ! grep -q "\"version\": \"$VERSION\"" "$DIR/node_modules/@octokit/graphql-schema/package.json"; then
  mkdir -p "$DIR"
  npm install --silent --no-audit --no-fund --no-save --ignore-scripts \
    --prefix "$DIR" "@octokit/graphql-schema@$VERSION" >&2
fi
if [ ! -s "$FILE" ]; then
  echo "error: @octokit/graphql-schema@$VERSION installed but $FILE is missing" >&2
  exit 1
fi
echo "$PWD/$FILE"
