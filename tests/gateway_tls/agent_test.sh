#!/bin/sh
# gateway_tls.agent: `tokensmith agent` with settings.tls_cert_file and tls_key_file
# (docs/agent.md, "settings"): its listener serves an http sink, /health and /metrics over HTTPS
# only (curl with the test CA; plain HTTP and TLS 1.1 refused), hostile handshakes are cut
# (garbage at once, a silent or trickling client at the 10 s head timeout) while others are
# served, SIGHUP with a new pair renamed into place serves the new serial, a mismatched pair is
# refused and the running one kept, and a reload that changes the paths is refused.
# Skips (77) without openssl, curl or python3.
# usage: agent_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
finish() { exit "$fail"; }
for t in openssl curl; do
    command -v $t >/dev/null 2>&1 || { echo "SKIP: $t missing"; exit 77; }
done
PEER="python3 $SRC/tests/gateway_tls/tls_peer.py"
cd "$DIR" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-test-ca -days 2 2>/dev/null || { echo "FAIL: CA"; exit 1; }
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >server.ext
mkcert() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
    chmod 600 "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=agent-$1" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$2" -days 1 \
        -extfile server.ext -out "$1.pem" 2>/dev/null || { echo "FAIL: cert $1"; exit 1; }
}
mkcert one 4097 # serial 1001
mkcert two 8194 # serial 2002
mkcert three 12291
mkdir -p live
cp one.pem live/cert.pem && cp one.key live/key.pem && chmod 600 live/key.pem

# a JWT-shaped token in a file (the file source reads its exp; nothing verifies it here)
python3 - "$DIR/jwt" <<'PY'
import base64, json, sys, time
b = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
open(sys.argv[1], "w").write(b({"alg": "none"}) + "." + b({"sub": "a", "exp": int(time.time()) + 3600}) + ".x")
PY
TOKEN=$(cat jwt)
write_cfg() {
    cat >agent.yaml <<EOC
settings:
  listen: 127.0.0.1:${APORT:-0}
  tls_cert_file: $DIR/live/$1
  tls_key_file: $DIR/live/key.pem
sources:
  f: { type: file, path: $DIR/jwt }
sinks:
  t: { type: http, source_id: f, path: /token }
EOC
}
write_cfg cert.pem
start_agent agent.yaml agent.log
agent_port agent.log || exit 1
H="--cacert ca.pem --resolve localhost:$APORT:127.0.0.1"
URL=https://localhost:$APORT
served_serial() {
    echo | openssl s_client -connect "127.0.0.1:$APORT" -servername localhost -CAfile ca.pem \
        2>/dev/null | openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//'
}
wait_until 100 sh -c "curl -s $H -o /dev/null -w '%{http_code}' $URL/health | grep -q 200"
check "health over HTTPS" 200 "$(curl -s $H -o /dev/null -w '%{http_code}' "$URL/health")"
sink_token() { curl -s $H "$URL/token" | sed -n 's/.*"access_token":"\([^"]*\)".*/\1/p'; }
check "the http sink over HTTPS" "$TOKEN" "$(sink_token)"
check "metrics over HTTPS" 200 "$(curl -s $H -o /dev/null -w '%{http_code}' "$URL/metrics")"
check "plain HTTP refused" 000 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 "http://127.0.0.1:$APORT/health")"
if echo | openssl s_client -connect "127.0.0.1:$APORT" -tls1_1 -cipher 'DEFAULT:@SECLEVEL=0' \
    >/dev/null 2>&1; then bad "TLS 1.1 accepted"; else ok "TLS 1.1 refused"; fi
check "the pair logged" 1 "$(grep -c '"msg":"tls".*"tls_serial":"1001"' agent.log)"

# handshake counters: three good connections and the scrape complete, plain HTTP fails
v() { awk -v s="$2" '$1 == s { print $2 }' "$1"; }
curl -s $H -o m0 "$URL/metrics"
for i in 1 2 3; do curl -s $H -o /dev/null "$URL/health"; done
curl -s -o /dev/null --max-time 5 "http://127.0.0.1:$APORT/health"
sleep 1
curl -s $H -o m1 "$URL/metrics"
C='tokensmith_agent_tls_handshakes_total{result="completed"}'
F='tokensmith_agent_tls_handshakes_total{result="failed"}'
check "tls handshakes completed" 4 $(($(v m1 "$C") - $(v m0 "$C")))
check "tls handshakes failed" 1 $(($(v m1 "$F") - $(v m0 "$F")))

# hostile handshakes, others served meanwhile (the head timeout is 10 s)
$PEER hostile "$APORT" 15 >hostile.out &
HP=$!
sleep 0.3
served=0
for _ in 1 2 3; do
    [ "$(curl -s $H -o /dev/null -w '%{http_code}' "$URL/health")" = 200 ] && served=$((served + 1))
done
wait $HP
check "served while hostile connections are open" 3 "$served"
cat hostile.out
awk '$1 == "garbage" && $2 < 1.5 && $3 < 64 {g=1} $1 == "plain_http" && $2 < 1.5 && $3 < 64 {p=1}
     $1 == "random" && $2 < 12 && $3 < 64 {r=1}
     $1 == "silent" && $2 >= 8 && $2 < 12 {s=1} $1 == "trickle" && $2 >= 8 && $2 < 12 {t=1}
     END {exit !(g && r && p && s && t)}' hostile.out && ok "hostile connections cut in time" ||
    bad "hostile connections: $(tr '\n' ';' <hostile.out)"

# rotation
cp two.pem live/.c && mv live/.c live/cert.pem && cp two.key live/.k && chmod 600 live/.k &&
    mv live/.k live/key.pem
kill -HUP "$AGENT_PID"
wait_until 50 sh -c "grep -q 'tls certificate reloaded' agent.log"
check "SIGHUP: the new serial served" 2002 "$(served_serial)"
check "SIGHUP: the sink still answers" "$TOKEN" "$(sink_token)"
cp three.pem live/.c && mv live/.c live/cert.pem # two's key stays: a mismatched pair
kill -HUP "$AGENT_PID"
wait_until 50 sh -c "grep -q 'tls reload failed: the running certificate is kept' agent.log"
check "mismatched pair: refused, logged" 1 "$(grep -c 'tls reload failed: the running certificate is kept' agent.log)"
check "mismatched pair: the running one served" 2002 "$(served_serial)"
cp two.pem live/cert.pem
write_cfg other.pem
kill -HUP "$AGENT_PID"
wait_until 50 sh -c "grep -q 'reload refused' agent.log"
grep -q '"msg":"reload refused".*restart' agent.log && ok "new TLS paths: reload refused" ||
    bad "new TLS paths: no refusal"
check "after the refused reload: served" 200 "$(curl -s $H -o /dev/null -w '%{http_code}' "$URL/health")"
stop_agent
check "the agent's exit status" 0 "$AGENT_RC"
grep -qF "$TOKEN" agent.log && bad "the agent logged the token" || ok "no token in the log"
finish
