#!/bin/sh
# agent.reload: what a reload changes and what a stop does (docs/agent.md, "Signals"). A reload
# that moves settings.listen to another port closes the old one and serves on the new one; a
# reload that drops a file sink and a uds sink removes the file and the socket; a listener on
# [::1] with metrics switched off; a reload whose
# file sink's directory is gone is refused and the old graph keeps serving; SIGTERM while a fetch
# hangs ends it and exits 0 at once; a regular file where a uds sink's socket goes is refused at
# start (exit 1, named), and left alone; so is a listen port in use.
# usage: reload_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/agent/lib.sh"
echo 3600 > "$DIR/seq.ttl"
echo ok > "$DIR/fault.mode"
python3 "$HELPER" http "$DIR" &
EXTRA_PIDS="$EXTRA_PIDS $!"
wait_until 100 test -s "$DIR/http.port" || { echo "FAIL: test server did not start"; exit 1; }
HPORT=$(cat "$DIR/http.port")
P2=$(freeport) # where a reload moves the listener
CFG=$DIR/agent.yaml
write_config() { # LISTEN [MORE SINK LINES]
    cat > "$CFG" <<EOF
settings: { listen: "$1", request_timeout_ms: 20000 }
sources:
  s:
    type: http
    request: { url: "http://127.0.0.1:$HPORT/fault" }
    parse:
      tokens:
        - { id: t, pointer: token, expiration: { source: json_body_field, pointer: expires_in } }
sinks:
  h: { type: http, source_id: s, path: /t }
${2:-}
EOF
}
write_config "127.0.0.1:0" "  f: { type: file, source_id: s, path: $DIR/f }
  u: { type: uds, source_id: s, path: $DIR/u.sock }"
ALOG=$DIR/agent.log
start_agent "$CFG" "$ALOG"
agent_port "$ALOG" || exit 1
P1=$APORT
wait_until 200 health_ready || { echo "FAIL: not ready"; tail -n 20 "$ALOG"; exit 1; }
wait_until 50 test -s "$DIR/f"
check "file sink written" yes "$([ -s "$DIR/f" ] && echo yes || echo no)"
check "uds sink answers" 200 "$(http_status http://localhost/ --unix-socket "$DIR/u.sock")"

# Another port, the file and uds sinks dropped.
write_config "127.0.0.1:$P2"
kill -HUP "$AGENT_PID"
wait_until 100 sh -c "[ \"\$(curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:$P2/t)\" = 200 ]"
check "served on the new port" 0 $?
check "the old port is closed" 000 "$(http_status "http://127.0.0.1:$P1/t")"
wait_until 50 sh -c "[ ! -e '$DIR/f' ] && [ ! -e '$DIR/u.sock' ]"
check "the dropped file sink's file and uds sink's socket are removed" 0 $?

# IPv6 loopback, when the machine has it; then back. Metrics switched off: /metrics is 404.
if python3 -c "import socket; socket.socket(socket.AF_INET6).bind(('::1', 0))" 2>/dev/null; then
    write_config "[::1]:$P1"
    sed -i 's/request_timeout_ms: 20000 }/request_timeout_ms: 20000, metrics: { is_enabled: false } }/' "$CFG"
    kill -HUP "$AGENT_PID"
    wait_until 100 sh -c "[ \"\$(curl -s -g -o /dev/null -m 2 -w '%{http_code}' 'http://[::1]:$P1/t')\" = 200 ]"
    check "served on [::1] after a reload" 0 $?
    check "metrics switched off" 404 "$(http_status "http://[::1]:$P1/metrics" -g)"
    check "/health still served" 200 "$(http_status "http://[::1]:$P1/health" -g)"
    write_config "127.0.0.1:$P2"
    kill -HUP "$AGENT_PID"
    wait_until 100 sh -c "[ \"\$(curl -s -o /dev/null -m 2 -w '%{http_code}' http://127.0.0.1:$P2/t)\" = 200 ]"
    check "back on 127.0.0.1" 0 $?
else
    echo "skip: no IPv6 loopback"
fi

# A file sink in a directory that is gone: refused, the old graph keeps serving.
write_config "127.0.0.1:$P2" "  g: { type: file, source_id: s, path: $DIR/gone/g }"
kill -HUP "$AGENT_PID"
wait_until 50 grep -q '"msg":"reload refused".*sinks.g.path: directory' "$ALOG"
check "a reload naming a missing directory is refused" 0 $?
check "the old graph still serves" 200 "$(http_status "http://127.0.0.1:$P2/t")"

# SIGTERM while a fetch hangs (the server answers after 30 s; the timeout is 20 s).
write_config "127.0.0.1:$P2"
echo hang > "$DIR/fault.mode"
n=$(grep -c ' /fault' "$DIR/http.log")
kill -HUP "$AGENT_PID" # a new graph fetches anew: the fetch hangs
# The server logs a request when it answers; wait for the reload to be done instead.
wait_until 50 sh -c "[ \$(grep -c '\"msg\":\"reloaded\"' '$ALOG') -ge 2 ]"
sleep 0.5
t0=$(date +%s)
stop_agent TERM
t1=$(date +%s)
check "SIGTERM during a hanging fetch: exit status" 0 "$AGENT_RC"
[ $((t1 - t0)) -le 3 ] || { echo "FAIL: SIGTERM took $((t1 - t0)) s with a fetch hanging"; fail=1; }
check "the hanging fetch was not answered yet" "$n" "$(grep -c ' /fault' "$DIR/http.log")"

# A regular file where a uds sink's socket goes: refused at start, named, left alone.
echo ok > "$DIR/fault.mode"
echo keep > "$DIR/reg.sock"
write_config "127.0.0.1:$P2" "  u: { type: uds, source_id: s, path: $DIR/reg.sock }"
"$TS" agent --config "$CFG" > "$DIR/reg.out" 2>&1
check "a regular file at a socket's path: exit status" 1 $?
grep -q 'sinks.u.path: exists and is not a socket' "$DIR/reg.out" ||
    { echo "FAIL: the error: $(cat "$DIR/reg.out")"; fail=1; }
check "the regular file is left alone" keep "$(cat "$DIR/reg.sock")"
# A listen address already in use: exit 1 at start.
write_config "127.0.0.1:$HPORT"
"$TS" agent --config "$CFG" > "$DIR/busy.out" 2>&1
check "a listen port in use: exit status" 1 $?
echo "    $(cat "$DIR/busy.out")"
[ $fail -eq 0 ] || tail -n 20 "$ALOG"
exit $fail
