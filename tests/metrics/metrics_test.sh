#!/bin/sh
# metrics.expositions: GET /metrics of `tokensmith serve`, the gateway and the agent, read with a
# real parser (the Prometheus Python client's, through promcheck.py) and checked against what
# the test did (docs/operations.md, "Metrics"):
# - serve: grants by type and result (bootstrap exchange ok and replayed, refresh ok and
#   unknown, a missing subject_token, an unsupported grant type), per-endpoint requests and
#   latency histograms (JWKS, metadata, revocations, a 404, /metrics itself), revocations by
#   kind and outcome, limiter blocks (failed exchanges from one X-Forwarded-For client until
#   429), store commits and batch sizes, the active key's age; every counter moves by exactly
#   what the test did, and none of the others moves; no token or subject appears in the text;
# - the gateway's admin /metrics and the agent's /metrics: same parser, same conventions, and
#   their counters move with a check and a fetch (skipped, each with a message, when node
#   modules or python3-yaml they need are missing);
# - metricsListen: /metrics moves to that listener (404 on the main one), which answers
#   nothing else.
# usage: metrics_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
# The Debian package python3-prometheus-client installs into the system interpreter, which may
# not be the first python3 on PATH.
PY=
for p in python3 /usr/bin/python3; do
    if command -v "$p" >/dev/null 2>&1 && "$p" -c 'import prometheus_client.parser' 2>/dev/null; then
        PY=$p; break
    fi
