#!/bin/sh
# Key rotation with keyBackend pkcs11 (docs/keys.md "Rotation in a PKCS#11 token"), SoftHSM2:
# `keys rotate` generates the next key inside the token (non-extractable, sensitive, labelled
# <pkcs11KeyLabel>.<unix-time>), the running replicas publish it before it signs, a forced
# step and SIGHUP (or a replica's own check) make both replicas sign with it, tokens of the old
# and the new key verify with node jose against the JWKS, `keys list` shows the states and
# labels, a retired key is destroyed in the token (keyRotationRetire delete) and no longer
# published; a token that cannot generate keys gives an error naming the token and mechanism,
# and serve keeps signing with its key.
# usage: rotation_test.sh TOKENSMITH SOURCE_DIR P11_KEYGEN P11_NOGEN [MODULE]
# Exit 77 (skipped) without SoftHSM2, unless TS_REQUIRE_SOFTHSM=1.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
KEYGEN=$3
NOGEN=$4
MODULE=${5:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -r "$MODULE" ] || ! command -v softhsm2-util >/dev/null 2>&1; then
    if [ "${TS_REQUIRE_SOFTHSM:-0}" = 1 ]; then
        echo "FAIL: SoftHSM2 is required (TS_REQUIRE_SOFTHSM=1) but $MODULE is absent"; exit 1
    fi
    echo "skip: SoftHSM2 is not installed"; exit 77
fi
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, exchange, ...
PID_B=
cleanup_more() { [ -n "$PID_B" ] && { kill -TERM "$PID_B" 2>/dev/null; wait "$PID_B" 2>/dev/null; }; }

mkdir -p "$DIR/tokens" "$DIR/h"
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$DIR" > "$DIR/softhsm2.conf"
SOFTHSM2_CONF=$DIR/softhsm2.conf
export SOFTHSM2_CONF
PIN=k3y-Pin-q
softhsm2-util --init-token --free --label ts-rot --so-pin 1234 --pin $PIN >/dev/null
check "token initialised" 0 $?
"$KEYGEN" "$MODULE" ts-rot $PIN svc ec256 01
check "the first key generated in the token" 0 $?
(umask 077 && printf '%s\n' $PIN > "$DIR/pin")
H=$DIR/h
STORE=$H/tokensmith.db
cat > "$DIR/c.json" <<JSON
{"home": "$H", "keyBackend": "pkcs11", "pkcs11Module": "$MODULE",
 "pkcs11TokenLabel": "ts-rot", "pkcs11KeyLabel": "svc", "pkcs11PinFile": "$DIR/pin",
 "keyRotationInterval": "720h", "keyRotationRetire": "delete"}
JSON

