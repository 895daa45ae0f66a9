#!/bin/sh
# Signals of `tokensmith serve`:
#  - SIGHUP reloads the upstream provider configuration (the admin state file) and never stops
#    the service; a broken file is reported and the previous configuration stays;
#  - SIGTERM drains: a request in flight still gets its answer, an idle keep-alive connection
#    does not hold the exit for the drain's 10 s.
# usage: signals_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found"; exit 1; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...

wait_log() { # PATTERN: wait up to 5 s for a log line
    i=0
    while [ $i -lt 50 ]; do
        grep -q "$1" "$DIR/s.log" && return 0
        sleep 0.1; i=$((i + 1))
    done
    return 1
}

start_server "$DIR/s.log" --home "$DIR/h" --admin-listen 127.0.0.1:0
APORT=$(sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/s.log" | tail -1)
cat >"$DIR/h/oidc-providers.json" <<'JSON'
{"providers": [{"issuer": "https://idp.signals.test", "client_id": "cid", "audiences": ["smd"]}]}
JSON
kill -HUP "$PID"
wait_log '"msg":"reloaded"'; check "SIGHUP logs a reload" 0 $?
kill -0 "$PID" 2>/dev/null; check "serve still runs after SIGHUP" 0 $?
grep '"msg":"reloaded"' "$DIR/s.log" | grep -q '"oidc_providers":1'
check "the reload read the provider file" 0 $?
curl -s "http://127.0.0.1:$APORT/admin/oidc/config" | grep -q 'https://idp.signals.test'
check "the admin API shows the reloaded provider" 0 $?
echo '{"providers": [' >"$DIR/h/oidc-providers.json"
kill -HUP "$PID"
wait_log 'reload failed'; check "a broken file is reported" 0 $?
kill -0 "$PID" 2>/dev/null; check "serve still runs after a failed reload" 0 $?
curl -s "http://127.0.0.1:$APORT/admin/oidc/config" | grep -q 'https://idp.signals.test'
check "the previous provider configuration stays" 0 $?
st=$(curl -s -o /dev/null -w '%{http_code}' "$URL/health"); check "health after the reloads" 200 "$st"

# SIGTERM with one idle keep-alive connection and one request in flight (head sent, body late).
python3 - "$PORT" "$PID" >"$DIR/drain.out" 2>&1 <<'PY'
import os, signal, socket, sys, time
port, pid = int(sys.argv[1]), int(sys.argv[2])
idle = socket.create_connection(("127.0.0.1", port))
idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
idle.settimeout(5)
got = idle.recv(65536)
assert b" 200 " in got.split(b"\r\n")[0], got
body = b"grant_type=refresh_token&refresh_token=nope"
busy = socket.create_connection(("127.0.0.1", port))
busy.sendall(b"POST /oauth/token HTTP/1.1\r\nHost: x\r\nContent-Type: "
             b"application/x-www-form-urlencoded\r\nContent-Length: %d\r\n\r\n" % len(body))
time.sleep(0.3)
t0 = time.time()
os.kill(pid, signal.SIGTERM)
time.sleep(0.5)
busy.sendall(body)
busy.settimeout(5)
answer = busy.recv(65536)
print("in-flight status:", answer.split(b"\r\n")[0].decode())
print("in-flight connection close:", b"Connection: close" in answer)
while True:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        break
    try:
        if open("/proc/%d/stat" % pid).read().split()[2] == "Z":
            break
    except OSError:
        break
    if time.time() - t0 > 15:
        break
    time.sleep(0.05)
print("exit after: %.1f s" % (time.time() - t0))
PY
cat "$DIR/drain.out"
grep -q 'in-flight status: HTTP/1.1 400' "$DIR/drain.out"; check "the request in flight is answered" 0 $?
grep -q 'in-flight connection close: True' "$DIR/drain.out"; check "answers during the drain close the connection" 0 $?
secs=$(sed -n 's/exit after: \([0-9]*\)\..*/\1/p' "$DIR/drain.out")
[ -n "$secs" ] && [ "$secs" -lt 4 ]; check "an idle keep-alive connection does not hold the exit" 0 $?
wait "$PID"; check "exit status after SIGTERM" 0 $?
PID=
grep -q '"msg":"stopped"' "$DIR/s.log"; check "stopped cleanly" 0 $?
[ $fail = 0 ] && echo "signals: all checks passed"
exit $fail
