#!/bin/sh
# PostgreSQL restarted (and stopped, then started) under two replicas, on a cluster of this
# test's own (never the shared fixture's). During a burst of refreshes `scripts/pg.sh restart`
# cuts every connection: requests may be answered 503 temporarily_unavailable with Retry-After,
# nothing else (a 400 only for a retried request whose cut call had committed, checked in the
# database), no replica crashes, and once the server is back grants succeed again on both
# replicas without restarting them. Then with the server stopped: /health answers 503 (not
# ready) on both replicas, grants 503 temporarily_unavailable with Retry-After, the JWKS and the
# metadata still 200; after it is started again /health is 200 and grants succeed.
# usage: pg_restart_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=pg_restart
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_own_cluster
start_replica a
start_replica b
WORKERS="1 2 3 4"
for w in $WORKERS; do create_token "$PGDB" >"$DIR/w$w.tok"; done

tok_req() { # REPLICA OUTFILE CURL-ARGS... -> HTTP status; headers in OUTFILE.h
    eval "u=\$URL_$1"
    o=$2
    shift 2
    curl -s -m 30 -D "$o.h" -o "$o" -w '%{http_code}' -X POST "$u/oauth/token" "$@"
}
retry_after() { tr -d '\r' <"$1.h" | sed -n 's/^Retry-After: *//Ip'; }

# Client W on replica a (odd) or b (even): exchange, then refresh until told to stop; a 503 is
# retried with the same token. Files: w$W.log ("STATUS ERROR RETRY-AFTER" per answer),
# w$W.n (answered rotations), w$W.after (rotations answered after the restart), w$W.rt,
# w$W.lost (the hash of a token refused right after a 503), w$W.done.
refresher() {
    w=$1 r=a
    [ $(($1 % 2)) = 0 ] && r=b
    st=$(at $r exchange "$(cat "$DIR/w$w.tok")" "$DIR/w$w.body")
    echo "exchange $st" >"$DIR/w$w.log"
    if [ "$st" != 200 ]; then echo done >"$DIR/w$w.done"; return 0; fi
    rt=$(json_field "$DIR/w$w.body" refresh_token)
    n=0 after=0 prev=
    while [ ! -e "$DIR/stop" ] && [ $n -lt 2000 ]; do
        st=$(tok_req $r "$DIR/w$w.body" --data-urlencode grant_type=refresh_token \
            --data-urlencode "refresh_token=$rt")
        echo "$st $(json_field "$DIR/w$w.body" error) $(retry_after "$DIR/w$w.body")" >>"$DIR/w$w.log"
        case $st in
        200)
            rt=$(json_field "$DIR/w$w.body" refresh_token)
            n=$((n + 1))
            [ -e "$DIR/restarted" ] && after=$((after + 1))
            echo "$rt" >"$DIR/w$w.rt"
            echo $n >"$DIR/w$w.n"
            echo $after >"$DIR/w$w.after"
            ;;
        503) sleep 0.1 ;; # the client's pause before it retries (Retry-After says 1 s)
        *)
            [ "$prev" = 503 ] && sha256_hex "$rt" >"$DIR/w$w.lost"
            break
            ;;
        esac
        prev=$st
    done
    echo done >"$DIR/w$w.done"
}
pids=
for w in $WORKERS; do echo 0 >"$DIR/w$w.n"; echo 0 >"$DIR/w$w.after"; refresher $w & pids="$pids $!"; done
answered() { cat "$DIR"/w*.n | awk '{s += $1} END {print s + 0}'; }
i=0
while [ "$(answered)" -lt 12 ] && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
check "the burst is under way" 1 "$([ "$(answered)" -ge 12 ] && echo 1)"
"$SRC/scripts/pg.sh" restart "$PGCLUSTER"
check "PostgreSQL restarted" 0 $?
touch "$DIR/restarted"
# every client still running has 3 rotations answered after the restart (bounded: 60 s)
recovered() {
    for w in $WORKERS; do
        [ -e "$DIR/w$w.done" ] || [ "$(cat "$DIR/w$w.after")" -ge 3 ] || return 1
    done
}
i=0
while ! recovered && [ $i -lt 600 ]; do sleep 0.1; i=$((i + 1)); done
touch "$DIR/stop"
wait $pids

