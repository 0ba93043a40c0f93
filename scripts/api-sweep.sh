#!/usr/bin/env bash
# Sweeps a running `latchkey serve` with schemathesis against docs/openapi.json:
# every operation, its examples, generated inputs and stateful sequences
# (register, then read, update and delete the client with its registration
# access token), within a time budget. Checks: no 5xx, every response's
# status, content type, headers and body (error bodies included) as the
# description says, a deleted client stays gone, a registered one is there.
#
#   scripts/api-sweep.sh [LATCHKEY_BINARY]
#
# The binary defaults to the workspace's debug build. The server runs on a
# loopback port with its database in a temporary directory, and with
# `[rate_limits] enabled = false`: a sweep sends hundreds of requests a
# minute from one address, so the limiter would answer most of them with
# its (described) 429 and the sweep would test little else.
#
# Environment: API_SWEEP_PORT (default 18199), API_SWEEP_SECONDS (schemathesis
# time budget, default 90), API_SWEEP_EXAMPLES (per operation, default 40),
# API_SWEEP_VENV (default target/api-sweep-venv).
set -euo pipefail
cd "$(dirname "$0")/.."

SCHEMATHESIS_VERSION=4.32.5
port=${API_SWEEP_PORT:-18199}
seconds=${API_SWEEP_SECONDS:-90}
examples=${API_SWEEP_EXAMPLES:-40}
target_dir=$(cargo metadata --format-version 1 --no-deps | python3 -c 'import sys, json; print(json.load(sys.stdin)["target_directory"])')
bin=${1:-$target_dir/debug/latchkey}
venv=${API_SWEEP_VENV:-$target_dir/api-sweep-venv}

if [ ! -x "$venv/bin/schemathesis" ] || ! "$venv/bin/schemathesis" --version | grep -q "$SCHEMATHESIS_VERSION"; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install -q "schemathesis==$SCHEMATHESIS_VERSION"
fi

work=$(mktemp -d)
base="http://127.0.0.1:$port"
(
  cd "$work"
  export LATCHKEY_BIND="127.0.0.1:$port" LATCHKEY_ISSUER="$base" \
    LATCHKEY_DATABASE="$work/latchkey.db" LATCHKEY_DEMO_PASSWORD="sweep-password-$$" \
    LATCHKEY_RATE_LIMITS_ENABLED=false RUST_LOG=warn
  exec "$bin" serve > "$work/server.log" 2>&1
) &
server_pid=$!
cleanup() {
  kill "$server_pid" 2>/dev/null || true
  wait "$server_pid" 2>/dev/null || true
}
trap cleanup EXIT

for _ in $(seq 1 60); do
  curl -s -o /dev/null "$base/.well-known/oauth-authorization-server" && break
  sleep 0.5
done

started=$(date +%s)
status=0
spec="$PWD/docs/openapi.json"
# From the temporary directory, so its caches stay out of the tree.
(cd "$work" && "$venv/bin/schemathesis" run "$spec" \
  --url "$base" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_headers_conformance,response_schema_conformance,use_after_free,ensure_resource_availability \
  --phases examples,coverage,fuzzing,stateful \
  --max-examples "$examples" \
  --max-time "$seconds" \
  --max-redirects 0 \
  --request-timeout 10 \
  --seed 1 \
  --workers 2 \
  --report junit --report-dir "$work/report") \
  || status=$?
echo "api sweep: $(( $(date +%s) - started )) s, schemathesis exit $status"
if [ "$status" != 0 ]; then
  echo "server log (last 50 lines):"
  tail -n 50 "$work/server.log"
fi
if grep -q "panicked" "$work/server.log"; then
  echo "the server panicked:"
  grep -A5 "panicked" "$work/server.log"
  status=1
fi
[ "$status" = 0 ] && rm -rf "$work"
exit "$status"
