#!/bin/sh
# gateway_tls.gateway: `tokensmith gateway` with tls_cert_file, tls_key_file and
# tls_client_ca_file (docs/gateway.md, "TLS"), against real peers and a test CA made here by
# openssl:
#   - a head in one TLS record larger than a read (the rest waits inside the session);
#   - curl checks over HTTPS with the proxy's client certificate (allow 200 with the translated
#     token, no token 401); without a client certificate the handshake is refused
#     (tls_client_auth require); the admin listener over HTTPS without one; TLS 1.1 refused;
#   - node @grpc/grpc-js Check over TLS (ALPN h2) with the client certificate; without it refused;
#   - nginx auth_request to the gateway through `proxy_pass https://` with proxy_ssl_verify and
#     the client certificate (skipped part without nginx);
#   - hostile input (tls_peer.py): a garbage ClientHello and plain HTTP cut at once, a silent
#     connection and a trickled ClientHello cut at limits.request_timeout, while curl is served;
#     the same on the gRPC listener, and h2c to it refused;
#   - --check: the pair loaded, a key without a certificate, a key others may read, a missing
#     client CA bundle refused, naming the setting;
#   - rotation: a new pair renamed into place and SIGHUP during a loop of checks (0 failed, the
#     new serial served after), a connection opened before the reload keeps working on it, a
#     mismatched pair refused and the running one kept, and a pair changed without a signal
#     picked up by the periodic look (TS_COMMON__TLS_CHECK_S);
#   - client CA rotation: tls_client_ca_file replaced and SIGHUP (the new CA's proxy served, the
#     old one refused, a connection opened before keeps working), both CAs by the periodic look,
#     a bundle without a certificate refused with the running CAs kept.
# Skips (77) without openssl, curl, python3, node or its modules.
# usage: gateway_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/gateway/lib.sh"
. "$SRC/tests/gateway/nginx_lib.sh"
for t in openssl curl python3; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t missing"; exit 77; }
done
need_node @grpc/grpc-js @grpc/proto-loader jose
NGINX_DIR=
cleanup_more() { [ -z "$NGINX_PID" ] || stop_nginx; }
HERE=$SRC/tests/gateway_tls
PEER="python3 $HERE/tls_peer.py"

# --- a test CA, server pairs, the proxy's client certificate ------------------------------------
cd "$DIR" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-test-ca -days 2 2>/dev/null || { echo "FAIL: CA"; exit 1; }
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
printf 'extendedKeyUsage=clientAuth\n' >client.ext
# mkcert NAME SERIAL EXT: NAME.pem and NAME.key (mode 0600) signed by the CA
mkcert() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
    chmod 600 "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=tokensmith-$1" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$2" -days 1 \
        -extfile "$3" -out "$1.pem" 2>/dev/null || { echo "FAIL: cert $1"; exit 1; }
}
mkcert one 4097 server.ext   # serial 1001
mkcert two 8194 server.ext   # serial 2002
mkcert three 12291 server.ext # serial 3003
mkcert proxy 20000 client.ext
mkdir -p live
# install NAME: the pair renamed into place, as cert-manager and ACME clients do
install_pair() {
    cp "$1.pem" live/.cert.tmp && cp "$1.key" live/.key.tmp && chmod 600 live/.key.tmp
    mv live/.cert.tmp live/cert.pem && mv live/.key.tmp live/key.pem
}
install_pair one

mkdir -p keys
node "$SRC/tests/gateway/grpc_client.mjs" keys "$DIR/keys" || { echo "FAIL: jose keys"; exit 1; }
TOKEN=$(cat keys/token)
gateway_config gw.json https://tokens.test "file://$DIR/keys/jwks.json" \
    ", \"tls_cert_file\": \"$DIR/live/cert.pem\", \"tls_key_file\": \"$DIR/live/key.pem\",
      \"tls_client_ca_file\": \"$DIR/ca.pem\", \"limits\": {\"request_timeout\": \"2s\"},
      \"http\": {\"original_uri_header\": \"X-Original-URI\",
                 \"original_method_header\": \"X-Original-Method\"},
      \"authz\": {\"mode\": \"enforce\", \"scope_roles\": {\"read\": \"viewer\"},
                 \"routes\": [{\"method\": \"GET\", \"path\": \"/nodes\", \"object\": \"metadata:nodes\"}]}"