cat "$DIR"/w*.log | grep -v '^exchange' | sort | uniq -c | sed 's/^/answers: /'
for w in $WORKERS; do
    check "client $w: exchange" "exchange 200" "$(head -1 "$DIR/w$w.log")"
    bad=$(sed 1d "$DIR/w$w.log" | grep -v '^200 \|^503 temporarily_unavailable [1-9]')
    if [ -e "$DIR/w$w.lost" ]; then
        # the refused retry presented a token whose rotation (the call answered 503) committed
        check "client $w: a refusal after a 503 was a committed cut rotation" 1 \
            "$(sql "select count(*) from refresh_rotated where token_hash = '$(cat "$DIR/w$w.lost")'")"
        bad=$(echo "$bad" | sed '$d')
    else
        check "client $w: rotated after the restart without a restart of tokensmith" 1 \
            "$([ "$(cat "$DIR/w$w.after")" -ge 3 ] && echo 1)"
    fi
    check "client $w: only 200 or 503 temporarily_unavailable with Retry-After" "" "$bad"
done
n503=$(cat "$DIR"/w*.log | grep -c '^503 ')
echo "503 answers during the restart: $n503"
for r in a b; do
    eval "p=\$PID_$r"
    kill -0 "$p" 2>/dev/null; check "replica $r survived the restart (same process)" 0 $?
done

# --- /health and grants while the server is down
health() { eval "u=\$URL_$1"; curl -s -m 30 -o "$DIR/health.$1" -w '%{http_code}' "$u/health"; }
for r in a b; do check "replica $r ready before the stop" 200 "$(health $r)"; done
"$SRC/scripts/pg.sh" halt "$PGCLUSTER" >/dev/null
check "PostgreSQL stopped" 0 $?
for r in a b; do
    i=0
    while [ "$(health $r)" != 503 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    check "replica $r: /health 503 while the database is down" 503 "$(health $r)"
    check "replica $r: /health says unhealthy" unhealthy "$(json_field "$DIR/health.$r" status)"
    eval "u=\$URL_$r"
    check "replica $r: JWKS still served" 200 "$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$u/.well-known/jwks.json")"
    check "replica $r: metadata still served" 200 \
        "$(curl -s -m 30 -o /dev/null -w '%{http_code}' "$u/.well-known/openid-configuration")"
    st=$(tok_req $r "$DIR/down.$r" --data-urlencode grant_type=refresh_token \
        --data-urlencode "refresh_token=$(cat "$DIR/w1.rt")")
    check "replica $r: a grant answers 503" 503 "$st"
    check "replica $r: temporarily_unavailable" temporarily_unavailable "$(json_field "$DIR/down.$r" error)"
    check "replica $r: with Retry-After" 1 "$([ "$(retry_after "$DIR/down.$r")" -ge 1 ] 2>/dev/null && echo 1)"
done
"$SRC/scripts/pg.sh" start "$PGCLUSTER" >/dev/null
check "PostgreSQL started again" 0 $?
for r in a b; do
    i=0
    while [ "$(health $r)" != 200 ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
    check "replica $r: /health 200 again" 200 "$(health $r)"
done
# the clients whose families are intact rotate again, each on the other replica
for w in $WORKERS; do
    [ -e "$DIR/w$w.lost" ] && continue
    r=b
    [ $((w % 2)) = 0 ] && r=a
    check "client $w: rotates on replica $r after the start" 200 "$(at $r refresh "$(cat "$DIR/w$w.rt")" "$DIR/w$w.final")"
done
st=$(at a exchange "$(create_token "$PGDB")" "$DIR/new"); check "a new bootstrap exchange" 200 "$st"
for r in a b; do stop_replica $r; done
[ $fail = 0 ] && echo "pg_restart: all checks passed"
exit $fail
