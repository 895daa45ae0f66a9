# Shared helpers of the replica tests (sourced after setting TS and SRC): several `tokensmith
# serve` processes, each with its own home (and so its own key directory), on one PostgreSQL
# database made for the test and dropped at exit. Builds on tests/service/lib.sh (DIR, check,
# exchange, refresh, create_token, json_field, start_server); the scratch directory and the
# servers are removed and stopped at exit, also when a check fails.
#
#   use_fixture_db CONNINFO_FILE   the ctest fixture's cluster (store_pg): exit 77 when the file
#                                  is absent or empty, unless TS_REQUIRE_PG=1 (then fail); makes
#                                  a database of its own there; sets PGDB (its conninfo)
#   use_own_cluster                a throwaway cluster of this test only (scripts/pg.sh), for
#                                  tests that restart or stop PostgreSQL (pg.sh restart, halt
#                                  and start on $PGCLUSTER); sets PGCLUSTER, PGDB
#   start_replica NAME [ARGS...]   serve on 127.0.0.1:0 with --store "$PGDB"; sets PID_NAME,
#                                  URL_NAME, PORT_NAME; its log is $DIR/NAME.log
#   stop_replica NAME              SIGTERM, wait; a non-zero exit status fails the test
#   sql QUERY                      run QUERY on the test database, unaligned output
#   at URL_VAR CMD...              run a lib.sh helper (exchange, refresh, post) on one replica
command -v psql >/dev/null 2>&1 || { echo "FAIL: psql not found"; exit 1; }
. "$SRC/tests/service/lib.sh"
# ctest's timeout and ^C: stop the servers and drop the database all the same (the EXIT trap)
trap 'exit 143' TERM
trap 'exit 130' INT
ISSUER=https://tokensmith.test # what the load balancer's clients see, the same for every replica
REPLICAS=
PGBASE=
PGDB=
PGDBNAME=
PGCLUSTER=

cleanup_more() {
    for r in $REPLICAS; do
        eval "p=\${PID_$r:-}"
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ -n "$PGDBNAME" ] && [ -z "$PGCLUSTER" ]; then
        psql -X -q -d "$PGBASE" -c "DROP DATABASE IF EXISTS $PGDBNAME WITH (FORCE)" >/dev/null 2>&1
    fi
    [ -n "$PGCLUSTER" ] && "$SRC/scripts/pg.sh" stop "$PGCLUSTER" >/dev/null 2>&1
    :
}

# The database of this test: a unique name, so that tests run in parallel on one cluster.
make_db() {
    PGDBNAME=ts_repl_$(printf '%s' "${TEST_NAME:-t}" | tr -c 'a-z0-9_' '_')_$$_$(od -An -N4 -tx4 /dev/urandom | tr -d ' ')
    psql -X -q -v ON_ERROR_STOP=1 -d "$PGBASE" -c "CREATE DATABASE $PGDBNAME" >/dev/null ||
        { echo "FAIL: cannot create database $PGDBNAME"; exit 1; }
    # libpq: a keyword given twice takes its last value
    PGDB="$PGBASE dbname=$PGDBNAME"
}

use_fixture_db() {
    if [ ! -s "$1" ]; then
        if [ "${TS_REQUIRE_PG:-}" = 1 ]; then
            echo "FAIL: no PostgreSQL test cluster ($1 is missing or empty) and TS_REQUIRE_PG=1"
            exit 1
        fi
        echo "SKIP: no PostgreSQL test cluster ($1 is missing or empty: the store_pg fixture" \
            "could not start one; see store.pg.cluster_start)"
        exit 77
    fi
    PGBASE=$(cat "$1")
    make_db
}

use_own_cluster() {
    # Short: a Unix socket path has at most 107 bytes. Made by us, given to pg.sh (which, as
    # root, hands it to the postgres user).
    PGCLUSTER=$(mktemp -d /tmp/tsrpg.XXXXXX)
    if ! PGBASE=$("$SRC/scripts/pg.sh" start "$PGCLUSTER" 2>"$DIR/pg.err"); then
        cat "$DIR/pg.err"
        if [ "${TS_REQUIRE_PG:-}" = 1 ]; then
            echo "FAIL: cannot start a PostgreSQL cluster and TS_REQUIRE_PG=1"; exit 1
        fi
        echo "SKIP: cannot start a PostgreSQL cluster (scripts/pg.sh, see above)"; exit 77
    fi
    make_db
}

sql() {
    psql -X -q -At -v ON_ERROR_STOP=1 -d "$PGDB" -c "$1"
}

start_replica() {
    n=$1; shift
    mkdir -p "$DIR/$n"
    start_server "$DIR/$n.log" --home "$DIR/$n" --store "$PGDB" --issuer "$ISSUER" --alg ES256 \
        --threads 8 "$@"
    eval "PID_$n=\$PID URL_$n=\$URL PORT_$n=\$PORT"
    REPLICAS="$REPLICAS $n"
    PID= # lib.sh's cleanup stops one server; cleanup_more stops every replica
}

stop_replica() {
    eval "p=\$PID_$1"
    kill -TERM "$p" 2>/dev/null
    wait "$p" 2>/dev/null
    rc=$?
    eval "PID_$1="
    check "replica $1 exits 0 on SIGTERM" 0 "$rc"
    if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$DIR/$1.log"; then
        echo "FAIL: replica $1: sanitizer report"; grep -A20 'Sanitizer\|runtime error' "$DIR/$1.log" | head -40
        fail=1
    fi
}

at() { # URL_VAR CMD ARGS...: run a lib.sh request helper against one replica
    eval "URL=\$URL_$1"; shift
    "$@"
}

sha256_hex() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
# Request bodies for post_many.py (tokens are hex: nothing else to encode).
form_exchange() {
    printf 'grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange'
    printf '&subject_token_type=urn%%3Aopenchami%%3Aparams%%3Aoauth%%3Atoken-type%%3Abootstrap-token'
    printf '&subject_token=%s' "$1"
}
form_refresh() { printf 'grant_type=refresh_token&refresh_token=%s' "$1"; }
# count_lines FILE PATTERN: lines of post_many.py's output matching an extended regex
count_lines() { grep -Ec "$2" "$1"; }
