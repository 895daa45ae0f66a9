#!/bin/sh
# agent.faults_huge: an oauth2 source whose token endpoint answers 8 MiB. Each fetch of the agent
# fails with an error that says the answer was too large, and costs one request at the server
# (not a burst of them), within the agent's backoff.
# usage: huge_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
mkdir -p "$DIR/tokens"
echo huge > "$DIR/fault.mode"
python3 "$HELPER" http "$DIR" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_until 100 test -s "$DIR/http.port" || { echo "FAIL: test server did not start"; exit 1; }
HPORT=$(cat "$DIR/http.port")
CFG=$DIR/agent.yaml
cat > "$CFG" <<EOF
settings:
  listen: none
  retry: { base_delay_ms: 300, max_delay_ms: 600 }
sources:
  o:
    type: oauth2
    token_endpoint: http://127.0.0.1:$HPORT/fault?s=o
    grant_type: client_credentials
    client_id: agent
    client_secret: { value: s3cr3t-client-secret }
sinks:
  o_file: { type: file, source_id: o, path: $DIR/tokens/o }
EOF
ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
fails() { grep '"msg":"fetch failed"' "$ALOG" | grep -c '"source":"o"'; }
wait_until 100 sh -c "[ \$(grep '\"msg\":\"fetch failed\"' '$ALOG' | grep -c '\"source\":\"o\"') -ge 3 ]"
check "three failed fetches" 0 $?
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
n=$(fails)
reqs=$(grep -c ' /fault?s=o ' "$DIR/http.log")
e=$(grep '"msg":"fetch failed"' "$ALOG" | tail -1 | sed -n 's/.*"error":"\([^"]*\)".*/\1/p')
echo "fetches failed: $n, requests at the server: $reqs, error: $e"
# (Before c2cfdc2, libtokensmith-client read an oversized answer's TS_ELIMIT as its own size
# probe's: "the token kept changing size", and 2 requests per fetch.)
echo "$e" | grep -Eqi 'larger than|too large|exceeds' || { echo "FAIL: the error does not say the answer was too large: '$e'"; fail=1; }
[ "$reqs" -le $((n + 1)) ] || { echo "FAIL: $reqs requests for $n fetches"; fail=1; }
no_secrets_in "$ALOG" "s3cr3t-client-secret"
[ $fail -eq 0 ] || tail -n 20 "$ALOG"
exit $fail
