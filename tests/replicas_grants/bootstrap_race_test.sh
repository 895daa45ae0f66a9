#!/bin/sh
# 100 concurrent exchanges of ONE bootstrap token, spread over three replicas on one
# PostgreSQL database: exactly one 200, 99 refusals (400 invalid_grant, the documented answer to
# a used token), and the database shows one redemption: one consumed token, one refresh family,
# one bootstrap_token_exchanged audit row, and the 99 other presentations counted as replays.
# usage: bootstrap_race_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=bootstrap_race
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found"; exit 1; }
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"

# As behind a load balancer: the balancer (here 127.0.0.1) is the trusted proxy and
# X-Forwarded-For names the client. Every request comes from another client, so that the
# limiter (10 failures per client) does not answer 429 instead of letting the request race;
# 100 connections from one address exceed the default per-address cap (32), which is off.
for r in a b c; do
    start_replica $r --trusted-proxy 127.0.0.1 --max-connections-per-address 0
done
TOK=$(create_token "$PGDB")
[ ${#TOK} -eq 64 ] || { echo "FAIL: bootstrap token not created"; exit 1; }

i=0
while [ $i -lt 100 ]; do
    case $((i % 3)) in 0) p=$PORT_a ;; 1) p=$PORT_b ;; *) p=$PORT_c ;; esac
    echo "$p 10.9.$((i / 200)).$((i % 200 + 1)) $(form_exchange "$TOK")"
    i=$((i + 1))
done | python3 "$SRC/tests/replicas_grants/post_many.py" >"$DIR/race.out"
awk '{print $2, $3}' "$DIR/race.out" | sort | uniq -c
check "exactly one 200" 1 "$(count_lines "$DIR/race.out" '^[0-9]+ 200 ')"
check "99 answered 400 invalid_grant" 99 "$(count_lines "$DIR/race.out" '^[0-9]+ 400 invalid_grant ')"
check "no other answer" 100 "$(count_lines "$DIR/race.out" '^[0-9]+ (200|400 invalid_grant) ')"
# every replica took part (requests i, i+1, i+2 go to a, b, c)
for r in a b c; do
    n=$(grep -c '"path":"/oauth/token"' "$DIR/$r.log")
    [ "$n" -ge 33 ]; check "replica $r answered its share ($n token requests)" 0 $?
done

check "one token consumed" 1 "$(sql "select count(*) from bootstrap_tokens where consumed_at is not null")"
check "99 replays counted on the token" 99 "$(sql "select replay_attempts from bootstrap_tokens")"
check "one refresh family" 1 "$(sql "select count(*) from refresh_families")"
check "the family is the token's" 1 "$(sql "select count(*) from bootstrap_tokens b join refresh_families f using (family_id)")"
check "one bootstrap_token_exchanged audit row" 1 "$(sql "select count(*) from audit_log where type = 'bootstrap_token_exchanged'")"
check "99 bootstrap_token_replay_attempted audit rows" 99 "$(sql "select count(*) from audit_log where type = 'bootstrap_token_replay_attempted'")"

# the winner's refresh token works on every replica's database view: rotate it on each in turn
RT=$(awk '$2 == 200 {print $5}' "$DIR/race.out")
for r in c b a; do
    st=$(at $r refresh "$RT" "$DIR/rt.$r"); check "the winner's refresh token rotates on replica $r" 200 "$st"
    RT=$(json_field "$DIR/rt.$r" refresh_token)
done
for r in a b c; do stop_replica $r; done
[ $fail = 0 ] && echo "bootstrap_race: all checks passed"
exit $fail
