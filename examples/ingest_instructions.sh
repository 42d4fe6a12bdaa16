#!/usr/bin/env bash
# Instructions per stored delivery of `sdl-gate serve` on SQLite, counted by valgrind's callgrind:
# repeatable to ~1-2% whatever else the machine does, unlike CPU time on this shared 2-core host,
# so two builds can be compared one after the other (CPU figures: examples/ingest_peers.rs).
#
# It runs examples/ingest_peers.rs twice, with 1,000 and 3,000 deliveries (plus the harness's
# 10% warm-up), with the service under callgrind, and divides the difference of the two totals
# by the 2,200 deliveries between them, so start-up and migrations cancel out. SHA-256 is left
# out of the figure: valgrind has no SHA-NI, so its software fallback would count ~40x what the
# real run spends (the HMAC costs ~20 us per 24 KB delivery natively).
#
#   cargo build --profile profiling --bin sdl-gate --example ingest_peers
#   bash examples/ingest_instructions.sh target/profiling/sdl-gate
set -euo pipefail
bin=$(realpath "${1:?usage: ingest_instructions.sh SDL_GATE_BINARY}")
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
for n in 1000 3000; do
  cat > "$work/wrap.sh" <<W
#!/usr/bin/env bash
exec valgrind --tool=callgrind --callgrind-out-file=$work/cg-$n.out "$bin" "\$@"
W
  chmod +x "$work/wrap.sh"
  target/profiling/examples/ingest_peers --bin "$work/wrap.sh" --only sqlite --connections 32 \
    --deliveries "$n" > "$work/run-$n.log" 2>&1 || { cat "$work/run-$n.log"; exit 1; }
done
python3 - "$work" <<'PY'
import re, subprocess, sys
def totals(path):
    out = subprocess.run(["callgrind_annotate", "--inclusive=yes", path],
                         capture_output=True, text=True, check=True).stdout
    total = sha = 0
    for line in out.splitlines():
        m = re.match(r"\s*([\d,]+) \(.*?\)\s+(.*)", line)
        if not m:
            continue
        value = int(m.group(1).replace(",", ""))
        if "PROGRAM TOTALS" in line:
            total = value
        elif re.search(r":sha2::sha256::soft::compress \[", line):
            sha = max(sha, value)
    return total, sha
(a, sa), (b, sb) = totals(sys.argv[1] + "/cg-1000.out"), totals(sys.argv[1] + "/cg-3000.out")
print("instructions per delivery: %.1fk without SHA-256 (%.1fk with it)"
      % (((b - sb) - (a - sa)) / 2200 / 1e3, (b - a) / 2200 / 1e3))
PY
