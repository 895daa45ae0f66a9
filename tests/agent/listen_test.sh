#!/bin/sh
# agent.listeners: what the http and uds sinks answer besides the token (docs/agent.md, "What the
# sinks serve"): a configured response (text/plain body, an expiration header in unix format),
# HEAD, 405 for another method, 413 for a request with a body, a uds sink's http_path, 403 for a
# peer not in allowed_uids, a file sink's mode, owner and group (as root) and a uds sink's,
# metrics.path, /health with a source that is not required and never gets a token, the
# listener's bound of 32 connections per client address (a 33rd is not served while they are
# open; all is well once they close), and the 10 s head timeout of both listeners (a slow client
# on TCP and on a uds socket is closed).
# usage: listen_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
echo 3600 > "$DIR/seq.ttl"
python3 "$HELPER" http "$DIR" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_until 100 test -s "$DIR/http.port" || { echo "FAIL: test server did not start"; exit 1; }
HPORT=$(cat "$DIR/http.port")
APORT=0 # the agent picks a free port (agent_port)
ME=$(id -u)
OTHER=$((ME + 12345))
DEADPORT=$(freeport) # nothing listens there
# As root: a file sink and a uds sink handed to nobody:nogroup (owner and group).
OWNED=
if [ "$ME" = 0 ] && getent passwd nobody >/dev/null && getent group nogroup >/dev/null; then
    OWNED="  owned_file: { type: file, source_id: s, path: $DIR/owned, owner: nobody, group: nogroup, mode: '0640' }
  owned_sock: { type: uds, source_id: s, path: $DIR/owned.sock, owner: nobody, group: nogroup }"
fi
CFG=$DIR/agent.yaml
cat > "$CFG" <<EOF
settings:
  listen: 127.0.0.1:$APORT
  metrics: { path: /m }
sources:
  s:
    type: http
    request: { url: "http://127.0.0.1:$HPORT/seq" }
    parse:
      tokens:
        - id: t
          pointer: token
          expiration: { source: json_body_field, pointer: expires_in, format: seconds }
  optional:
    type: http
    required: false
    request: { url: "http://127.0.0.1:$DEADPORT/nothing-listens-here" }
    parse: { tokens: [{ id: t, token_type: jwt }] }
sinks:
  plain:
    type: http
    source_id: s
    path: /plain
    response:
      content_type: text/plain
      headers:
        X-Expires-At: { type: expiration, format: unix }
      body:
        t: { type: token }
  me: { type: uds, source_id: s, path: $DIR/me.sock, allowed_uids: [$ME], http_path: /token }
  other: { type: uds, source_id: s, path: $DIR/other.sock, allowed_uids: [$OTHER] }
  shared: { type: file, source_id: s, path: $DIR/shared, mode: "0640" }
  optional_http: { type: http, source_id: optional, path: /optional }
$OWNED
EOF
ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
wait_until 200 health_ready || { echo "FAIL: not ready"; tail -n 20 "$ALOG"; exit 1; }
now=$(date +%s)

# A slow client on each listener: an unfinished request head, then nothing. Each must be closed
# by the agent within its 10 s head timeout (written to DIR/slow: seconds until closed, or
# "open" after 20 s).
python3 - "$APORT" "$DIR/me.sock" "$DIR/slow" <<'EOF2' &
import socket, sys, threading, time
port, path, out = int(sys.argv[1]), sys.argv[2], sys.argv[3]
res = {}
def slow(name, s):
    t0 = time.monotonic()
    s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\nX-Slow: ")
    s.settimeout(20)
    try:
        while s.recv(4096):
            pass
        res[name] = f"{time.monotonic() - t0:.1f}"
    except socket.timeout:
        res[name] = "open"
    except OSError:
        res[name] = f"{time.monotonic() - t0:.1f}"
tcp = socket.create_connection(("127.0.0.1", port))
uds = socket.socket(socket.AF_UNIX)
uds.connect(path)
ts = [threading.Thread(target=slow, args=(n, s)) for n, s in (("tcp", tcp), ("uds", uds))]
for t in ts: t.start()
for t in ts: t.join()
with open(out, "w") as f:
    f.write(f"{res['tcp']} {res['uds']}\n")
EOF2
SLOW=$!
EXTRA_PIDS="$EXTRA_PIDS $SLOW"

curl -s -m 5 -D "$DIR/p.h" -o "$DIR/p.body" "$AURL/plain"
check "text/plain: status" 200 "$(sed -n '1s/^HTTP\/1.1 \([0-9]*\).*/\1/p' "$DIR/p.h")"
check "text/plain: the bare token" seq- "$(cut -c1-4 "$DIR/p.body")"
check "text/plain: 2000 bytes" 2000 "$(wc -c < "$DIR/p.body")"
grep -qi '^content-type: text/plain' "$DIR/p.h" || { echo "FAIL: content type: $(cat "$DIR/p.h")"; fail=1; }
exp=$(tr -d '\r' < "$DIR/p.h" | sed -n 's/^[Xx]-[Ee]xpires-[Aa]t: *//p')
if [ -z "$exp" ] || [ "$exp" -lt $((now + 3500)) ] || [ "$exp" -gt $((now + 3700)) ]; then
    echo "FAIL: X-Expires-At '$exp', want about $((now + 3600))"; fail=1
