#!/usr/bin/env bash
# Runs the MCP conformance suite's authorization-server scenarios
# (`conformance authorization`, @modelcontextprotocol/conformance as pinned in
# package.json) against `latchkey serve`, under the Node 22 that the `node`
# package of package.json installs.
#
# It builds nothing: LATCHKEY_BIN names the server binary, and `npm ci` must have
# run here. For each MCP revision Latchkey serves (LATCHKEY_PROFILE) it starts
# the server on 127.0.0.1 on a free port with a fresh temporary database,
# registers a public client whose redirect URI is the suite's callback, runs
# every authorization-server scenario at that revision (--spec-version), and
# completes the login and consent pages for the suite's authorization request
# the way a person would (the suite prints the URL and waits for the redirect
# to its callback). Results: $CONFORMANCE_RESULTS (default ./results), one
# folder per revision. Exit status: non-zero if any scenario fails, is skipped,
# or does not run.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"

bin="${LATCHKEY_BIN:?set LATCHKEY_BIN to the latchkey server binary}"
[ -x "$bin" ] || { echo "LATCHKEY_BIN=$bin is not an executable" >&2; exit 2; }
node="$here/node_modules/.bin/node"
suite="$here/node_modules/@modelcontextprotocol/conformance/dist/index.js"
if [ ! -x "$node" ] || [ ! -f "$suite" ]; then
  echo "run 'npm ci' in $here first" >&2
  exit 2
fi
echo "node $("$node" --version), conformance $("$node" "$suite" --version)"

# The scenarios each run must pass, in the suite's order. None is excluded (see
# README.md); a scenario that a later suite version adds is reported as not
# expected and fails the run until it is listed here.
expected=(authorization-server-metadata-endpoint authorization-code-grant)
read -r -a profiles <<< "${CONFORMANCE_PROFILES:-2025-06-18 2025-11-25 2026-07-28}"
results="${CONFORMANCE_RESULTS:-$here/results}"
LATCHKEY_DEMO_PASSWORD="conformance-$(python3 -c 'import secrets; print(secrets.token_urlsafe(18))')"
export LATCHKEY_DEMO_PASSWORD

work=$(mktemp -d)
server_pid=""
suite_pid=""
stop() {
  local pid
  for pid in "$suite_pid" "$server_pid"; do
    [ -n "$pid" ] || continue
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  suite_pid=""
  server_pid=""
}
trap 'stop; rm -rf "$work"' EXIT

free_port() {
  python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
json_field() { python3 -c "import sys, json; print(json.load(sys.stdin)[\"$1\"])"; }
form_field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -n 1 | sed 's/.*value="//; s/"$//'; }
location() { grep -i '^location:' "$1" | awk '{print $2}' | tr -d '\r'; }

# Logs in as the demo user at the authorization URL, allows on the consent page,
# and delivers the redirect to the suite's callback. Fails if any step does.
complete_authorization() {
  local url=$1 issuer=$2 redirect=$3 dir=$4 jar="$4/cookies" callback
  curl -sf -c "$jar" -b "$jar" "$url" -o "$dir/login.html" || return 1
  curl -sf -c "$jar" -b "$jar" -D "$dir/login.headers" -o /dev/null -X POST \
    "$issuer/latchkey/login" --data-urlencode username=demo \
    --data-urlencode "password=$LATCHKEY_DEMO_PASSWORD" \
    --data-urlencode "csrf=$(form_field csrf "$dir/login.html")" \
    --data-urlencode "request=$(form_field request "$dir/login.html")" || return 1
  curl -sf -c "$jar" -b "$jar" "$issuer$(location "$dir/login.headers")" \
    -o "$dir/consent.html" || return 1
  curl -sf -c "$jar" -b "$jar" -D "$dir/consent.headers" -o /dev/null -X POST \
    "$issuer/latchkey/consent" --data-urlencode decision=allow \
    --data-urlencode "csrf=$(form_field csrf "$dir/consent.html")" \
    --data-urlencode "request=$(form_field request "$dir/consent.html")" || return 1
  callback=$(location "$dir/consent.headers")
  case "$callback" in
    "$redirect?"*) curl -sf -o /dev/null "$callback" ;;
    *) echo "consent did not redirect to the callback (got '${callback%%\?*}')" >&2; return 1 ;;
  esac
}

