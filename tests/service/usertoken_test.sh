#!/bin/sh
# Break-glass minting: `tokensmith user-token create --enable-local-user-mint` signs offline with
# the service's key, audits to the store before printing, marks the token, and verifiers can
# refuse it (`token verify --reject-local-mint`).
# usage: usertoken_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...
ISS=https://tokensmith.test
H=$DIR/home
start_server "$DIR/s.log" --home "$H" --issuer "$ISS"
JWKS=$URL/.well-known/jwks.json
mintu() { "$TS" user-token create --home "$H" --issuer "$ISS" "$@"; }

# --- refusals: nothing printed, nothing audited
out=$(mintu --subject alice --scopes read 2>"$DIR/e1"); rc=$?
check "without --enable-local-user-mint" 2 $rc; check "no token printed" "" "$out"
grep -q "re-run with --enable-local-user-mint" "$DIR/e1" || { echo "FAIL: message: $(cat "$DIR/e1")"; fail=1; }
out=$(mintu --enable-local-user-mint --subject alice --scopes read --ttl 25h 2>/dev/null); rc=$?
check "ttl over 24h" 2 $rc; check "ttl over 24h: no token" "" "$out"
mintu --enable-local-user-mint --subject alice --scopes read --ttl 0s >/dev/null 2>&1
check "ttl 0" 2 $?
mintu --enable-local-user-mint --subject alice --scopes ' , ' >/dev/null 2>&1
check "no scopes" 2 $?
mintu --enable-local-user-mint --scopes read >/dev/null 2>&1
check "no subject" 2 $?
"$TS" user-token create --enable-local-user-mint --home "$DIR/empty" --subject a --scopes read >/dev/null 2>"$DIR/e2"
check "no existing service key" 1 $?
[ ! -d "$DIR/empty/keys" ] || { echo "FAIL: break-glass generated a key"; fail=1; }
if command -v sqlite3 >/dev/null 2>&1; then
    check "refusals audited nothing" 0 "$(sqlite3 "$H/tokensmith.db" "select count(*) from audit_log where type='local_user_token_minted'")"
fi

# --- a break-glass token
T=$(mintu --enable-local-user-mint --subject alice --scopes "read, write" --ttl 2h --operator ops-bob 2>"$DIR/e3")
check "mint exit status" 0 $?
out=$("$TS" token verify --jwks "$JWKS" --issuer "$ISS" --audience openchami "$T")
check "verifies with the service JWKS" 0 $?
for c in '"sub":"alice"' '"scope":"read write"' '"aud":\["openchami"\]' \
    '"auth_methods":\["local_user_mint","operator_attested"\]' '"auth_events":\["local_user_token_mint"\]'; do
    echo "$out" | grep -q "$c" || { echo "FAIL: claim $c missing: $out"; fail=1; }
done
iat=$(echo "$out" | sed -n 's/.*"iat":\([0-9]*\).*/\1/p'); exp=$(echo "$out" | sed -n 's/.*"exp":\([0-9]*\).*/\1/p')
check "lifetime is --ttl" 7200 $((exp - iat))
jti=$(echo "$out" | sed -n 's/.*"jti":"\([^"]*\)".*/\1/p')
"$TS" token verify --jwks "$JWKS" --issuer "$ISS" --audience openchami --reject-local-mint "$T" >/dev/null 2>"$DIR/e4"
check "--reject-local-mint refuses it" 1 $?
grep -q "invalid_claim" "$DIR/e4" || { echo "FAIL: reason: $(cat "$DIR/e4")"; fail=1; }
# a normal service token still passes --reject-local-mint
BT=$(create_token "$H/tokensmith.db")
exchange "$BT" "$DIR/r1" >/dev/null
"$TS" token verify --jwks "$JWKS" --issuer "$ISS" --audience smd --reject-local-mint "$(json_field "$DIR/r1" access_token)" >/dev/null
check "--reject-local-mint accepts an exchanged token" 0 $?
mintu --enable-local-user-mint --subject alice --scopes read --ttl 24h >/dev/null 2>&1
check "ttl of exactly 24h" 0 $?
echo "$out" | grep -q '"break_glass":true' || { echo "FAIL: no break_glass claim: $out"; fail=1; }

# --- with claims.nist off there is no auth_methods claim: the break_glass claim still marks it
printf '{"issuer": "%s", "claims": {"nist": false}}\n' "$ISS" >"$DIR/nonist.json"
T2=$("$TS" user-token create --config "$DIR/nonist.json" --home "$H" --enable-local-user-mint \
    --subject alice --scopes read --ttl 1h 2>/dev/null)
check "mint with claims.nist false" 0 $?
out2=$("$TS" token verify --jwks "$JWKS" --issuer "$ISS" --audience openchami "$T2")
check "nist off: verifies without --reject-local-mint" 0 $?
echo "$out2" | grep -q '"auth_methods"' && { echo "FAIL: auth_methods with nist off: $out2"; fail=1; }
echo "$out2" | grep -q '"break_glass":true' || { echo "FAIL: nist off: no break_glass claim: $out2"; fail=1; }
"$TS" token verify --jwks "$JWKS" --issuer "$ISS" --audience openchami --reject-local-mint "$T2" >/dev/null 2>"$DIR/e5"
check "nist off: --reject-local-mint refuses it" 1 $?
grep -q "invalid_claim" "$DIR/e5" || { echo "FAIL: reason: $(cat "$DIR/e5")"; fail=1; }

# --- the durable audit record: operator, subject, scopes, jti, expiry; never the token
if command -v sqlite3 >/dev/null 2>&1; then
    row=$(sqlite3 "$H/tokensmith.db" "select subject, ref_id, detail from audit_log where type='local_user_token_minted' order by id limit 1")
    echo "$row" | grep -q "^alice|$jti|" || { echo "FAIL: audit row: $row"; fail=1; }
    for c in '"operator":"ops-bob"' '"scope":"read write"' "\"exp\":$exp" '"audience":"openchami"'; do
        echo "$row" | grep -q "$c" || { echo "FAIL: audit detail lacks $c: $row"; fail=1; }
    done
    sig=${T##*.}
    sqlite3 "$H/tokensmith.db" "select * from audit_log" | grep -q "$sig" && { echo "FAIL: token in the audit log"; fail=1; }
    echo "ok: audit record"
fi
exit $fail
