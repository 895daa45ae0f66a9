#!/bin/sh
# `tokensmith serve` with its signing key in a PKCS#11 token (SoftHSM2, a token of this test's
# own, keys generated inside it): the JWKS lists the token's key, a bootstrap exchange issues a
# token that tokensmith and node jose verify, nothing is written as a key file, the PIN is in
# no log; SIGHUP reads the key again; a wrong module path or PIN stops serve at start (exit 1)
# with an error naming the setting; `keys generate` says it does not apply.
# usage: serve_test.sh TOKENSMITH SOURCE_DIR P11_KEYGEN [MODULE]
# Exit 77 (skipped) without SoftHSM2, unless TS_REQUIRE_SOFTHSM=1.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
KEYGEN=$3
MODULE=${4:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -r "$MODULE" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
    if [ "${TS_REQUIRE_SOFTHSM:-0}" = 1 ]; then
        echo "FAIL: SoftHSM2 is required (TS_REQUIRE_SOFTHSM=1) but $MODULE is absent"; exit 1
    fi
    echo "skip: SoftHSM2 is not installed"; exit 77
fi
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, exchange, ...

# The token: its own configuration and directory, so that no other test or user sees it.
mkdir -p "$DIR/tokens" "$DIR/h"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$DIR" > "$DIR/softhsm2.conf"
SOFTHSM2_CONF=$DIR/softhsm2.conf
export SOFTHSM2_CONF
PIN=5678
softhsm2-util --init-token --free --label ts-test --so-pin 1234 --pin $PIN >/dev/null
check "token initialised" 0 $?
"$KEYGEN" "$MODULE" ts-test $PIN svc-es256 ec256 01 && "$KEYGEN" "$MODULE" ts-test $PIN svc-rsa rsa2048 02
check "keys generated in the token" 0 $?
(umask 077 && printf '%s\n' $PIN > "$DIR/pin")
cat > "$DIR/c.json" <<JSON
{"home": "$DIR/h", "keyBackend": "pkcs11", "pkcs11Module": "$MODULE",
 "pkcs11TokenLabel": "ts-test", "pkcs11KeyLabel": "svc-es256", "pkcs11PinFile": "$DIR/pin"}
JSON

verify_jose() { # TOKEN KID ALG
    if command -v node >/dev/null 2>&1 && [ -d "$SRC/node_modules/jose" ]; then
        jout=$(node "$SRC/tests/service/jose_verify.mjs" "$URL/.well-known/jwks.json" "$URL" smd "$1")
        check "node jose verifies the $3 token" 0 $?
        echo "$jout" | grep -q "\"kid\":\"$2\"" && echo "$jout" | grep -q "\"alg\":\"$3\""
        check "node jose: kid and alg are the token key's" 0 $?
    elif [ "${TS_REQUIRE_SOFTHSM:-0}" = 1 ]; then
        echo "FAIL: node jose is not installed"; fail=1
    else
        echo "skip: node jose not installed"
    fi
}

# --- ES256 from the token, PIN from a file
start_server "$DIR/s.log" --config "$DIR/c.json"
KID=$(sed -n 's/.*"msg":"listening".*"kid":"\([^"]*\)".*/\1/p' "$DIR/s.log" | head -1)
grep '"msg":"listening"' "$DIR/s.log" | grep -q '"alg":"ES256"'
check "serve signs ES256 with the token's P-256 key" 0 $?
curl -s "$URL/.well-known/jwks.json" > "$DIR/jwks"
check "the JWKS lists exactly the token's key" 1 "$(grep -o '"kid":"[^"]*"' "$DIR/jwks" | grep -c "\"kid\":\"$KID\"")"
check "the JWKS has one key" 1 "$(grep -o '"kty"' "$DIR/jwks" | wc -l | tr -d ' ')"
st=$(exchange "$(create_token "$DIR/h/tokensmith.db")" "$DIR/r")
check "bootstrap exchange" 200 "$st"
AT=$(json_field "$DIR/r" access_token)
"$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$URL" --audience smd "$AT" >/dev/null
check "tokensmith token verify accepts it" 0 $?
verify_jose "$AT" "$KID" ES256
# What the JWKS publishes is the kid's key: RFC 7638, recomputed by keys thumbprint from the JWK.
sed -n 's/^{"keys":\[\(.*\)\]}$/\1/p' "$DIR/jwks" > "$DIR/k.jwk"
check "the kid is the RFC 7638 thumbprint of the published key" "$KID" "$("$TS" keys thumbprint "$DIR/k.jwk")"
check "no key file written" "" "$(ls -A "$DIR/h/keys" 2>/dev/null)"
kill -HUP $PID
i=0; while [ $i -lt 100 ] && ! grep -q '"msg":"keys reloaded"' "$DIR/s.log"; do sleep 0.1; i=$((i + 1)); done
grep '"msg":"keys reloaded"' "$DIR/s.log" | grep -q '"changed":false'
check "SIGHUP reads the token's key again (unchanged)" 0 $?
stop_server; PID=
grep -q "$PIN" "$DIR/s.log" && { echo "FAIL: the PIN is in the log"; fail=1; }
grep -q "$AT" "$DIR/s.log" && { echo "FAIL: the access token is in the log"; fail=1; }

# --- PS256 with the RSA key, everything from the environment, PIN from a variable
HSM_PIN=$PIN TOKENSMITH_KEY_BACKEND=pkcs11 TOKENSMITH_PKCS11_MODULE=$MODULE \
    TOKENSMITH_PKCS11_TOKEN_LABEL=ts-test TOKENSMITH_PKCS11_KEY_LABEL=svc-rsa \
    TOKENSMITH_PKCS11_PIN_ENV=HSM_PIN start_server "$DIR/s2.log" --home "$DIR/h" --alg PS256
KID2=$(sed -n 's/.*"msg":"listening".*"kid":"\([^"]*\)".*/\1/p' "$DIR/s2.log" | head -1)
st=$(exchange "$(create_token "$DIR/h/tokensmith.db")" "$DIR/r2")
check "exchange (PS256)" 200 "$st"
verify_jose "$(json_field "$DIR/r2" access_token)" "$KID2" PS256
stop_server; PID=

# --- failures at start: exit 1, the setting and the module or token named, no PIN
"$TS" serve --listen 127.0.0.1:0 --config "$DIR/c.json" --pkcs11-module "$DIR/nope.so" 2>"$DIR/e1"
check "a wrong module path: serve exits 1" 1 $?
grep -q "pkcs11Module" "$DIR/e1" && grep -q "$DIR/nope.so" "$DIR/e1"
check "the error names pkcs11Module and the path" 0 $?
(umask 077 && echo 0000 > "$DIR/badpin")
"$TS" serve --listen 127.0.0.1:0 --config "$DIR/c.json" --pkcs11-pin-file "$DIR/badpin" 2>"$DIR/e2"
check "a wrong PIN: serve exits 1" 1 $?
grep -q "CKR_PIN_INCORRECT" "$DIR/e2" && grep -q "pkcs11PinFile" "$DIR/e2"
check "the error says the PIN was refused" 0 $?
"$TS" serve --listen 127.0.0.1:0 --config "$DIR/c.json" --pkcs11-key-label gone 2>"$DIR/e3"
check "no such key: serve exits 1" 1 $?
grep -q 'no private key labelled \\"gone\\" in token \\"ts-test\\"' "$DIR/e3" ||
    grep -q 'no private key labelled "gone" in token "ts-test"' "$DIR/e3"
check "the error names the key and token labels" 0 $?
cat "$DIR/e1" "$DIR/e2" "$DIR/e3" | grep -q "$PIN\|0000" && { echo "FAIL: a PIN in an error"; fail=1; }

# --- keys generate makes files: with the token backend it says so instead
TOKENSMITH_KEY_BACKEND=pkcs11 "$TS" keys generate --key-dir "$DIR/kd" 2>"$DIR/e4"
check "keys generate refuses with keyBackend pkcs11" 2 $?
grep -q "pkcs11" "$DIR/e4" && [ ! -e "$DIR/kd" ]
check "and says why, writing nothing" 0 $?

[ $fail = 0 ] && echo "serve with a PKCS#11 key: all checks passed"
exit $fail
