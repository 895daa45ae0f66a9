#!/bin/sh
# RFC 7009 revocation and RFC 7662 introspection at `tokensmith serve` (docs/revocation.md):
# holders revoke their own refresh and access tokens, registered clients authenticate with
# client_secret_basic or client_secret_post and introspect, the no-oracle answers, the metadata,
# and `tokensmith token revoke` offline against the store; a family issued to a registered
# client, whose refresh tokens that client alone introspects (and refreshes), and revocation of
# refresh tokens without rotating them.
# With CONNINFO_FILE (the store_pg fixture's cluster) the store is a PostgreSQL database of
# its own; otherwise SQLite.
# usage: revoke_test.sh TOKENSMITH SOURCE_DIR [CONNINFO_FILE]
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
if [ -n "${3:-}" ]; then
    TEST_NAME=revoke_pg
    . "$SRC/tests/replicas_grants/replicas_lib.sh" # lib.sh, and the database dropped at exit
    use_fixture_db "$3"
    STORE=$PGDB
else
    . "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...
    STORE=$DIR/a/tokensmith.db
fi
ISS=https://tokensmith.test
HOME_A=$DIR/a
mkdir -p "$HOME_A"
printf 'file-secret-0123456789\n' > "$DIR/ops.secret"
chmod 600 "$DIR/ops.secret"
cat > "$DIR/config.json" <<JSON
{"clients": [
  {"client_id": "rs1", "client_secret": "rs1-secret-0123456789", "introspect": true},
  {"client_id": "ops", "client_secret_file": "$DIR/ops.secret", "revoke_any": true},
  {"client_id": "app", "client_secret": "app-secret-0123456789", "introspect": true}
]}
JSON
start_server "$DIR/a.log" --config "$DIR/config.json" --home "$HOME_A" --store "$STORE" \
    --issuer "$ISS"
RS1=$(printf 'rs1:rs1-secret-0123456789' | base64 | tr -d '\n')
OPS=$(printf 'ops:file-secret-0123456789' | base64 | tr -d '\n')
APP=$(printf 'app:app-secret-0123456789' | base64 | tr -d '\n')

