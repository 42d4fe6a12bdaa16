#!/usr/bin/env bash
# Regenerates the dependency, IaC, threat-model and SBOM reports under tests/data/real/ with the
# real tools, pinned, run on the sample projects in tests/real-tools/sample-deps/.
#
#   tests/real-tools/deps.sh            # from the repository root
#
# Needs python3 (3.9+), npm and network access to PyPI and the npm registry only. Tools are
# installed into a throw-away virtual environment ($RT_VENV, default /tmp/sdl-gate-rt-deps).
# Graphviz `dot` (Debian package `graphviz`) is used for the .png companion when present.
#
# What each tool needs beyond its registry, and what happened when the committed reports were
# generated (a machine that reaches only the PyPI and npm package indexes):
# - pip-audit queries PyPI's JSON API (https://pypi.org/pypi/<name>/<version>/json) for
#   vulnerabilities. It answered 404, so pip-audit skipped EVERY dependency as "Dependency not
#   found on PyPI and could not be audited", printed "No known vulnerabilities found" and
#   exited 0 — even for the known-vulnerable pins. That is the real output committed
#   (pip-audit/*.json): exactly the "audited nothing" case sdl-gate must not pass.
# - npm audit posts to the registry's bulk advisory endpoint; the proxy answered
#   "405 Method Not Allowed", so npm-audit/with-lockfile.json is npm's registry-error JSON
#   (the audit itself failed), and npm-audit/enolock.json its no-lockfile error.
# - No scanner could therefore write a CycloneDX document WITH vulnerabilities; the VEX
#   document cyclonedx/vex.cdx.json is written by cyclonedx-python-lib (the official CycloneDX
#   library) from sample-deps/vex/make_vex.py, with published advisories of the sample pins.
# - checkov runs offline (`--skip-download`: no Bridgecrew/Prisma platform, no API key).
# - pytm, cyclonedx-py and graphviz run offline.
# Tool exit codes are recorded, not fatal: a scanner that finds something exits non-zero.
set -euo pipefail

ROOT=$(cd "$(dirname "$0")/../.." && pwd)
SAMPLES="$ROOT/tests/real-tools/sample-deps"
OUT="$ROOT/tests/data/real"
VENV=${RT_VENV:-/tmp/sdl-gate-rt-deps}

PIP_AUDIT_VERSION=2.10.1
CHECKOV_VERSION=3.3.30
PYTM_VERSION=1.4.0
CYCLONEDX_BOM_VERSION=4.6.1

if [ ! -x "$VENV/bin/python" ]; then
    python3 -m venv "$VENV"
fi
"$VENV/bin/pip" install --quiet --disable-pip-version-check \
    "pip-audit==$PIP_AUDIT_VERSION" "checkov==$CHECKOV_VERSION" \
    "pytm==$PYTM_VERSION" "cyclonedx-bom==$CYCLONEDX_BOM_VERSION"
BIN="$VENV/bin"

mkdir -p "$OUT/pip-audit" "$OUT/npm-audit" "$OUT/checkov" "$OUT/pytm" "$OUT/cyclonedx"
EXITS="$OUT/EXIT_CODES"
: >"$EXITS"

# run NAME CMD...: runs CMD, records its exit code under NAME.
run() {
    local name=$1
    shift
    local rc=0
    "$@" || rc=$?
    echo "$name $rc" >>"$EXITS"
}

# Makes absolute paths of this machine repository-relative, so the committed reports do not
# depend on where they were generated.
relativise() {
    sed -i "s#$SAMPLES/#tests/real-tools/sample-deps/#g; s#$ROOT/#./#g; s#$VENV#/venv#g" "$@"
}

# --- pip-audit -------------------------------------------------------------------------------
# `-r` resolves each requirements file in a temporary virtual environment, so a local package
# (../private-pkg, not on PyPI) is installed and then reported as "could not be audited".
cd "$SAMPLES/pip-vulnerable"
run pip-audit/vulnerable.json "$BIN/pip-audit" -r requirements.txt -f json -o "$OUT/pip-audit/vulnerable.json"
run pip-audit/vulnerable.cdx.json "$BIN/pip-audit" -r requirements.txt -f cyclonedx-json -o "$OUT/cyclonedx/pip-audit-vulnerable.cdx.json"
cd "$SAMPLES/pip-unauditable"
run pip-audit/unauditable.json "$BIN/pip-audit" -r requirements.txt -f json -o "$OUT/pip-audit/unauditable.json"
cd "$SAMPLES/pip-partial"
run pip-audit/partial.json "$BIN/pip-audit" -r requirements.txt -f json -o "$OUT/pip-audit/partial.json"

