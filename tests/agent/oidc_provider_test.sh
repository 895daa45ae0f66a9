#!/bin/sh
# agent.oidc_provider: oauth2 sources against a second, real authorization server, node
# oidc-provider (client/tests/provider.mjs): client_credentials with client_secret_basic (a
# secret with characters that must be form-urlencoded first) and with client_secret_post, and
# an RFC 8693 exchange of the first source's token; each token in a file sink, the exchanged
# one also over HTTP. Skipped (77) without node or node_modules/oidc-provider (npm ci).
# usage: oidc_provider_test.sh TOKENSMITH SOURCE_DIR NODE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${3:-node}
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node not found"; exit 77; }
mkfifo "$DIR/prov.in"
(cd "$SRC" && exec "$NODE" client/tests/provider.mjs) <"$DIR/prov.in" >"$DIR/prov" 2>"$DIR/prov.err" &
EXTRA_PIDS="$EXTRA_PIDS $!"
exec 3>"$DIR/prov.in" # the provider exits when its stdin closes
wait_until 300 test -s "$DIR/prov"
if [ ! -s "$DIR/prov" ]; then
    grep -q 'missing (run npm ci)' "$DIR/prov.err" && { echo "SKIP: $(cat "$DIR/prov.err")"; exit 77; }
    echo "FAIL: provider did not start"; cat "$DIR/prov.err"; exit 1
fi
EP=$(sed -n 's/.*"token_endpoint":"\([^"]*\)".*/\1/p' "$DIR/prov")
mkdir -p "$DIR/tokens"
APORT=0 # the agent picks a free port (agent_port)
CFG=$DIR/agent.yaml
cat > "$CFG" <<EOF
settings: { listen: 127.0.0.1:$APORT }
sources:
  basic:
    type: oauth2
    token_endpoint: $EP
    grant_type: client_credentials
    client_id: cc-basic
    client_secret: { value: "basic secret:1/+" }
    client_auth: client_secret_basic
    scope: read
  post:
    type: oauth2
    token_endpoint: $EP
    grant_type: client_credentials
    client_id: cc-post
    client_secret: { from_env: TS_AGENT_TEST_POST_SECRET }
    client_auth: client_secret_post
  exchanged:
    type: oauth2
    inputs: [basic]
    token_endpoint: $EP
    grant_type: token_exchange
    client_id: cc-basic
    client_secret: { value: "basic secret:1/+" }
    subject_token: { source: basic, id: access_token }
    subject_token_type: access_token
sinks:
  basic_file: { type: file, source_id: basic, path: $DIR/tokens/basic }
  post_file: { type: file, source_id: post, path: $DIR/tokens/post }
  exchanged_file: { type: file, source_id: exchanged, path: $DIR/tokens/exchanged }
  exchanged_http: { type: http, source_id: exchanged, path: /exchanged }
EOF
ALOG=$DIR/agent.log
TS_AGENT_TEST_POST_SECRET=post-secret start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
if ! wait_until 300 health_ready; then
    echo "FAIL: not ready"; tail -n 20 "$ALOG"; exit 1
fi
B=$(cat "$DIR/tokens/basic")
P=$(cat "$DIR/tokens/post")
X=$(cat "$DIR/tokens/exchanged")
for t in "$B" "$P" "$X"; do
    [ ${#t} -ge 16 ] || { echo "FAIL: a short token (${#t} bytes)"; fail=1; }
done
[ "$B" != "$P" ] && [ "$B" != "$X" ] && [ "$P" != "$X" ] || { echo "FAIL: tokens not distinct"; fail=1; }
curl -s -m 5 "$AURL/exchanged" > "$DIR/x.json"
check "http sink: the exchanged token" "$X" "$(json_str "$DIR/x.json" access_token)"
ei=$(json_num "$DIR/x.json" expires_in)
[ -n "$ei" ] && [ "$ei" -gt 0 ] || { echo "FAIL: expires_in '$ei'"; fail=1; }
check "no failed fetch" 0 "$(grep -c '"msg":"fetch failed"' "$ALOG")"
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
no_secrets_in "$ALOG" "$B" "$P" "$X" "basic secret:1/+" "post-secret"
exec 3>&-
[ $fail -eq 0 ] || tail -n 20 "$ALOG"
exit $fail
