#!/bin/sh
# agent.e2e: `tokensmith agent` with the configuration of issue 15 exactly (one tokensmith source,
# a file, a Unix-socket and an HTTP sink) against a real `tokensmith serve` on loopback: --check,
# the three answers (the same token, verified by node jose through the served JWKS), the file
# sink's form and mode, /health and /metrics, sd_notify messages on a $NOTIFY_SOCKET, SIGHUP with
# a bad then a good configuration and ten in a row, a second agent on the same state file,
# SIGTERM, and logs without tokens.
# usage: e2e_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
start_serve_for_agent
mkdir -p "$DIR/secrets" "$DIR/state" "$DIR/tokens"
BOOTTOK=$(create_token "$STORE")
[ ${#BOOTTOK} -eq 64 ] || { echo "FAIL: bootstrap token"; exit 1; }
printf '%s' "$BOOTTOK" > "$DIR/secrets/bootstrap"

# write_config FILE [EXTRA_SINK_LINES]: the shape of issue 15, paths moved into DIR.
write_config() {
    cat > "$1" <<EOF
settings:
  listen: 127.0.0.1:0                 # HTTP sinks, /health and /metrics (any free port)
sources:
  svc:
    type: tokensmith
    token_endpoint: $URL/oauth/token
    bootstrap_token: { from_file: $DIR/secrets/bootstrap }   # or from_env / value
    state_file: $DIR/state/svc.json            # the refresh family, 0600
sinks:
  svc_file: { type: file, source_id: svc, token_id: access_token, path: $DIR/tokens/svc }
  svc_sock: { type: uds,  source_id: svc, token_id: access_token, path: $DIR/tokens/svc.sock }
  svc_http:
    type: http
    source_id: svc
    token_id: access_token
    path: /tokens/svc
    response:
      content_type: application/json
      body:
        access_token: { type: token }
        expires_in: { type: expiration, format: seconds }
${2:-}
EOF
}
CFG=$DIR/agent.yaml
write_config "$CFG"

# --- --check: a good configuration exits 0, prints its summary and starts nothing; a bad one
# exits 1 with the path; the command line's errors exit 2.
"$TS" agent --check --config "$CFG" >"$DIR/check.out" 2>&1
check "--check on a good configuration" 0 $?
# The summary (docs/agent.md, "Running"): the configuration, the sources, the sinks.
cat > "$DIR/check.want" <<EOF
config $CFG: ok, 1 source, 3 sinks, listen 127.0.0.1:0
source svc: tokensmith, tokens access_token
sink svc_file: file $DIR/tokens/svc <- svc.access_token
sink svc_sock: uds $DIR/tokens/svc.sock <- svc.access_token
sink svc_http: http /tokens/svc <- svc.access_token
EOF
check "--check summary" "$(cat "$DIR/check.want")" "$(cat "$DIR/check.out")"
"$TS" agent --check --config "$DIR/missing.yaml" >/dev/null 2>&1
check "--check on a missing file" 1 $?
env -u TOKENSMITH_AGENT_CONFIG "$TS" agent >/dev/null 2>&1
check "no --config: a bad command line" 2 $?
"$TS" agent --config "$CFG" --bogus >/dev/null 2>&1
check "an unknown option: a bad command line" 2 $?
check "--check made no token file" no "$([ -e "$DIR/tokens/svc" ] && echo yes || echo no)"
check "--check did not spend the bootstrap token" 0 "$(serve_events bootstrap_token_exchanged)"
sed 's/source_id: svc, token_id: access_token, path: .*svc }/source_id: nope, token_id: access_token, path: \/x }/' "$CFG" > "$DIR/bad.yaml"
"$TS" agent --check --config "$DIR/bad.yaml" >"$DIR/check_bad.out" 2>&1
check "--check on a bad configuration" 1 $?
grep -q "sinks.svc_file.source_id" "$DIR/check_bad.out" ||
    { echo "FAIL: --check error has no path: $(cat "$DIR/check_bad.out")"; fail=1; }
TOKENSMITH_AGENT_CONFIG=$CFG "$TS" agent --check >/dev/null 2>&1
check "--check with TOKENSMITH_AGENT_CONFIG" 0 $?

# --- run, with a $NOTIFY_SOCKET
python3 "$HELPER" notify "$DIR/notify.sock" "$DIR/notify.log" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_until 50 test -S "$DIR/notify.sock" || { echo "FAIL: notify listener"; exit 1; }
ALOG=$DIR/agent.log
NOTIFY_SOCKET=$DIR/notify.sock WATCHDOG_USEC=2000000 start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
if ! wait_until 300 health_ready; then
    echo "FAIL: the agent never became ready"; tail -n 30 "$ALOG"; exit 1
fi
wait_until 50 test -s "$DIR/tokens/svc"
check "one bootstrap exchange" 1 "$(serve_events bootstrap_token_exchanged)"
check "READY=1 sent" 1 "$(grep -c ' READY=1' "$DIR/notify.log")"

# The file sink: the bare token, no newline, 0600.
FT=$(cat "$DIR/tokens/svc")
check "file sink: a JWT" 3 "$(printf '%s' "$FT" | awk -F. '{print NF}')"
check "file sink: no newline" 0 "$(tr -cd '\n' < "$DIR/tokens/svc" | wc -c)"
check "file sink mode" 600 "$(stat -c %a "$DIR/tokens/svc")"
check "state file mode" 600 "$(stat -c %a "$DIR/state/svc.json")"
check "socket mode" 660 "$(stat -c %a "$DIR/tokens/svc.sock")"

# The socket (GET /) and the HTTP sink answer the same JSON.
curl -s -m 5 --unix-socket "$DIR/tokens/svc.sock" -D "$DIR/uds.h" -o "$DIR/uds.json" http://localhost/
check "uds: status" 200 "$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$DIR/uds.h")"
grep -qi '^content-type: application/json' "$DIR/uds.h" || { echo "FAIL: uds content type"; fail=1; }
grep -qi '^cache-control: no-store' "$DIR/uds.h" || { echo "FAIL: uds Cache-Control"; fail=1; }
st=$(curl -s -m 5 -o "$DIR/http.json" -w '%{http_code}' "$AURL/tokens/svc")
check "http sink: status" 200 "$st"
UT=$(json_str "$DIR/uds.json" access_token)
HT=$(json_str "$DIR/http.json" access_token)
check "uds answers the file's token" "$FT" "$UT"
check "http answers the file's token" "$FT" "$HT"
for f in uds http; do
    ei=$(json_num "$DIR/$f.json" expires_in)
    if [ -z "$ei" ] || [ "$ei" -le 0 ] || [ "$ei" -gt 60 ]; then
        echo "FAIL: $f expires_in '$ei' not in 1..60: $(cat "$DIR/$f.json")"; fail=1
    fi
done
check "unknown http path" 404 "$(http_status "$AURL/tokens/nope")"
check "another method" 405 "$(http_status "$AURL/tokens/svc" -X DELETE)"
check "uds: another path" 404 "$(http_status http://localhost/nope --unix-socket "$DIR/tokens/svc.sock")"

# node jose verifies each answer through the served JWKS.
if jose_available; then
    for t in "$FT" "$UT" "$HT"; do
        jose_verify "$t"
        check "node jose verifies the token" 0 $?
        echo "$JOSE_OUT" | grep -q '"sub":"svc-a"' || { echo "FAIL: jose: $JOSE_OUT"; fail=1; }
    done
else
    echo "skip: node jose not installed (npm ci)"
fi

# /health and /metrics.
check "/health" 200 "$(http_status "$AURL/health")"
st=$(curl -s -m 5 -D "$DIR/m.h" -o "$DIR/metrics" -w '%{http_code}' "$AURL/metrics")
check "/metrics" 200 "$st"
grep -qi '^content-type: text/plain' "$DIR/m.h" || { echo "FAIL: /metrics content type"; fail=1; }
grep -q '^# TYPE ' "$DIR/metrics" || { echo "FAIL: /metrics has no # TYPE line"; fail=1; }
grep -q 'source="svc"' "$DIR/metrics" || { echo "FAIL: /metrics has no source=\"svc\" series"; fail=1; }
metric() { sed -n "s/^$1 \([0-9.e+]*\)\$/\1/p" "$DIR/metrics"; }
check "metric: source valid" 1 "$(metric 'tokensmith_agent_source_valid{source="svc"}')"
check "metric: refreshes" 1 "$(metric 'tokensmith_agent_source_refreshes_total{source="svc"}')"
check "metric: failures" 0 "$(metric 'tokensmith_agent_source_failures_total{source="svc"}')"
check "metric: file sink written once" 1 "$(metric 'tokensmith_agent_sink_writes_total{sink="svc_file"}')"
check "metric: no file sink error" 0 "$(metric 'tokensmith_agent_sink_errors_total{sink="svc_file"}')"
tte=$(metric 'tokensmith_agent_source_seconds_to_expiry{source="svc"}' | cut -d. -f1)
[ -n "$tte" ] && [ "$tte" -gt 0 ] && [ "$tte" -le 60 ] || { echo "FAIL: seconds_to_expiry '$tte'"; fail=1; }
last=$(metric 'tokensmith_agent_source_last_success_timestamp_seconds{source="svc"}' | cut -d. -f1)
now=$(date +%s)
[ -n "$last" ] && [ "$last" -le "$now" ] && [ "$last" -gt $((now - 120)) ] || { echo "FAIL: last_success '$last' (now $now)"; fail=1; }
curl -s -m 5 "$AURL/health" > "$DIR/health.json"
check "/health status" ok "$(json_str "$DIR/health.json" status)"
grep -q '"svc":{"valid":true,"expires_in":[0-9]*,"failures":0}' "$DIR/health.json" ||
    { echo "FAIL: /health body: $(cat "$DIR/health.json")"; fail=1; }

# --- SIGHUP with a bad configuration: logged, the old graph keeps serving.
cp "$CFG" "$DIR/good.yaml"
cp "$DIR/bad.yaml" "$CFG"
kill -HUP "$AGENT_PID"
wait_until 50 grep -q 'sinks.svc_file.source_id' "$ALOG"
check "bad reload logged with its path" 0 $?
agent_alive; check "alive after a bad reload" 0 $?
check "http sink still served after a bad reload" 200 "$(http_status "$AURL/tokens/svc")"
check "token file kept after a bad reload" "$FT" "$(cat "$DIR/tokens/svc" 2>/dev/null)"

# --- SIGHUP with a good configuration that adds an http sink.
write_config "$CFG" "  svc_http2: { type: http, source_id: svc, path: /tokens/svc2 }"
kill -HUP "$AGENT_PID"
wait_until 100 sh -c "[ \"\$(curl -s -o /dev/null -w '%{http_code}' $AURL/tokens/svc2)\" = 200 ]"
check "new http sink served after a good reload" 0 $?
agent_alive; check "alive after a good reload" 0 $?
check "old http sink still served" 200 "$(http_status "$AURL/tokens/svc")"
grep -q 'RELOADING=1' "$DIR/notify.log"; check "RELOADING=1 sent" 0 $?
check "the reload spent no bootstrap token" 1 "$(serve_events bootstrap_token_exchanged)"

# --- ten SIGHUPs in a row (each a new graph and a refresh of the family): still running, the
# family intact (checked at the end), the token served.
i=0
while [ $i -lt 10 ]; do kill -HUP "$AGENT_PID"; sleep 0.1; i=$((i + 1)); done
wait_until 100 health_ready
check "ready after ten reloads" 0 $?
agent_alive; check "alive after ten reloads" 0 $?
check "the file holds a token after ten reloads" 3 "$(awk -F. '{print NF}' "$DIR/tokens/svc")"

# --- a second agent on the same state file fails at start (two users would revoke the family).
sed -e "s|listen: 127.0.0.1:0 |listen: none|" -e "s|$DIR/tokens/svc|$DIR/tokens/second|g" \
    -e '/svc_http:/,$d' "$CFG" > "$DIR/second.yaml"
"$TS" agent --config "$DIR/second.yaml" > "$DIR/second.out" 2>&1 &
SECOND=$!
EXTRA_PIDS="$EXTRA_PIDS $SECOND"
wait_until 100 sh -c "! kill -0 $SECOND 2>/dev/null"
wait "$SECOND"
check "a second agent on the same state file exits" 1 $?
grep -q 'svc.json' "$DIR/second.out" || { echo "FAIL: the second agent's error names no state file: $(cat "$DIR/second.out")"; fail=1; }
check "the second agent wrote no token" no "$([ -e "$DIR/tokens/second" ] && echo yes || echo no)"

# Watchdog pings at half WATCHDOG_USEC (1 s): a few by now.
n=$(grep -c ' WATCHDOG=1' "$DIR/notify.log")
[ "$n" -ge 2 ] || { echo "FAIL: WATCHDOG=1 sent $n times"; fail=1; }

# --- SIGTERM: exit 0, STOPPING=1.
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
wait_until 20 grep -q ' STOPPING=1' "$DIR/notify.log"
check "STOPPING=1 sent" 0 $?
check "the socket is removed at stop" no "$([ -e "$DIR/tokens/svc.sock" ] && echo yes || echo no)"
check "the token file is left at stop" yes "$([ -s "$DIR/tokens/svc" ] && echo yes || echo no)"

# No token or secret in the agent's log or its --check output.
no_secrets_in "$ALOG" "$BOOTTOK" "$FT"
no_secrets_in "$DIR/check.out" "$BOOTTOK"
family_intact
[ $fail -eq 0 ] || { echo "--- agent log"; tail -n 40 "$ALOG"; echo "--- notify"; cat "$DIR/notify.log"; }
exit $fail
