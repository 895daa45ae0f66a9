#!/bin/sh
# agent.faults: an http source and an oauth2 source (client_credentials) against a loopback test
# server that misbehaves on command. A failing server: the sinks keep the last good token until
# it expires, then the file is removed and the http sink and /health answer 503; the retries
# follow full-jitter backoff (the times between the server's requests are bounded by the
# doubling cap and not all alike). 5xx, garbage JSON, a huge body, a wrong content type, an empty
# body, a closed connection: each a `fetch failed` line with an error, no crash. The server back:
# tokens again. The server gone: connection errors, backoff, the agent still running.
# usage: faults_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
mkdir -p "$DIR/tokens"
echo 6 > "$DIR/seq.ttl"
echo ok > "$DIR/fault.mode"
python3 "$HELPER" http "$DIR" &
HTTP_PID=$!
EXTRA_PIDS="$EXTRA_PIDS $HTTP_PID"
wait_until 100 test -s "$DIR/http.port" || { echo "FAIL: test server did not start"; exit 1; }
HPORT=$(cat "$DIR/http.port")
APORT=0 # the agent picks a free port (agent_port)
BASE=200
MAX=1600
CFG=$DIR/agent.yaml
cat > "$CFG" <<EOF
settings:
  listen: 127.0.0.1:$APORT
  retry: { attempts: 3, base_delay_ms: $BASE, max_delay_ms: $MAX }
  request_timeout_ms: 2000
sources:
  h:
    type: http
    request: { url: "http://127.0.0.1:$HPORT/fault?s=h" }
    parse:
      tokens:
        - id: t
          pointer: token
          expiration: { source: json_body_field, pointer: expires_in, format: seconds }
  o:
    type: oauth2
    token_endpoint: http://127.0.0.1:$HPORT/fault?s=o
    grant_type: client_credentials
    client_id: agent
    client_secret: { value: s3cr3t-client-secret }
sinks:
  h_file: { type: file, source_id: h, path: $DIR/tokens/h }
  h_http: { type: http, source_id: h, path: /tokens/h }
  o_file: { type: file, source_id: o, path: $DIR/tokens/o }
EOF
ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
wait_until 200 health_ready || { echo "FAIL: not ready"; tail -n 20 "$ALOG"; exit 1; }
T1=$(cat "$DIR/tokens/h")
check "a token at first" seq- "$(printf '%s' "$T1" | cut -c1-4)"
expires=$(($(date +%s) + 6))

# failed_lines SOURCE: the `fetch failed` lines of a source so far.
failed_lines() { grep '"msg":"fetch failed"' "$ALOG" | grep "\"source\":\"$1\""; }
nfailed() { failed_lines "$1" | wc -l; }

# --- 503: the last good token stays until it expires, then the sinks drop it.
from5=$(wc -l < "$ALOG")
mark=$(wc -l < "$DIR/http.log")
echo 5xx > "$DIR/fault.mode"
wait_until 60 sh -c "[ \$(grep -c '\"msg\":\"fetch failed\".*\"source\":\"h\"' '$ALOG') -ge 1 ]"
check "a failed fetch is logged" 0 $?
if [ "$(date +%s)" -lt $((expires - 1)) ]; then
    check "file kept while the token is valid" "$T1" "$(cat "$DIR/tokens/h" 2>/dev/null)"
    check "http sink serves it" 200 "$(http_status "$AURL/tokens/h")"
fi
wait_until 100 sh -c "[ ! -e '$DIR/tokens/h' ]"
check "file removed once the token expired" 0 $?
now=$(date +%s)
[ "$now" -ge $((expires - 1)) ] || { echo "FAIL: removed at $now, before the expiry $expires"; fail=1; }
check "http sink after expiry" 503 "$(http_status "$AURL/tokens/h")"
curl -s -m 5 "$AURL/tokens/h" > "$DIR/503.json"
grep -q '"error":"unavailable"' "$DIR/503.json" || { echo "FAIL: 503 body: $(cat "$DIR/503.json")"; fail=1; }
check "/health after expiry" 503 "$(http_status "$AURL/health")"
failed_lines h | tail -1 | grep -q '503' || { echo "FAIL: the error does not name the 503: $(failed_lines h | tail -1)"; fail=1; }

# Backoff. The agent logs the wait it drew after each failure (retry_in_ms); each is within
# min(MAX, BASE * 2^(n-1)) for the n-th failure in a row, some are well below it (full jitter:
# none of 7 below 3/4 of its cap has a chance of 0.25^7; a fixed doubling never has one), and
# the server saw the next request that long after (from 200 ms less, the request's own time,
# to 1 s more, a loaded machine's scheduling).
wait_until 100 sh -c "[ \$(tail -n +$((mark + 1)) '$DIR/http.log' | grep -c 's=h 503') -ge 8 ] &&
    [ \$(tail -n +$((from5 + 1)) '$ALOG' | grep '\"msg\":\"fetch failed\"' | grep -c '\"source\":\"h\"') -ge 8 ]"
