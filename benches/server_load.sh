#!/usr/bin/env bash
# Load benchmark of `tenantsync serve` on loopback (issue 2's performance targets):
#   GET app               target >= 15,000 req/s
#   GET /healthz          the same server's trivial-route ceiling (GET app / healthz target >= 0.6)
#   durable create-client target >= 1,000 req/s with 32 concurrent connections
# Uses Debian's wrk (installed if missing). Prints a markdown table; JSON with --json.
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION=${DURATION:-10s}
CONNECTIONS=${CONNECTIONS:-32}
THREADS=${THREADS:-2}

command -v wrk >/dev/null || { apt-get update -qq && apt-get install -y -qq wrk; }
command -v curl >/dev/null || { apt-get update -qq && apt-get install -y -qq curl; }
cargo build --release --quiet
BIN=target/release/tenantsync

WORK=$(mktemp -d)
trap 'kill $SERVER_PID 2>/dev/null || true; rm -rf "$WORK"' EXIT
RUST_LOG=warn "$BIN" serve --listen 127.0.0.1:0 --data "$WORK/data" >"$WORK/out" 2>"$WORK/err" &
SERVER_PID=$!
for _ in $(seq 100); do grep -q listening "$WORK/out" 2>/dev/null && break; sleep 0.1; done
ORIGIN=$(grep -o 'http://[0-9.:]*' "$WORK/out" | head -1)
. "$WORK/data/admin-credentials"
TOKEN=$(curl -s -X POST "$ORIGIN/oidc/token" -d grant_type=client_credentials \
  -d "client_id=$TENANTSYNC_CLIENT_ID" -d "client_secret=$TENANTSYNC_CLIENT_SECRET" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["access_token"])')
APP_ID=$(curl -s -X POST "$ORIGIN/cis/v1/applications" -H "Authorization: Bearer $TOKEN" \
  -H 'content-type: application/json' \
  -d '{"app_name":"Bench","client_display_name":"Web","first_client":{"name":"Web","redirect_uris":["https://bench.example.com/cb"],"token_expiration":{"access_token_ttl":3600}}}' |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["result"]["app_id"])')

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body   = '{"name":"Load","redirect_uris":["https://load.example.com/cb"],"token_expiration":{"access_token_ttl":60}}'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
LUA

rps() { awk '/Requests\/sec/ {print $2}'; }
run_wrk() { wrk -t"$THREADS" -c"$CONNECTIONS" -d"$DURATION" --latency "$@"; }

GET_APP=$(run_wrk -H "Authorization: Bearer $TOKEN" "$ORIGIN/cis/v1/applications/$APP_ID" | tee "$WORK/get.txt" | rps)
HEALTHZ=$(run_wrk "$ORIGIN/healthz" | tee "$WORK/health.txt" | rps)
CREATE=$(run_wrk -s "$WORK/post.lua" "$ORIGIN/cis/v1/applications/$APP_ID/clients" | tee "$WORK/post.txt" | rps)
ERRORS=$(grep -h "Non-2xx" "$WORK"/get.txt "$WORK"/health.txt "$WORK"/post.txt || true)
CREATED=$(curl -s "$ORIGIN/metrics" | awk '/tenantsync_server_objects\{kind="client"\}/ {print $2}')
RATIO=$(python3 -c "print(f'{$GET_APP/$HEALTHZ:.2f}')")
P99_GET=$(awk '/ 99%/ {print $2}' "$WORK/get.txt")
P99_POST=$(awk '/ 99%/ {print $2}' "$WORK/post.txt")

echo "| measurement ($(nproc) cores, $CONNECTIONS connections, $DURATION, $(date -u +%F)) | req/s | p99 | target |"
echo "|---|---|---|---|"
echo "| GET app | $GET_APP | $P99_GET | >= 15,000 |"
echo "| GET /healthz (floor for this server) | $HEALTHZ | | |"
echo "| GET app / healthz | $RATIO | | >= 0.6 |"
echo "| durable create-client (POST, flushed before 201) | $CREATE | $P99_POST | >= 1,000 |"
echo
echo "clients stored after the run: $CREATED"
[ -z "$ERRORS" ] || { echo "non-2xx answers seen:"; echo "$ERRORS"; exit 1; }
