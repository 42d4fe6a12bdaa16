#!/usr/bin/env bash
# Soak of `sdl-gate serve` on SQLite with retention: 500 signed deliveries/s over 50 pull
# requests for 10 minutes (examples/load.rs), jobs completed by the test-only recording
# processor (no forge is called), SDL_GATE_RETENTION_DAYS=0.002 (173 s, so pruning runs several
# times within the soak). Prints RSS and database size (file + WAL) every minute, then once more
# after a minute idle, and the deliveries left in the database.
#
#   cargo build --release --bin sdl-gate --example load && bash examples/soak.sh [SECONDS]
#
# SOAK_PROFILE=profiling takes the binaries from target/profiling instead (release + symbols).
set -euo pipefail
seconds=${1:-600}
rate=500
root=$(cd "$(dirname "$0")/.." && pwd)
bin="$root/target/${SOAK_PROFILE:-release}"
work=$(mktemp -d)
trap 'kill "$serve" 2>/dev/null || true; rm -rf "$work"' EXIT
openssl genrsa -out "$work/key.pem" 2048 2>/dev/null
chmod 600 "$work/key.pem"
env -i PATH=/usr/bin:/bin HOME="$work" \
  SDL_GATE_LISTEN=127.0.0.1:18090 SDL_GATE_DATABASE_URL="sqlite://$work/soak.db" \
  SDL_GATE_GITHUB_APP_ID=1 SDL_GATE_GITHUB_PRIVATE_KEY_PATH="$work/key.pem" \
  SDL_GATE_GITHUB_WEBHOOK_SECRET=soak-secret SDL_GATE_GITHUB_API_URL=http://127.0.0.1:1 \
  SDL_GATE_RECONCILE_INTERVAL=0 SDL_GATE_RETENTION_DAYS=0.002 \
  SDL_GATE_TEST_PROCESSOR="record:$work/record.log" \
  "$bin/sdl-gate" serve > "$work/serve.log" 2>&1 &
serve=$!
sleep 2
sample() {
  local rss db
  rss=$(awk '/VmRSS/{print $2}' "/proc/$serve/status")
  db=$(du -cb "$work"/soak.db* | tail -1 | cut -f1)
  printf '%-6s RSS %6d KB  database %6.1f MB\n' "$1" "$rss" "$(echo "$db / 1048576" | bc -l)"
}
sample 0s
"$bin/examples/load" --url http://127.0.0.1:18090 --secret soak-secret \
  --count $((seconds * rate)) --rate "$rate" --prs 50 --installation 42 > "$work/load.txt" 2>&1 &
load=$!
for ((t = 60; t <= seconds; t += 60)); do sleep 60; sample "${t}s"; done
wait "$load"
cat "$work/load.txt"
sleep 60
sample idle
grep -c "retention: pruned" "$work/serve.log" | sed 's/^/prune runs that deleted something: /'
kill -TERM "$serve"
wait "$serve" || true
printf 'deliveries left: '
sqlite3 "$work/soak.db" 'SELECT COUNT(*) FROM deliveries' 2>/dev/null || echo "(sqlite3 not installed)"