done
[ -n "$PY" ] || { echo "SKIP: python3-prometheus-client not installed (apt-get install python3-prometheus-client)"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, check, start_server, create_token, exchange, refresh, post
GW_PID=""
AGENT_PID=""
cleanup_more() {
    [ -n "$GW_PID" ] && { kill -TERM "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; }
    [ -n "$AGENT_PID" ] && { kill -TERM "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; }
    :
}
PC="$PY $SRC/tests/metrics/promcheck.py"
ISS=https://tokensmith.test
# scrape URL FILE: the exposition into FILE, its head into FILE.h; the status printed.
scrape() { curl -s -m 10 -D "$2.h" -o "$2" -w '%{http_code}' "$1"; }
# expect NAME BEFORE AFTER: the SPEC on stdin holds between the scrapes BEFORE and AFTER.
expect() {
    cat > "$DIR/$1.spec"
    $PC delta "$2" "$3" "$DIR/$1.spec" || { echo "FAIL: $1"; fail=1; }
}
lint() { $PC lint "$@" || fail=1; }

# --- serve ----------------------------------------------------------------------------------
STORE=$DIR/h/tokensmith.db
start_server "$DIR/serve.log" --home "$DIR/h" --issuer "$ISS" --trusted-proxy 127.0.0.1
check "serve /metrics" 200 "$(scrape "$URL/metrics" "$DIR/s0")"
grep -qi '^content-type: text/plain; version=0.0.4' "$DIR/s0.h" || { echo "FAIL: /metrics content type"; fail=1; }
grep -qi '^cache-control: no-store' "$DIR/s0.h" || { echo "FAIL: /metrics Cache-Control"; fail=1; }

BT=$(create_token "$STORE")
check "bootstrap exchange" 200 "$(exchange "$BT" "$DIR/ex1")"
RT=$(json_field "$DIR/ex1" refresh_token)
check "bootstrap replay" 400 "$(exchange "$BT" "$DIR/ex2")"
check "refresh" 200 "$(refresh "$RT" "$DIR/rf1")"
RT2=$(json_field "$DIR/rf1" refresh_token)
AT2=$(json_field "$DIR/rf1" access_token)
check "refresh of an unknown token" 400 "$(refresh "0123456789abcdef" "$DIR/rf2")"
check "unsupported grant type" 400 "$(post /oauth/token "$DIR/g1" -d grant_type=password)"
check "exchange without subject_token" 400 "$(post /oauth/token "$DIR/g2" \
    --data-urlencode "grant_type=$GRANT" --data-urlencode "subject_token_type=$BOOT")"
for i in 1 2 3; do
    check "jwks $i" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/.well-known/jwks.json")"
done
check "openid-configuration" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/.well-known/openid-configuration")"
check "oauth-authorization-server" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/.well-known/oauth-authorization-server")"
check "revocations list" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/oauth/revocations")"
check "no such endpoint" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope")"
check "revoke the access token" 200 "$(post /oauth/revoke "$DIR/rv1" --data-urlencode "token=$AT2")"
check "revoke the refresh token" 200 "$(post /oauth/revoke "$DIR/rv2" --data-urlencode "token=$RT2")"
check "revoke it again" 200 "$(post /oauth/revoke "$DIR/rv3" --data-urlencode "token=$RT2")"
check "revoke an unknown token" 200 "$(post /oauth/revoke "$DIR/rv4" --data-urlencode "token=feedface")"
check "serve /metrics again" 200 "$(scrape "$URL/metrics" "$DIR/s1")"
lint "$DIR/s0" "$DIR/s1"
$PC forbid "$DIR/s1" "$BT" "$RT" "$RT2" "$AT2" svc-a smd || fail=1

expect serve.grants "$DIR/s0" "$DIR/s1" <<'EOF'
tokensmith_grants_total{grant="bootstrap",result="ok"} = 1
tokensmith_grants_total{grant="bootstrap",result="invalid_grant"} = 1
tokensmith_grants_total{grant="bootstrap",result="invalid_request"} = 1
tokensmith_grants_total{grant="refresh",result="ok"} = 1
tokensmith_grants_total{grant="refresh",result="invalid_grant"} = 1
tokensmith_grants_total{grant="other",result="unsupported_grant_type"} = 1
only tokensmith_grants_total
EOF
expect serve.requests "$DIR/s0" "$DIR/s1" <<'EOF'
tokensmith_http_requests_total{endpoint="token",code="2xx"} = 2
tokensmith_http_requests_total{endpoint="token",code="4xx"} = 4
tokensmith_http_requests_total{endpoint="jwks",code="2xx"} = 3
tokensmith_http_requests_total{endpoint="metadata",code="2xx"} = 2
tokensmith_http_requests_total{endpoint="revocations",code="2xx"} = 1
tokensmith_http_requests_total{endpoint="revoke",code="2xx"} = 4
tokensmith_http_requests_total{endpoint="other",code="4xx"} = 1
# the first scrape, counted once it was answered
tokensmith_http_requests_total{endpoint="metrics",code="2xx"} = 1
only tokensmith_http_requests_total
tokensmith_http_request_duration_seconds_count{endpoint="token"} = 6
tokensmith_http_request_duration_seconds_count{endpoint="jwks"} = 3
tokensmith_http_request_duration_seconds_count{endpoint="metadata"} = 2
tokensmith_http_request_duration_seconds_count{endpoint="revoke"} = 4
tokensmith_http_request_duration_seconds_count{endpoint="metrics"} = 1
tokensmith_http_request_duration_seconds_bucket{endpoint="jwks",le="+Inf"} = 3
EOF
expect serve.revocations "$DIR/s0" "$DIR/s1" <<'EOF'
tokensmith_revocations_total{kind="access_token",result="revoked"} = 1
tokensmith_revocations_total{kind="refresh_family",result="revoked"} = 1
tokensmith_revocations_total{kind="refresh_family",result="already_revoked"} = 1
tokensmith_revocations_total{kind="any",result="unknown"} = 1
only tokensmith_revocations_total
only tokensmith_limiter_blocks_total
EOF
# Store writes: the redemption, two issued-token records, the rotation and the revocations at
# least (the key publisher commits too, once a minute).
expect serve.store "$DIR/s0" "$DIR/s1" <<'EOF'
tokensmith_store_commit_duration_seconds_count >= 6
tokensmith_store_commit_batch_size_count >= 6
tokensmith_store_commit_batch_size_sum >= 6
EOF
sc=$($PC value "$DIR/s1" tokensmith_store_commit_duration_seconds_count)
bc=$($PC value "$DIR/s1" tokensmith_store_commit_batch_size_count)
check "one latency sample per committed batch" "$sc" "$bc"
age=$($PC value "$DIR/s1" tokensmith_active_key_age_seconds)
case $age in
    [0-9] | [0-9][0-9] | [0-9][0-9][0-9]) echo "ok: active key age $age s" ;;
    *) echo "FAIL: active key age '$age' (a key generated at this start)"; fail=1 ;;
esac

# The limiter: failed exchanges of one client (the address the trusted proxy names) until it is
# blocked; every 429 is counted as a block and as the grant's result.
n400=0 n429=0
for i in 1 2 3 4 5 6 7 8 9 10 11 12 13; do
    st=$(post /oauth/token "$DIR/lim" -H 'X-Forwarded-For: 192.0.2.7' \
        --data-urlencode "grant_type=$GRANT" --data-urlencode "subject_token_type=$BOOT" \
        --data-urlencode "subject_token=bad$i")
    case $st in 400) n400=$((n400 + 1)) ;; 429) n429=$((n429 + 1)) ;; *) echo "FAIL: limiter round $i: $st"; fail=1 ;; esac
