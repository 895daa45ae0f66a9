# Helpers of the CLI tests (sourced). The caller sets TS (the tokensmith binary) first.
# DIR: a scratch directory removed at exit. run CMD...: sets st, and the files out and err.
set -u
case $TS in /*) ;; *) TS=$(pwd)/$TS ;; esac # the tests change directory
DIR=$(mktemp -d "${TMPDIR:-/tmp}/ts-cli.XXXXXX")
PID=
PG_DB=
trap 'kill -TERM $PID 2>/dev/null; wait $PID 2>/dev/null; pg_drop; rm -rf "$DIR"' EXIT
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

# PostgreSQL (tests registered with the ctest fixture store_pg, which starts a throwaway cluster
# and writes its conninfo to the file TS_PG_FILE names). pg_setup creates a database of this
# test's own (ctest runs tests in parallel) and sets PG_ADMIN (the cluster's conninfo), PG_CONN
# (a conninfo of the new database), PG_URI (the same as a postgresql:// URI) and PG_HOST,
# PG_PORT, PG_USER. The database is dropped at exit. Without a cluster the test skips (exit 77),
# or fails when TS_REQUIRE_PG=1.
PSQL=${PGBIN:-/usr/lib/postgresql/15/bin}/psql
[ -x "$PSQL" ] || PSQL=psql
psql_() { "$PSQL" -X -q -v ON_ERROR_STOP=1 "$@"; }
pg_setup() {
    f=${TS_PG_FILE:-}
    if [ -z "$f" ] || [ ! -s "$f" ]; then
        if [ "${TS_REQUIRE_PG:-}" = 1 ]; then
            echo "FAIL: no PostgreSQL test cluster (${f:-TS_PG_FILE unset} is empty or absent) and TS_REQUIRE_PG=1"
            exit 1
        fi
        echo "SKIP: no PostgreSQL test cluster: the store_pg fixture wrote no conninfo to" \
            "${f:-TS_PG_FILE (unset)}"
        exit 77
    fi
    PG_ADMIN=$(cat "$f")
    PG_HOST=$(echo "$PG_ADMIN" | sed -n 's/.*host=\([^ ]*\).*/\1/p')
    PG_PORT=$(echo "$PG_ADMIN" | sed -n 's/.*port=\([^ ]*\).*/\1/p')
    PG_USER=$(echo "$PG_ADMIN" | sed -n 's/.*user=\([^ ]*\).*/\1/p')
    db=ts_cli_$(basename "$DIR" | tr -c 'a-zA-Z0-9\n' _ | tr 'A-Z' 'a-z')_$$
    psql_ "$PG_ADMIN" -c "CREATE DATABASE $db" || { echo "FAIL: CREATE DATABASE $db"; exit 1; }
    PG_DB=$db
    PG_CONN="host=$PG_HOST port=$PG_PORT user=$PG_USER dbname=$PG_DB"
    PG_URI="postgresql://$PG_USER@/$PG_DB?host=$PG_HOST&port=$PG_PORT"
}
pg_drop() {
    [ -n "${PG_DB:-}" ] || return 0
    psql_ "$PG_ADMIN" -c "DROP DATABASE IF EXISTS $PG_DB WITH (FORCE)" >/dev/null 2>&1
    PG_DB=
}
