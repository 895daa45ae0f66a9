#!/bin/sh
# The management API on two replicas sharing one PostgreSQL database: a change through replica
# A is served by replica B at once (every read goes to the store), with the same ETag; B
# replaces it with that ETag, and A's stale edit is then refused (412); every change is audited
# exactly once in the database, naming who made it. Then the exchange (with node and
# node_modules/jose; otherwise that part is skipped): mappings written through replica A are
# applied by replica B's first exchange after the refresh bound (5 s; at most 7 s from the
# write), the token B issues has exactly the mapped claims (node jose), and a rule deleted
# through A refuses the account on B's first exchange after the bound.
# usage: pg_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE [NODE]
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${4:-node}
TEST_NAME=mappings_pg
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"
. "$SRC/tests/mappings/exchange_lib.sh"
WITH_EXCHANGE=
if command -v "$NODE" >/dev/null 2>&1 && [ -d "$SRC/node_modules/jose" ]; then
    WITH_EXCHANGE=1
    start_issuer
    mapping_config >"$DIR/cfg.json"
    set -- --config "$DIR/cfg.json"
else
    echo "skip: the exchange part (node or node_modules/jose missing)"
    set --
fi

mkdir -p "$DIR/policy"
cat >"$DIR/policy/mappings.csv" <<'CSV'
p, role:mappings-admin, management:mappings, read
p, role:mappings-admin, management:mappings, write
g, service:mgmt-admin, role:mappings-admin
CSV
start_replica a --management-listen 127.0.0.1:0 --management-policy-dir "$DIR/policy" "$@"
start_replica b --management-listen 127.0.0.1:0 --management-policy-dir "$DIR/policy" "$@"
mport() { sed -n 's/.*"msg":"listening".*"management_port":\([0-9]*\).*/\1/p' "$DIR/$1.log" | tail -1; }
MA=http://127.0.0.1:$(mport a)/api/v1/mappings
MB=http://127.0.0.1:$(mport b)/api/v1/mappings

# A token from replica A, signed with A's key: B verifies it with the keys the store publishes.
b=$("$TS" bootstrap-token create --subject mgmt-admin --audience tokensmith-management \
    --scopes read --store "$PGDB" --output-format json 2>/dev/null |
    sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
at a exchange "$b" "$DIR/x" >/dev/null
TOK=$(json_field "$DIR/x" access_token)
[ -n "$TOK" ] || { echo "FAIL: no token: $(cat "$DIR/x")"; exit 1; }
H="Authorization: Bearer $TOK"
J="Content-Type: application/json"
req() { # METHOD URL OUT [curl args] -> status
    m=$1; u=$2; o=$3; shift 3
    curl -s -D "$o.h" -o "$o" -w '%{http_code}' -X "$m" "$u" "$@"
}
etag_of() { sed -n 's/^[Ee][Tt][Aa][Gg]: *"\([0-9a-f]*\)".*/\1/p' "$1.h" | tr -d '\r'; }

check "create through A" 201 "$(req POST "$MA/identity_rules" "$DIR/r" -H "$H" -H "$J" -d '{"name":"pay","namespace":"payments","service_account":"api-*","scopes":["pay"],"priority":10}')"
EA=$(etag_of "$DIR/r")
check "B serves it" 200 "$(req GET "$MB/identity_rules/pay" "$DIR/r" -H "$H")"
check "with the same ETag" "$EA" "$(etag_of "$DIR/r")"
check "replace through B with A's ETag" 200 "$(req PUT "$MB/identity_rules/pay" "$DIR/r" -H "$H" -H "$J" -H "If-Match: \"$EA\"" -d '{"name":"pay","namespace":"payments","service_account":"api-v2","priority":10}')"
EB=$(etag_of "$DIR/r")
check "A's stale edit is refused" 412 "$(req PUT "$MA/identity_rules/pay" "$DIR/r" -H "$H" -H "$J" -H "If-Match: \"$EA\"" -d '{"name":"pay","namespace":"payments","service_account":"lost"}')"
check "A serves B's change" 200 "$(req GET "$MA/identity_rules/pay" "$DIR/r" -H "$H")"
grep -q '"service_account":"api-v2"' "$DIR/r" && echo "ok: B's change is the stored one" ||
    { echo "FAIL: A serves $(cat "$DIR/r")"; fail=1; }
check "delete through A with B's ETag" 204 "$(req DELETE "$MA/identity_rules/pay" "$DIR/r" -H "$H" -H "If-Match: \"$EB\"")"
check "gone on B" 404 "$(req GET "$MB/identity_rules/pay" "$DIR/r" -H "$H")"
check "three changes, each audited once" 3 "$(sql "SELECT count(*) FROM audit_log WHERE type = 'mappings_changed'")"
check "by the caller" 3 "$(sql "SELECT count(*) FROM audit_log WHERE type = 'mappings_changed' AND peer = 'service:mgmt-admin'")"
check "the stored version" 3 "$(sql "SELECT version FROM mappings")"

if [ -n "$WITH_EXCHANGE" ]; then
    JWKS=$URL_b/.well-known/jwks.json
    PAY=$(mint "ns=payments&sa=api-1&aud=tokensmith")
    st=$(at b kexchange "$PAY" "$DIR/e0")
    check "B before the mappings: refused" "400 invalid_grant" "$st $(json_field "$DIR/e0" error)"
    write_mappings "$MA" "$TOK"
    T0=$(date +%s)
    sleep "$BOUND"
    # B's first exchange after the bound reads the new version; a retry within 7 s at most.
    while :; do
        st=$(at b kexchange "$PAY" "$DIR/e1" "$JWT" --data-urlencode "resource=$EDC")
        [ "$st" = 200 ] || [ $(($(date +%s) - T0)) -ge 7 ] && break
        sleep 0.5
    done
    check "B applies A's mappings within 7 s" "200 yes" "$st $([ $(($(date +%s) - T0)) -le 7 ] && echo yes)"
    out=$(verify "$(json_field "$DIR/e1" access_token)" edc)
    check "B's token verifies with node jose" 0 $?
    expect_mapped "B" "$out" "pay.read pay.write" '{"daily":1000}'
    VER=$(sql "SELECT version FROM mappings")
    grep '"audit_event":"oidc_token_exchanged"' "$DIR/b.log" | grep -q "\"mappings\":{\"version\":$VER,\"identity_rule\":\"payments\"" &&
        echo "ok: B logs the version and the rule" || { echo "FAIL: B's log"; fail=1; }
    delete_item "$MA" "$TOK" identity_rules payments
    sleep "$BOUND"
    st=$(at b kexchange "$PAY" "$DIR/e2")
    check "rule deleted through A: B refuses" "400 invalid_grant" "$st $(json_field "$DIR/e2" error)"
    st=$(at a kexchange "$PAY" "$DIR/e3")
    check "and A too" "400 invalid_grant" "$st $(json_field "$DIR/e3" error)"
    no_token_logged "$DIR/b.log" "$PAY" "$TOK"
fi
stop_replica a
stop_replica b
exit $fail
