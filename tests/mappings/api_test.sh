#!/bin/sh
# The management API of `tokensmith serve` (docs/mappings.md) end to end on loopback: 401
# without a token, 403 from the policy (authz.deny.v1) without the role, create / replace /
# delete with ETags, 428 without If-Match, 412 for the loser of two edits from the same ETag,
# 409 for a second create, hostile bodies (deep nesting, a huge array, duplicate keys) refused
# naming the field, pagination, the audit record of each change, and the CLI round trip.
# usage: api_test.sh TOKENSMITH SOURCE_DIR
TS=$1
SRC=$2
. "$SRC/tests/service/lib.sh"

STORE=$DIR/ts.db
mkdir -p "$DIR/policy"
cat >"$DIR/policy/mappings.csv" <<'CSV'
# the operators who may change token mappings
p, role:mappings-admin, management:mappings, read
p, role:mappings-admin, management:mappings, write
g, service:mgmt-admin, role:mappings-admin
CSV
start_server "$DIR/log" --home "$DIR/home" --store "$STORE" --management-listen 127.0.0.1:0 \
    --management-policy-dir "$DIR/policy"
MPORT=$(sed -n 's/.*"management_port":\([0-9]*\).*/\1/p' "$DIR/log" | tail -1)
[ -n "$MPORT" ] || { echo "FAIL: no management_port in the log"; cat "$DIR/log"; exit 1; }
M=http://127.0.0.1:$MPORT/api/v1/mappings

token_for() { # SUBJECT -> access token on stdout
    b=$("$TS" bootstrap-token create --subject "$1" --audience tokensmith-management \
        --scopes read --store "$STORE" --output-format json 2>/dev/null |
        sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
    exchange "$b" "$DIR/x.$1" >/dev/null
    json_field "$DIR/x.$1" access_token
}
ADMIN=$(token_for mgmt-admin)
OTHER=$(token_for someone-else)
[ -n "$ADMIN" ] && [ -n "$OTHER" ] || { echo "FAIL: no tokens"; cat "$DIR"/x.*; exit 1; }

req() { # METHOD PATH OUT [curl args] -> status; headers in OUT.h
    m=$1; p=$2; o=$3; shift 3
    curl -s -D "$o.h" -o "$o" -w '%{http_code}' -X "$m" "$M$p" "$@"
}
etag_of() { sed -n 's/^[Ee][Tt][Aa][Gg]: *"\([0-9a-f]*\)".*/\1/p' "$1.h" | tr -d '\r'; }
A="Authorization: Bearer $ADMIN"
J="Content-Type: application/json"

# 401 without a token, with WWW-Authenticate and the authz.deny.v1 body.
check "401 without a token" 401 "$(req GET /scope_mappings "$DIR/r")"
grep -qi '^WWW-Authenticate: Bearer' "$DIR/r.h" && echo "ok: WWW-Authenticate" ||
    { echo "FAIL: no WWW-Authenticate"; fail=1; }
# 403 from the policy for a caller without the role.
check "403 without the role" 403 "$(req GET /scope_mappings "$DIR/r" -H "Authorization: Bearer $OTHER")"
grep -q '"schema_version":"authz.deny.v1"' "$DIR/r" && echo "ok: 403 body is authz.deny.v1" ||
    { echo "FAIL: 403 body: $(cat "$DIR/r")"; fail=1; }
check "403 for a write too" 403 "$(req POST /scope_mappings "$DIR/r" -H "Authorization: Bearer $OTHER" -H "$J" -d '{"scope":"x"}')"

# Create, read, replace, delete with ETags.
check "empty list" 200 "$(req GET /scope_mappings "$DIR/r" -H "$A")"
grep -q '"items":\[\]' "$DIR/r" && echo "ok: no items" || { echo "FAIL: list: $(cat "$DIR/r")"; fail=1; }
check "create" 201 "$(req POST /scope_mappings "$DIR/r" -H "$A" -H "$J" -d '{"scope":"read","claims":{"tier":"basic"}}')"
E1=$(etag_of "$DIR/r")
[ ${#E1} -eq 16 ] && echo "ok: ETag on create" || { echo "FAIL: ETag '$E1'"; fail=1; }
check "second create of the name" 409 "$(req POST /scope_mappings "$DIR/r" -H "$A" -H "$J" -d '{"scope":"read"}')"
check "get" 200 "$(req GET /scope_mappings/read "$DIR/r" -H "$A")"
check "get's ETag" "$E1" "$(etag_of "$DIR/r")"
check "replace without If-Match" 428 "$(req PUT /scope_mappings/read "$DIR/r" -H "$A" -H "$J" -d '{"scope":"read","claims":{"tier":"gold"}}')"
check "replace" 200 "$(req PUT /scope_mappings/read "$DIR/r" -H "$A" -H "$J" -H "If-Match: \"$E1\"" -d '{"scope":"read","claims":{"tier":"gold"}}')"
E2=$(etag_of "$DIR/r")
[ -n "$E2" ] && [ "$E2" != "$E1" ] && echo "ok: new ETag" || { echo "FAIL: ETag after replace '$E2'"; fail=1; }
# Two operators edit from the same ETag: the second is refused, the first one's change stays.
check "stale If-Match" 412 "$(req PUT /scope_mappings/read "$DIR/r" -H "$A" -H "$J" -H "If-Match: \"$E1\"" -d '{"scope":"read","claims":{"tier":"lost"}}')"
grep -q '"field":"If-Match"' "$DIR/r" && echo "ok: 412 names If-Match" || { echo "FAIL: 412 body $(cat "$DIR/r")"; fail=1; }
req POST /identity_rules "$DIR/r" -H "$A" -H "$J" -d '{"name":"race","namespace":"ns","service_account":"sa"}' >/dev/null
ER=$(etag_of "$DIR/r")
( req PUT /identity_rules/race "$DIR/c1" -H "$A" -H "$J" -H "If-Match: \"$ER\"" -d '{"name":"race","namespace":"ns","service_account":"one"}' >"$DIR/c1.s" ) &
P1=$!
( req PUT /identity_rules/race "$DIR/c2" -H "$A" -H "$J" -H "If-Match: \"$ER\"" -d '{"name":"race","namespace":"ns","service_account":"two"}' >"$DIR/c2.s" ) &
P2=$!
wait $P1 $P2 # not a bare wait: the server is a child too
check "concurrent edits: one 200, one 412" "200 412" "$(printf '%s\n%s\n' "$(cat "$DIR/c1.s")" "$(cat "$DIR/c2.s")" | sort | tr '\n' ' ' | sed 's/ $//')"
req GET /identity_rules/race "$DIR/r" -H "$A" >/dev/null
winner=$(grep -o '"service_account":"[a-z]*"' "$DIR/r")
if grep -q '^200' "$DIR/c1.s"; then want='"service_account":"one"'; else want='"service_account":"two"'; fi
check "the winner's change is stored" "$want" "$winner"
check "delete without If-Match" 428 "$(req DELETE /scope_mappings/read "$DIR/r" -H "$A")"
check "delete with a stale ETag" 412 "$(req DELETE /scope_mappings/read "$DIR/r" -H "$A" -H "If-Match: \"$E1\"")"
check "delete" 204 "$(req DELETE /scope_mappings/read "$DIR/r" -H "$A" -H "If-Match: \"$E2\"")"
check "deleted" 404 "$(req GET /scope_mappings/read "$DIR/r" -H "$A")"