done
[ "$n429" -ge 1 ] || { echo "FAIL: the limiter never blocked ($n400 x 400)"; fail=1; }
check "serve /metrics after the limiter" 200 "$(scrape "$URL/metrics" "$DIR/s2")"
lint "$DIR/s2"
expect serve.limiter "$DIR/s1" "$DIR/s2" <<EOF
tokensmith_limiter_blocks_total{endpoint="token"} = $n429
tokensmith_grants_total{grant="bootstrap",result="too_many_requests"} = $n429
tokensmith_grants_total{grant="bootstrap",result="invalid_grant"} = $n400
only tokensmith_grants_total
only tokensmith_limiter_blocks_total
EOF

# --- the gateway ----------------------------------------------------------------------------
f0=$fail
. "$SRC/tests/gateway/lib.sh" # start_gateway, gateway_config (DIR and cleanup stay ours)
fail=$f0
gateway_config "$DIR/gw.json" "$ISS" "$URL/.well-known/jwks.json"
sed -i 's/"audiences": \["gateway"\]/"audiences": ["smd"]/' "$DIR/gw.json" # create_token's
if start_gateway "$DIR/gw.json"; then
    check "gateway /metrics" 200 "$(scrape "http://127.0.0.1:$GW_ADMIN_PORT/metrics" "$DIR/g0")"
    GT=$(create_token "$STORE")
    check "exchange for the gateway" 200 "$(exchange "$GT" "$DIR/gex")"
    GAT=$(json_field "$DIR/gex" access_token)
    curl -s -o /dev/null "http://127.0.0.1:$GW_PORT/api/things" -H "Authorization: Bearer $GAT"
    curl -s -o /dev/null "http://127.0.0.1:$GW_PORT/api/things"
    check "gateway /metrics again" 200 "$(scrape "http://127.0.0.1:$GW_ADMIN_PORT/metrics" "$DIR/g1")"
    lint "$DIR/g0" "$DIR/g1"
    $PC forbid "$DIR/g1" "$GAT" || fail=1
    before=0 after=0
    for m in allow deny cannot_decide; do
        for mode in off shadow enforce; do
            b=$($PC value "$DIR/g0" "tokensmith_gateway_checks_total{front=\"http\",mode=\"$mode\",result=\"$m\"}")
            a=$($PC value "$DIR/g1" "tokensmith_gateway_checks_total{front=\"http\",mode=\"$mode\",result=\"$m\"}")
            before=$((before + b)) after=$((after + a))
        done
    done
    check "gateway checks counted" 2 "$((after - before))"
    expect gateway.latency "$DIR/g0" "$DIR/g1" <<'EOF'
tokensmith_gateway_check_duration_seconds_count{front="http"} = 2
tokensmith_gateway_check_duration_seconds_count{front="grpc"} = 0
EOF
    kill -TERM "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; GW_PID=
else
    echo "FAIL: the gateway did not start"; fail=1
fi

# --- the agent ------------------------------------------------------------------------------
mkdir -p "$DIR/secrets" "$DIR/state"
create_token "$STORE" > "$DIR/secrets/bootstrap"
cat > "$DIR/agent.yaml" <<EOF
settings:
  listen: 127.0.0.1:0
sources:
  svc:
    type: tokensmith
    token_endpoint: $URL/oauth/token
    bootstrap_token: { from_file: $DIR/secrets/bootstrap }
    state_file: $DIR/state/svc.json
