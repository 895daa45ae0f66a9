#!/bin/sh
# Refresh-token reuse across replicas on one PostgreSQL database. A client rotates its refresh
# token on replica A; the OLD token presented on replica B is reuse: refused, the whole family
# revoked (the new token is refused on A too), and audited once. Then the same with the old
# token presented 20 times at once, 10 on each replica: still one replay_detected and one
# family_revoked audit row, and every presentation refused.
# usage: refresh_replay_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=refresh_replay
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found"; exit 1; }
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"
# The concurrent part presents 20 failed grants from distinct clients (X-Forwarded-For from the
# trusted proxy), so that the limiter answers none of them 429.
start_replica a --trusted-proxy 127.0.0.1
start_replica b --trusted-proxy 127.0.0.1

audit_count() { # TYPE FAMILY_ID
    sql "select count(*) from audit_log where type = '$1' and ref_id = '$2'"
}
new_family() { # OUTFILE: exchange a new bootstrap token on A
    tok=$(create_token "$PGDB")
    st=$(at a exchange "$tok" "$1"); check "exchange on A" 200 "$st"
}

# --- sequential: rotate on A, replay the old token on B
new_family "$DIR/x1"
R1=$(json_field "$DIR/x1" refresh_token)
FAM=$(sql "select family_id from refresh_families")
st=$(at a refresh "$R1" "$DIR/r2"); check "rotation on A" 200 "$st"
R2=$(json_field "$DIR/r2" refresh_token)
st=$(at b refresh "$R1" "$DIR/replay"); check "the old token on B is refused" 400 "$st"
check "refusal is invalid_grant" invalid_grant "$(json_field "$DIR/replay" error)"
check "the family is revoked for reuse" reuse_detected "$(sql "select revoke_reason from refresh_families where family_id = '$FAM'")"
st=$(at a refresh "$R2" "$DIR/r3"); check "the new token is refused on A too" 400 "$st"
st=$(at b refresh "$R2" "$DIR/r3b"); check "and on B" 400 "$st"
check "replay audited once" 1 "$(audit_count refresh_token_replay_detected "$FAM")"
check "revocation audited once" 1 "$(audit_count refresh_token_family_revoked "$FAM")"
check "one rotation audited" 1 "$(audit_count refresh_token_rotated "$FAM")"
grep -q "\"audit_event\":\"refresh_token_family_revoked\".*\"family_id\":\"$FAM\"\|\"family_id\":\"$FAM\".*\"audit_event\":\"refresh_token_family_revoked\"" "$DIR/b.log"
check "replica B logged the revocation" 0 $?

# --- concurrent: the old token presented 20 times at once, 10 on each replica
new_family "$DIR/y1"
O1=$(json_field "$DIR/y1" refresh_token)
FAM2=$(sql "select family_id from refresh_families where family_id <> '$FAM'")
st=$(at a refresh "$O1" "$DIR/y2"); check "rotation on A" 200 "$st"
O2=$(json_field "$DIR/y2" refresh_token)
i=0
while [ $i -lt 20 ]; do
    if [ $((i % 2)) = 0 ]; then p=$PORT_a; else p=$PORT_b; fi
    echo "$p 10.8.0.$((i + 1)) $(form_refresh "$O1")"
    i=$((i + 1))
done | python3 "$SRC/tests/replicas_grants/post_many.py" >"$DIR/burst.out"
awk '{print $2, $3}' "$DIR/burst.out" | sort | uniq -c
check "all 20 replays refused with invalid_grant" 20 "$(count_lines "$DIR/burst.out" '^[0-9]+ 400 invalid_grant ')"
check "the family is revoked for reuse" reuse_detected "$(sql "select revoke_reason from refresh_families where family_id = '$FAM2'")"
check "concurrent replays: replay audited once" 1 "$(audit_count refresh_token_replay_detected "$FAM2")"
check "concurrent replays: revocation audited once" 1 "$(audit_count refresh_token_family_revoked "$FAM2")"
st=$(at b refresh "$O2" "$DIR/y3"); check "the newest token of that family is refused" 400 "$st"

for r in a b; do stop_replica $r; done
[ $fail = 0 ] && echo "refresh_replay: all checks passed"
exit $fail
