#!/bin/sh
# tls.serve: `tokensmith serve` speaking HTTPS itself (tlsCertFile, tlsKeyFile; docs/
# configuration.md "TLS"), with a test CA and server certificates made here by openssl (SAN
# IP:127.0.0.1 and DNS:localhost). Checked:
#   - refused at start, naming the setting: a certificate without its key (exit 2, before
#     anything is created), a key for another certificate, a key file group or others may read,
#     a missing certificate file, a chain out of order, a key in place of the certificate;
#   - curl --cacert: /health and a bootstrap-token exchange over HTTPS, the derived issuer is
#     https://; node's `https` (keep-alive: the second request reuses the connection);
#     TLS 1.2 and 1.3 both work;
#   - refused cleanly: plain HTTP to the TLS port, a client offering TLS 1.1 at most, a
#     TLS 1.2 CBC-only client;
#   - reload with a loop of requests running: new files plus SIGHUP (new serial at once), new
#     files alone (found by the periodic check), a pair whose key is not the certificate's
#     (refused, logged, the previous certificate stays), a keep-alive connection opened before
#     the reloads still answering after them: zero failed requests;
#   - hostile input: random bytes as a ClientHello, a client that connects and sends nothing,
#     a ClientHello header that never finishes: each closed within the connection timeout,
#     while another client is answered at once;
#   - no private key material in the log; with a thread per connection, a chain with an
#     intermediate CA is served (the client trusts the root only).
# Timings are printed. Skips (77) without openssl or node.
# usage: tls_test.sh TOKENSMITH SOURCE_DIR NODE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${3:-node}
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl missing"; exit 77; }
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node missing"; exit 77; }
LOAD_PID=
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, post, check, exchange, ...
cleanup_more() { [ -n "$LOAD_PID" ] && kill "$LOAD_PID" 2>/dev/null; LOAD_PID=; }
CLIENT="$SRC/tests/tls/client.mjs"
now_ms() { date +%s%3N; }
bad() { echo "FAIL: $1"; fail=1; }

# --- a test CA and server certificates -----------------------------------------------------
cd "$DIR" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-test-ca -days 2 2>/dev/null || { echo "FAIL: CA"; exit 1; }
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >san.ext
# mkcert NAME SERIAL [rsa]: NAME.pem (leaf) and NAME.key (mode 0600) signed by the CA
mkcert() {
    if [ "${3:-}" = rsa ]; then
        openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$1.key" 2>/dev/null
    else
        openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
    fi
    chmod 600 "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=tokensmith-$1" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$2" -days 1 \
        -extfile san.ext -out "$1.pem" 2>/dev/null || { echo "FAIL: cert $1"; exit 1; }
}
# An intermediate CA and a leaf it signs: chain.pem is leaf then intermediate, as served.
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout int.key -out int.csr \
    -subj /CN=tokensmith-test-intermediate 2>/dev/null
printf 'basicConstraints=critical,CA:true\nkeyUsage=critical,keyCertSign\n' >int.ext
openssl x509 -req -in int.csr -CA ca.pem -CAkey ca.key -set_serial 7 -days 1 -extfile int.ext \
    -out int.pem 2>/dev/null || { echo "FAIL: intermediate"; exit 1; }
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out chained.key 2>/dev/null
chmod 600 chained.key
openssl req -new -key chained.key -subj /CN=tokensmith-chained -out chained.csr 2>/dev/null
openssl x509 -req -in chained.csr -CA int.pem -CAkey int.key -set_serial 20485 -days 1 \
    -extfile san.ext -out chained.pem 2>/dev/null || { echo "FAIL: chained leaf"; exit 1; }
cat chained.pem int.pem >chain.pem
cat int.pem chained.pem >chain-reversed.pem
mkcert one 4097
mkcert two 8194 rsa
mkcert three 12291
mkcert other 16388
export CURL_CA_BUNDLE="$DIR/ca.pem" # every curl below verifies the server against the test CA
mkdir -p home live
cp one.pem live/cert.pem && cp one.key live/key.pem && chmod 600 live/key.pem
SERVE="--home $DIR/home --store $DIR/ts.db --connection-timeout 3 --request-head-timeout 3"

# --- refusals at start ---------------------------------------------------------------------
# refused NAME WANT-IN-STDERR ARGS...: serve must exit non-zero at once, saying WANT
refused() {
    name=$1; want=$2; shift 2
    # shellcheck disable=SC2086
    timeout 20 "$TS" serve --listen 127.0.0.1:0 $SERVE "$@" >/dev/null 2>"$DIR/refused.err"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$want" "$DIR/refused.err"; then
        echo "ok: refused: $name (exit $rc): $(grep -o "$want.*" "$DIR/refused.err" | head -c 160)"
    else
        bad "refused: $name: exit $rc, want '$want' in: $(cat "$DIR/refused.err")"
    fi
}
refused "certificate without key" "tlsKeyFile" --tls-cert-file "$DIR/one.pem"
refused "key without certificate" "tlsCertFile" --tls-key-file "$DIR/one.key"
refused "key of another certificate" "is not the key of the certificate" \
    --tls-cert-file "$DIR/one.pem" --tls-key-file "$DIR/other.key"
