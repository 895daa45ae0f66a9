#!/bin/sh
# The failed-attempt limiter across replicas is a per-replica budget: each replica counts a
# client's failures in its own memory (10 per 60 s), so with N replicas a client gets at most
# N x 10 refusals of failed grants before every replica answers it 429 (docs/operations.md,
# "Running replicas"). Two replicas: 15 failed exchanges on A give 10 x 400 then 429; 15 on B
# the same; so the client had exactly 20 failed attempts in all, and now both replicas refuse
# it, a valid bootstrap token included, while another client is unaffected on both.
# usage: limiter_budget_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=limiter_budget
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"
# As behind a load balancer (127.0.0.1): X-Forwarded-For names the client.
start_replica a --trusted-proxy 127.0.0.1
start_replica b --trusted-proxy 127.0.0.1
ATTACKER=192.0.2.7
OTHER=192.0.2.8

attempt() { # REPLICA CLIENT TOKEN OUTFILE -> status
    at "$1" post /oauth/token "$4" -H "X-Forwarded-For: $2" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$3" \
        -D "$4.h"
}
unknown() { od -An -N32 -tx1 /dev/urandom | tr -d ' \n'; } # a well-formed token nobody issued

: >"$DIR/statuses"
for r in a b; do
    i=0
    while [ $i -lt 15 ]; do
        st=$(attempt $r $ATTACKER "$(unknown)" "$DIR/o")
        echo "$r $st" >>"$DIR/statuses"
        i=$((i + 1))
    done
    # the order on one replica: its whole budget of 400s first, then only 429s
    check "replica $r: 10 refusals, then 429" "400 400 400 400 400 400 400 400 400 400 429 429 429 429 429" \
        "$(awk -v r=$r '$1 == r {printf "%s%s", s, $2; s = " "}' "$DIR/statuses")"
done
check "failed attempts let through by 2 replicas: 2 x 10" 20 "$(grep -c ' 400$' "$DIR/statuses")"
check "refused by the limiter" 10 "$(grep -c ' 429$' "$DIR/statuses")"

TOK=$(create_token "$PGDB")
for r in a b; do
    st=$(attempt $r $ATTACKER "$TOK" "$DIR/v$r"); check "replica $r: the blocked client is refused even with a valid token" 429 "$st"
    check "replica $r: too_many_requests" too_many_requests "$(json_field "$DIR/v$r" error)"
    ra=$(tr -d '\r' <"$DIR/v$r.h" | sed -n 's/^Retry-After: *//Ip')
    [ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 60 ]; check "replica $r: Retry-After 1..60 (got '$ra')" 0 $?
done
check "the blocked client's attempts never reached the database" "" "$(sql "select consumed_at from bootstrap_tokens")"
# another client is not blocked on either replica: an unknown token is refused (400, not 429),
# and the valid token is redeemed
st=$(attempt a $OTHER "$(unknown)" "$DIR/w"); check "another client on A: 400, not 429" 400 "$st"
st=$(attempt b $OTHER "$TOK" "$DIR/w"); check "another client on B redeems the token" 200 "$st"
for r in a b; do stop_replica $r; done
[ $fail = 0 ] && echo "limiter_budget: all checks passed"
exit $fail
