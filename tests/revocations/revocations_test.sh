#!/bin/sh
# Revocations reach verifiers (docs/revocation.md): GET /oauth/revocations answers a signed full
# list and deltas by cursor with an ETag (304 on If-None-Match), the metadata names it, and a
# verifier polling it every second (revocations_probe: authn's revocation source) refuses an
# access token revoked at /oauth/revoke, and one whose refresh family was revoked, within the
# poll interval, although the token sits in its verified-token cache. Prints the propagation
# time of each. With MINISVC, the same end to end through examples/minisvc (tokensmith-mhd's
# gate with --revocations, polling every second): a token answered 200 on a protected route is
# 401 with authn_reason "revoked" within the poll interval after /oauth/revoke, also through
# its refresh family, while an unrevoked token still passes.
# usage: revocations_test.sh TOKENSMITH PROBE SOURCE_DIR [MINISVC]
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
PROBE=$2
SRC=$3
MINISVC=${4:-}
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...
ISS=https://tokensmith.test
POLL_MS=1000
STORE=$DIR/tokensmith.db
mkdir -p "$DIR/home"
QPID=
MPID=
cleanup_more() {
    [ -n "$QPID" ] && { kill "$QPID" 2>/dev/null; wait "$QPID" 2>/dev/null; }
    [ -n "$MPID" ] && { kill "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; }
    :
}
start_server "$DIR/s.log" --home "$DIR/home" --store "$STORE" --issuer "$ISS"

grant() { # -> sets AT, RT
    b=$(create_token "$STORE")
    st=$(exchange "$b" "$DIR/g"); [ "$st" = 200 ] || { echo "FAIL: exchange $st"; cat "$DIR/g"; fail=1; }
    AT=$(json_field "$DIR/g" access_token)
    RT=$(json_field "$DIR/g" refresh_token)
}
payload() { # JWS -> its payload JSON
    p=$(echo "$1" | cut -d. -f2 | tr '_-' '/+')
    case $(( ${#p} % 4 )) in 2) p="$p==";; 3) p="$p=";; esac
    echo "$p" | base64 -d 2>/dev/null
}
now_ms() { echo $(( $(date +%s%N) / 1000000 )); }

# --- the endpoint
curl -s -o "$DIR/meta" "$URL/.well-known/oauth-authorization-server"
check "metadata revocation_list_endpoint" "$ISS/oauth/revocations" \
    "$(json_field "$DIR/meta" revocation_list_endpoint)"
hdr=$(curl -s -D - -o "$DIR/l" "$URL/oauth/revocations")
echo "$hdr" | head -1 | grep -q ' 200'; check "full list 200" 0 $?
echo "$hdr" | grep -qi '^content-type: application/jwt'; check "content type" 0 $?
echo "$hdr" | grep -qi '^cache-control: public, max-age=1'; check "cache-control" 0 $?
ETAG=$(echo "$hdr" | sed -n 's/^[Ee][Tt][Aa][Gg]: *\(.*\)\r$/\1/p')
check "etag of the empty list" '"f0"' "$ETAG"
hd=$(cut -d. -f1 < "$DIR/l" | tr '_-' '/+'); while [ $(( ${#hd} % 4 )) -ne 0 ]; do hd="$hd="; done
echo "$hd" | base64 -d 2>/dev/null | grep -q '"typ":"revocation-list+jwt"'; check "typ" 0 $?
pl=$(payload "$(cat "$DIR/l")")
echo "$pl" | grep -q "\"iss\":\"$ISS\""; check "payload iss" 0 $?
echo "$pl" | grep -q '"full":true'; check "payload full" 0 $?
echo "$pl" | grep -q '"revoked":\[\]'; check "payload empty" 0 $?
st=$(curl -s -o /dev/null -w '%{http_code}' -H "If-None-Match: $ETAG" "$URL/oauth/revocations")
check "If-None-Match 304" 304 "$st"
st=$(curl -s -o "$DIR/e" -w '%{http_code}' "$URL/oauth/revocations?since=x")
check "bad since 400" "400 invalid_request" "$st $(json_field "$DIR/e" error)"
st=$(curl -s -o /dev/null -w '%{http_code}' -X POST "$URL/oauth/revocations")
check "POST 405" 405 "$st"

# --- a revoked access token is refused by a running verifier within the poll interval
run_probe() { # TOKEN -> starts the probe, waits until it accepted the token
    printf '%s\n' "$1" > "$DIR/tok"
    rm -f "$DIR/ready"
    "$PROBE" "$URL" "$ISS" smd "$DIR/tok" "$DIR/ready" "$POLL_MS" 20000 > "$DIR/probe.out" \
        2> "$DIR/probe.err" &
    QPID=$!
    i=0
    while [ ! -f "$DIR/ready" ] && [ $i -lt 200 ]; do sleep 0.05; i=$((i + 1)); done
    [ -f "$DIR/ready" ] || { echo "FAIL: the probe never accepted the token"; cat "$DIR/probe.err"; fail=1; }
}
wait_probe() { # NAME REVOKED_AT_MS
    wait "$QPID"; QPID=
    read -r reason at status < "$DIR/probe.out"
    check "$1: refused as revoked" "revoked 401" "$reason $status"
    ms=$((at - $2))
    echo "propagation ($1): $ms ms (poll interval $POLL_MS ms)"
    [ "$ms" -le $((POLL_MS + 1000)) ]; check "$1: within the poll interval (+1 s for a loaded machine)" 0 $?
}
grant
run_probe "$AT"
sleep 0.3
t0=$(now_ms)
st=$(post /oauth/revoke "$DIR/r" --data-urlencode "token=$AT" --data-urlencode token_type_hint=access_token)
check "revoke access token" 200 "$st"
wait_probe "access token" "$t0"
JTI=$(payload "$AT" | sed -n 's/.*"jti":"\([^"]*\)".*/\1/p')
curl -s -o "$DIR/l" "$URL/oauth/revocations"
payload "$(cat "$DIR/l")" | grep -q "\"jti\":\"$JTI\""; check "jti in the full list" 0 $?
payload "$(cat "$DIR/l")" | grep -q '"sub"\|"subject"\|"reason"'; check "only jti and exp" 1 $?
curl -s -o "$DIR/d" "$URL/oauth/revocations?since=0"
payload "$(cat "$DIR/d")" | grep -q "\"jti\":\"$JTI\".*\"full\":false\|\"full\":false.*\"jti\":\"$JTI\""
check "jti in the delta since 0" 0 $?

# --- a refresh-family revocation refuses its access tokens
grant
run_probe "$AT"
sleep 0.3
t0=$(now_ms)
st=$(post /oauth/revoke "$DIR/r" --data-urlencode "token=$RT" --data-urlencode token_type_hint=refresh_token)
check "revoke refresh token" 200 "$st"
wait_probe "refresh family" "$t0"

# --- the same end to end through minisvc: its gate's verifier polls the list every second
if [ -n "$MINISVC" ]; then
    mkdir -p "$DIR/policy" # no fragments: roles come from scopes (read -> viewer)
    "$MINISVC" --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience smd --mode enforce \
        --policy-dir "$DIR/policy" --scope-role read=viewer --listen 127.0.0.1:0 \
        --port-file "$DIR/m.port" --revocations "$URL/oauth/revocations" \
        --revocations-poll-ms "$POLL_MS" 2> "$DIR/m.log" &
    MPID=$!
    i=0
    while [ ! -s "$DIR/m.port" ] && [ $i -lt 400 ]; do
        kill -0 "$MPID" 2>/dev/null || break
        sleep 0.05; i=$((i + 1))
    done
    [ -s "$DIR/m.port" ] || { echo "FAIL: minisvc did not start"; cat "$DIR/m.log"; exit 1; }
    MURL=http://127.0.0.1:$(cat "$DIR/m.port")
    nodes() { # TOKEN -> status of GET /v1/nodes (a route the policy decides); body in $DIR/mb
        curl -s -o "$DIR/mb" -w '%{http_code}' -H "Authorization: Bearer $1" "$MURL/v1/nodes"
    }
    # Until the first list is applied the fail-closed source refuses every token (503).
    until_ok() { # TOKEN: waits (at most 10 s) for 200, then checks it
        i=0
        while [ "$(nodes "$1")" != 200 ] && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
        check "minisvc: the token works (200)" 200 "$(nodes "$1")"
    }
    until_refused() { # NAME TOKEN REVOKED_AT_MS: polls every 20 ms until refused
        while :; do
            st=$(nodes "$2")
            [ "$st" != 200 ] && break
            [ $(( $(now_ms) - $3 )) -gt 20000 ] && break
            sleep 0.02
        done
        ms=$(( $(now_ms) - $3 ))
        check "minisvc $1: refused 401" 401 "$st"
        grep -q '"authn_reason":"revoked"' "$DIR/mb"
        check "minisvc $1: authn_reason revoked in the body" 0 $?
        echo "propagation (minisvc, $1): $ms ms (poll interval $POLL_MS ms)"
        [ "$ms" -le $((POLL_MS + 1000)) ]
        check "minisvc $1: within the poll interval (+1 s for a loaded machine)" 0 $?
    }
    grant
    until_ok "$AT"
    sleep 0.3
    t0=$(now_ms)
    st=$(post /oauth/revoke "$DIR/r" --data-urlencode "token=$AT" --data-urlencode token_type_hint=access_token)
    check "minisvc: revoke access token" 200 "$st"
    until_refused "access token" "$AT" "$t0"
    grep -q '"revoked"' "$DIR/m.log"; check "minisvc: the refusal is logged as revoked" 0 $?
    grep -qF "$AT" "$DIR/m.log"; check "minisvc: the token is not logged" 1 $?

    grant
    until_ok "$AT"
    sleep 0.3
    t0=$(now_ms)
    st=$(post /oauth/revoke "$DIR/r" --data-urlencode "token=$RT" --data-urlencode token_type_hint=refresh_token)
    check "minisvc: revoke refresh token" 200 "$st"
    until_refused "refresh family" "$AT" "$t0"

    grant # a token nobody revoked still passes: the list, not an outage, refused the others
    check "minisvc: an unrevoked token still works" 200 "$(nodes "$AT")"
    kill -TERM "$MPID"; wait "$MPID" 2>/dev/null; MPID=
else
    echo "skip: minisvc leg (minisvc not built)"
fi

stop_server
[ -f "$DIR/m.log" ] || : > "$DIR/m.log"
if grep -q 'AddressSanitizer\|runtime error' "$DIR/s.log" "$DIR/probe.err" "$DIR/m.log"; then
    echo "FAIL: sanitizer report"; fail=1
fi
exit $fail