# One run of the suite against a fresh server speaking MCP revision $1.
run_profile() {
  local profile=$1 out="$results/$1" dir="$work/$1"
  local port callback_port issuer redirect client_id url="" status=0
  mkdir -p "$dir"
  rm -rf "$out"
  mkdir -p "$out"
  port=$(free_port)
  callback_port=$(free_port)
  issuer="http://127.0.0.1:$port"
  redirect="http://127.0.0.1:$callback_port/callback"

  LATCHKEY_PROFILE="$profile" LATCHKEY_ISSUER="$issuer" LATCHKEY_BIND="127.0.0.1:$port" \
    LATCHKEY_DATABASE="$dir/latchkey.db" "$bin" serve > "$out/server.log" 2>&1 &
  server_pid=$!
  for _ in $(seq 1 100); do
    curl -s -o /dev/null "$issuer/.well-known/oauth-authorization-server" && break
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.2
  done
  if ! curl -sf -o /dev/null "$issuer/.well-known/oauth-authorization-server"; then
    echo "latchkey serve did not start:" >&2
    cat "$out/server.log" >&2
    return 1
  fi

  # A public client (PKCE, token_endpoint_auth_method none) through dynamic
  # client registration (RFC 7591), as MCP clients register. See README.md for
  # why the suite cannot be given a confidential client.
  client_id=$(curl -sf -X POST "$issuer/register" -H 'content-type: application/json' \
    -d "{\"redirect_uris\":[\"$redirect\"],\"token_endpoint_auth_method\":\"none\",\"grant_types\":[\"authorization_code\",\"refresh_token\"],\"response_types\":[\"code\"],\"client_name\":\"MCP conformance suite\"}" \
    | json_field client_id) || { echo "dynamic client registration failed" >&2; return 1; }
  echo
  echo "== MCP $profile: latchkey at $issuer, client $client_id, callback $redirect"

  "$node" "$suite" authorization --url "$issuer" --client-id "$client_id" \
    --resource "$issuer/mcp" --port "$callback_port" --spec-version "$profile" \
    --output-dir "$out" > "$out/suite.log" 2>&1 &
  suite_pid=$!
  for _ in $(seq 1 300); do
    url=$(grep -m 1 "^$issuer/authorize?" "$out/suite.log" || true)
    [ -n "$url" ] && break
    kill -0 "$suite_pid" 2>/dev/null || break
    sleep 0.2
  done
  if [ -n "$url" ] && complete_authorization "$url" "$issuer" "$redirect" "$dir"; then
    wait "$suite_pid" || status=$?
    suite_pid=""
  else
    # Without the redirect the suite would wait five minutes for it.
    echo "could not complete the suite's authorization request" >&2
    status=1
  fi
  stop
  cat "$out/suite.log"
  [ "$status" = 0 ] || { echo "server log:"; cat "$out/server.log"; }
  return "$status"
}

failed_runs=0
for profile in "${profiles[@]}"; do
  run_profile "$profile" || failed_runs=$((failed_runs + 1))
  stop
done

# Every expected scenario must have run and passed in every revision: no
# FAILURE check and at least one SUCCESS (a SKIPPED scenario, such as the code
# grant without a client id, does not pass). Anything the suite ran that is not
# expected fails too.
verdict=0
python3 - "$results" "${profiles[*]}" "${expected[*]}" <<'EOF' || verdict=$?
import glob, json, os, re, sys
results, profiles, expected = sys.argv[1], sys.argv[2].split(), sys.argv[3].split()
passed = failed = 0
for profile in profiles:
    ran = {}
    for path in glob.glob(os.path.join(results, profile, "authorization-server-*", "checks.json")):
        folder = os.path.basename(os.path.dirname(path))
        name = re.sub(r"^authorization-server-|-\d{4}-\d\d-\d\dT.*$", "", folder)
        ran[name] = json.load(open(path))
    for scenario in expected + sorted(set(ran) - set(expected)):
        checks = ran.get(scenario, [])
        statuses = [c["status"] for c in checks]
        ok = scenario in expected and "FAILURE" not in statuses and "SUCCESS" in statuses
        passed += ok
        failed += not ok
        summary = ", ".join(f"{c['id']}={c['status']}" for c in checks) or "did not run"
        print(f"{'PASS' if ok else 'FAIL'} {profile} {scenario}: {summary}")
print(f"conformance: {passed} passed, {failed} failed")
sys.exit(1 if failed else 0)
EOF
if [ "$failed_runs" != 0 ] || [ "$verdict" != 0 ]; then
  exit 1
fi