revoke() { # OUTFILE CURL-ARGS... -> status
    o=$1; shift
    post /oauth/revoke "$o" "$@"
}
introspect() { # TOKEN OUTFILE [CURL-ARGS...] -> status (rs1 by Basic unless args given)
    t=$1; o=$2; shift 2
    [ $# -gt 0 ] || set -- -H "Authorization: Basic $RS1"
    post /oauth/introspect "$o" --data-urlencode "token=$t" "$@"
}
store_sql() { # SQL -> one value from the store (either backend)
    if [ -n "${PGDB:-}" ]; then sql "$1"; else sqlite3 "$STORE" "$1"; fi
}
app_grant() { # [CURL-ARGS...] -> sets ST, RT (a bootstrap exchange by the client app)
    b=$(create_token "$STORE")
    [ $# -gt 0 ] || set -- -H "Authorization: Basic $APP"
    ST=$(post /oauth/token "$DIR/g" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$b" "$@")
    RT=$(json_field "$DIR/g" refresh_token)
}
app_refresh() { # TOKEN OUTFILE -> status (the client app, Basic)
    post /oauth/token "$2" --data-urlencode grant_type=refresh_token \
        --data-urlencode "refresh_token=$1" -H "Authorization: Basic $APP"
}
grant() { # -> sets AT, RT (a fresh bootstrap exchange)
    b=$(create_token "$STORE")
    st=$(exchange "$b" "$DIR/g"); [ "$st" = 200 ] || { echo "FAIL: exchange $st"; cat "$DIR/g"; fail=1; }
    AT=$(json_field "$DIR/g" access_token)
    RT=$(json_field "$DIR/g" refresh_token)
}

# --- metadata
curl -s -o "$DIR/meta" "$URL/.well-known/oauth-authorization-server"
check "revocation_endpoint" "$ISS/oauth/revoke" "$(json_field "$DIR/meta" revocation_endpoint)"
check "introspection_endpoint" "$ISS/oauth/introspect" \
    "$(json_field "$DIR/meta" introspection_endpoint)"
grep -q '"revocation_endpoint_auth_methods_supported":\["none","client_secret_basic","client_secret_post"\]' "$DIR/meta"
check "revocation auth methods" 0 $?
grep -q '"introspection_endpoint_auth_methods_supported":\["client_secret_basic","client_secret_post"\]' "$DIR/meta"
check "introspection auth methods" 0 $?

# --- an access token is active while nothing is revoked (Basic and post)
grant
st=$(introspect "$AT" "$DIR/i"); check "introspect status" 200 "$st"
check "introspect active" true "$(json_field "$DIR/i" active)"
check "introspect sub" svc-a "$(json_field "$DIR/i" sub)"
check "introspect iss" "$ISS" "$(json_field "$DIR/i" iss)"
check "introspect token_type" Bearer "$(json_field "$DIR/i" token_type)"
check "introspect scope" "read write" "$(json_field "$DIR/i" scope)"
[ -n "$(json_field "$DIR/i" jti)" ] && [ -n "$(json_field "$DIR/i" exp)" ]
check "introspect jti and exp" 0 $?
st=$(introspect "$AT" "$DIR/i" --data-urlencode client_id=rs1 \
    --data-urlencode client_secret=rs1-secret-0123456789)
check "introspect client_secret_post" "200 true" "$st $(json_field "$DIR/i" active)"

# --- introspection refusals and inactive answers
hdr=$(curl -s -D - -o "$DIR/i" -X POST "$URL/oauth/introspect" --data-urlencode "token=$AT" \
    -H "Authorization: Basic $(printf 'rs1:wrong-secret-000000' | base64)")
echo "$hdr" | head -1 | grep -q ' 401'; check "introspect bad secret 401" 0 $?
echo "$hdr" | grep -qi '^www-authenticate: Basic realm='; check "401 WWW-Authenticate" 0 $?
check "401 error" invalid_client "$(json_field "$DIR/i" error)"
st=$(introspect "$AT" "$DIR/i" --data-urlencode client_id=nobody \
    --data-urlencode client_secret=rs1-secret-0123456789)
check "introspect unknown client" "401 invalid_client" "$st $(json_field "$DIR/i" error)"
st=$(post /oauth/introspect "$DIR/i" --data-urlencode "token=$AT")
check "introspect without credentials" "401 invalid_client" "$st $(json_field "$DIR/i" error)"
st=$(introspect "$AT" "$DIR/i" -H "Authorization: Basic $OPS")
check "client without introspect" '200 {"active":false}' "$st $(cat "$DIR/i")"
st=$(introspect "not-a-token" "$DIR/i"); check "unknown token" '200 {"active":false}' "$st $(cat "$DIR/i")"
st=$(introspect "$RT" "$DIR/i"); check "refresh token of a public family" '200 {"active":false}' "$st $(cat "$DIR/i")"
FORGED=$(echo "$AT" | cut -d. -f1-2).AAAA
st=$(introspect "$FORGED" "$DIR/i"); check "bad signature" '200 {"active":false}' "$st $(cat "$DIR/i")"
st=$(post /oauth/introspect "$DIR/i" -H "Authorization: Basic $RS1")
check "introspect without token" "400 invalid_request" "$st $(json_field "$DIR/i" error)"
st=$(curl -s -o /dev/null -w '%{http_code}' "$URL/oauth/introspect"); check "GET introspect" 405 "$st"

# --- the holder revokes its refresh token: the family and its access token go
st=$(revoke "$DIR/r" --data-urlencode "token=$RT" --data-urlencode token_type_hint=refresh_token)
check "revoke refresh status" 200 "$st"
check "revoke body empty" 0 "$(wc -c < "$DIR/r" | tr -d ' ')"
st=$(refresh "$RT" "$DIR/x"); check "refresh after revoke" "400 invalid_grant" "$st $(json_field "$DIR/x" error)"
st=$(introspect "$AT" "$DIR/i"); check "access token of revoked family" '200 {"active":false}' "$st $(cat "$DIR/i")"
st=$(revoke "$DIR/r" --data-urlencode "token=$RT"); check "revoke again" 200 "$st"
n=$(store_sql "SELECT count(*) FROM audit_log WHERE type = 'refresh_token_rotated'")
check "revoking rotates nothing (store audit)" 0 "$n"

# --- revoke an access token (a registered client, Basic)
grant
st=$(revoke "$DIR/r" --data-urlencode "token=$AT" -H "Authorization: Basic $OPS")
check "revoke access token" 200 "$st"
st=$(introspect "$AT" "$DIR/i"); check "revoked access token" '200 {"active":false}' "$st $(cat "$DIR/i")"
st=$(refresh "$RT" "$DIR/x"); check "its refresh token still works" 200 "$st"
grep -q '"audit_event":"token_revoked"' "$DIR/a.log"; check "revocation logged" 0 $?
grep -q "$AT" "$DIR/a.log"; check "no token in the log" 1 $?

# --- unknown tokens, bad credentials, malformed requests
st=$(revoke "$DIR/r" --data-urlencode "token=0123456789abcdef"); check "unknown token 200" "200 0" "$st $(wc -c < "$DIR/r" | tr -d ' ')"
st=$(revoke "$DIR/r" --data-urlencode "token=$FORGED"); check "forged JWT 200" 200 "$st"
hdr=$(curl -s -D - -o "$DIR/r" -X POST "$URL/oauth/revoke" --data-urlencode "token=$AT" \
    -H "Authorization: Basic $(printf 'ops:nope-nope-nope-nope' | base64)")
echo "$hdr" | head -1 | grep -q ' 401'; check "revoke bad secret 401" 0 $?
echo "$hdr" | grep -qi '^www-authenticate: Basic'; check "revoke WWW-Authenticate" 0 $?
check "revoke 401 error" invalid_client "$(json_field "$DIR/r" error)"
st=$(revoke "$DIR/r"); check "revoke without token" "400 invalid_request" "$st $(json_field "$DIR/r" error)"
st=$(revoke "$DIR/r" --data-urlencode "token=x" -H "Authorization: Basic $RS1" \
    --data-urlencode client_secret=x)
check "two auth methods" "400 invalid_request" "$st $(json_field "$DIR/r" error)"
st=$(curl -s -o "$DIR/r" -w '%{http_code}' -X POST "$URL/oauth/revoke?token=x")
check "query parameters" 400 "$st"

# --- tokensmith token revoke (offline, against the same store)
grant
out=$("$TS" token revoke --store "$STORE" --subject svc-a 2>&1); rc=$?
check "token revoke --subject exit" 0 $rc
echo "$out" | grep -q '^subject svc-a: [1-9][0-9]* refresh famil'; check "token revoke --subject output" 0 $?
st=$(refresh "$RT" "$DIR/x"); check "refresh after subject revoke" 400 "$st"
st=$(introspect "$AT" "$DIR/i"); check "access token after subject revoke" '200 {"active":false}' "$st $(cat "$DIR/i")"
grant
JTI=$(introspect "$AT" "$DIR/i" >/dev/null; json_field "$DIR/i" jti)
EXP=$(json_field "$DIR/i" exp)
out=$("$TS" token revoke --store "$STORE" --jti "$JTI" --exp "$EXP" 2>&1)
check "token revoke --jti" "access token $JTI: revoked" "$out"
st=$(introspect "$AT" "$DIR/i"); check "after token revoke --jti" '{"active":false}' "$(cat "$DIR/i")"
"$TS" token revoke --store "$STORE" --jti x >/dev/null 2>&1; check "--jti without --exp" 2 $?
"$TS" token revoke --store "$STORE" >/dev/null 2>&1; check "nothing to revoke" 2 $?

# --- a family issued to the client app (which authenticates at the exchange): its refresh
# tokens are introspectable by app alone, while current and live
app_grant; check "app exchange" 200 "$ST"; RT1=$RT
st=$(introspect "$RT1" "$DIR/i" -H "Authorization: Basic $APP")
check "app introspects its refresh token" "200 true" "$st $(json_field "$DIR/i" active)"
check "refresh token_type" refresh_token "$(json_field "$DIR/i" token_type)"
check "refresh client_id" app "$(json_field "$DIR/i" client_id)"
check "refresh sub aud scope" "svc-a smd read write" \
    "$(json_field "$DIR/i" sub) $(json_field "$DIR/i" aud) $(json_field "$DIR/i" scope)"
exp=$(json_field "$DIR/i" exp); iat=$(json_field "$DIR/i" iat)
[ -n "$exp" ] && [ -n "$iat" ] && [ "$exp" -gt "$iat" ]; check "refresh exp > iat" 0 $?
st=$(introspect "$RT1" "$DIR/i"); check "another client: inactive" '200 {"active":false}' "$st $(cat "$DIR/i")"
grep -q '"introspection":"other_client"' "$DIR/a.log"; check "other client logged" 0 $?
st=$(app_refresh "$RT1" "$DIR/x")
check "app refreshes" 200 "$st"
RT2=$(json_field "$DIR/x" refresh_token)
st=$(introspect "$RT1" "$DIR/i" -H "Authorization: Basic $APP")
check "rotated-out token inactive" '200 {"active":false}' "$st $(cat "$DIR/i")"
st=$(introspect "$RT2" "$DIR/i" -H "Authorization: Basic $APP")
check "introspecting a rotated token revokes nothing" "200 true" "$st $(json_field "$DIR/i" active)"
rot=$(store_sql "SELECT count(*) FROM audit_log WHERE type = 'refresh_token_rotated'")
st=$(revoke "$DIR/r" --data-urlencode "token=$RT2"); check "revoke app's refresh token" 200 "$st"
check "no refresh_token_rotated for the revocation" "$rot" \
    "$(store_sql "SELECT count(*) FROM audit_log WHERE type = 'refresh_token_rotated'")"
st=$(introspect "$RT2" "$DIR/i" -H "Authorization: Basic $APP")
check "after revocation inactive" '200 {"active":false}' "$st $(cat "$DIR/i")"
n=$(store_sql "SELECT count(*) FROM refresh_families WHERE client_id = 'app'")
check "family of app in the store" 1 "$n"

# --- a rotated-out token of a live family revokes the family (evidence it was copied)
grant
st=$(refresh "$RT" "$DIR/x"); check "public refresh" 200 "$st"
RTN=$(json_field "$DIR/x" refresh_token)
st=$(revoke "$DIR/r" --data-urlencode "token=$RT"); check "revoke a rotated-out token" 200 "$st"
grep -q '"token_current":false' "$DIR/a.log"; check "rotated-out revocation logged" 0 $?

# Failures count against the address (10 a minute): the refusals come last.
st=$(refresh "$RTN" "$DIR/x"); check "family of the rotated-out token revoked" "400 invalid_grant" "$st $(json_field "$DIR/x" error)"
app_grant -H "Authorization: Basic $(printf 'app:wrong-secret-0000000' | base64)"
check "app exchange, wrong secret" 401 "$ST"
app_grant; check "app exchange" 200 "$ST"
st=$(refresh "$RT" "$DIR/x"); check "app's family, refresh without app" "400 invalid_grant" "$st $(json_field "$DIR/x" error)"
st=$(introspect "$RT" "$DIR/i" -H "Authorization: Basic $APP")
check "a refused refresh rotates nothing" "200 true" "$st $(json_field "$DIR/i" active)"

stop_server
exit $fail