# Bodies refused naming the field.
check "missing field" 400 "$(req POST /identity_rules "$DIR/r" -H "$A" -H "$J" -d '{"name":"a","service_account":"sa"}')"
grep -q '"field":"namespace"' "$DIR/r" && echo "ok: names namespace" || { echo "FAIL: $(cat "$DIR/r")"; fail=1; }
check "reserved claim" 400 "$(req POST /scope_mappings "$DIR/r" -H "$A" -H "$J" -d '{"scope":"s","claims":{"sub":"root"}}')"
grep -q '"field":"claims.sub"' "$DIR/r" && echo "ok: names claims.sub" || { echo "FAIL: $(cat "$DIR/r")"; fail=1; }
check "duplicate keys" 400 "$(req POST /scope_mappings "$DIR/r" -H "$A" -H "$J" -d '{"scope":"a","scope":"b"}')"
grep -q 'duplicate' "$DIR/r" && grep -q 'scope' "$DIR/r" && echo "ok: names the duplicate key" ||
    { echo "FAIL: $(cat "$DIR/r")"; fail=1; }
deep=$(awk 'BEGIN { for (i = 0; i < 5000; i++) printf "["; for (i = 0; i < 5000; i++) printf "]" }')
check "deep nesting" 400 "$(req POST /scope_mappings "$DIR/r" -H "$A" -H "$J" -d "{\"scope\":\"d\",\"claims\":{\"x\":$deep}}")"
grep -q '"field":"body"' "$DIR/r" && echo "ok: deep nesting names the body" || { echo "FAIL: $(cat "$DIR/r")"; fail=1; }
awk 'BEGIN { printf "{\"name\":\"h\",\"namespace\":\"n\",\"service_account\":\"s\",\"roles\":["; for (i = 0; i < 100000; i++) printf "%s\"r\"", (i ? "," : ""); printf "]}" }' >"$DIR/huge"
check "100k-element array: over the body bound" 413 "$(req POST /identity_rules "$DIR/r" -H "$A" -H "$J" --data-binary "@$DIR/huge")"
awk 'BEGIN { printf "{\"name\":\"h\",\"namespace\":\"n\",\"service_account\":\"s\",\"roles\":["; for (i = 0; i < 1000; i++) printf "%s\"r%d\"", (i ? "," : ""), i; printf "]}" }' >"$DIR/big"
check "1000-element array" 400 "$(req POST /identity_rules "$DIR/r" -H "$A" -H "$J" --data-binary "@$DIR/big")"
grep -q '"field":"roles"' "$DIR/r" && echo "ok: names roles" || { echo "FAIL: $(cat "$DIR/r")"; fail=1; }

