#!/bin/sh
# gateway_tls.pkcs11: `tokensmith gateway` with its TLS key inside a PKCS#11 token (SoftHSM2, a
# token of this test's own): tls_key_file is a pkcs11: URI with module-path and
# pin-source=file: (docs/gateway.md, "TLS"). An EC key and two certificates for it made by
# openssl, the key imported into the token and deleted from disk. Checked: the HTTP check
# listener, the gRPC listener and the admin listener serve HTTPS with the token's key (curl,
# openssl s_client); a new certificate for the same key is served after SIGHUP; the PIN is in
# no log.
# usage: pkcs11_test.sh TOKENSMITH SOURCE_DIR
# Exit 77 (skipped) without SoftHSM2, openssl, curl or node's jose, unless TS_REQUIRE_SOFTHSM=1.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
MODULE=/usr/lib/softhsm/libsofthsm2.so
if [ ! -r "$MODULE" ] || ! command -v softhsm2-util >/dev/null 2>&1 ||
    ! command -v openssl >/dev/null 2>&1 || ! command -v curl >/dev/null 2>&1; then
    if [ "${TS_REQUIRE_SOFTHSM:-0}" = 1 ]; then
        echo "FAIL: SoftHSM2 is required (TS_REQUIRE_SOFTHSM=1) but $MODULE is absent"; exit 1
    fi
    echo "skip: SoftHSM2, openssl or curl is not installed"; exit 77
fi
. "$SRC/tests/gateway/lib.sh"
need_node jose

cd "$DIR" || exit 1
mkdir -p tokens
printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
    "$DIR" >softhsm2.conf
SOFTHSM2_CONF=$DIR/softhsm2.conf
export SOFTHSM2_CONF
PIN=gw-tls-Pin-52k
softhsm2-util --init-token --free --label gw-tls --so-pin 1234 --pin $PIN >/dev/null
check "token initialised" 0 $?
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-test-ca -days 2 2>/dev/null || { echo "FAIL: CA"; exit 1; }
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >san.ext
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out hsm.key 2>/dev/null
for c in first:4097 second:8194; do
    openssl req -new -key hsm.key -subj "/CN=gateway-${c%%:*}" -out c.csr 2>/dev/null
    openssl x509 -req -in c.csr -CA ca.pem -CAkey ca.key -set_serial "${c#*:}" -days 1 \
        -extfile san.ext -out "${c%%:*}.pem" 2>/dev/null || { echo "FAIL: cert $c"; exit 1; }
done
openssl pkcs8 -topk8 -nocrypt -in hsm.key -out hsm.p8
softhsm2-util --import hsm.p8 --token gw-tls --label gw-key --id 01 --pin $PIN >/dev/null
check "the key imported into the token" 0 $?
rm -f hsm.key hsm.p8 # from here on the key exists in the token only
(umask 077 && printf '%s\n' $PIN >pin)
cp first.pem cert.pem
MOD=$(printf '%s' "$MODULE" | sed 's/ /%20/g')
URI="pkcs11:token=gw-tls;object=gw-key;type=private?module-path=$MOD&pin-source=file:$DIR/pin"

mkdir -p keys
node "$SRC/tests/gateway/grpc_client.mjs" keys "$DIR/keys" || { echo "FAIL: jose keys"; exit 1; }
gateway_config gw.json https://tokens.test "file://$DIR/keys/jwks.json" \
    ", \"tls_cert_file\": \"$DIR/cert.pem\", \"tls_key_file\": \"$URI\""
start_gateway gw.json || exit 1
served_serial() {
    echo | openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile ca.pem \
        2>/dev/null | openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//'
}
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert ca.pem \
    --resolve "localhost:$GW_PORT:127.0.0.1" "https://localhost:$GW_PORT/nodes")
check "HTTP check listener with the token's key: a check answered (no token: 401)" 401 "$st"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert ca.pem \
    --resolve "localhost:$GW_ADMIN_PORT:127.0.0.1" "https://localhost:$GW_ADMIN_PORT/health")
check "admin listener with the token's key" 200 "$st"
check "gRPC listener with the token's key" 1001 "$(served_serial "$GW_GRPC_PORT")"
grep -q '"msg":"tls".*"tls_serial":"1001"' gateway.log && ok "the pair logged" ||
    bad "no tls line: $(grep tls gateway.log)"
cp second.pem .c && mv .c cert.pem
kill -HUP "$GW_PID"
i=0
while [ $i -lt 50 ] && [ "$(served_serial "$GW_PORT")" != 2002 ]; do sleep 0.1; i=$((i + 1)); done
check "SIGHUP: a new certificate for the token's key served" 2002 "$(served_serial "$GW_PORT")"
stop_gateway
check "the gateway's exit status" 0 "$GW_RC"
grep -q "$PIN" gateway.log && bad "the PIN is in the log" || ok "no PIN in the log"
finish
