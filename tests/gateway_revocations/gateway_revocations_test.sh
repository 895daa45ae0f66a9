#!/bin/sh
# gateway_revocations.e2e: `tokensmith gateway` refuses tokens revoked at their issuer
# (docs/gateway.md, "Revocation"; docs/revocation.md). The issuer is `tokensmith serve`; the
# trust entry names its list (revocations) with a 1 s poll. Checks go to the HTTP listener the
# way Envoy sends them, and, when node @grpc/grpc-js is installed, to the gRPC listener.
# - a token allowed by the gateway (in its verified-token cache) is refused with 401 and
#   authn_reason "revoked" within the poll interval after POST /oauth/revoke, on both
#   listeners; the refusal is logged as revoked, the token never;
# - a token whose refresh family was revoked is refused alike; a new token still passes;
# - with serve stopped, the fail-closed gateway (revocations_max_stale 3 s) answers 503 with
#   Retry-After (gRPC: the call fails UNAVAILABLE) once its list is older than that, and not
#   before; a second gateway with revocations_fail_open keeps allowing the same token;
# - a max_stale not longer than the poll is refused, naming the member.
# Prints the propagation and staleness times.
# usage: gateway_revocations_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, start_server, stop_server, create_token, exchange, post
. "$SRC/tests/gateway/lib.sh" # ok, bad, check, start_gateway, stop_gateway
ISS=https://tokensmith.test
POLL_MS=1000
MAX_STALE_S=3
CLOSED_PID= # the fail-closed gateway while the fail-open one is GW_PID
cleanup_more() {
    stop_gateway
    [ -n "$CLOSED_PID" ] && { kill -TERM "$CLOSED_PID" 2>/dev/null; wait "$CLOSED_PID" 2>/dev/null; }
    :
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }
grant() { # -> AT, RT: a new access token (svc-a, scopes read and write) and its refresh token
    _boot=$(create_token "$DIR/serve/tokensmith.db")
    st=$(exchange "$_boot" "$DIR/exchange.json")
    [ "$st" = 200 ] || { echo "FAIL: token exchange at serve: $st"; cat "$DIR/exchange.json"; exit 1; }
    AT=$(json_field "$DIR/exchange.json" access_token)
    RT=$(json_field "$DIR/exchange.json" refresh_token)
}
# One check on the HTTP listener of PORT: prints the status; the body in $DIR/body.
gw_check() { # PORT TOKEN
    curl -s -m 10 -o "$DIR/body" -w '%{http_code}' -H "Authorization: Bearer $2" \
        "http://127.0.0.1:$1/nodes"
}
# Until the token is allowed (at most 10 s): the first list must have been applied.
until_ok() { # PORT TOKEN NAME
    _i=0
    while [ "$(gw_check "$1" "$2")" != 200 ] && [ $_i -lt 100 ]; do sleep 0.1; _i=$((_i + 1)); done
    check "$3: allowed (200)" 200 "$(gw_check "$1" "$2")"
}
# Checks every 20 ms until the token is refused; judges the answer and the time.
until_refused() { # NAME TOKEN REVOKED_AT_MS
    while :; do
        st=$(gw_check "$GW_PORT" "$2")
        [ "$st" != 200 ] && break
        [ $(( $(now_ms) - $3 )) -gt 20000 ] && break
        sleep 0.02
    done
    ms=$(( $(now_ms) - $3 ))
    check "$1: refused 401" 401 "$st"
    grep -q '"authn_reason":"revoked"' "$DIR/body" && ok "$1: authn_reason revoked in the body" ||
        bad "$1: body $(cat "$DIR/body")"
    echo "propagation (gateway, $1): $ms ms (poll interval $POLL_MS ms)"
    [ "$ms" -le $((POLL_MS + 1000)) ]
    check "$1: within the poll interval (+1 s for a loaded machine)" 0 $?
}
GRPC=
if command -v node >/dev/null 2>&1 && [ -d "$SRC/node_modules/@grpc/grpc-js" ] &&
    [ -d "$SRC/node_modules/@grpc/proto-loader" ] && [ -d "$SRC/node_modules/jose" ]; then
    GRPC=1
else
    echo "skip: the gRPC leg (node, @grpc/grpc-js, @grpc/proto-loader or jose missing)"
fi
grpc_one() { # TOKEN -> one JSON line of grpc_client.mjs (never the presented token)
    printf '%s\n' "$1" >"$DIR/grpc.tok"
    node "$SRC/tests/gateway/grpc_client.mjs" "$GW_GRPC_PORT" "$SRC/tokenservice/gateway/proto" \
        one GET /nodes "$DIR/grpc.tok" 2>"$DIR/grpc.err"
}
gateway_json() { # FILE FAIL_OPEN
    cat >"$1" <<EOC
{"listen": "127.0.0.1:0", "grpc_listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0",
 "issuer": "https://gateway.test", "home": "$DIR/gw-home",
 "trust": [{"issuer": "$ISS", "jwks_uri": "$URL/.well-known/jwks.json", "audiences": ["smd"],
            "revocations": "$URL/oauth/revocations", "revocations_poll": "1s",
            "revocations_max_stale": "${MAX_STALE_S}s", "revocations_fail_open": $2}],
 "translate": {"audience": "backend"},
 "authz": {"mode": "enforce", "scope_roles": {"read": "viewer", "write": "operator"},
           "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"}]}}
EOC
}