# Pagination: 5 items, pages of 2, following `next`.
for n in a b c d e; do
    req POST /resource_mappings "$DIR/r" -H "$A" -H "$J" -d "{\"name\":\"$n\",\"audience\":\"$n\",\"issued_audience\":\"$n-api\"}" >/dev/null
done
p="/resource_mappings?limit=2"; seen=
while [ -n "$p" ]; do
    check "page $p" 200 "$(req GET "$p" "$DIR/r" -H "$A")"
    seen="$seen$(grep -o '"name":"[a-e]"' "$DIR/r" | sed 's/"name":"\(.\)"/\1/' | tr -d '\n')"
    p=$(sed -n 's/.*"next":"\/api\/v1\/mappings\([^"]*\)".*/\1/p' "$DIR/r")
done
check "pages give every item once, in order" abcde "$seen"

# The audit trail: one mappings_changed record per change, naming who, what and the previous value.

    sqlite3 "$STORE" "SELECT type, peer, detail FROM audit_log WHERE type = 'mappings_changed'" >"$DIR/audit"
grep -q 'mappings_changed' "$DIR/audit" && echo "ok: audit records" || { echo "FAIL: audit: $(head -c 600 "$DIR/audit")"; fail=1; }
sqlite3 "$STORE" "SELECT peer || ' ' || detail FROM audit_log WHERE type = 'mappings_changed' AND detail LIKE '%\"op\":\"replace\"%' AND detail LIKE '%scope_mappings%'" >"$DIR/replace"
grep -q '^service:mgmt-admin ' "$DIR/replace" && grep -q '"previous":{"claims":{"tier":"basic"}' "$DIR/replace" &&
    echo "ok: the replace record names who and the previous value" ||
    { echo "FAIL: replace audit: $(cat "$DIR/replace")"; fail=1; }

# The CLI against the API (the token from a file, never on the command line).
printf '%s\n' "$ADMIN" >"$DIR/tok"
chmod 600 "$DIR/tok"
printf '{"scope":"write","claims":{"tier":"w"}}' >"$DIR/item.json"
CLI() { TOKENSMITH_TOKEN_FILE="$DIR/tok" "$TS" mappings "$@" --url "http://127.0.0.1:$MPORT"; }
CLI apply scope_mappings --file "$DIR/item.json" >"$DIR/o1" 2>&1; check "cli apply (create) exit" 0 $?
grep -q '^[0-9a-f]\{16\}$' "$DIR/o1" && echo "ok: apply prints the ETag" || { echo "FAIL: apply: $(cat "$DIR/o1")"; fail=1; }
printf '{"scope":"write","claims":{"tier":"w2"}}' >"$DIR/item.json"
CLI apply scope_mappings --file "$DIR/item.json" >"$DIR/o2" 2>&1; check "cli apply (replace) exit" 0 $?
CLI get scope_mappings write >"$DIR/o3" 2>&1; check "cli get exit" 0 $?
grep -q '"w2"' "$DIR/o3" && echo "ok: cli get shows the replacement" || { echo "FAIL: get: $(cat "$DIR/o3")"; fail=1; }
TOKENSMITH_IF_MATCH=0000000000000000 CLI apply scope_mappings --file "$DIR/item.json" >"$DIR/o4" 2>&1
check "cli apply with a stale If-Match exit" 4 $?
CLI list scope_mappings >"$DIR/o5" 2>&1; check "cli list exit" 0 $?
grep -q '"write"' "$DIR/o5" && echo "ok: cli list" || { echo "FAIL: list: $(cat "$DIR/o5")"; fail=1; }
CLI delete scope_mappings write >"$DIR/o6" 2>&1; check "cli delete exit" 0 $?
CLI get scope_mappings write >"$DIR/o7" 2>&1; check "cli get after delete exit" 3 $?
TOKENSMITH_MANAGEMENT_URL="http://127.0.0.1:$MPORT" "$TS" mappings list scope_mappings >"$DIR/o8" 2>&1
check "cli without a token exit" 2 $?
printf '%s' "$OTHER" >"$DIR/tok2"
TOKENSMITH_TOKEN_FILE="$DIR/tok2" "$TS" mappings list scope_mappings --url "http://127.0.0.1:$MPORT" >"$DIR/o9" 2>&1
check "cli without the role exit" 5 $?

grep -q "$ADMIN" "$DIR/log" && { echo "FAIL: a token reached the log"; fail=1; }
stop_server
if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$DIR/log"; then
    echo "FAIL: sanitizer report"; grep -A20 'Sanitizer\|runtime error' "$DIR/log" | head -40; fail=1
fi
exit $fail
