#!/bin/sh
# `tokensmith gateway` with the key that signs translated tokens in a PKCS#11 token (SoftHSM2,
# a token of this test's own, the key generated inside it; docs/keys.md): the admin JWKS lists
# the token's key, a check's translated token carries its kid and verifies with node jose
# against that JWKS, no key file is written, the PIN is in no log; the settings also come from
# TOKENSMITH_GATEWAY_* variables; a wrong PIN stops the gateway at start (--check too) with an
# error saying so; key_dir together with key_backend pkcs11 is refused naming key_dir.
# usage: gateway_test.sh TOKENSMITH SOURCE_DIR P11_KEYGEN [MODULE]
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
. "$SRC/tests/service/lib.sh" # DIR, start_server, create_token, exchange, json_field
. "$SRC/tests/gateway/lib.sh" # ok, bad, check, start_gateway, stop_gateway
ISS=https://tokensmith.test

mkdir -p "$DIR/tokens" "$DIR/gw-home"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$DIR" > "$DIR/softhsm2.conf"
SOFTHSM2_CONF=$DIR/softhsm2.conf
export SOFTHSM2_CONF
PIN=472913
softhsm2-util --init-token --free --label gw-test --so-pin 1234 --pin $PIN >/dev/null
check "token initialised" 0 $?
"$KEYGEN" "$MODULE" gw-test $PIN gw-es256 ec256 01
check "key generated in the token" 0 $?
(umask 077 && printf '%s\n' $PIN > "$DIR/pin")

# --- the callers' issuer: tokensmith serve with file keys; an access token with scope read
start_server "$DIR/serve.log" --home "$DIR/serve" --issuer "$ISS"
boot=$(create_token "$DIR/serve/tokensmith.db")
check "token exchange at serve" 200 "$(exchange "$boot" "$DIR/exchange.json")"
AT=$(json_field "$DIR/exchange.json" access_token)

base_config() { # FILE EXTRA: the gateway's configuration with EXTRA members (leading comma)
    cat >"$1" <<EOC
{"listen": "127.0.0.1:0", "grpc_listen": "", "admin_listen": "127.0.0.1:0",
 "issuer": "https://gateway.test", "home": "$DIR/gw-home",
 "trust": [{"issuer": "$ISS", "jwks_uri": "$URL/.well-known/jwks.json", "audiences": ["smd"]}],
 "translate": {"audience": "backend"},
 "authz": {"mode": "enforce", "scope_roles": {"read": "viewer"},
           "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"}]}$2}
EOC
}
P11=", \"key_backend\": \"pkcs11\", \"pkcs11_module\": \"$MODULE\", \"pkcs11_token_label\": \"gw-test\", \"pkcs11_key_label\": \"gw-es256\""
base_config "$DIR/gw.json" "$P11, \"pkcs11_pin_file\": \"$DIR/pin\""

