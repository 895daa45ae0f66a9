#!/bin/sh
# mappings.exchange: the token exchange applies the stored token mappings (docs/mappings.md,
# "How the exchange applies them"). `tokensmith serve` with a Kubernetes provider (the loopback
# stand-in issuer tests/gateway/k8s_issuer.mjs) and the management API on SQLite. Checked:
#   - before any mapping, an account the configuration's rules do not map: invalid_grant;
#   - an identity rule, a resource mapping and two scope mappings written through the API take
#     effect on the first exchange after the refresh bound (5 s), and the issued token, verified
#     by node jose, has exactly the mapped claims: aud the mapping's issued_audience, scope the
#     rule's, the participant-context claim of the resource mapping, the scope mappings' claims
#     (first value wins), the claims the service sets unchanged (idp, roles);
#   - the request narrows (scope); a mapped resource with another target, and a resource
#     neither the provider nor a mapping allows: invalid_target; no resource: the provider's
#     audiences and no resource claims;
#   - the configuration's identity rules come first; an unmapped account stays refused;
#   - the log line and the audit record name the items and the document version;
#   - deleting the rule refuses the account again on the first exchange after the bound;
#   - no token in the log.
# Skips (77) without node or node_modules/jose.
# usage: exchange_test.sh TOKENSMITH SOURCE_DIR NODE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${3:-node}
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node missing"; exit 77; }
[ -d "$SRC/node_modules/jose" ] || { echo "SKIP: node_modules/jose missing (npm ci)"; exit 77; }
command -v sqlite3 >/dev/null 2>&1 || { echo "SKIP: sqlite3 missing"; exit 77; }
. "$SRC/tests/service/lib.sh"
. "$SRC/tests/mappings/exchange_lib.sh" # the issuer, kexchange, verify, claims_of, ...

STORE=$DIR/ts.db
start_issuer
write_policy
mapping_config >"$DIR/cfg.json"
start_server "$DIR/s.log" --config "$DIR/cfg.json" --home "$DIR/home" --store "$STORE" \
    --management-listen 127.0.0.1:0 --management-policy-dir "$DIR/policy"
JWKS=$URL/.well-known/jwks.json
MPORT=$(sed -n 's/.*"management_port":\([0-9]*\).*/\1/p' "$DIR/s.log" | tail -1)
M=http://127.0.0.1:$MPORT/api/v1/mappings
ADMIN=$(mgmt_token "$STORE")
[ -n "$ADMIN" ] || { echo "FAIL: no management token"; exit 1; }

PAY=$(mint "ns=payments&sa=api-1&aud=tokensmith")
st=$(kexchange "$PAY" "$DIR/r0")
check "before any mapping: refused" "400 invalid_grant" "$st $(json_field "$DIR/r0" error)"

write_mappings "$M" "$ADMIN"
T0=$(date +%s)
sleep "$BOUND" # the refresh bound has passed: the next exchange reads the new version
st=$(kexchange "$PAY" "$DIR/r1" "$JWT" --data-urlencode "resource=$EDC")
check "mapped account, mapped resource: exchange" 200 "$st"
T1=$(date +%s)
[ $((T1 - T0)) -le 7 ] && echo "ok: applied within 7 s" || { echo "FAIL: took $((T1 - T0)) s"; fail=1; }
out=$(verify "$(json_field "$DIR/r1" access_token)" edc)
check "issued token verifies with node jose" 0 $?
expect_mapped "sqlite" "$out" "pay.read pay.write" '{"daily":1000}'
check "answer's scope" "pay.read pay.write" "$(json_field "$DIR/r1" scope)"

# The request narrows: pay.read only, so pay.write's claims are not added.
st=$(kexchange "$PAY" "$DIR/r2" "$JWT" --data-urlencode "resource=$EDC" --data-urlencode "scope=pay.read")
check "narrowed: exchange" 200 "$st"
out=$(verify "$(json_field "$DIR/r2" access_token)" edc)
expect_mapped "narrowed" "$out" "pay.read" ''
st=$(kexchange "$PAY" "$DIR/r3" "$JWT" --data-urlencode "scope=admin")
check "scope beyond the rule" "400 invalid_scope" "$st $(json_field "$DIR/r3" error)"
# No resource: the provider's audiences, no resource mapping claims.
st=$(kexchange "$PAY" "$DIR/r4")
check "no resource: exchange" 200 "$st"
out=$(verify "$(json_field "$DIR/r4" access_token)" smd)
check "no resource: aud and no participant context" '["smd","bss"] undefined' \
    "$(claims_of "$out" 'JSON.stringify(p.aud)' 'p.participant_context_id')"
# Targets nobody allows, and a mapped resource with another target.
st=$(kexchange "$PAY" "$DIR/r5" "$JWT" --data-urlencode "resource=https://unmapped.example/")
check "unmapped resource" "400 invalid_target" "$st $(json_field "$DIR/r5" error)"
st=$(kexchange "$PAY" "$DIR/r6" "$JWT" --data-urlencode "resource=$EDC" --data-urlencode "audience=smd")
check "mapped resource with an audience" "400 invalid_target" "$st $(json_field "$DIR/r6" error)"
# The configuration's rules first: boot/bss keeps its configured grant, although the stored
# rule "boot-any" (boot/*) would grant admin.
st=$(kexchange "$(mint "ns=boot&sa=bss&aud=tokensmith")" "$DIR/r7")
check "configured rule first" "200 read" "$st $(json_field "$DIR/r7" scope)"
st=$(kexchange "$(mint "ns=boot&sa=other&aud=tokensmith")" "$DIR/r8")
check "stored rule after them" "200 admin" "$st $(json_field "$DIR/r8" scope)"
st=$(kexchange "$(mint "ns=default&sa=default&aud=tokensmith")" "$DIR/r9")
check "unmapped account" "400 invalid_grant" "$st $(json_field "$DIR/r9" error)"

# The log and the audit record name what applied.
grep '"audit_event":"oidc_token_exchanged"' "$DIR/s.log" | grep '"identity_rule":"payments"' |
    grep '"resource_mapping":"edc"' | grep -q '"scope_mappings":\["pay.read","pay.write"\]' &&
    echo "ok: the log names the items" || { echo "FAIL: log: $(grep oidc_token_exchanged "$DIR/s.log" | head -2)"; fail=1; }
VER=$(sqlite3 "$STORE" "SELECT MAX(CAST(SUBSTR(ref_id, 11) AS INTEGER)) FROM audit_log WHERE type = 'mappings_changed'")
sqlite3 "$STORE" "SELECT detail FROM audit_log WHERE type = 'oidc_token_exchanged' AND detail LIKE '%\"resource_mapping\":\"edc\"%'" >"$DIR/audit"
grep -q "\"mappings\":{\"version\":$VER,\"identity_rule\":\"payments\"" "$DIR/audit" &&
    echo "ok: the audit record names the version ($VER) and the items" ||
    { echo "FAIL: audit: $(head -c 600 "$DIR/audit")"; fail=1; }

# Delete the rule: refused again on the first exchange after the bound.
delete_item "$M" "$ADMIN" identity_rules payments
sleep "$BOUND"
st=$(kexchange "$PAY" "$DIR/r10" "$JWT" --data-urlencode "resource=$EDC")
check "rule deleted: refused" "400 invalid_grant" "$st $(json_field "$DIR/r10" error)"

no_token_logged "$DIR/s.log" "$PAY" "$ADMIN"
stop_server
[ $fail -eq 0 ] && echo "PASS" || { echo "--- service log"; tail -n 30 "$DIR/s.log"; }
exit $fail
