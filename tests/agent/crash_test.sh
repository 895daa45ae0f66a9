#!/bin/sh
# agent.crash: a tokensmith source against a real `tokensmith serve` with the shortest access
# TTL (1 minute). The agent is killed with SIGKILL at random moments (also in the middle of a
# refresh) and started again, 20 times: each start resumes the refresh family from the state
# file, and the server never sees a rotated refresh token again (no reuse, replay or revocation
# in its log or its store's audit); a kill while a refresh is in flight loses the family (never
# presented again) and a new bootstrap token starts another, as docs/client.md says. Then one
# agent runs (the socket of its uds sink, left by the killed ones, replaced) until the token
# rotates by itself ahead of its expiry; the last token verifies through the served JWKS (node
# jose, when installed).
# usage: crash_test.sh TOKENSMITH SOURCE_DIR [ROUNDS]
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
ROUNDS=${3:-20}
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
start_serve_for_agent
mkdir -p "$DIR/state" "$DIR/tokens"
BOOTTOK=$(create_token "$STORE")
CFG=$DIR/agent.yaml
cat > "$CFG" <<EOF
settings:
  listen: none
  retry: { base_delay_ms: 100, max_delay_ms: 500 }
sources:
  svc:
    type: tokensmith
    token_endpoint: $URL/oauth/token
    bootstrap_token: { from_file: $DIR/secrets/bootstrap }
    state_file: $DIR/state/svc.json
sinks:
  svc_file: { type: file, source_id: svc, path: $DIR/tokens/svc }
  svc_sock: { type: uds, source_id: svc, path: $DIR/tokens/svc.sock }
EOF
ALOG=$DIR/agent.log
mkdir -p "$DIR/secrets"
printf '%s' "$BOOTTOK" > "$DIR/secrets/bootstrap"

# A random delay of 0..MAX ms, printed as seconds for sleep.
rand_sleep() { awk -v max="$1" -v seed="$(od -An -N4 -tu4 /dev/urandom)" \
    'BEGIN { srand(seed); printf "%.3f\n", rand() * max / 1000 }'; }

# After a kill during a refresh in flight, the state file holds no refresh token (the client
# cannot know whether the server rotated it, so it never presents it again): the family is
# lost, not revoked, and the operator's remedy is a new bootstrap token, as here.
lost=0
i=0
while [ $i -lt "$ROUNDS" ]; do
    start_agent "$CFG" "$ALOG"
    # Every other round dies at a random moment of its start (before, during or after its
    # refresh); the others once their new token is in the file. The first waits, so that the
    # family exists.
    if [ $((i % 2)) -eq 1 ]; then
        sleep "$(rand_sleep 600)"
    else
        before=$(cat "$DIR/tokens/svc" 2>/dev/null)
        wait_until 150 sh -c "[ -s '$DIR/tokens/svc' ] && [ \"\$(cat '$DIR/tokens/svc')\" != '$before' ]" ||
            { echo "FAIL: round $i: no new token"; fail=1; }
        sleep "$(rand_sleep 200)"
    fi
    kill -KILL "$AGENT_PID" 2>/dev/null
    wait "$AGENT_PID" 2>/dev/null
    AGENT_PID=
    if ! grep -q '"refresh_token"' "$DIR/state/svc.json" 2>/dev/null; then
        lost=$((lost + 1))
        create_token "$STORE" | tr -d '\n' > "$DIR/secrets/bootstrap"
    fi
    i=$((i + 1))
done
echo "families lost to a kill during a refresh in flight: $lost of $ROUNDS"
[ "$lost" -le $((ROUNDS / 4)) ] || { echo "FAIL: $lost families lost in $ROUNDS kills"; fail=1; }
check "state file mode" 600 "$(stat -c %a "$DIR/state/svc.json")"

# The last start: it must resume the family and rotate ahead of expiry on its own.
start_agent "$CFG" "$ALOG"
before=$(cat "$DIR/tokens/svc" 2>/dev/null)
wait_until 150 sh -c "[ -s '$DIR/tokens/svc' ] && [ \"\$(cat '$DIR/tokens/svc')\" != '$before' ]"
check "the restarted agent got a token" 0 $?
# The socket a killed agent left behind is replaced.
st=$(curl -s -m 5 -o "$DIR/uds.json" -w '%{http_code}' --unix-socket "$DIR/tokens/svc.sock" http://localhost/)
check "uds sink answers after the restarts" 200 "$st"
T1=$(cat "$DIR/tokens/svc")
exp1=$(printf '%s' "$T1" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null | sed -n 's/.*"exp":\([0-9]*\).*/\1/p')
# The access token lives 60 s; it must be replaced before it expires (ahead of expiry).
wait_until 650 sh -c "[ \"\$(cat '$DIR/tokens/svc' 2>/dev/null)\" != '$T1' ]"
check "the token rotated by itself within its 60 s life" 0 $?
now=$(date +%s)
T2=$(cat "$DIR/tokens/svc")
if [ -n "$exp1" ] && [ "$now" -ge "$exp1" ]; then
    echo "FAIL: rotated at $now, not ahead of the old token's expiry $exp1"; fail=1
fi
agent_alive; check "the agent is running" 0 $?
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"

check "bootstrap exchanges: the first and one per lost family" $((1 + lost)) "$(serve_events bootstrap_token_exchanged)"
rot=$(serve_events refresh_token_rotated)
[ "$rot" -ge $((ROUNDS / 2)) ] || { echo "FAIL: $rot rotations for $ROUNDS starts"; fail=1; }
echo "rotations at the server: $rot"
family_intact
if jose_available; then
    jose_verify "$T2"; check "node jose verifies the last token" 0 $?
else
    echo "skip: node jose not installed (npm ci)"
fi
no_secrets_in "$ALOG" "$BOOTTOK" "$T2"
[ $fail -eq 0 ] || { echo "--- agent log"; tail -n 40 "$ALOG"; echo "--- serve log"; tail -n 20 "$SLOG"; }
exit $fail