fi
check "HEAD" 200 "$(http_status "$AURL/plain" -I)"
check "HEAD: no body" 0 "$(curl -s -m 5 -I -o /dev/null -w '%{size_download}' "$AURL/plain")"
check "another method" 405 "$(http_status "$AURL/plain" -X PUT)"
check "a POST" 405 "$(http_status "$AURL/plain" --data-binary 'x=1')"
check "a GET with a body" 413 "$(http_status "$AURL/plain" -X GET --data-binary 'x=1')"
# A source with required: false that never gets a token: /health is ready, says so, and its
# sink answers 503.
check "/health ready with an optional source failing" 200 "$(http_status "$AURL/health")"
curl -s -m 5 "$AURL/health" > "$DIR/health.json"
grep -q '"optional":{"valid":false' "$DIR/health.json" || { echo "FAIL: /health: $(cat "$DIR/health.json")"; fail=1; }
check "the optional source's sink" 503 "$(http_status "$AURL/optional")"
check "file sink mode 0640" 640 "$(stat -c %a "$DIR/shared")"
if [ -n "$OWNED" ]; then
    check "file sink owner and group" "nobody nogroup 640" "$(stat -c '%U %G %a' "$DIR/owned")"
    check "uds sink owner and group" "nobody nogroup 660" "$(stat -c '%U %G %a' "$DIR/owned.sock")"
else
    echo "skip: owner and group (not root, or no nobody:nogroup)"
fi
check "metrics.path /m" 200 "$(http_status "$AURL/m")"
check "no /metrics when metrics.path moved it" 404 "$(http_status "$AURL/metrics")"

check "uds in allowed_uids: /" 200 "$(http_status http://localhost/ --unix-socket "$DIR/me.sock")"
check "uds in allowed_uids: http_path" 200 "$(http_status http://localhost/token --unix-socket "$DIR/me.sock")"
check "uds not in allowed_uids" 403 "$(http_status http://localhost/ --unix-socket "$DIR/other.sock")"
check "uds socket mode" 660 "$(stat -c %a "$DIR/me.sock")"

# 40 idle connections from 127.0.0.1: the listener serves at most 32 of one address, so a
# request beside them is not answered (000) or refused (503); once they close, it is served.
python3 - "$APORT" "$DIR/held" <<'EOF' &
import os, socket, sys, time
port, flag = int(sys.argv[1]), sys.argv[2]
socks = []
for _ in range(40):
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(b"GET /plain HTTP/1.1\r\nHost: x\r\n")  # an unfinished head
    socks.append(s)
open(flag, "w").close()
while os.path.exists(flag):
    time.sleep(0.05)
for s in socks:
    s.close()
EOF
HOLD=$!
EXTRA_PIDS="$EXTRA_PIDS $HOLD"
wait_until 100 test -e "$DIR/held" || { echo "FAIL: could not open 40 connections"; fail=1; }
sleep 0.3
st=$(curl -s -o /dev/null -m 2 -w '%{http_code}' "$AURL/plain")
case $st in
000 | 503) echo "ok: a 41st connection of the address is not served while 40 are open ($st)" ;;
*) echo "FAIL: a 41st connection of the address got $st"; fail=1 ;;
esac
check "the uds sockets are not bound by the TCP listener" 200 "$(http_status http://localhost/ --unix-socket "$DIR/me.sock")"
rm -f "$DIR/held"
wait "$HOLD"
wait_until 50 sh -c "[ \"\$(curl -s -o /dev/null -m 2 -w '%{http_code}' $AURL/plain)\" = 200 ]"
check "served again once they closed" 0 $?
wait "$SLOW"
# shellcheck disable=SC2046 # the words of the line
set -- $(cat "$DIR/slow" 2>/dev/null)
echo "slow clients closed after: tcp ${1:-?} s, uds ${2:-?} s"
for w in "${1:-open}" "${2:-open}"; do
    case $w in
    open) echo "FAIL: a slow client was never closed"; fail=1 ;;
    *) awk -v t="$w" 'BEGIN { exit !(t >= 5 && t <= 15) }' ||
        { echo "FAIL: a slow client closed after $w s, not about 10"; fail=1; } ;;
    esac
done
agent_alive; check "the agent is running" 0 $?
stop_agent TERM
check "SIGTERM exit status" 0 "$AGENT_RC"
check "sockets removed at stop" no "$([ -e "$DIR/me.sock" ] || [ -e "$DIR/other.sock" ] && echo yes || echo no)"
[ $fail -eq 0 ] || tail -n 20 "$ALOG"
exit $fail
