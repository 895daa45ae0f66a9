#!/bin/sh
# tls.pkcs11: `tokensmith serve` with its TLS key inside a PKCS#11 token (SoftHSM2, a token of
# this test's own): tlsKeyFile is a pkcs11: URI (docs/configuration.md "TLS"). An EC key and
# its certificate made by openssl, the key imported into the token (softhsm2-util --import).
# Checked:
#   - HTTPS with the token's key: curl /health, the serial and key type in the log; the module
#     from the URI's module-path, or from the pkcs11Module setting; the PIN from
#     pin-source=file: and from pin-source=env:;
#   - reload: a new certificate for the same token key (new serial) taken on SIGHUP; a
#     certificate of another key refused, the current one kept; requests answered throughout;
#   - refused at start, naming tlsKeyFile: a PIN in the URI (pin-value), a wrong PIN, an object
#     the token does not hold, no module, a PIN file others may read;
#   - the PIN is in no log.
#   - the signing key in the same token (keyBackend pkcs11, given P11_KEYGEN): both keys used by
#     one process, a token exchange signed while TLS handshakes sign too;
# usage: pkcs11_test.sh TOKENSMITH SOURCE_DIR [P11_KEYGEN [MODULE]]
# Exit 77 (skipped) without SoftHSM2 or openssl, unless TS_REQUIRE_SOFTHSM=1.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
KEYGEN=${3:-}
MODULE=${4:-/usr/lib/softhsm/libsofthsm2.so}
if [ ! -r "$MODULE" ] || ! command -v softhsm2-util >/dev/null 2>&1 ||
    ! command -v openssl >/dev/null 2>&1; then
    if [ "${TS_REQUIRE_SOFTHSM:-0}" = 1 ]; then
        echo "FAIL: SoftHSM2 is required (TS_REQUIRE_SOFTHSM=1) but $MODULE is absent"; exit 1
    fi
    echo "skip: SoftHSM2 or openssl is not installed"; exit 77
fi
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, check, ...
bad() { echo "FAIL: $1"; fail=1; }

cd "$DIR" || exit 1
mkdir -p tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$DIR" >softhsm2.conf
SOFTHSM2_CONF=$DIR/softhsm2.conf
export SOFTHSM2_CONF
PIN=tls-Pin-83q
softhsm2-util --init-token --free --label tls-test --so-pin 1234 --pin $PIN >/dev/null
check "token initialised" 0 $?
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-test-ca -days 2 2>/dev/null || { echo "FAIL: CA"; exit 1; }
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >san.ext
# leaf KEYNAME CERTNAME SERIAL: a certificate CERTNAME.pem for the key KEYNAME.key
leaf() {
    [ -f "$1.key" ] || openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -out "$1.key" 2>/dev/null
    openssl req -new -key "$1.key" -subj "/CN=tokensmith-$2" -out "$2.csr" 2>/dev/null
    openssl x509 -req -in "$2.csr" -CA ca.pem -CAkey ca.key -set_serial "$3" -days 1 \
        -extfile san.ext -out "$2.pem" 2>/dev/null || { echo "FAIL: cert $2"; exit 1; }
}
leaf hsm first 4097
leaf hsm second 8194
leaf other stranger 12291
openssl pkcs8 -topk8 -nocrypt -in hsm.key -out hsm.p8
softhsm2-util --import hsm.p8 --token tls-test --label tls-key --id 01 --pin $PIN >/dev/null
check "the key imported into the token" 0 $?
rm -f hsm.key hsm.p8 # from here on the key exists in the token only
(umask 077 && printf '%s\n' $PIN >pin)
cp first.pem cert.pem
export CURL_CA_BUNDLE="$DIR/ca.pem"
URI="pkcs11:token=tls-test;object=tls-key;type=private"
MOD=$(printf '%s' "$MODULE" | sed 's/ /%20/g')
COMMON="--home $DIR/home --connection-timeout 3 --request-head-timeout 3 --tls-cert-file $DIR/cert.pem"

# --- refusals at start ---------------------------------------------------------------------
refused() { # NAME WANT KEY [ARGS...]
    name=$1; want=$2; key=$3; shift 3
    # shellcheck disable=SC2086
    timeout 30 "$TS" serve --listen 127.0.0.1:0 $COMMON --tls-key-file "$key" "$@" \
        >/dev/null 2>"$DIR/refused.err"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$want" "$DIR/refused.err" &&
        grep -q tlsKeyFile "$DIR/refused.err"; then
        echo "ok: refused: $name: $(grep -o "$want.*" "$DIR/refused.err" | head -c 140)"
    else
        bad "refused: $name: exit $rc, want '$want' and tlsKeyFile in: $(cat "$DIR/refused.err")"
    fi
    grep -q "$PIN\|wrong-Pin-11" "$DIR/refused.err" && bad "refused: $name: the PIN is in the message"
}
refused "a PIN in the URI" "pin-value is refused" "$URI?module-path=$MOD&pin-value=$PIN"
(umask 077 && echo wrong-Pin-11 >wrong.pin)
refused "a wrong PIN" "cannot open the key" "$URI?module-path=$MOD&pin-source=file:$DIR/wrong.pin"
refused "an object the token lacks" "cannot open the key" \
    "pkcs11:token=tls-test;object=nope?module-path=$MOD&pin-source=file:$DIR/pin"