start_gateway gw.json || exit 1
grep -q '"msg":"tls".*"tls_serial":"1001"' gateway.log && ok "start: the pair logged (serial 1001)" ||
    { bad "start: no tls line with the serial"; grep tls gateway.log; }

# check [CURL ARGS...]: one check of GET /nodes over HTTPS as the proxy; prints the status
check_https() {
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert ca.pem --cert proxy.pem \
        --key proxy.key -H 'X-Original-URI: /nodes' -H 'X-Original-Method: GET' "$@" \
        "https://localhost:$GW_PORT/check" --resolve "localhost:$GW_PORT:127.0.0.1"
}
served_serial() {
    echo | openssl s_client -connect "127.0.0.1:$1" -servername localhost -CAfile ca.pem \
        -cert proxy.pem -key proxy.key 2>/dev/null | openssl x509 -noout -serial 2>/dev/null |
        sed 's/serial=//'
}

# scrape FILE: the admin listener's /metrics into FILE (its own TLS is libmicrohttpd's, not
# counted with the check listeners'); gw_value FILE SERIES: one sample of it.
scrape() { curl -s -o "$1" -w '%{http_code}' --max-time 10 --cacert ca.pem \
    --resolve "localhost:$GW_ADMIN_PORT:127.0.0.1" "https://localhost:$GW_ADMIN_PORT/metrics"; }
gw_value() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
HC='tokensmith_gateway_tls_handshakes_total{result="completed"}'
HF='tokensmith_gateway_tls_handshakes_total{result="failed"}'
HR='tokensmith_gateway_tls_resumed_handshakes_total'
check "metrics before the curl checks" 200 "$(scrape m0)"

# --- curl -----------------------------------------------------------------------------------------
check "curl: allowed" 200 "$(check_https -H "Authorization: Bearer $TOKEN")"
check "curl: no token" 401 "$(check_https)"
hdr=$(curl -s -D - -o /dev/null --cacert ca.pem --cert proxy.pem --key proxy.key \
    -H 'X-Original-URI: /nodes' -H 'X-Original-Method: GET' -H "Authorization: Bearer $TOKEN" \
    --resolve "localhost:$GW_PORT:127.0.0.1" "https://localhost:$GW_PORT/check")
echo "$hdr" | grep -qi '^authorization: Bearer ' && ok "curl: the translated token came back" ||
    bad "curl: no translated Authorization"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert ca.pem \
    -H 'X-Original-URI: /nodes' --resolve "localhost:$GW_PORT:127.0.0.1" \
    "https://localhost:$GW_PORT/check")
check "curl without a client certificate: refused in the handshake" 000 "$st"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$GW_PORT/check" \
    -H 'X-Original-URI: /nodes')
check "plain HTTP to the TLS port: no answer" 000 "$st"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 --cacert ca.pem \
    --resolve "localhost:$GW_ADMIN_PORT:127.0.0.1" "https://localhost:$GW_ADMIN_PORT/health")
check "admin listener: /health over HTTPS, no client certificate asked" 200 "$st"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$GW_ADMIN_PORT/health")
check "admin listener: plain HTTP refused" 000 "$st"
if echo | openssl s_client -connect "127.0.0.1:$GW_PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -cert proxy.pem -key proxy.key >/dev/null 2>&1; then
    bad "TLS 1.1 accepted"
else
    ok "TLS 1.1 refused"
fi
check "TLS 1.2 served" 200 "$(check_https --tlsv1.2 --tls-max 1.2 -H "Authorization: Bearer $TOKEN")"
# A session kept (TLS 1.3 ticket, read before the answer's close), then resumed with it.
req() { printf 'GET /check HTTP/1.1\r\nHost: localhost\r\nX-Original-URI: /nodes\r\nConnection: close\r\n\r\n'; }
req | openssl s_client -connect "127.0.0.1:$GW_PORT" -servername localhost -CAfile ca.pem \
    -cert proxy.pem -key proxy.key -ign_eof -sess_out sess.pem >full.out 2>&1
req | openssl s_client -connect "127.0.0.1:$GW_PORT" -servername localhost -CAfile ca.pem \
    -cert proxy.pem -key proxy.key -ign_eof -sess_in sess.pem >resumed.out 2>&1