# translated CHECK-HEAD: the bearer token of the allow's Authorization header
translated() { sed -n 's/^authorization: *Bearer \([A-Za-z0-9._-]*\).*/\1/Ip' "$1" | tail -1; }
kid_of() {
    python3 -c 'import base64, json, sys
h = sys.argv[1].split(".")[0]
print(json.loads(base64.urlsafe_b64decode(h + "=" * (-len(h) % 4))).get("kid", ""))' "$1"
}
one_round() { # NAME: a check through the running gateway, its token verified by node jose
    st=$(curl -s -D "$DIR/h.$1" -o /dev/null -w '%{http_code}' -H "Authorization: Bearer $AT" \
        "http://127.0.0.1:$GW_PORT/nodes")
    check "$1: GET /nodes is allowed" 200 "$st"
    TT=$(translated "$DIR/h.$1")
    [ -n "$TT" ] && ok "$1: a translated token" || bad "$1: no translated token"
    curl -s "http://127.0.0.1:$GW_ADMIN_PORT/.well-known/jwks.json" >"$DIR/jwks.$1"
    check "$1: the admin JWKS has one key" 1 "$(grep -o '"kty"' "$DIR/jwks.$1" | wc -l | tr -d ' ')"
    kid=$(sed -n 's/.*"kid":"\([^"]*\)".*/\1/p' "$DIR/jwks.$1")
    check "$1: the translated token's kid is the published one" "$kid" "$(kid_of "$TT")"
    sed -n 's/^{"keys":\[\(.*\)\]}$/\1/p' "$DIR/jwks.$1" > "$DIR/k.jwk"
    check "$1: the kid is the RFC 7638 thumbprint of the token's key" "$kid" \
        "$("$TS" keys thumbprint "$DIR/k.jwk")"
    if command -v node >/dev/null 2>&1 && [ -d "$SRC/node_modules/jose" ]; then
        out=$(node "$SRC/tests/service/jose_verify.mjs" \
            "http://127.0.0.1:$GW_ADMIN_PORT/.well-known/jwks.json" https://gateway.test backend "$TT")
        check "$1: node jose verifies the translated token" 0 $?
        echo "$out" | grep -q '"alg":"ES256"' && echo "$out" | grep -q '"aud":\["backend"\]'
        check "$1: ES256, audience backend" 0 $?
    elif [ "${TS_REQUIRE_SOFTHSM:-0}" = 1 ]; then
        bad "node jose is not installed"
    fi
}

# --- PIN from a file
start_gateway "$DIR/gw.json" || exit 1
grep '"msg":"listening"' "$DIR/gateway.log" >/dev/null
one_round file-pin
stop_gateway
check "the gateway stopped cleanly" 0 "$GW_RC"
check "no key file written" "" "$(ls -A "$DIR/gw-home/keys" 2>/dev/null)"

# --- everything but the trust from variables, PIN from a variable
base_config "$DIR/gw2.json" ""
GW_HSM_PIN=$PIN TOKENSMITH_GATEWAY_KEY_BACKEND=pkcs11 TOKENSMITH_GATEWAY_PKCS11_MODULE=$MODULE \
    TOKENSMITH_GATEWAY_PKCS11_TOKEN_LABEL=gw-test TOKENSMITH_GATEWAY_PKCS11_KEY_LABEL=gw-es256 \
    TOKENSMITH_GATEWAY_PKCS11_PIN_ENV=GW_HSM_PIN start_gateway "$DIR/gw2.json" || exit 1
one_round pin-env
stop_gateway

# --- refusals at start: a wrong PIN (run and --check), key_dir with the token backend
(umask 077 && echo 958203 > "$DIR/badpin")
"$TS" gateway --config "$DIR/gw.json" --pkcs11-pin-file "$DIR/badpin" 2>"$DIR/e1"
rc=$?
[ "$rc" -ne 0 ] && ok "a wrong PIN: the gateway does not start (exit $rc)" || bad "a wrong PIN: exit 0"
grep -q "CKR_PIN_INCORRECT" "$DIR/e1"
check "the error says the PIN was refused" 0 $?
"$TS" gateway --check --config "$DIR/gw.json" --pkcs11-pin-file "$DIR/badpin" >/dev/null 2>"$DIR/e2"
rc=$?
[ "$rc" -ne 0 ] && ok "--check with a wrong PIN fails (exit $rc)" || bad "--check with a wrong PIN: exit 0"
"$TS" gateway --check --config "$DIR/gw.json" >"$DIR/c3" 2>&1
check "--check with the token's key passes" 0 $?
grep -q 'PKCS#11 token "gw-test", key "gw-es256"' "$DIR/c3"
check "--check says where the key is" 0 $?
"$TS" gateway --check --config "$DIR/gw.json" --key-dir "$DIR/kd" >/dev/null 2>"$DIR/e3"
rc=$?
[ "$rc" -ne 0 ] && grep -q "key_dir" "$DIR/e3"
check "key_dir with key_backend pkcs11 is refused naming key_dir" 0 $?
cat "$DIR/gateway.log" "$DIR/e1" "$DIR/e2" "$DIR/e3" "$DIR/c3" | grep -q "$PIN\|958203" &&
    bad "a PIN in a log or an error"
grep -q "$AT" "$DIR/gateway.log" && bad "the presented token is in the gateway's log"
finish
