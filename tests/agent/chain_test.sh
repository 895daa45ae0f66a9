#!/bin/sh
# agent.chain: token-agent's own example shape. An http source reads a metadata-style JSON
# document from a loopback server (with its Metadata-Flavor header; the token in it is a new
# tokensmith bootstrap token each time), and an oauth2 source exchanges it at a real
# `tokensmith serve` (RFC 8693, the subject token from the first source); the metadata token goes
# to a file sink, the exchanged token to a file and an http sink, and verifies with node jose
# through the served JWKS. When the metadata token is renewed, the exchange follows with the new
# one: the server sees each bootstrap token exchanged once and never a replay. A third source
# sends the exchanged token onwards in a templated Authorization header, renewed with it.
# usage: chain_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
start_serve_for_agent
mkdir -p "$DIR/tokens"
echo 4 > "$DIR/meta.ttl" # renewed after half its life: every 2 s or so
python3 "$HELPER" http "$DIR" "$TS" "$STORE" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_until 100 test -s "$DIR/http.port" || { echo "FAIL: test server did not start"; exit 1; }
HPORT=$(cat "$DIR/http.port")
APORT=0 # the agent picks a free port (agent_port)
CFG=$DIR/agent.yaml
cat > "$CFG" <<EOF
settings:
  listen: 127.0.0.1:$APORT
sources:
  metadata:
    type: http
    request:
      url: "http://127.0.0.1:$HPORT/meta"
      headers:
        Metadata-Flavor: Google
    parse:
      tokens:
        - id: metadata_token
          pointer: access_token
          expiration: { source: json_body_field, pointer: expires_in, format: seconds }
  exchange:
    type: oauth2
    inputs: [metadata]
    token_endpoint: $URL/oauth/token
    grant_type: token_exchange
    subject_token: { source: metadata, id: metadata_token }
    subject_token_type: urn:openchami:params:oauth:token-type:bootstrap-token
  downstream:
    type: http
    inputs: [exchange]
    request:
      url: "http://127.0.0.1:$HPORT/echo"
      headers:
        Authorization: { template: "Bearer {{ exchange.access_token }}" }
    parse:
      tokens:
        - id: t
          pointer: /token
          expiration: { source: json_body_field, pointer: /expires_in }
sinks:
  metadata_file: { type: file, source_id: metadata, path: $DIR/tokens/metadata }
  exchange_file: { type: file, source_id: exchange, path: $DIR/tokens/exchange }
  exchange_http: { type: http, source_id: exchange, path: /tokens/exchange }
  downstream_file: { type: file, source_id: downstream, path: $DIR/tokens/downstream }
EOF
"$TS" agent --check --config "$CFG" > "$DIR/check.out" 2>&1
check "--check" 0 $?
# The summary lists the sources in refresh order: the input first.
check "--check: refresh order" "metadata exchange downstream" \
    "$(sed -n 's/^source \([a-z]*\):.*/\1/p' "$DIR/check.out" | tr '\n' ' ' | sed 's/ $//')"
grep -q '^source exchange: oauth2 token_exchange, inputs metadata, tokens access_token$' "$DIR/check.out" ||
    { echo "FAIL: --check summary: $(cat "$DIR/check.out")"; fail=1; }

ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
wait_until 300 health_ready || { echo "FAIL: not ready"; tail -n 20 "$ALOG"; tail -n 5 "$SLOG"; exit 1; }
MT=$(cat "$DIR/tokens/metadata")
ET=$(cat "$DIR/tokens/exchange")
check "metadata sink: the bootstrap token of the document" 64 ${#MT}
check "http sink serves the exchanged token" 200 "$(curl -s -m 5 -o "$DIR/x.json" -w '%{http_code}' "$AURL/tokens/exchange")"
check "http sink: the file's token" "$ET" "$(json_str "$DIR/x.json" access_token)"
if jose_available; then
    jose_verify "$ET"; check "node jose verifies the exchanged token" 0 $?
    echo "$JOSE_OUT" | grep -q '"sub":"meta-svc"' || { echo "FAIL: jose: $JOSE_OUT"; fail=1; }
else
    echo "skip: node jose not installed (npm ci)"
fi
check "the metadata request carried its header" 0 "$(grep -c ' /meta 403' "$DIR/http.log")"
# A third source sends the exchanged token in a templated header (its answer names a hash of it).
sha16() { printf '%s' "$1" | sha256sum | cut -c1-16; }
wait_until 50 test -s "$DIR/tokens/downstream"
check "the templated header carried the exchanged token" "echo-$(sha16 "Bearer $(cat "$DIR/tokens/exchange")")" \
    "$(cat "$DIR/tokens/downstream" 2>/dev/null)"

# The metadata token renews every 2 s or so; each time the exchange follows with the new one.
wait_until 150 sh -c "[ \$(grep -c '\"audit_event\":\"bootstrap_token_exchanged\"' '$SLOG') -ge 3 ]"
check "three exchanges follow three metadata tokens" 0 $?
ET2=$(cat "$DIR/tokens/exchange")
[ "$ET2" != "$ET" ] || { echo "FAIL: the exchanged token did not change"; fail=1; }
# The dependant followed the new exchanged token too.
want="echo-$(sha16 "Bearer $(cat "$DIR/tokens/exchange")")"
wait_until 50 sh -c "[ \"\$(cat '$DIR/tokens/downstream')\" = '$want' ]"
check "the templated header follows the renewed token" 0 $?
metas=$(grep -c ' /meta 200' "$DIR/http.log")
exch=$(serve_events bootstrap_token_exchanged)
echo "metadata documents: $metas, exchanges: $exch"
# Never more exchanges than metadata tokens (each is presented once), and no replay.
[ "$exch" -le "$metas" ] || { echo "FAIL: $exch exchanges of $metas tokens"; fail=1; }
check "no bootstrap token presented twice" 0 "$(serve_events bootstrap_token_replay_attempted)"
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
no_secrets_in "$ALOG" "$MT" "$ET" "$ET2"
[ $fail -eq 0 ] || { echo "--- agent log"; tail -n 30 "$ALOG"; echo "--- serve"; tail -n 10 "$SLOG"; }
exit $fail