kid_of() { # JWT -> the kid of its header
    h=$(printf '%s' "$1" | cut -d. -f1 | tr '_-' '/+')
    while [ $(( ${#h} % 4 )) -ne 0 ]; do h="$h="; done
    printf '%s' "$h" | base64 -d 2>/dev/null | sed -n 's/.*"kid":"\([^"]*\)".*/\1/p'
}
state_of() { # KID -> its state in `keys list`
    "$TS" keys list --config "$DIR/c.json" | awk -v k="$1" '$1 == k { print $3 }'
}
label_of() { # KID -> its label in `keys list` (the last column)
    "$TS" keys list --config "$DIR/c.json" | awk -v k="$1" '$1 == k { print $NF }'
}
token_objects() { # [PREFIX]: the token's key objects labelled PREFIX* (default svc)
    "$KEYGEN" "$MODULE" ts-rot $PIN "${1:-svc}" list
}
issue() { # URL OUTFILE [STORE] -> prints the access token issued by the replica at URL
    b=$(create_token "${3:-$STORE}")
    keep=$URL
    URL=$1
    exchange "$b" "$2" >/dev/null
    URL=$keep
    json_field "$2" access_token
}
jose_ok() { # NAME TOKEN URL(issuer and JWKS): node jose verifies TOKEN against URL's JWKS
    if command -v node >/dev/null 2>&1 && [ -d "$SRC/node_modules/jose" ]; then
        node "$SRC/tests/service/jose_verify.mjs" "$3/.well-known/jwks.json" "$3" smd "$2" >/dev/null
        check "$1" 0 $?
    elif [ "${TS_REQUIRE_SOFTHSM:-0}" = 1 ]; then
        echo "FAIL: node jose is not installed"; fail=1
    else
        echo "skip: node jose not installed ($1)"
    fi
}
wait_reload() { # LOG N: until the log has N "keys reloaded" lines (10 s at most)
    i=0
    while [ $i -lt 100 ] && [ "$(grep -c '"msg":"keys reloaded"' "$1")" -lt "$2" ]; do
        sleep 0.1; i=$((i + 1))
    done
}

# --- before any serve: the configured key is the one rotation adopts
"$TS" keys list --config "$DIR/c.json" > "$DIR/list0"
check "keys list exit" 0 $?
K1=$(awk '$3 == "active" { print $1 }' "$DIR/list0")
check "the configured key shows as active" 43 ${#K1}
check "listed under its label" svc "$(awk '$3 == "active" { print $NF }' "$DIR/list0")"
check "keys list writes nothing" "" "$(ls -A "$H/keys" 2>/dev/null)"

# --- by hand: a next key generated in the token
out=$("$TS" keys rotate --config "$DIR/c.json")
check "keys rotate exit" 0 $?
K2=$(printf '%s\n' "$out" | sed -n 's/^next //p')
check "a next key" 43 ${#K2}
check "K1 active" active "$(state_of "$K1")"
check "K2 next" next "$(state_of "$K2")"
L2=$(label_of "$K2")
printf '%s' "$L2" | grep -q '^svc\.[0-9][0-9]*$'
check "K2 labelled svc.<unix-time> ($L2)" 0 $?
token_objects > "$DIR/objs"
grep -q "^private $L2 token=1 private=1 sensitive=1 extractable=0 sign=1$" "$DIR/objs"
check "K2's private key is in the token: token, private, sensitive, not extractable, sign" 0 $?
grep -q "^public $L2 token=1$" "$DIR/objs"
check "K2's public key is in the token" 0 $?
check "the state is in <home>/keys, no key file there" "rotation.json rotation.lock" \
    "$(ls "$H/keys" | tr '\n' ' ' | sed 's/ $//')"
check "rotation.json is 0600" 600 "$(stat -c %a "$H/keys/rotation.json")"

# --- two replicas on one token and state directory: both publish K2, both sign with K1
start_server "$DIR/a.log" --config "$DIR/c.json"
PID_A=$PID; URL_A=$URL
start_server "$DIR/b.log" --config "$DIR/c.json"
PID_B=$PID; URL_B=$URL
PID=$PID_A
for u in "$URL_A" "$URL_B"; do
    curl -s "$u/.well-known/jwks.json" > "$DIR/jwks"
    grep -q "\"kid\":\"$K2\"" "$DIR/jwks" && grep -q "\"kid\":\"$K1\"" "$DIR/jwks"
    check "the next key is in the JWKS of $u before it signs" 0 $?
done
T1=$(issue "$URL_A" "$DIR/g1")
check "replica A signs with K1" "$K1" "$(kid_of "$T1")"
check "replica B signs with K1" "$K1" "$(kid_of "$(issue "$URL_B" "$DIR/g2")")"
jose_ok "node jose verifies K1's token" "$T1" "$URL_A"

# --- a forced step, then SIGHUP: both replicas sign with K2, K1's token still verifies
"$TS" keys rotate --config "$DIR/c.json" --force > "$DIR/out"
check "forced step" "active $K2" "$(sed -n 1p "$DIR/out")"
check "K1 retiring" retiring "$(state_of "$K1")"
kill -HUP "$PID_A" "$PID_B"
wait_reload "$DIR/a.log" 1
wait_reload "$DIR/b.log" 1
T2=$(issue "$URL_A" "$DIR/g3")
check "replica A signs with K2 after SIGHUP" "$K2" "$(kid_of "$T2")"
check "replica B signs with K2 after SIGHUP" "$K2" "$(kid_of "$(issue "$URL_B" "$DIR/g4")")"
jose_ok "node jose verifies K2's token" "$T2" "$URL_A"
jose_ok "node jose still verifies K1's token (K1 retiring, published)" "$T1" "$URL_A"

# --- a replica's own check (every 30 s) takes a step another process took
"$TS" keys rotate --config "$DIR/c.json" --force > "$DIR/out"
K3=$(sed -n 's/^active //p' "$DIR/out")
check "K3 generated and promoted" 43 ${#K3}
i=0; ga=; gb=
while [ $i -lt 45 ]; do
    ga=$(kid_of "$(issue "$URL_A" "$DIR/g5")")
    gb=$(kid_of "$(issue "$URL_B" "$DIR/g6")")
    [ "$ga" = "$K3" ] && [ "$gb" = "$K3" ] && break
    sleep 1; i=$((i + 1))
done
check "replica A signs with K3 without a signal" "$K3" "$ga"
check "replica B agrees on the active kid" "$K3" "$gb"
grep -q '"cause":"key rotation"' "$DIR/a.log" && grep -q '"cause":"key rotation"' "$DIR/b.log"
check "both replicas logged the reload" 0 $?

# --- retirement (delete): K1's window is made to have passed; a replica's check retires it
L1=$(label_of "$K1")
check "K1 still retiring" retiring "$(state_of "$K1")"
sed -i "/\"kid\": \"$K1\"/,/}/ s/\"retires_at\": [0-9]*/\"retires_at\": 1/" "$H/keys/rotation.json"
i=0
while [ $i -lt 45 ] && [ "$(state_of "$K1")" != retired ]; do sleep 1; i=$((i + 1)); done
check "K1 retired by a replica's step" retired "$(state_of "$K1")"
token_objects | grep -q " $L1 "
check "K1's objects are destroyed in the token" 1 $?
token_objects | grep -q "^private $L2 "
check "K2 (retiring) is still in the token" 0 $?
stop_server; PID=
kill -TERM "$PID_B"; wait "$PID_B" 2>/dev/null; PID_B=
# A replica of its own store serves its key set alone: K1 is no longer published.
start_server "$DIR/c.log" --config "$DIR/c.json" --store "$DIR/fresh.db"
curl -s "$URL/.well-known/jwks.json" > "$DIR/jwks"
grep -q "\"kid\":\"$K1\"" "$DIR/jwks"
check "the retired key is not published" 1 $?
grep -q "\"kid\":\"$K3\"" "$DIR/jwks" && grep -q "\"kid\":\"$K2\"" "$DIR/jwks"
check "the active and the retiring key are" 0 $?
grep '"msg":"listening"' "$DIR/c.log" | grep -q "\"kid\":\"$K3\""
check "a replica started now signs with K3" 0 $?
stop_server; PID=

# --- RSA: the next key is an RSA-2048 key of the token, signing PS256
"$KEYGEN" "$MODULE" ts-rot $PIN rsa rsa2048 02
check "an RSA key generated in the token" 0 $?
mkdir -p "$DIR/h3"
out=$("$TS" keys rotate --config "$DIR/c.json" --home "$DIR/h3" --pkcs11-key-label rsa \
    --alg PS256 --force)
check "keys rotate --force (RSA)" 0 $?
KR=$(printf '%s\n' "$out" | sed -n 's/^active //p')
check "an RSA next key made and promoted" 43 ${#KR}
token_objects rsa | grep -q "^private rsa\.[0-9]* token=1 private=1 sensitive=1 extractable=0 sign=1$"
check "the new RSA key is in the token" 0 $?
start_server "$DIR/r.log" --config "$DIR/c.json" --home "$DIR/h3" --pkcs11-key-label rsa \
    --alg PS256
TR=$(issue "$URL" "$DIR/g8" "$DIR/h3/tokensmith.db")
check "serve signs with the generated RSA key" "$KR" "$(kid_of "$TR")"
grep '"msg":"listening"' "$DIR/r.log" | grep -q '"alg":"PS256"'
check "PS256" 0 $?
jose_ok "node jose verifies the PS256 token" "$TR" "$URL"
stop_server; PID=

# --- a token that cannot generate keys: a clear error, and serve signs on with its key
# A state of its own whose active key's time is up: every step tries to generate.
mkdir -p "$DIR/h2" && (umask 077 && mkdir "$DIR/h2/keys")
cat > "$DIR/h2/keys/rotation.json" <<JSON
{"version": 1, "keys": [{"kid": "$K3", "label": "$(label_of "$K3")", "alg": "ES256",
 "state": "active", "created": 1, "activated": 1}]}
JSON
chmod 600 "$DIR/h2/keys/rotation.json"
TS_P11_NOGEN_MODULE=$MODULE
export TS_P11_NOGEN_MODULE
"$TS" keys rotate --config "$DIR/c.json" --home "$DIR/h2" --pkcs11-module "$NOGEN" 2>"$DIR/e1"
check "keys rotate on a token that cannot generate: exit 1" 1 $?
grep -q 'token .\{0,1\}"ts-rot.\{0,1\}"' "$DIR/e1" && grep -q CKM_EC_KEY_PAIR_GEN "$DIR/e1" &&
    grep -q CKR_FUNCTION_NOT_SUPPORTED "$DIR/e1"
check "the error names the token, the mechanism and the refusal" 0 $?
start_server "$DIR/d.log" --config "$DIR/c.json" --home "$DIR/h2" --pkcs11-module "$NOGEN"
grep '"msg":"key rotation step failed; the current keys stay"' "$DIR/d.log" |
    grep -q CKR_FUNCTION_NOT_SUPPORTED
check "serve logs the refused generation" 0 $?
T4=$(issue "$URL" "$DIR/g7" "$DIR/h2/tokensmith.db")
check "serve signs on with the active key" "$K3" "$(kid_of "$T4")"
jose_ok "node jose verifies it" "$T4" "$URL"
kill -0 "$PID"
check "serve is still running" 0 $?
stop_server; PID=

cat "$DIR"/*.log "$DIR"/e1 | grep -q "$PIN" && { echo "FAIL: the PIN is in a log"; fail=1; }
[ $fail = 0 ] && echo "rotation in a PKCS#11 token: all checks passed"
exit $fail