grep -q '^Reused' resumed.out && ok "a session resumed with its ticket" ||
    bad "not resumed: $(grep -i 'new,\|reused' resumed.out)"
sleep 1 # each connection is counted once the gateway has seen it close
check "metrics after the curl checks" 200 "$(scrape m1)"
gw_delta() { echo $(($(gw_value m1 "$1") - $(gw_value m0 "$1"))); }
# completed: allowed, no token, the translated token, TLS 1.2, the two s_client sessions;
# failed: no client certificate, plain HTTP, TLS 1.1 (the admin listener's are not counted)
check "tls handshakes completed" 6 "$(gw_delta "$HC")"
check "tls handshakes failed" 3 "$(gw_delta "$HF")"
check "tls handshakes resumed" 1 "$(gw_delta "$HR")"

# --- grpc-js over TLS ---------------------------------------------------------------------------------
G="node $HERE/grpc_tls_client.mjs $GW_GRPC_PORT $SRC/tokenservice/gateway/proto ca.pem"
out=$($G proxy.pem proxy.key keys/token 3)
check "grpc-js over TLS: three allowed checks" '{"ok":3,"errors":[],"http":"OK","translated":true}' "$out"
out=$($G proxy.pem proxy.key - 1)
check "grpc-js over TLS: no token denied" '{"ok":1,"errors":[],"http":"Unauthorized","translated":false}' "$out"
out=$($G - - keys/token 1)
check "grpc-js without a client certificate: UNAVAILABLE" '{"ok":0,"errors":[14],"http":null,"translated":false}' "$out"

# --- nginx auth_request over HTTPS ----------------------------------------------------------------------
if [ -x "$NGINX_BIN" ]; then
    NGINX_DIR=$DIR/nginx
    mkdir -p "$NGINX_DIR"
    UP=$(nginx_free_port)
    if start_nginx "$NGINX_DIR" "$GW_PORT" "$UP" "$HERE/nginx.conf.in"; then
        body=$(curl -s --max-time 10 -H "Authorization: Bearer $TOKEN" "http://127.0.0.1:$NGINX_PORT/nodes")
        case "$body" in
        "upstream saw: Bearer "*) ok "nginx: auth_request over HTTPS allowed, translated token upstream" ;;
        *) bad "nginx: allowed request: '$body'"; tail -5 "$NGINX_DIR/nginx.log" ;;
        esac
        [ "$body" != "upstream saw: Bearer $TOKEN" ] || bad "nginx: the client's token reached the upstream"
        st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$NGINX_PORT/nodes")
        check "nginx: no token 401" 401 "$st"
        stop_nginx
    else
        bad "nginx did not start"
    fi
elif [ "${TS_REQUIRE_NGINX:-0}" = 1 ]; then
    bad "nginx is required (TS_REQUIRE_NGINX=1) but not installed"
else
    echo "skip: nginx not installed (its part only)"
fi

# A 9 KiB head in one TLS record: more than the first read takes, the rest decrypted inside the
# session with nothing left on the socket; answered at once, not at the deadline.
out=$($PEER bighead "$GW_PORT" ca.pem proxy.pem proxy.key keys/token)
case "$out" in
"200 0."*) ok "a head larger than one read, in one record: answered at once ($out)" ;;
*) bad "a head in one large record: '$out'" ;;
esac

# --- hostile TLS input while others are served ---------------------------------------------------------
$PEER hostile "$GW_PORT" >hostile.out &
HP=$!
sleep 0.3
served=0
for _ in 1 2 3 4 5; do
    [ "$(check_https -H "Authorization: Bearer $TOKEN")" = 200 ] && served=$((served + 1))
done
wait $HP
check "checks served while hostile connections are open" 5 "$served"
cat hostile.out
# case seconds bytes: a garbage ClientHello and plain HTTP cut at once without an HTTP answer;
# random bytes at once or at the deadline; the silent and trickled ones at the 2 s request
# timeout (scanned every 100 ms), not before
awk '$1 == "garbage" && $2 < 1.5 && $3 < 64 {g=1} $1 == "plain_http" && $2 < 1.5 && $3 < 64 {p=1}
     $1 == "random" && $2 < 5 && $3 < 64 {r=1}
     $1 == "silent" && $2 >= 1.5 && $2 < 5 {s=1} $1 == "trickle" && $2 >= 1.5 && $2 < 5 {t=1}
     END {exit !(g && r && p && s && t)}' hostile.out && ok "hostile connections cut in time" ||
    bad "hostile connections: $(tr '\n' ';' <hostile.out)"

