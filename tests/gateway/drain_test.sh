#!/bin/sh
# gateway.drain: SIGTERM drains the HTTP check listener (docs/gateway.md, "`--check`, start-up
# and signals"). A check in flight when SIGTERM arrives must get its answer: behind Envoy a
# dropped check is decided by failure_mode_allow, which fails open when true.
# - a trust entry whose jwks_uri is a loopback server (python3) that answers 3 s after each
#   request: the first token of that issuer waits for the whole first fetch;
# - such a check is started, and SIGTERM sent once the fetch is under way: the check still
#   gets an HTTP status (whatever the decision), not an empty reply;
# - while it drains, a new connection to the check listener is refused;
# - the gateway exits 0 once the check is answered.
# usage: drain_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v python3 >/dev/null 2>&1 || { echo "SKIP: python3 not installed"; exit 77; }
command -v curl >/dev/null 2>&1 || { echo "SKIP: curl not installed"; exit 77; }
. "$SRC/tests/gateway/lib.sh" # DIR, ok, bad, check, start_gateway, gateway_config, finish
JPID=
CPID=
cleanup_more() {
    [ -n "$CPID" ] && { kill "$CPID" 2>/dev/null; wait "$CPID" 2>/dev/null; }
    [ -n "$JPID" ] && { kill "$JPID" 2>/dev/null; wait "$JPID" 2>/dev/null; }
}

# --- the slow JWKS server: prints its port, appends one line per request to $DIR/jwks.log,
# answers an empty JWK Set 3 s after each request.
cat >"$DIR/slow_jwks.py" <<'EOF'
import http.server, sys, time
log = sys.argv[1]
class H(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        with open(log, "a", encoding="utf-8") as f:
            f.write(self.path + "\n")
        time.sleep(3)
        body = b'{"keys":[]}'
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)
    def log_message(self, *args):
        pass
s = http.server.ThreadingHTTPServer(("127.0.0.1", 0), H)
print(s.server_address[1], flush=True)
s.serve_forever()
EOF
: >"$DIR/jwks.log"
python3 "$DIR/slow_jwks.py" "$DIR/jwks.log" >"$DIR/jwks.port" 2>"$DIR/jwks.err" &
JPID=$!
i=0
while [ $i -lt 100 ] && [ ! -s "$DIR/jwks.port" ]; do sleep 0.1; i=$((i + 1)); done
JPORT=$(cat "$DIR/jwks.port")
[ -n "$JPORT" ] || { echo "FAIL: the JWKS server did not start"; cat "$DIR/jwks.err"; exit 1; }
ISS="http://127.0.0.1:$JPORT"

# A token of that issuer (its signature is never checked: no key ever arrives).
TOK=$(python3 -c 'import base64, json, sys, time
b = lambda o: base64.urlsafe_b64encode(json.dumps(o).encode()).rstrip(b"=").decode()
now = int(time.time())
print(b({"alg": "ES256", "typ": "JWT", "kid": "k1"}) + "." +
      b({"iss": sys.argv[1], "aud": "gateway", "sub": "alice", "iat": now, "exp": now + 300}) +
      "." + base64.urlsafe_b64encode(bytes(64)).rstrip(b"=").decode())' "$ISS")

gateway_config "$DIR/gw.json" "$ISS" "$ISS/jwks.json"
start_gateway "$DIR/gw.json" || exit 1
GW=$GW_PID

# --- a check in flight at SIGTERM
curl -s -o "$DIR/answer" -w '%{http_code}' --max-time 30 -H "Authorization: Bearer $TOK" \
    "http://127.0.0.1:$GW_PORT/things/1" >"$DIR/status" 2>/dev/null &
CPID=$!
i=0
while [ $i -lt 100 ] && [ ! -s "$DIR/jwks.log" ]; do sleep 0.1; i=$((i + 1)); done
check "the check waits on the JWKS fetch" 1 "$(wc -l <"$DIR/jwks.log" | tr -d ' ')"
sleep 0.5
kill -TERM "$GW"

# While the check waits, a new connection is refused (curl: 7, could not connect).
refused=no
while kill -0 "$CPID" 2>/dev/null; do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$GW_PORT/things/1" 2>/dev/null
    if [ $? = 7 ]; then
        refused=yes
        break
    fi
    sleep 0.1
done
check "a new connection while draining: refused" yes "$refused"
kill -0 "$CPID" 2>/dev/null && ok "refused while the check was still in flight" ||
    bad "the check was over before a new connection was refused"

wait "$CPID"
crc=$?
CPID=
st=$(cat "$DIR/status")
check "the check in flight: curl completed (not an empty reply)" 0 "$crc"
case "$st" in
    200 | 401 | 403 | 503) ok "the check in flight got HTTP $st" ;;
    *) bad "the check in flight got '$st' (curl exit $crc), not an answer" ;;
esac
wait "$GW"
check "SIGTERM: exit status" 0 $?
GW_PID=
grep -qF "$TOK" "$DIR/gateway.log" && bad "the gateway logged the token"
[ "$fail" = 0 ] || { echo "--- gateway"; tail -n 20 "$DIR/gateway.log"; }
finish
