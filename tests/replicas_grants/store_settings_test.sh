#!/bin/sh
# The PostgreSQL settings of `serve` take effect (docs/configuration.md, "The store"):
# - storeMaxConnections: a replica with --store-max-connections 2 and 8 worker threads answers
#   a burst of 24 simultaneous grants, all 200, through at most 2 server connections (the
#   default, threads + 1, would open up to 9);
# - storeStatementTimeout: while another session holds a lock on the refresh families, a
#   refresh on a replica with --store-statement-timeout 1s is answered 503
#   temporarily_unavailable with Retry-After within 4 s (the default waits 5 s), the refresh
#   token stays usable, and once the lock is gone the same refresh succeeds;
# - storeConnectTimeout: against a listener that accepts and never answers, serve with
#   --store-connect-timeout 2s (libpq's least) gives up within 4 s (the default waits 5 s);
# - a value out of bounds stops serve with exit 2 naming the flag.
# usage: store_settings_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=store_settings
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"
# The locking session below ends with the test database (dropped WITH (FORCE) at exit).
now_ms() { date +%s%3N; }

# --- bounds ----------------------------------------------------------------------------------
"$TS" serve --home "$DIR/bad" --store "$PGDB" --store-max-connections 65 >/dev/null 2>"$DIR/bad.err"
check "--store-max-connections 65: exit 2" 2 $?
grep -q 'store-max-connections' "$DIR/bad.err"; check "the error names the flag" 0 $?
"$TS" serve --home "$DIR/bad" --store "$PGDB" --store-statement-timeout 0s >/dev/null 2>"$DIR/bad.err"
check "--store-statement-timeout 0s: exit 2" 2 $?

# --- the connect timeout --------------------------------------------------------------------
# A listener that accepts connections (the kernel completes the handshake) and never speaks.
python3 -c '
import socket, time
s = socket.socket(); s.bind(("127.0.0.1", 0)); s.listen(64)
print(s.getsockname()[1], flush=True)
time.sleep(120)' >"$DIR/silent.port" &
SILENT=$!
i=0
while [ ! -s "$DIR/silent.port" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
MUTE=$(cat "$DIR/silent.port")
t0=$(now_ms)
timeout -s KILL 60 "$TS" serve --home "$DIR/mute" --listen 127.0.0.1:0 \
    --store "host=127.0.0.1 port=$MUTE user=tokensmith dbname=x" --store-connect-timeout 2s \
    >/dev/null 2>"$DIR/mute.err"
rc=$?
ms=$(($(now_ms) - t0))
kill "$SILENT" 2>/dev/null
echo "a database that never answers: exit $rc after $ms ms"
check "a database that never answers: exit 1" 1 $rc
[ $ms -lt 4000 ]; check "gives up within 4 s, not the default 5 s ($ms ms)" 0 $?

# --- the pool --------------------------------------------------------------------------------
start_replica a --threads 8 --store-max-connections 2
: >"$DIR/jobs"
i=0
while [ $i -lt 24 ]; do
    echo "$PORT_a - $(form_exchange "$(create_token "$PGDB")")" >>"$DIR/jobs"
    i=$((i + 1))
done
python3 "$SRC/tests/replicas_grants/post_many.py" <"$DIR/jobs" >"$DIR/burst"
check "24 simultaneous grants through a pool of 2: all 200" 24 "$(count_lines "$DIR/burst" '^[0-9]+ 200 ')"
conns=$(sql "select count(*) from pg_stat_activity where datname = current_database() and pid <> pg_backend_pid()")
echo "server connections of the replica after the burst: $conns"
[ "$conns" -ge 1 ] && [ "$conns" -le 2 ]; check "at most 2 server connections ($conns)" 0 $?
REFRESH=$(awk 'NR == 1 {print $5}' "$DIR/burst")
stop_replica a

# --- the statement timeout -------------------------------------------------------------------
start_replica b --threads 4 --store-statement-timeout 1s
# Another session takes the families' table lock and keeps it.
psql -X -q -d "$PGDB" -c "BEGIN; LOCK TABLE refresh_families IN ACCESS EXCLUSIVE MODE; SELECT pg_sleep(60); COMMIT" \
    >/dev/null 2>&1 &
LOCKER=$!
i=0
while [ "$(sql "select count(*) from pg_locks l join pg_class c on c.oid = l.relation where c.relname = 'refresh_families' and l.mode = 'AccessExclusiveLock' and l.granted")" != 1 ] &&
    [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
t0=$(now_ms)
st=$(at b post /oauth/token "$DIR/r1" --data-urlencode grant_type=refresh_token \
    --data-urlencode "refresh_token=$REFRESH" -D "$DIR/r1.h")
ms=$(($(now_ms) - t0))
echo "refresh while the table is locked: $st after $ms ms"
check "a refresh behind the lock: 503" 503 "$st"
check "temporarily_unavailable" temporarily_unavailable "$(json_field "$DIR/r1" error)"
grep -qi '^Retry-After: 1' "$DIR/r1.h"; check "Retry-After: 1" 0 $?
[ $ms -lt 4000 ]; check "answered within 4 s, not the default 5 s ($ms ms)" 0 $?
sql "select pg_terminate_backend(pid) from pg_stat_activity where datname = current_database() and query like '%pg_sleep%' and pid <> pg_backend_pid()" >/dev/null
wait "$LOCKER" 2>/dev/null
LOCKER=
st=$(at b refresh "$REFRESH" "$DIR/r2"); check "the same refresh token works once the lock is gone" 200 "$st"
stop_replica b
[ $fail = 0 ] && echo "store_settings: all checks passed"
exit $fail