tail -n +$((mark + 1)) "$DIR/http.log" | grep 's=h 503' | head -8 | cut -d' ' -f1 > "$DIR/times"
tail -n +$((from5 + 1)) "$ALOG" | grep '"msg":"fetch failed"' | grep '"source":"h"' | head -8 |
    sed -n 's/.*"failures":\([0-9]*\),"retry_in_ms":\([0-9]*\).*/\1 \2/p' > "$DIR/retries"
paste -d' ' "$DIR/times" "$DIR/retries" | awk -v base=$BASE -v max=$MAX '
    { t[NR] = $1; n[NR] = $2; r[NR] = $3 }
    END {
        bad = (NR < 8); short = 0
        for (i = 1; i < NR; i++) {
            cap = base * 2 ^ (n[i] - 1); if (cap > max) cap = max
            gap = (t[i + 1] - t[i]) * 1000
            printf "failure %d: drew %d ms of at most %d, the next request came %.0f ms later\n", n[i], r[i], cap, gap
            if (n[i] != i) { print "  failures in a row: " n[i] ", want " i; bad = 1 }
            if (r[i] > cap) { print "  above the cap"; bad = 1 }
            if (gap < r[i] - 200 || gap > r[i] + 1000) { print "  the server saw another wait"; bad = 1 }
            if (r[i] < 0.75 * cap) short++
        }
        if (short == 0) { print "no wait below 3/4 of its cap: no jitter"; bad = 1 }
        exit bad
    }' > "$DIR/gaps"
check "backoff: full jitter under the doubling cap, as the server saw it" 0 $?
cat "$DIR/gaps"
curl -s -m 5 "$AURL/metrics" > "$DIR/m"
grep -q 'tokensmith_agent_source_failing{source="h"} 1' "$DIR/m"
check "metric: source h failing" 0 $?

# --- each kind of bad answer: a `fetch failed` line whose error says what was wrong, no crash.
# expect MODE SOURCE PATTERN: after the switch to MODE, a failure of SOURCE matching PATTERN.
# (Adjacent modes have different patterns, so that an answer of the previous mode still in
# flight cannot pass for one of this mode.)
expect() {
    m=$1 s=$2 pat=$3
    wait_until 100 sh -c "tail -n +$((from + 1)) '$ALOG' | grep '\"msg\":\"fetch failed\"' |
        grep '\"source\":\"$s\"' | grep -Eq '$pat'"
    check "$m: source $s fails with an error matching '$pat'" 0 $?
    e=$(tail -n +$((from + 1)) "$ALOG" | grep '"msg":"fetch failed"' | grep "\"source\":\"$s\"" | tail -1 |
        sed -n 's/.*"error":"\([^"]*\)".*/\1/p')
    echo "    $m, source $s: $e"
}
for mode in garbage huge ctype empty close; do
    from=$(wc -l < "$ALOG")
    echo "$mode" > "$DIR/fault.mode"
    case $mode in
    garbage | empty) expect $mode h 'not JSON'; expect $mode o 'not a JSON object' ;;
    # The oauth2 source's error for a huge answer: agent.faults_huge.
    huge) expect $mode h 'larger than 1048576 bytes' ;;
    # An http source reads JSON whatever its Content-Type; the token endpoint's must be JSON.
    ctype) expect $mode o 'Content-Type text/html' ;;
    # The agent's HTTP client (common/http_lean.c) names a connection closed before any answer.
    close) expect $mode h 'closed the connection without a response'
           expect $mode o 'closed the connection without a response' ;;
    esac
    agent_alive; check "$mode: the agent is running" 0 $?
done

# --- the server well again: tokens come back, /health is ready.
echo ok > "$DIR/fault.mode"
wait_until 100 health_ready
check "ready again once the server answers" 0 $?
wait_until 50 test -s "$DIR/tokens/h"
check "file sink written again" seq- "$(cut -c1-4 "$DIR/tokens/h")"

# --- the server gone: connection errors, backoff, last token kept until it expires.
T2=$(cat "$DIR/tokens/h")
kill "$HTTP_PID"; wait "$HTTP_PID" 2>/dev/null
nh=$(nfailed h)
wait_until 100 sh -c "[ \$(grep -c '\"msg\":\"fetch failed\".*\"source\":\"h\"' '$ALOG') -ge $((nh + 3)) ]"
check "connection failures logged" 0 $?
agent_alive; check "the agent is running with its server gone" 0 $?
wait_until 100 sh -c "[ ! -e '$DIR/tokens/h' ]"
check "file removed once the last token expired" 0 $?

stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
no_secrets_in "$ALOG" "$T1" "$T2" "s3cr3t-client-secret"
[ $fail -eq 0 ] || { echo "--- agent log"; tail -n 40 "$ALOG"; }
exit $fail