# --- serve, and the gateway polling its list
start_server "$DIR/serve.log" --home "$DIR/serve" --issuer "$ISS"
mkdir -p "$DIR/gw-home"
gateway_json "$DIR/closed.json" false
gateway_json "$DIR/open.json" true
# A wrong member is refused at start-up, named by its path.
sed 's/"revocations_poll": "1s"/"revocations_poll": "3s"/' "$DIR/closed.json" >"$DIR/bad.json"
"$TS" gateway --config "$DIR/bad.json" --check >"$DIR/bad.out" 2>&1
check "--check: max_stale not longer than the poll" 1 $?
grep -q 'trust\[0\].revocations_max_stale: must be longer than revocations_poll' "$DIR/bad.out" &&
    ok "the error names trust[0].revocations_max_stale" || bad "error: $(cat "$DIR/bad.out")"

start_gateway "$DIR/closed.json" || exit 1
# --check builds the entry's revocation source too (the first run made the gateway's key).
"$TS" gateway --config "$DIR/closed.json" --check >"$DIR/check.out" 2>&1
check "--check with revocations" 0 $?
grep -q 'revocations .*every 1s (stale after 3s, fail-closed)' "$DIR/check.out" && ok "--check shows the list" || bad "--check: $(cat "$DIR/check.out")"

grant
until_ok "$GW_PORT" "$AT" "access token"
if [ -n "$GRPC" ]; then
    out=$(grpc_one "$AT")
    echo "$out" | grep -q '"http":"OK"' && ok "gRPC: allowed" || bad "gRPC before: $out $(cat "$DIR/grpc.err")"
fi
sleep 0.3
t0=$(now_ms)
st=$(post /oauth/revoke "$DIR/r" --data-urlencode "token=$AT" --data-urlencode token_type_hint=access_token)
check "revoke the access token at serve" 200 "$st"
until_refused "access token" "$AT" "$t0"
if [ -n "$GRPC" ]; then
    out=$(grpc_one "$AT")
    echo "$out" | grep -q '"code":16' && echo "$out" | grep -q '"http":"Unauthorized"' &&
        echo "$out" | grep -q 'authn_reason\\*":\\*"revoked' &&
        ok "gRPC: refused as revoked (UNAUTHENTICATED, 401)" || bad "gRPC after: $out $(cat "$DIR/grpc.err")"
fi
grep -q '"msg":"gateway.authn".*"reason":"revoked"' "$DIR/gateway.log" &&
    ok "the refusal is logged as revoked" || bad "no gateway.authn revoked line"
grep -qF "$AT" "$DIR/gateway.log" && bad "the gateway logged a token" || ok "no token in the log"

grant
until_ok "$GW_PORT" "$AT" "refresh family's access token"
sleep 0.3
t0=$(now_ms)
st=$(post /oauth/revoke "$DIR/r" --data-urlencode "token=$RT" --data-urlencode token_type_hint=refresh_token)
check "revoke the refresh token at serve" 200 "$st"
until_refused "refresh family" "$AT" "$t0"

# A token nobody revoked passes: the list, not an outage, refused the others.
grant
check "an unrevoked token: allowed" 200 "$(gw_check "$GW_PORT" "$AT")"

# --- the list goes stale: fail-closed 503 after revocations_max_stale, fail-open allows
CLOSED_PID=$GW_PID
CLOSED_PORT=$GW_PORT
CLOSED_GRPC_PORT=$GW_GRPC_PORT
GW_PID=
start_gateway "$DIR/open.json" || exit 1
until_ok "$GW_PORT" "$AT" "fail-open gateway"
stop_server
t0=$(now_ms)
while :; do
    st=$(gw_check "$CLOSED_PORT" "$AT")
    [ "$st" != 200 ] && break
    [ $(( $(now_ms) - t0 )) -gt 20000 ] && break
    sleep 0.05
done
ms=$(( $(now_ms) - t0 ))
check "serve stopped: the fail-closed gateway answers 503" 503 "$st"
curl -s -D "$DIR/h503" -o /dev/null -H "Authorization: Bearer $AT" "http://127.0.0.1:$CLOSED_PORT/nodes"
grep -qi '^retry-after: 1' "$DIR/h503" && ok "503 with Retry-After" || bad "503 head: $(cat "$DIR/h503")"
echo "stale (gateway): refused $ms ms after serve stopped (max_stale ${MAX_STALE_S} s, poll $POLL_MS ms)"
# The last list was applied at most one poll before serve stopped; staleness is judged in whole
# seconds (one more either way), and 1.5 s more for a loaded machine.
[ "$ms" -ge $(( (MAX_STALE_S - 1) * 1000 - POLL_MS - 300 )) ] &&
    [ "$ms" -le $(( (MAX_STALE_S + 1) * 1000 + 1500 )) ]
check "503 only once the list is older than max_stale" 0 $?
grep -q '"msg":"gateway.authn".*"reason":"revocations_unavailable"' "$DIR/gateway.log" &&
    ok "logged as revocations_unavailable" || bad "no gateway.authn revocations_unavailable line"
check "fail-open gateway: still allowed" 200 "$(gw_check "$GW_PORT" "$AT")"
if [ -n "$GRPC" ]; then
    out=$(GW_GRPC_PORT=$CLOSED_GRPC_PORT grpc_one "$AT")
    check "gRPC, fail-closed: the call fails UNAVAILABLE" '{"grpc":14}' "$out"
    out=$(grpc_one "$AT")
    echo "$out" | grep -q '"http":"OK"' && ok "gRPC, fail-open: allowed" || bad "gRPC fail-open: $out"
fi

stop_gateway
check "fail-open gateway: exit status" 0 "$GW_RC"
kill -TERM "$CLOSED_PID"; wait "$CLOSED_PID"; rc=$?; CLOSED_PID=
check "fail-closed gateway: exit status" 0 "$rc"
if grep -q 'AddressSanitizer\|runtime error\|LeakSanitizer' "$DIR/gateway.log" "$DIR/serve.log"; then
    bad "sanitizer report"; grep -A5 'Sanitizer\|runtime error' "$DIR/gateway.log" | head -40
fi
finish