# the same on the gRPC listener (its handshake runs in the connection's thread); h2c refused
$PEER hostile "$GW_GRPC_PORT" >hostile_grpc.out
cat hostile_grpc.out
awk '$1 == "garbage" && $2 < 1.5 && $3 < 64 {g=1} $1 == "random" && $2 < 5 && $3 < 64 {r=1}
     $1 == "silent" && $2 >= 1.5 && $2 < 5 {s=1} $1 == "trickle" && $2 >= 1.5 && $2 < 5 {t=1}
     END {exit !(g && r && s && t)}' hostile_grpc.out && ok "gRPC listener: hostile connections cut in time" ||
    bad "gRPC listener, hostile connections: $(tr '\n' ';' <hostile_grpc.out)"
st=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 --http2-prior-knowledge \
    "http://127.0.0.1:$GW_GRPC_PORT/envoy.service.auth.v3.Authorization/Check")
check "h2c to the TLS gRPC port: no answer" 000 "$st"

# --- rotation: SIGHUP during a loop of checks ---------------------------------------------------------
rm -f go
$PEER keepalive "$GW_PORT" ca.pem proxy.pem proxy.key keys/token go >keepalive.out &
KP=$!
(for _ in $(seq 1 60); do check_https -H "Authorization: Bearer $TOKEN"; echo; done) >loop.out &
LP=$!
sleep 1
install_pair two
kill -HUP "$GW_PID"
wait $LP
touch go
wait $KP
total=$(grep -c . loop.out)
failed=$(grep -vc '^200$' loop.out)
check "reload during 60 checks: all answered" 60 "$total"
check "reload during 60 checks: none failed" 0 "$failed"
check "after SIGHUP: the new serial is served" 2002 "$(served_serial "$GW_PORT")"
check "after SIGHUP: the gRPC listener serves it" 2002 "$(served_serial "$GW_GRPC_PORT")"
check "after SIGHUP: the admin listener serves it" 2002 "$(served_serial "$GW_ADMIN_PORT")"
check "a connection opened before the reload: both checks on it, old certificate" "200 200 1001" \
    "$(cat keepalive.out)"
grep -q '"msg":"tls certificate reloaded".*"tls_serial":"2002"' gateway.log &&
    ok "the reload is logged with the new serial" || bad "no reload line"

# --- a bad pair is refused, the running one kept --------------------------------------------------------
cp three.pem live/.cert.tmp && mv live/.cert.tmp live/cert.pem # the key stays two's
kill -HUP "$GW_PID"
sleep 1
grep -q '"msg":"tls reload failed: the running certificate is kept"' gateway.log &&
    ok "mismatched pair: refusal logged" || bad "mismatched pair: no refusal logged"
check "mismatched pair: the running one still served" 2002 "$(served_serial "$GW_PORT")"
check "mismatched pair: checks still answered" 200 "$(check_https -H "Authorization: Bearer $TOKEN")"

# --- the periodic look: three's key arrives, no signal --------------------------------------------------
cp three.key live/.key.tmp && chmod 600 live/.key.tmp && mv live/.key.tmp live/key.pem
i=0
while [ $i -lt 30 ] && [ "$(served_serial "$GW_PORT")" != 3003 ]; do
    sleep 1
    i=$((i + 1))
done
check "file change without a signal: picked up within the look" 3003 "$(served_serial "$GW_PORT")"
check "after the look: checks answered" 200 "$(check_https -H "Authorization: Bearer $TOKEN")"

# --- client CA rotation: the proxies move to a new CA -------------------------------------------------
# ca.pem is tls_client_ca_file; the servers' certificates stay verified against ca1.pem.
cp ca.pem ca1.pem
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca2.key \
    -out ca2.pem -subj /CN=tokensmith-test-ca-2 -days 2 2>/dev/null || bad "CA 2"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out proxy2.key 2>/dev/null
openssl req -new -key proxy2.key -subj /CN=tokensmith-proxy2 -out proxy2.csr 2>/dev/null
openssl x509 -req -in proxy2.csr -CA ca2.pem -CAkey ca2.key -set_serial 30000 -days 1 \
    -extfile client.ext -out proxy2.pem 2>/dev/null || bad "proxy 2 certificate"