refused "no module" "names no module" "$URI?pin-source=file:$DIR/pin"
cp pin open.pin && chmod 644 open.pin
refused "a PIN file others may read" "chmod 600" "$URI?module-path=$MOD&pin-source=file:$DIR/open.pin"
refused "a certificate of another key" "is not the key of the certificate" \
    "$URI?module-path=$MOD&pin-source=file:$DIR/pin" --tls-cert-file "$DIR/stranger.pem"

# --- serve with the token's key (module-path in the URI, PIN from a file) ------------------
serial() {
    echo | openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//'
}
# shellcheck disable=SC2086
start_server "$DIR/s.log" $COMMON --tls-key-file "$URI?module-path=$MOD&pin-source=file:$DIR/pin"
URL=https://127.0.0.1:$PORT
check "health over https, key in the token" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")"
grep '"msg":"listening"' "$DIR/s.log" | grep -q '"tls_key_type":"EC' &&
    echo "ok: the listening line names an EC key" || bad "key type: $(grep listening "$DIR/s.log")"
check "serial at start" 1001 "$(serial)"
: >"$DIR/load.codes"
(
    while :; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$URL/health" >>"$DIR/load.codes"
    done
) &
LOAD_PID=$!
cleanup_more() { [ -n "${LOAD_PID:-}" ] && kill "$LOAD_PID" 2>/dev/null; LOAD_PID=; }
sleep 1
# A renewed certificate of the same token key.
cp second.pem cert.new && mv cert.new cert.pem
kill -HUP "$PID"
i=0
while [ "$(serial)" != 2002 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
check "serial after a renewed certificate + SIGHUP" 2002 "$(serial)"
grep -q '"msg":"TLS certificate reloaded".*"changed":true' "$DIR/s.log" ||
    bad "no reload line: $(grep TLS "$DIR/s.log")"
# A certificate of a key the token does not hold: refused, the current one stays.
cp stranger.pem cert.new && mv cert.new cert.pem
kill -HUP "$PID"
sleep 1
check "serial after a certificate of another key" 2002 "$(serial)"
grep -q '"msg":"TLS certificate reload refused; the current one stays".*is not the key' \
    "$DIR/s.log" && echo "ok: the stranger's certificate is logged as refused" ||
    bad "no refusal line: $(grep TLS "$DIR/s.log")"
sleep 1
kill "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
LOAD_PID=
total=$(wc -l <"$DIR/load.codes")
failed=$(grep -vc '^200$' "$DIR/load.codes")
echo "timing: $total requests during the reloads, $failed failed"
[ "$total" -gt 5 ] || bad "the load loop made only $total requests"
check "failed requests during the reloads" 0 "$failed"
stop_server
cp second.pem cert.pem

# --- the module from pkcs11Module, the PIN from a variable ----------------------------------
export TLS_TEST_PIN=$PIN
# shellcheck disable=SC2086
start_server "$DIR/s2.log" $COMMON --pkcs11-module "$MODULE" \
    --tls-key-file "$URI?pin-source=env:TLS_TEST_PIN"
check "health, module from pkcs11Module, PIN from env" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "https://127.0.0.1:$PORT/health")"
stop_server
unset TLS_TEST_PIN

# --- the signing key in the same token ---------------------------------------------------------
if [ -n "$KEYGEN" ]; then
    "$KEYGEN" "$MODULE" tls-test "$PIN" sign-key ec256 02
    check "a signing key generated in the token" 0 $?
    cat >"$DIR/both.json" <<JSON
{"keyBackend": "pkcs11", "pkcs11Module": "$MODULE", "pkcs11TokenLabel": "tls-test",
 "pkcs11KeyLabel": "sign-key", "pkcs11PinFile": "$DIR/pin"}
JSON
    # shellcheck disable=SC2086
    start_server "$DIR/s3.log" $COMMON --store "$DIR/ts.db" --config "$DIR/both.json" \
        --tls-key-file "$URI?pin-source=file:$DIR/pin"
    URL=https://127.0.0.1:$PORT
    grep '"msg":"listening"' "$DIR/s3.log" | grep -q '"alg":"ES256".*"tls_key_type":"EC\|"tls_key_type":"EC.*"alg":"ES256"' &&
        echo "ok: signing and TLS keys both from the token" || bad "listening: $(grep listening "$DIR/s3.log")"
    check "exchange signed in the token, over TLS from the token" 200 \
        "$(exchange "$(create_token "$DIR/ts.db")" "$DIR/ex.json")"
    grep -q '"access_token"' "$DIR/ex.json" || bad "no access_token: $(cat "$DIR/ex.json")"
    check "serial with both keys in the token" 2002 "$(serial)"
    stop_server
    grep -q "$PIN" "$DIR/s3.log" && bad "the PIN is in the log"
else
    echo "note: no P11_KEYGEN: the signing key in the same token is not tested"
fi
grep -q "$PIN" "$DIR/s.log" "$DIR/s2.log" && bad "the PIN is in a log"
[ $fail -eq 0 ] && echo "PASS" || { echo "--- log"; tail -n 20 "$DIR/s.log"; }
exit $fail