cp one.key open.key && chmod 644 open.key
refused "key file mode 0644" "chmod 600" --tls-cert-file "$DIR/one.pem" --tls-key-file "$DIR/open.key"
refused "missing certificate file" "cannot open" --tls-cert-file "$DIR/nope.pem" \
    --tls-key-file "$DIR/one.key"
refused "chain out of order" "not in order" --tls-cert-file "$DIR/chain-reversed.pem" \
    --tls-key-file "$DIR/chained.key"
refused "a key as the certificate" "tlsCertFile" --tls-cert-file "$DIR/one.key" \
    --tls-key-file "$DIR/one.key"

# --- serve over HTTPS (the variables, as the Go original takes them) -----------------------
export TOKENSMITH_TLS_CERT_FILE="$DIR/live/cert.pem" TOKENSMITH_TLS_KEY_FILE="$DIR/live/key.pem"
# shellcheck disable=SC2086
start_server "$DIR/serve.log" $SERVE
unset TOKENSMITH_TLS_CERT_FILE TOKENSMITH_TLS_KEY_FILE
URL=https://127.0.0.1:$PORT
grep -q '"msg":"listening".*"tls":true' "$DIR/serve.log" && echo "ok: listening line says tls" ||
    bad "listening line: $(grep listening "$DIR/serve.log")"
check "health over https (127.0.0.1)" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")"
check "health over https (localhost)" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "https://localhost:$PORT/health")"
# /metrics says when the certificate in use expires (the leaf's notAfter, Unix time).
want=$(date -d "$(openssl x509 -in "$DIR/live/cert.pem" -noout -enddate | cut -d= -f2)" +%s)
check "metrics: the certificate's expiry" "$want" \
    "$(curl -s "$URL/metrics" | sed -n 's/^tokensmith_tls_certificate_not_after_seconds \([0-9]*\)$/\1/p')"