as_proxy() { # CERT: a check as that proxy, the server verified against ca1.pem
    check_https --cacert ca1.pem --cert "$1.pem" --key "$1.key" -H "Authorization: Bearer $TOKEN"
}
check "before the rotation: proxy 2 refused" 000 "$(as_proxy proxy2)"
rm -f go2
$PEER keepalive "$GW_PORT" ca1.pem proxy.pem proxy.key keys/token go2 >keepalive2.out &
KP=$!
sleep 1
cp ca2.pem .ca.tmp && mv .ca.tmp ca.pem
kill -HUP "$GW_PID"
sleep 1
touch go2
wait $KP
check "after the CA reload: proxy 2 served" 200 "$(as_proxy proxy2)"
check "after the CA reload: the old proxy refused in the handshake" 000 "$(as_proxy proxy)"
check "a connection of the old proxy opened before the CA reload keeps working" "200 200 3003" \
    "$(cat keepalive2.out)"
grep -q '"msg":"tls client CAs reloaded".*"tls_client_cas":1' gateway.log &&
    ok "the CA reload is logged with the CA count" || bad "no CA reload line"
# Both CAs, by the periodic look (no signal).
cat ca1.pem ca2.pem >.ca.tmp && mv .ca.tmp ca.pem
i=0
while [ $i -lt 30 ] && [ "$(as_proxy proxy)" != 200 ]; do
    sleep 1
    i=$((i + 1))
done
check "both CAs by the look: the old proxy served again" 200 "$(as_proxy proxy)"
check "both CAs by the look: proxy 2 still served" 200 "$(as_proxy proxy2)"
grep -q '"msg":"tls client CAs reloaded".*"tls_client_cas":2' gateway.log &&
    ok "the look's CA reload is logged (2 CAs)" || bad "no CA reload line for 2 CAs"
# A bundle without a certificate is refused; the running CAs stay.
echo "not a certificate" >.ca.tmp && mv .ca.tmp ca.pem
kill -HUP "$GW_PID"
sleep 1
grep -q '"msg":"tls client CA reload failed: the running CAs are kept".*tls_client_ca_file' \
    gateway.log && ok "a bad CA bundle: refusal logged, naming the setting" ||
    bad "a bad CA bundle: no refusal logged"
check "a bad CA bundle: proxy 2 still served" 200 "$(as_proxy proxy2)"
check "a bad CA bundle: the old proxy still served" 200 "$(as_proxy proxy)"

stop_gateway
check "the gateway's exit status" 0 "$GW_RC"

# --- --check loads the pair as a run would ------------------------------------------------------------
tls_check() { # NAME EXTRA: --check's exit status, its output in check.out
    gateway_config "$1.json" https://tokens.test "file://$DIR/keys/jwks.json" "$2"
    "$TS" gateway --config "$1.json" --check >check.out 2>&1
}
tls_check ok ", \"tls_cert_file\": \"$DIR/live/cert.pem\", \"tls_key_file\": \"$DIR/live/key.pem\""
check "--check with the pair" 0 $?
tls_check nokey ", \"tls_cert_file\": \"$DIR/live/cert.pem\""
check "--check: tls_cert_file without tls_key_file" 1 $?
grep -q 'both or neither' check.out || bad "no 'both or neither': $(cat check.out)"
cp live/key.pem loose.key && chmod 644 loose.key
tls_check loose ", \"tls_cert_file\": \"$DIR/live/cert.pem\", \"tls_key_file\": \"$DIR/loose.key\""
check "--check: a key file others may read" 1 $?
grep -q 'tls_key_file' check.out || bad "the loose key's error names no setting: $(cat check.out)"
tls_check noca ", \"tls_cert_file\": \"$DIR/live/cert.pem\", \"tls_key_file\": \"$DIR/live/key.pem\",
    \"tls_client_ca_file\": \"$DIR/no-such-ca.pem\""
check "--check: a client CA file that does not exist" 1 $?
grep -q 'tls_client_ca_file' check.out || bad "the CA's error names no setting: $(cat check.out)"
if grep -qF "$TOKEN" gateway.log; then bad "the gateway logged a token"; else ok "no token in the log"; fi
finish
