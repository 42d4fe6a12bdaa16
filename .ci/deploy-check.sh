#!/usr/bin/env bash
# Runs the deployment examples of docs/github-app.md as far as this machine allows (it has no
# Docker engine): the systemd unit through `systemd-analyze verify` (any warning fails), and
# the nginx reverse proxy for real — nginx with a self-signed certificate on 127.0.0.1 in front
# of a real `sdl-gate serve` on SQLite — asserting what the proxy passes and what it hides.
# Usage: bash .ci/deploy-check.sh [path of the sdl-gate binary; default target/debug/sdl-gate]
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(realpath "${1:-target/debug/sdl-gate}")"
[ -x "$bin" ] || { echo "deploy-check: no binary at $bin (build it first)" >&2; exit 1; }
work="$(mktemp -d)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT

echo "== systemd-analyze verify examples/deploy/sdl-gate.service"
if ! command -v systemd-analyze >/dev/null 2>&1; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq systemd >/dev/null
fi
# The unit names /usr/local/bin/sdl-gate; verify checks that ExecStart exists, so point it at
# the built binary in a copy and change nothing else.
sed "s#/usr/local/bin/sdl-gate#$bin#" examples/deploy/sdl-gate.service > "$work/sdl-gate.service"
out="$(systemd-analyze verify "$work/sdl-gate.service" 2>&1 || true)"
if [ -n "$out" ]; then
  echo "$out" >&2
  echo "deploy-check: systemd-analyze found problems in examples/deploy/sdl-gate.service" >&2
  exit 1
fi

echo "== nginx (examples/deploy/nginx.conf) in front of sdl-gate serve"
if ! command -v nginx >/dev/null 2>&1 && [ ! -x /usr/sbin/nginx ]; then
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq nginx-light >/dev/null
  # Debian starts the packaged site on port 80; this check runs its own instance only.
  nginx -s stop 2>/dev/null || service nginx stop >/dev/null 2>&1 || true
fi
NGINX="$(command -v nginx || echo /usr/sbin/nginx)"
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
app_port="$(free_port)"
tls_port="$(free_port)"
openssl req -x509 -newkey rsa:2048 -nodes -days 1 -subj "/CN=sdl-gate.example.com" \
  -keyout "$work/privkey.pem" -out "$work/fullchain.pem" 2>/dev/null
# The example's server block, with only the listen address, certificate paths and upstream port
# moved to this run's.
sed -e "s#listen 443 ssl;#listen 127.0.0.1:$tls_port ssl;#" \
    -e "s#/etc/ssl/sdl-gate/#$work/#g" \
    -e "s#127.0.0.1:8080#127.0.0.1:$app_port#" \
    examples/deploy/nginx.conf > "$work/site.conf"
cat > "$work/nginx-main.conf" <<CONF
daemon on;
pid $work/nginx.pid;
error_log $work/error.log;
events {}
http {
  access_log $work/access.log;
  client_body_temp_path $work/body;
  proxy_temp_path $work/proxy;
  fastcgi_temp_path $work/fastcgi;
  uwsgi_temp_path $work/uwsgi;
  scgi_temp_path $work/scgi;
  include $work/site.conf;
}
CONF
"$NGINX" -t -q -c "$work/nginx-main.conf"
SDL_GATE_LISTEN="127.0.0.1:$app_port" SDL_GATE_DATABASE_URL="sqlite://$work/sdl-gate.db" \
  SDL_GATE_LEDGER_KEY_PATH="$work/ledger.pem" SDL_GATE_SESSION_KEY_PATH="$work/session.key" \
  SDL_GATE_GITHUB_APP_ID=1 SDL_GATE_GITHUB_PRIVATE_KEY_PATH=tests/data/test-only-github-app-key.pem \
  SDL_GATE_GITHUB_WEBHOOK_SECRET=deploy-check SDL_GATE_GITHUB_API_URL="http://127.0.0.1:9" \
  SDL_GATE_RECONCILE_INTERVAL=0 "$bin" serve > "$work/serve.log" 2>&1 &
pids+=($!)
"$NGINX" -c "$work/nginx-main.conf"
for _ in $(seq 1 100); do
  curl -fsk "https://127.0.0.1:$tls_port/healthz" >/dev/null 2>&1 && break
  sleep 0.1
done
expect() { # expect STATUS METHOD PATH [curl args…]
  local want="$1" method="$2" path="$3"; shift 3
  local got
  got="$(curl -sk -o /dev/null -w '%{http_code}' -X "$method" "$@" "https://127.0.0.1:$tls_port$path")"
  if [ "$got" != "$want" ]; then
    echo "deploy-check: $method $path through nginx answered $got, expected $want" >&2
    tail -n 20 "$work/serve.log" "$work/error.log" >&2 || true
    exit 1
  fi
  echo "ok: $method $path -> $got"
}
expect 200 GET /healthz
expect 404 GET /metrics                       # internal: the proxy does not expose it
expect 200 GET "/github/app-created?code=0a1b2c&state=s"
expect 415 POST /webhooks/github -H 'X-GitHub-Event: ping' -H 'X-GitHub-Delivery: d0' --data 'payload=%7B%7D'  # form-encoded
expect 401 POST /webhooks/github -H 'Content-Type: application/json' -H 'X-GitHub-Event: ping' -H 'X-GitHub-Delivery: d1' --data '{}'
body='{"zen":"deploy-check","hook_id":1}'
sig="sha256=$(printf '%s' "$body" | openssl dgst -sha256 -hmac deploy-check -r | cut -d' ' -f1)"
expect 200 POST /webhooks/github -H 'Content-Type: application/json' -H 'X-GitHub-Event: ping' \
  -H 'X-GitHub-Delivery: d2' -H "X-Hub-Signature-256: $sig" --data "$body"
echo "deploy-check: passed"