check "derived issuer" "https://127.0.0.1:$PORT" \
    "$(curl -s "$URL/.well-known/openid-configuration" | sed -n 's/.*"issuer": *"\([^"]*\)".*/\1/p')"
for v in 1.2 1.3; do
    check "TLS $v client" 200 "$(curl -s -o /dev/null -w '%{http_code}' --tlsv$v --tls-max $v "$URL/health")"
done
TOK=$(create_token "$DIR/ts.db")
[ -n "$TOK" ] || bad "bootstrap-token create"
check "bootstrap exchange over https" 200 "$(exchange "$TOK" "$DIR/ex.json")"
grep -q '"access_token"' "$DIR/ex.json" || bad "no access_token: $(cat "$DIR/ex.json")"
"$NODE" "$CLIENT" https "$PORT" "$DIR/ca.pem" >"$DIR/node.json" 2>"$DIR/node.err"
echo "node https: $(cat "$DIR/node.json")"
check "node https /health" 200 "$(json_field "$DIR/node.json" health)"
check "node keep-alive reuse" true "$(json_field "$DIR/node.json" reused)"
check "node serial (one)" 1001 "$(json_field "$DIR/node.json" serial)"

# --- refused cleanly -----------------------------------------------------------------------
t0=$(now_ms)
code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 10 "http://127.0.0.1:$PORT/health")
rc=$?
t1=$(now_ms)
[ "$code" = 000 ] && [ $rc -ne 0 ] && [ $((t1 - t0)) -lt 5000 ] &&
    echo "ok: plain HTTP to the TLS port fails (curl exit $rc, $((t1 - t0)) ms)" ||
    bad "plain HTTP: code $code, curl exit $rc, $((t1 - t0)) ms"
# The client offers TLS 1.1 at most (SECLEVEL=0 lets OpenSSL offer it at all).
echo | openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -CAfile ca.pem >"$DIR/tls11.out" 2>&1
# It did send its ClientHello (else the check proves nothing), and no cipher was agreed.
sent=$(sed -n 's/.*SSL handshake has read \([0-9]*\) bytes and written \([0-9]*\) bytes.*/\2/p' \
    "$DIR/tls11.out")
if [ "${sent:-0}" -gt 0 ] && grep -q 'Cipher is (NONE)' "$DIR/tls11.out"; then
    echo "ok: TLS 1.1 client refused (its ClientHello: $sent bytes; no session)"
else
    bad "TLS 1.1: $(grep 'Cipher is\|handshake has' "$DIR/tls11.out")"
fi
echo | openssl s_client -connect "127.0.0.1:$PORT" -tls1_2 -cipher ECDHE-ECDSA-AES128-SHA \
    -CAfile ca.pem >"$DIR/cbc.out" 2>&1
grep -q 'Cipher is ECDHE-ECDSA-AES128-SHA' "$DIR/cbc.out" && bad "a CBC cipher was accepted" ||
    echo "ok: CBC-only TLS 1.2 client refused"
check "health after the refusals" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")"

# --- reload under load ---------------------------------------------------------------------
serial() { # the serial the server presents to a new handshake (hex, upper case)
    echo | openssl s_client -connect "127.0.0.1:$PORT" -servername localhost -CAfile ca.pem \
        2>/dev/null | openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//'
}
# install NAME [KEYNAME]: the files replaced as cert-manager and ACME clients do (rename into
# place), the key first
install_pair() {
    cp "${2:-$1}.key" live/key.new && chmod 600 live/key.new && mv live/key.new live/key.pem
    cp "$1.pem" live/cert.new && mv live/cert.new live/cert.pem
}
check "serial at start" 1001 "$(serial)"
: >"$DIR/load.codes"
(
    while :; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$URL/health" >>"$DIR/load.codes"
    done
) &
LOAD_PID=$!
# A keep-alive connection opened before the reloads: one request a second for 25 s.
curl -s -o /dev/null -w '%{http_code} %{num_connects}\n' --rate 1/s --max-time 60 \
    "$URL/health?[1-25]" >"$DIR/keepalive.out" 2>&1 &
KA_PID=$!
sleep 2
t0=$(now_ms)
install_pair two
kill -HUP "$PID"
i=0
while [ "$(serial)" != 2002 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
t1=$(now_ms)
check "serial after new files + SIGHUP" 2002 "$(serial)"
echo "timing: SIGHUP reload visible after $((t1 - t0)) ms"
grep -q '"msg":"TLS certificate reloaded".*"cause":"SIGHUP".*"changed":true' "$DIR/serve.log" ||
    bad "no reload line: $(grep TLS "$DIR/serve.log")"
t0=$(now_ms)
install_pair three
i=0
while [ "$(serial)" != 3003 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
t1=$(now_ms)
check "serial after new files alone (periodic check)" 3003 "$(serial)"
echo "timing: file change picked up after $((t1 - t0)) ms (check every 10 s)"
# A bad pair: the certificate "one" with the key of "other".
install_pair one other
kill -HUP "$PID"
sleep 1
check "serial after a mismatched pair + SIGHUP" 3003 "$(serial)"
grep -q '"msg":"TLS certificate reload refused; the current one stays".*is not the key' \
    "$DIR/serve.log" && echo "ok: the mismatched pair is logged as refused" ||
    bad "no refusal line: $(grep TLS "$DIR/serve.log")"
sleep 11 # the periodic check sees the changed files too: still refused
check "serial after the periodic check of the bad pair" 3003 "$(serial)"
wait "$KA_PID"
kill "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
LOAD_PID=
total=$(wc -l <"$DIR/load.codes")
failed=$(grep -vc '^200$' "$DIR/load.codes")
echo "timing: $total requests in the load loop during the reloads, $failed failed"
[ "$total" -gt 20 ] || bad "load loop made only $total requests"
check "failed requests during the reloads" 0 "$failed"
check "keep-alive requests answered" 25 "$(grep -c '^200 ' "$DIR/keepalive.out")"
check "keep-alive connections opened" 1 "$(awk '{s += $2} END {print s}' "$DIR/keepalive.out")"

# --- hostile TLS input ---------------------------------------------------------------------
for mode in garbage silent partial; do
    "$NODE" "$CLIENT" "$mode" "$PORT" >"$DIR/$mode.json" 2>&1 &
    HPID=$!
    sleep 0.5
    t0=$(now_ms)
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "$URL/health")
    t1=$(now_ms)
    check "health while a '$mode' client is connected" 200 "$code"
    wait "$HPID"
    ms=$(json_field "$DIR/$mode.json" closed_ms)
    echo "timing: '$mode' client closed by the server after ${ms} ms; another client answered in $((t1 - t0)) ms"
    [ -n "$ms" ] && [ "$ms" -ge 0 ] && [ "$ms" -le 8000 ] ||
        bad "'$mode' connection not closed within the bound: $(cat "$DIR/$mode.json")"
done
check "health at the end" 200 "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")"
kill -0 "$PID" 2>/dev/null || bad "the server died"
stop_server
grep -q 'PRIVATE KEY\|BEGIN ' "$DIR/serve.log" && bad "key material in the log"

# --- a thread per connection, a chain with an intermediate --------------------------------
# shellcheck disable=SC2086
start_server "$DIR/serve2.log" $SERVE --thread-per-connection --tls-cert-file "$DIR/chain.pem" \
    --tls-key-file "$DIR/chained.key"
URL=https://127.0.0.1:$PORT
check "health over https, thread per connection, intermediate" 200 \
    "$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")"
check "serial, thread per connection" 5005 "$(serial)"
grep -q '"tls_chain":2' "$DIR/serve2.log" && echo "ok: chain of 2 logged" || bad "chain length"
stop_server
[ $fail -eq 0 ] && echo "PASS" || { echo "--- log"; tail -n 30 "$DIR/serve.log"; }
exit $fail
