# Helpers of the CLI tests (sourced). The caller sets TS (the tokensmith binary) first.
# DIR: a scratch directory removed at exit. run CMD...: sets st, and the files out and err.
set -u
case $TS in /*) ;; *) TS=$(pwd)/$TS ;; esac # the tests change directory
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ts-cli.XXXXXX")
PID=
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; rm -rf "$DIR"' EXIT
fail=0
ok() { echo "ok: $1"; }
bad() { echo "FAIL: $1"; fail=1; }
run() {
    "$@" >"$DIR/out" 2>"$DIR/err" </dev/null
    st=$?
}
# expect NAME STATUS [TEXT-IN-STDERR]: checks the last run
expect() {
    if [ "$st" != "$2" ]; then
        bad "$1: exit $st, want $2; stderr: $(head -c 600 "$DIR/err")"
    elif [ $# -ge 3 ] && ! grep -F -q -- "$3" "$DIR/err"; then
        bad "$1: stderr lacks '$3': $(head -c 600 "$DIR/err")"
    else
        ok "$1"
    fi
}
check() { # NAME WANT GOT
    if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', want '$2'"; fi
}
# A TCP port nobody listens on now.
free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}
# start LOG ARGS...: `tokensmith serve ARGS` in the background; sets PID and PORT (from the
# "listening" line). Returns 1 when it did not start.
start() {
    log=$1
    shift
    "$TS" serve "$@" 2>"$log" &
    PID=$!
    PORT=
    i=0
    while [ $i -lt 150 ] && [ -z "$PORT" ] && kill -0 $PID 2>/dev/null; do
        PORT=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$log")
        [ -n "$PORT" ] || sleep 0.1
        i=$((i + 1))
    done
    [ -n "$PORT" ]
}
stop() {
    kill -TERM $PID 2>/dev/null
    wait $PID 2>/dev/null
    PID=
}
finish() {
    [ $fail -eq 0 ] && echo PASS || echo FAILED
    exit $fail
}
