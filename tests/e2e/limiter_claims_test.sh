#!/bin/bash
# Two fixes over the Go original (reference §14.5 and §14.15), end to end on `tokensmith serve`:
#  - the failed-exchange limiter is keyed on the TCP peer address: neither a new source port per
#    attempt nor a forged X-Forwarded-For escapes it; with --trusted-proxy, only the entry that
#    proxy appended (the last one) names the client, and earlier, client-written entries are
#    never believed;
#  - the NIST claims are configuration, not hard-wired: claims.nist=false leaves them out, and
#    claims.tokenType=at+jwt sets the JWS typ (RFC 9068);
#  - scope and audience of a bootstrap exchange come from the bootstrap policy only (§14.6).
# usage: limiter_claims_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, cleanup, check, start_server, stop_server, post, exchange

BAD=0000000000000000000000000000000000000000000000000000000000000000
fail_n() { # N [curl args...]: N failed exchanges (each on a new connection, so a new port)
    n=$1; shift
    for _ in $(seq "$n"); do
        post /oauth/token /dev/null --data-urlencode "grant_type=$GRANT" \
            --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$BAD" "$@" >/dev/null
    done
}
attempt() { # [curl args...] -> status of one more failed exchange
    post /oauth/token "$DIR/e" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$BAD" "$@"
}

# --- no trusted proxy: X-Forwarded-For is ignored, every attempt counts against the peer
start_server "$DIR/a.log" --home "$DIR/a"
for i in $(seq 10); do
    post /oauth/token /dev/null --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$BAD" \
        -H "X-Forwarded-For: 198.51.100.$i" >/dev/null
done
st=$(attempt -H "X-Forwarded-For: 203.0.113.77"); check "forged X-Forwarded-For does not escape the limiter" 429 "$st"
check "429 error" too_many_requests "$(json_field "$DIR/e" error)"
st=$(attempt); check "a new connection (new source port) is still limited" 429 "$st"
# a valid token from the blocked address waits too (the block is per address, not per token)
st=$(exchange "$(create_token "$DIR/a/tokensmith.db")" "$DIR/e"); check "blocked address, valid token" 429 "$st"
stop_server

# --- behind a trusted proxy (the loopback peer): the last X-Forwarded-For entry is the client
start_server "$DIR/b.log" --home "$DIR/b" --trusted-proxy 127.0.0.1
fail_n 10 -H "X-Forwarded-For: 192.0.2.1"
st=$(attempt -H "X-Forwarded-For: 192.0.2.1"); check "client behind the proxy is limited" 429 "$st"
st=$(attempt -H "X-Forwarded-For: 192.0.2.2"); check "another client behind the proxy is not" 400 "$st"
st=$(attempt -H "X-Forwarded-For: 192.0.2.99, 192.0.2.1")
check "a client-written first entry is not believed" 429 "$st"
st=$(attempt -H "X-Forwarded-For: 192.0.2.1, 192.0.2.3")
check "the entry the proxy appended decides" 400 "$st"
# two header lines form one list: the client writes the first line, the proxy appends the last
st=$(attempt -H "X-Forwarded-For: 192.0.2.4" -H "X-Forwarded-For: 192.0.2.1")
check "the proxy's own header line decides, not the client's first line" 429 "$st"
st=$(attempt -H "X-Forwarded-For: 192.0.2.1" -H "X-Forwarded-For: 192.0.2.5")
check "a client-written first line is not believed" 400 "$st"
stop_server

# --- claims: NIST claims off, RFC 9068 typ
cat >"$DIR/c.json" <<'JSON'
{"issuer": "https://ts.claims.test", "claims": {"nist": false, "tokenType": "at+jwt"}}
JSON
start_server "$DIR/c.log" --config "$DIR/c.json" --home "$DIR/c"
st=$(exchange "$(create_token "$DIR/c/tokensmith.db")" "$DIR/r"); check "exchange (nist off)" 200 "$st"
AT=$(json_field "$DIR/r" access_token)
out=$("$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer https://ts.claims.test --audience smd "$AT")
check "token verifies" 0 $?
for c in auth_level auth_factors auth_methods auth_events session_id session_exp; do
    echo "$out" | grep -q "\"$c\"" && { echo "FAIL: $c present with claims.nist=false: $out"; fail=1; }
done
echo "$out" | grep -q '"scope":"read write"' || { echo "FAIL: scope: $out"; fail=1; }
hdr=$(printf '%s' "${AT%%.*}" | tr '_-' '/+' | base64 -d 2>/dev/null)
echo "$hdr" | grep -q '"typ":"at+jwt"' && echo "ok: typ at+jwt" || { echo "FAIL: header $hdr"; fail=1; }
# the request cannot widen what the bootstrap policy grants (reference §14.6)
st=$(post /oauth/token "$DIR/r" --data-urlencode "grant_type=$GRANT" --data-urlencode "subject_token_type=$BOOT" \
    --data-urlencode "subject_token=$(create_token "$DIR/c/tokensmith.db")" \
    --data-urlencode "scope=admin read write" --data-urlencode "audience=other")
check "exchange with scope and audience parameters" 200 "$st"
check "scope comes from the policy, not the request" "read write" "$(sed -n 's/.*"scope":"\([^"]*\)".*/\1/p' "$DIR/r")"
"$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer https://ts.claims.test --audience other \
    "$(json_field "$DIR/r" access_token)" >/dev/null 2>&1
check "audience comes from the policy, not the request" 1 $?
stop_server
start_server "$DIR/d.log" --home "$DIR/d" --issuer https://ts.claims.test
exchange "$(create_token "$DIR/d/tokensmith.db")" "$DIR/r" >/dev/null
out=$("$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer https://ts.claims.test --audience smd "$(json_field "$DIR/r" access_token)")
for c in '"auth_level":"IAL2"' '"auth_factors":2' '"auth_methods":\["bootstrap_exchange"\]' '"session_id":"' '"session_exp":'; do
    echo "$out" | grep -q "$c" || { echo "FAIL: default claims lack $c: $out"; fail=1; }
done
echo "ok: NIST claims present by default"
stop_server; PID=

[ $fail = 0 ] && echo "limiter and claims: all checks passed"
exit $fail
