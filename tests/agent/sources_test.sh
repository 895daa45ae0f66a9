#!/bin/sh
# agent.sources: the source types not covered elsewhere, against a real `tokensmith serve`. A
# `file` source holding a JWT (its expiry read from the exp claim) copied to a file sink; an
# `oauth2` source with grant_type refresh_token, its first refresh token given in the file and
# its rotated ones kept in a state file: restarted (after SIGTERM and after SIGKILL), the agent
# continues from the state file and never presents the spent first token again (which would
# make the server revoke the family). Its log, in text format at level debug, holds no token.
# usage: sources_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
start_serve_for_agent
mkdir -p "$DIR/secrets" "$DIR/state" "$DIR/tokens" "$DIR/in"
# A refresh family opened by hand: its access token for the file source, its refresh token as
# the oauth2 source's first one.
st=$(exchange "$(create_token "$STORE")" "$DIR/x.json")
check "bootstrap exchange by hand" 200 "$st"
AT=$(json_field "$DIR/x.json" access_token)
RT=$(json_field "$DIR/x.json" refresh_token)
printf '%s' "$AT" > "$DIR/in/jwt"
printf '%s' "$RT" > "$DIR/secrets/rt"
exp=$(printf '%s' "$AT" | cut -d. -f2 | tr '_-' '/+' | base64 -d 2>/dev/null | sed -n 's/.*"exp":\([0-9]*\).*/\1/p')
CFG=$DIR/agent.yaml
APORT=0 # the agent picks a free port (agent_port)
cat > "$CFG" <<EOF
settings: { listen: 127.0.0.1:$APORT, logging: { level: debug, format: text } }
sources:
  projected: { type: file, path: $DIR/in/jwt }
  rotating:
    type: oauth2
    token_endpoint: $URL/oauth/token
    grant_type: refresh_token
    refresh_token: { from_file: $DIR/secrets/rt }
    state_file: $DIR/state/rotating.json
sinks:
  projected_file: { type: file, source_id: projected, path: $DIR/tokens/projected }
  projected_http:
    type: http
    source_id: projected
    path: /projected
    response: { body: { exp: { type: expiration, format: unix } } }
  rotating_file: { type: file, source_id: rotating, path: $DIR/tokens/rotating }
EOF
ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
wait_until 300 health_ready || { echo "FAIL: not ready"; tail -n 20 "$ALOG"; exit 1; }
check "file source: the JWT copied" "$AT" "$(cat "$DIR/tokens/projected")"
curl -s -m 5 "$AURL/projected" > "$DIR/p.json"
check "file source: the expiry is the exp claim" "$exp" "$(json_num "$DIR/p.json" exp)"
R1=$(cat "$DIR/tokens/rotating")
check "refresh_token grant: one rotation" 1 "$(serve_events refresh_token_rotated)"
check "state file mode" 600 "$(stat -c %a "$DIR/state/rotating.json")"
if jose_available; then
    jose_verify "$R1"; check "node jose verifies the rotated family's access token" 0 $?
else
    echo "skip: node jose not installed (npm ci)"
fi

# Restarts: each continues the family from the state file (one more rotation each).
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
start_agent "$CFG" "$ALOG.2"
agent_port "$ALOG.2" || exit 1
wait_until 300 sh -c "[ \$(grep -c '\"audit_event\":\"refresh_token_rotated\"' '$SLOG') -ge 2 ]"
check "after SIGTERM and a restart: a second rotation" 0 $?
wait_until 50 sh -c "[ \"\$(cat '$DIR/tokens/rotating')\" != '$R1' ]"
check "a new access token in the sink" 0 $?
kill -KILL "$AGENT_PID"; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
start_agent "$CFG" "$ALOG.3"
agent_port "$ALOG.3" || exit 1
wait_until 300 sh -c "[ \$(grep -c '\"audit_event\":\"refresh_token_rotated\"' '$SLOG') -ge 3 ]"
check "after SIGKILL and a restart: a third rotation" 0 $?
wait_until 300 health_ready
check "ready after the restarts" 0 $?
stop_agent TERM
family_intact
# The text format at level debug: every line "time level msg key=value", no token in any.
cat "$ALOG.2" "$ALOG.3" >> "$ALOG"
check "text log lines" 0 "$(grep -cvE '^[0-9T:.-]+Z +(trace|debug|info|warn|error) ' "$ALOG")"
grep -q 'sink written' "$ALOG" || { echo "FAIL: no debug line 'sink written'"; fail=1; }
no_secrets_in "$ALOG" "$AT" "$RT" "$R1" "$(cat "$DIR/tokens/rotating")"
[ $fail -eq 0 ] || { tail -n 20 "$ALOG"; tail -n 5 "$SLOG"; }
exit $fail