sinks:
  svc_http: { type: http, source_id: svc, token_id: access_token, path: /tokens/svc }
EOF
"$TS" agent --config "$DIR/agent.yaml" 2>>"$DIR/agent.log" &
AGENT_PID=$!
i=0
while [ $i -lt 300 ] && ! grep -q 'agent started' "$DIR/agent.log" 2>/dev/null; do sleep 0.1; i=$((i + 1)); done
APORT=$(sed -n -e 's/.*"msg":"agent started".*"listen":"[^"]*:\([0-9]*\)".*/\1/p' \
    -e 's/.*"agent started".* listen=[^ ]*:\([0-9]*\).*/\1/p' "$DIR/agent.log" | tail -1)
if [ -n "$APORT" ]; then
    AURL=http://127.0.0.1:$APORT
    i=0
    while [ $i -lt 300 ] && [ "$(curl -s -o /dev/null -w '%{http_code}' "$AURL/health")" != 200 ]; do
        sleep 0.1; i=$((i + 1))
    done
    check "agent /metrics" 200 "$(scrape "$AURL/metrics" "$DIR/a0")"
    check "agent http sink" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$AURL/tokens/svc")"
    check "agent /metrics again" 200 "$(scrape "$AURL/metrics" "$DIR/a1")"
    lint "$DIR/a0" "$DIR/a1"
    expect agent.counters "$DIR/a0" "$DIR/a1" <<'EOF'
tokensmith_agent_sink_writes_total{sink="svc_http"} = 1
tokensmith_agent_sink_errors_total{sink="svc_http"} = 0
EOF
    check "agent source fetched" 1 "$($PC value "$DIR/a1" 'tokensmith_agent_source_refreshes_total{source="svc"}' | cut -d. -f1)"
    check "agent source valid" 1 "$($PC value "$DIR/a1" 'tokensmith_agent_source_valid{source="svc"}' | cut -d. -f1)"
else
    echo "FAIL: the agent did not start"; tail -n 20 "$DIR/agent.log"; fail=1
fi
kill -TERM "$AGENT_PID" 2>/dev/null; wait "$AGENT_PID" 2>/dev/null; AGENT_PID=
check "serve /metrics at the end" 200 "$(scrape "$URL/metrics" "$DIR/s3")"
lint "$DIR/s3"
# docs/operations.md's example alert rules name series that exist.
$PC rules "$SRC/docs/operations.md" "$DIR/s3" || fail=1
# The agent's one exchange, and the gateway caller's.
expect serve.agent "$DIR/s2" "$DIR/s3" <<'EOF'
tokensmith_grants_total{grant="bootstrap",result="ok"} = 2
only tokensmith_grants_total
EOF

# --- metricsListen --------------------------------------------------------------------------
stop_server
# A free port picked ahead, so that the test does not depend on the log line's fields.
MPORT=$($PY -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
start_server "$DIR/serve2.log" --home "$DIR/h" --issuer "$ISS" --metrics-listen "127.0.0.1:$MPORT"
MURL=http://127.0.0.1:$MPORT
check "main listener: /metrics is not there" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/metrics")"
check "main listener: JWKS still" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/.well-known/jwks.json")"
check "metrics listener: /metrics" 200 "$(scrape "$MURL/metrics" "$DIR/m0")"
check "metrics listener: nothing else" 404 "$(curl -s -o /dev/null -w '%{http_code}' "$MURL/.well-known/jwks.json")"
check "metrics listener: no token endpoint" 404 "$(curl -s -o /dev/null -w '%{http_code}' -X POST -d grant_type=x "$MURL/oauth/token")"
check "metrics listener: /metrics again" 200 "$(scrape "$MURL/metrics" "$DIR/m1")"
[ -s "$DIR/m0" ] && [ -s "$DIR/m1" ] && lint "$DIR/m0" "$DIR/m1"
[ -s "$DIR/m0" ] && [ -s "$DIR/m1" ] && expect listener "$DIR/m0" "$DIR/m1" <<'EOF'
tokensmith_http_requests_total{endpoint="metrics",code="2xx"} = 1
tokensmith_http_requests_total{endpoint="other",code="4xx"} = 2
only tokensmith_http_requests_total
EOF
stop_server
exit $fail
