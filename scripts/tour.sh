#!/usr/bin/env bash
# A five-minute tour of a running `latchkey serve`, with curl and python3 only:
# discovery, dynamic registration, the authorization code flow with PKCE through
# the login and consent pages, the token endpoint, and `whoami` on the demo MCP
# server. Start the server with a known demo password first:
#
#   LATCHKEY_DEMO_PASSWORD='correct horse battery' cargo run --release -p latchkey-server -- serve
#   LATCHKEY_DEMO_PASSWORD='correct horse battery' scripts/tour.sh
set -euo pipefail
base="${LATCHKEY_BASE:-http://127.0.0.1:8080}"
password="${LATCHKEY_DEMO_PASSWORD:?set LATCHKEY_DEMO_PASSWORD to the password of the demo user}"
redirect="http://127.0.0.1:9999/callback"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
jar="$work/cookies"
json() { python3 -c "import sys, json; print(json.load(sys.stdin)$1)"; }
field() { grep -o "name=\"$1\" value=\"[^\"]*\"" "$2" | head -n 1 | sed 's/.*value="//; s/"$//'; }
location() { grep -i '^location:' "$1" | awk '{print $2}' | tr -d '\r'; }

echo "1. An unauthenticated MCP request is refused and points at the metadata:"
curl -s -o /dev/null -D "$work/h0" -X POST "$base/mcp" -H 'content-type: application/json' -d '{}'
grep -i '^www-authenticate: Bearer' "$work/h0"

echo "2. Protected-resource and authorization-server metadata:"
resource=$(curl -s "$base/.well-known/oauth-protected-resource/mcp" | json '["resource"]')
issuer=$(curl -s "$base/.well-known/oauth-authorization-server" | json '["issuer"]')
echo "   resource=$resource issuer=$issuer"

echo "3. Dynamic client registration (RFC 7591) of a public client:"
client_id=$(curl -s -X POST "$base/register" -H 'content-type: application/json' \
  -d "{\"redirect_uris\":[\"$redirect\"],\"token_endpoint_auth_method\":\"none\",\"grant_types\":[\"authorization_code\",\"refresh_token\"],\"response_types\":[\"code\"],\"client_name\":\"Tour client\"}" \
  | json '["client_id"]')
echo "   client_id=$client_id"

echo "4. Authorization request with PKCE S256; log in as demo and allow:"
verifier=$(python3 -c 'import secrets; print(secrets.token_urlsafe(32))')
challenge=$(VERIFIER="$verifier" python3 -c 'import os, hashlib, base64; print(base64.urlsafe_b64encode(hashlib.sha256(os.environ["VERIFIER"].encode()).digest()).rstrip(b"=").decode())')
query="response_type=code&client_id=$client_id&redirect_uri=$redirect&code_challenge=$challenge&code_challenge_method=S256&state=tour&resource=$resource"
curl -s -c "$jar" -b "$jar" "$base/authorize?$query" -o "$work/login.html"
curl -s -c "$jar" -b "$jar" -D "$work/h1" -o /dev/null -X POST "$base/latchkey/login" \
  --data-urlencode username=demo --data-urlencode "password=$password" \
  --data-urlencode "csrf=$(field csrf "$work/login.html")" \
  --data-urlencode "request=$(field request "$work/login.html")"
curl -s -c "$jar" -b "$jar" "$base$(location "$work/h1")" -o "$work/consent.html"
grep -q 'Tour client' "$work/consent.html" && echo "   the consent page names the client"
curl -s -c "$jar" -b "$jar" -D "$work/h2" -o /dev/null -X POST "$base/latchkey/consent" \
  --data-urlencode decision=allow --data-urlencode "csrf=$(field csrf "$work/consent.html")" \
  --data-urlencode "request=$(field request "$work/consent.html")"
callback=$(location "$work/h2")
echo "   redirected to ${callback%%\?*} with code, state and iss"
code=$(CALLBACK="$callback" python3 -c 'import os, urllib.parse as u; print(u.parse_qs(u.urlparse(os.environ["CALLBACK"]).query)["code"][0])')

echo "5. Token request:"
tokens=$(curl -s -X POST "$base/token" -H 'content-type: application/x-www-form-urlencoded' \
  --data-urlencode grant_type=authorization_code --data-urlencode "code=$code" \
  --data-urlencode "redirect_uri=$redirect" --data-urlencode "client_id=$client_id" \
  --data-urlencode "code_verifier=$verifier" --data-urlencode "resource=$resource")
access=$(echo "$tokens" | json '["access_token"]')
echo "   token_type=$(echo "$tokens" | json '["token_type"]') expires_in=$(echo "$tokens" | json '["expires_in"]') scope=$(echo "$tokens" | json '["scope"]')"

echo "6. whoami on the demo MCP server:"
curl -s -X POST "$base/mcp" -H "authorization: Bearer $access" \
  -H 'content-type: application/json' -H 'accept: application/json, text/event-stream' \
  -d '{"jsonrpc":"2.0","id":1,"method":"tools/call","params":{"name":"whoami","arguments":{}}}'
echo
