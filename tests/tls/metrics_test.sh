#!/bin/sh
# tls.metrics: the TLS handshake counters of `tokensmith serve` (docs/operations.md "Metrics"):
# tokensmith_tls_handshakes_total{result="completed|failed"} and
# tokensmith_tls_resumed_handshakes_total, counted when each TLS connection closes. Between two
# scrapes of /metrics over HTTPS, checked to move by exactly the traffic of the test:
#   - N curl requests, a new connection each: completed += N (+1: the first scrape's own);
#   - plain HTTP, then garbage bytes, to the TLS port: failed += 2;
#   - a client offering only TLS 1.1 (refused by the priorities): failed += 1;
#   - a client that connects and leaves without a byte: failed += 1;
#   - a session resumed with its ticket (openssl s_client -sess_out, then -sess_in):
#     completed += 2, resumed += 1.
# usage: metrics_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl missing"; exit 77; }
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 missing"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, check
unset TOKENSMITH_CACERT

cd "$DIR" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-test-ca -days 2 2>/dev/null || { echo "FAIL: CA"; exit 1; }
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >san.ext
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out key.pem 2>/dev/null
chmod 600 key.pem
openssl req -new -key key.pem -subj /CN=tokensmith-server -out s.csr 2>/dev/null
openssl x509 -req -in s.csr -CA ca.pem -CAkey ca.key -set_serial 4097 -days 1 -extfile san.ext \
    -out cert.pem 2>/dev/null || { echo "FAIL: certificate"; exit 1; }
export CURL_CA_BUNDLE="$DIR/ca.pem"

start_server "$DIR/s.log" --home "$DIR/home" --store "$DIR/ts.db" \
    --tls-cert-file "$DIR/cert.pem" --tls-key-file "$DIR/key.pem" --connection-timeout 5
URL=https://127.0.0.1:$PORT

# value FILE SERIES: the sample of SERIES (name and labels, exactly) in the scrape FILE.
value() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
C='tokensmith_tls_handshakes_total{result="completed"}'
F='tokensmith_tls_handshakes_total{result="failed"}'
R='tokensmith_tls_resumed_handshakes_total'
scrape() { curl -s -m 10 -o "$1" -w '%{http_code}' "$URL/metrics"; }
# settle: the server counts a connection once it has seen it close; wait until it did.
settle() { sleep 1; }

check "scrape over https" 200 "$(scrape s0)"
for s in "$C" "$F" "$R"; do
    [ -n "$(value s0 "$s")" ] && echo "ok: $s present" || { echo "FAIL: no $s in: $(grep tls_ s0)"; fail=1; }
done
grep -q '^# TYPE tokensmith_tls_handshakes_total counter$' s0 &&
    grep -q '^# HELP tokensmith_tls_resumed_handshakes_total ' s0 &&
    echo "ok: HELP and TYPE lines" || { echo "FAIL: HELP/TYPE lines"; fail=1; }

N=4
i=0
while [ $i -lt $N ]; do
    check "health $i (new connection)" 200 "$(curl -s -m 10 -o /dev/null -w '%{http_code}' "$URL/health")"
    i=$((i + 1))
done
c=$(curl -s -m 10 -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health")
[ "$c" = 000 ] && echo "ok: plain HTTP to the TLS port fails" || { echo "FAIL: plain HTTP answered $c"; fail=1; }
python3 - "$PORT" <<'PY'
import socket, sys
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10)
s.sendall(b"\x00\x01garbage, not a ClientHello\r\n\r\n" * 4)
try:
    s.recv(100)
except OSError:
    pass
s.close()
PY
# TLS 1.1 only: the server's priorities allow 1.2 and 1.3; SECLEVEL=0 lets OpenSSL offer it.
echo | openssl s_client -connect "127.0.0.1:$PORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    -CAfile ca.pem >tls11.out 2>&1
grep -q 'Cipher is (NONE)\|alert\|no protocols available' tls11.out &&
    echo "ok: TLS 1.1 refused" || { echo "FAIL: TLS 1.1: $(head -c 400 tls11.out)"; fail=1; }
# connect and leave without a byte
python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=10).close()' "$PORT"
# A full handshake whose ticket is kept, then a handshake resuming it. The request keeps the
# client reading until the server's NewSessionTicket (TLS 1.3) has arrived.
req() { printf 'GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n'; }
req | openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -ign_eof -sess_out sess.pem \
    >full.out 2>&1
req | openssl s_client -connect "127.0.0.1:$PORT" -CAfile ca.pem -ign_eof -sess_in sess.pem \
    >resumed.out 2>&1
grep -q '^Reused' resumed.out && echo "ok: the client resumed its session" ||
    { echo "FAIL: not resumed: $(grep -i 'new,\|reused' resumed.out)"; fail=1; }
settle
check "scrape again" 200 "$(scrape s1)"
delta() { echo $(($(value s1 "$1") - $(value s0 "$1"))); }
# the first scrape's connection, the N requests, the two s_client connections
check "completed handshakes" $((1 + N + 2)) "$(delta "$C")"
check "failed handshakes (plain HTTP, garbage, TLS 1.1, left)" 4 "$(delta "$F")"
check "resumed handshakes" 1 "$(delta "$R")"

# A handshake cut short by the idle deadline (connectionTimeout): failed += 1, once it expires.
python3 - "$PORT" <<'PY'
import socket, sys, time
s = socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=20)
s.sendall(b"\x16\x03\x01")  # the start of a record header, then silence
try:
    s.recv(100)  # the server closes it at the deadline
except OSError:
    pass
s.close()
PY
settle
check "scrape after the timeout" 200 "$(scrape s2)"
check "failed handshakes (timed out)" 1 $(($(value s2 "$F") - $(value s1 "$F")))
check "completed handshakes (the scrape)" 1 $(($(value s2 "$C") - $(value s1 "$C")))
exit $fail
