#!/bin/sh
# `tokensmith serve` whose PostgreSQL store cannot be reached at start exits promptly (within
# the connect timeout) with a non-zero status and an error naming the host and port, never the
# password, and without crashing. Two cases: a closed port (connection refused at once) and a
# listener that accepts and never answers (bounded by connect_timeout). Each as a URI and as a
# key=value conninfo. Needs no PostgreSQL.
# usage: db_unreachable_test.sh TOKENSMITH
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$(cd "$(dirname "$0")/../.." && pwd)
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found"; exit 1; }
. "$SRC/tests/service/lib.sh"
PW=S3cret-pw-4711
SILENT=
cleanup_more() { [ -n "$SILENT" ] && kill "$SILENT" 2>/dev/null; :; }

# A port nobody listens on: bound and closed again at once.
CLOSED=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1]); s.close()')
# A listener that accepts connections (the kernel completes the handshake) and never speaks.
python3 -c '
import socket, sys, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
time.sleep(300)' >"$DIR/silent.port" &
SILENT=$!
i=0
while [ ! -s "$DIR/silent.port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
MUTE=$(cat "$DIR/silent.port")
[ -n "$MUTE" ] || { echo "FAIL: the silent listener did not start"; exit 1; }

now_ms() { date +%s%3N; }
try() { # NAME PORT STORE: serve must exit non-zero within 30 s, naming 127.0.0.1 and PORT
    name=$1 port=$2 store=$3
    mkdir -p "$DIR/$name"
    t0=$(now_ms)
    (cd "$DIR/$name" && exec timeout -s KILL 60 "$TS" serve --home "$DIR/$name/h" \
        --listen 127.0.0.1:0 --log-format text --store "$store") >"$DIR/$name/out" 2>"$DIR/$name/err"
    rc=$?
    ms=$(($(now_ms) - t0))
    echo "$name: exit status $rc after $ms ms: $(head -c 400 "$DIR/$name/err")"
    [ $rc -ge 1 ] && [ $rc -le 125 ]; check "$name: exits with an error status, not a signal or the timeout ($rc)" 0 $?
    [ $ms -lt 30000 ]; check "$name: exits within 30 s ($ms ms)" 0 $?
    grep -q "127\.0\.0\.1" "$DIR/$name/err"; check "$name: the error names the host" 0 $?
    grep -q "$port" "$DIR/$name/err"; check "$name: the error names the port $port" 0 $?
    check "$name: the password appears nowhere" "" "$(grep -rlF "$PW" "$DIR/$name" --exclude-dir=h)"
    check "$name: no sanitizer report" "" "$(grep -l 'Sanitizer\|runtime error' "$DIR/$name/err")"
    check "$name: no core file" "" "$(find "$DIR/$name" -name 'core*' -type f)"
    check "$name: not listening" "" "$(grep 'listening' "$DIR/$name/err")"
}
try refused_uri "$CLOSED" "postgres://tokensmith:$PW@127.0.0.1:$CLOSED/x"
try refused_conninfo "$CLOSED" "host=127.0.0.1 port=$CLOSED user=tokensmith password=$PW dbname=x"
try silent_uri "$MUTE" "postgresql://tokensmith:$PW@127.0.0.1:$MUTE/x?connect_timeout=1"
try silent_conninfo "$MUTE" "host=127.0.0.1 port=$MUTE user=tokensmith password=$PW dbname=x connect_timeout=1"
[ $fail = 0 ] && echo "db_unreachable_at_start: all checks passed"
exit $fail