# --- npm audit -------------------------------------------------------------------------------
# With a lockfile (written here, never committed: `--package-lock-only` installs nothing).
cd "$SAMPLES/npm-vulnerable"
rm -f package-lock.json
npm install --package-lock-only --ignore-scripts --no-audit --no-fund --silent
run npm-audit/with-lockfile.json sh -c 'npm audit --json >"$0"' "$OUT/npm-audit/with-lockfile.json"
rm -f package-lock.json
# Without one: npm writes its error as JSON (ENOLOCK) and exits non-zero.
cd "$SAMPLES/npm-nolock"
rm -f package-lock.json
run npm-audit/enolock.json sh -c 'npm audit --json >"$0" 2>/dev/null' "$OUT/npm-audit/enolock.json"

# --- checkov ---------------------------------------------------------------------------------
# One scan, two output formats, so the GitLab report and the SARIF can be compared.
cd "$SAMPLES"
rm -rf "$OUT/checkov/tmp"
run checkov "$BIN/checkov" -d iac --framework terraform kubernetes --skip-download --quiet \
    -o gitlab_sast -o sarif -o json --output-file-path "$OUT/checkov/tmp"
mv "$OUT/checkov/tmp/results_gitlab_sast.json" "$OUT/checkov/gitlab_sast.json"
mv "$OUT/checkov/tmp/results_sarif.sarif" "$OUT/checkov/results.sarif"
mv "$OUT/checkov/tmp/results_json.json" "$OUT/checkov/checkov.json"
rm -rf "$OUT/checkov/tmp"

# --- pytm ------------------------------------------------------------------------------------
# The model as pytm JSON (a threat-model file), and its companions: the data-flow diagram as
# Graphviz .dot and the diagram rendered to .png (the model source, tm.py, is read by the tests
# where it is, in the sample folder).
cd "$SAMPLES/threat-model"
run pytm/tm.json "$BIN/python" tm.py --json "$OUT/pytm/tm.json"
run pytm/tm.dot sh -c '"$0" tm.py --dfd >"$1"' "$BIN/python" "$OUT/pytm/tm.dot"
if command -v dot >/dev/null; then
    run pytm/tm.png dot -Tpng "$OUT/pytm/tm.dot" -o "$OUT/pytm/tm.png"
else
    echo "graphviz 'dot' not installed: tm.png not regenerated" >&2
fi

# --- CycloneDX VEX ---------------------------------------------------------------------------
run cyclonedx/vex.cdx.json "$BIN/python" "$SAMPLES/vex/make_vex.py" "$OUT/cyclonedx/vex.cdx.json"

# --- CycloneDX SBOM with no components -------------------------------------------------------
# cyclonedx-py on an empty requirements file: a valid SBOM that lists nothing.
cd "$SAMPLES/sbom-empty"
run cyclonedx/empty.cdx.json "$BIN/cyclonedx-py" requirements requirements.txt \
    --of JSON -o "$OUT/cyclonedx/empty.cdx.json"

relativise "$OUT"/pip-audit/*.json "$OUT"/npm-audit/*.json "$OUT"/checkov/* "$OUT"/pytm/tm.json \
    "$OUT"/cyclonedx/*.json

{
    echo "# Tools that produced the reports in this directory (tests/real-tools/deps.sh)."
    echo "generated $(date -u +%Y-%m-%dT%H:%MZ)"
    echo "python $("$BIN/python" -c 'import platform; print(platform.python_version())')"
    echo "pip-audit $("$BIN/pip-audit" --version | awk '{print $2}')"
    echo "checkov $("$BIN/checkov" --version)"
    echo "pytm $("$BIN/python" -c 'import importlib.metadata as m; print(m.version("pytm"))')"
    echo "cyclonedx-bom $("$BIN/python" -c 'import importlib.metadata as m; print(m.version("cyclonedx-bom"))')"
    echo "cyclonedx-python-lib $("$BIN/python" -c 'import importlib.metadata as m; print(m.version("cyclonedx-python-lib"))')"
    echo "node $(node --version)"
    echo "npm $(npm --version)"
    if command -v dot >/dev/null; then echo "graphviz $(dot -V 2>&1 | awk '{print $5}')"; fi
} >"$OUT/VERSIONS.deps"
echo "wrote $OUT (exit codes in $EXITS)"
