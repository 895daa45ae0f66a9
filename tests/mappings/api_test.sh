#!/bin/sh
# The management API of `tokensmith serve` (docs/mappings.md) end to end on loopback: 401
# without a token, 403 from the policy (authz.deny.v1) without the role, create / replace /
# delete with ETags, 428 without If-Match, 412 for the loser of two edits from the same ETag,
# 409 for a second create, hostile bodies (deep nesting, a huge array, duplicate keys) refused
# naming the field, pagination, the audit record of each change, and the CLI round trip (-f,
# --token-file, --if-match and their variables).
# With node and node_modules/jose, Kubernetes service-account tokens too, from a loopback
# stand-in for the cluster's issuer (tests/gateway/k8s_issuer.mjs) configured as a "kind":
# "kubernetes" provider: the audience tokensmith-management and a policy grant open the API
# (the audit names the account); without the grant 403 (authz.deny.v1); a token for the
# exchange's audience, an expired one and one older than max_token_age_s get 401; a management
# token does not pass the exchange; a provider whose accepted_audiences holds
# tokensmith-management is refused at start-up; the CLI with the account's token file.
# usage: api_test.sh TOKENSMITH SOURCE_DIR [NODE]
TS=$1
SRC=$2
NODE=${3:-node}
. "$SRC/tests/service/lib.sh"

# The cluster's issuer, when node and jose are here.
K8S=
ISS_PID=
cleanup_more() {
    [ -n "$ISS_PID" ] && { kill -TERM "$ISS_PID" 2>/dev/null; wait "$ISS_PID" 2>/dev/null; }
    ISS_PID=
}
if command -v "$NODE" >/dev/null 2>&1 && [ -d "$SRC/node_modules/jose" ]; then
    mkdir -p "$DIR/issuer"
    (cd "$SRC" && exec "$NODE" tests/gateway/k8s_issuer.mjs "$DIR/issuer" 0) \
        >"$DIR/issuer.out" 2>"$DIR/issuer.err" &
    ISS_PID=$!
    i=0
    while [ -z "$(awk '/^listening /{print $2}' "$DIR/issuer.out")" ] && [ $i -lt 300 ]; do
        kill -0 "$ISS_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    ISS_PORT=$(awk '/^listening /{print $2}' "$DIR/issuer.out")
    [ -n "$ISS_PORT" ] || { echo "FAIL: the issuer did not start"; cat "$DIR/issuer.err"; exit 1; }
    K8S=http://127.0.0.1:$ISS_PORT
else
    echo "note: node or node_modules/jose missing: Kubernetes tokens not tested"
fi
# k8s_config AUDIENCES: a service configuration with the cluster as a provider
k8s_config() {
    cat <<JSON
{"oidc": {"providers": [
   {"kind": "kubernetes", "issuer": "$K8S", "accepted_audiences": [$1],
    "max_token_age_s": 600, "allow_legacy_tokens": true, "audiences": ["smd"],
    "identity_rules": [{"namespace": "ops", "service_account": "*", "scopes": ["read"]}]}]}}
JSON
}
CONFIG=
if [ -n "$K8S" ]; then
    k8s_config '"tokensmith"' >"$DIR/cfg.json"
    CONFIG="--config $DIR/cfg.json"
    # A provider whose exchange audience is the management audience: refused at start-up.
    k8s_config '"tokensmith", "tokensmith-management"' >"$DIR/bad.json"
    timeout 30 "$TS" serve --listen 127.0.0.1:0 --home "$DIR/home-bad" --config "$DIR/bad.json" \
        --management-listen 127.0.0.1:0 >"$DIR/bad.log" 2>&1
    rc=$?
    [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q 'accepted_audiences must not hold' "$DIR/bad.log" &&
        echo "ok: exchange audience tokensmith-management refused at start-up" ||
        { echo "FAIL: bad provider: exit $rc: $(tail -3 "$DIR/bad.log")"; fail=1; }
fi

STORE=$DIR/ts.db
mkdir -p "$DIR/policy"
cat >"$DIR/policy/mappings.csv" <<'CSV'
# the operators who may change token mappings
p, role:mappings-admin, management:mappings, read
p, role:mappings-admin, management:mappings, write
g, service:mgmt-admin, role:mappings-admin
# a Kubernetes service account (its token, or a token exchanged for it)
g, service:system:serviceaccount:ops:cli, role:mappings-admin
CSV
# shellcheck disable=SC2086 # CONFIG is empty or two words
start_server "$DIR/log" --home "$DIR/home" --store "$STORE" --management-listen 127.0.0.1:0 \
    --management-policy-dir "$DIR/policy" $CONFIG
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
CLI apply scope_mappings -f "$DIR/item.json" >"$DIR/o1" 2>&1; check "cli apply -f (create) exit" 0 $?
grep -q '^[0-9a-f]\{16\}$' "$DIR/o1" && echo "ok: apply prints the ETag" || { echo "FAIL: apply: $(cat "$DIR/o1")"; fail=1; }
printf '{"scope":"write","claims":{"tier":"w2"}}' >"$DIR/item.json"
CLI apply scope_mappings --file "$DIR/item.json" >"$DIR/o2" 2>&1; check "cli apply (replace) exit" 0 $?
CLI get scope_mappings write >"$DIR/o3" 2>&1; check "cli get exit" 0 $?
grep -q '"w2"' "$DIR/o3" && echo "ok: cli get shows the replacement" || { echo "FAIL: get: $(cat "$DIR/o3")"; fail=1; }
TOKENSMITH_IF_MATCH=0000000000000000 CLI apply scope_mappings --file "$DIR/item.json" >"$DIR/o4" 2>&1
check "cli apply with a stale TOKENSMITH_IF_MATCH exit" 4 $?
grep -q 'HTTP 412' "$DIR/o4" && echo "ok: the stale variable's 412" || { echo "FAIL: $(cat "$DIR/o4")"; fail=1; }
CLI apply scope_mappings -f "$DIR/item.json" --if-match 0000000000000000 >"$DIR/o4" 2>&1
check "cli apply --if-match stale exit" 4 $?
grep -q 'HTTP 412' "$DIR/o4" && echo "ok: --if-match's 412" || { echo "FAIL: $(cat "$DIR/o4")"; fail=1; }
CUR=$(CLI get scope_mappings write 2>&1 >/dev/null | sed -n 's/^ETag: //p')
printf '{"scope":"write","claims":{"tier":"w3"}}' >"$DIR/item.json"
CLI apply scope_mappings -f "$DIR/item.json" --if-match "$CUR" >"$DIR/o4" 2>&1
check "cli apply --if-match current exit" 0 $?
# --token-file beats TOKENSMITH_TOKEN (a token of a caller without the role), and the variable
# TOKENSMITH_TOKEN_FILE.
printf '%s' "$OTHER" >"$DIR/tok2"
TOKENSMITH_TOKEN="$OTHER" TOKENSMITH_TOKEN_FILE="$DIR/tok2" "$TS" mappings get scope_mappings write \
    --token-file "$DIR/tok" --url "http://127.0.0.1:$MPORT" >"$DIR/o4" 2>&1
check "cli --token-file exit" 0 $?
grep -q '"w3"' "$DIR/o4" && echo "ok: cli get with --token-file" || { echo "FAIL: $(cat "$DIR/o4")"; fail=1; }
CLI list scope_mappings >"$DIR/o5" 2>&1; check "cli list exit" 0 $?
grep -q '"write"' "$DIR/o5" && echo "ok: cli list" || { echo "FAIL: list: $(cat "$DIR/o5")"; fail=1; }
CLI delete scope_mappings write >"$DIR/o6" 2>&1; check "cli delete exit" 0 $?
CLI get scope_mappings write >"$DIR/o7" 2>&1; check "cli get after delete exit" 3 $?
TOKENSMITH_MANAGEMENT_URL="http://127.0.0.1:$MPORT" "$TS" mappings list scope_mappings >"$DIR/o8" 2>&1
check "cli without a token exit" 2 $?
TOKENSMITH_TOKEN_FILE="$DIR/tok2" "$TS" mappings list scope_mappings --url "http://127.0.0.1:$MPORT" >"$DIR/o9" 2>&1
check "cli without the role exit" 5 $?

# Kubernetes service-account tokens.
if [ -n "$K8S" ]; then
    mint() { curl -s "$K8S/mint?$1"; }
    KW=$(mint "ns=ops&sa=cli&aud=tokensmith-management")
    KN=$(mint "ns=ops&sa=reader&aud=tokensmith-management")
    KX=$(mint "ns=ops&sa=cli&aud=tokensmith")
    KOLD=$(mint "ns=ops&sa=cli&aud=tokensmith-management&age=900")
    # Expired: signed with the cluster's key (its kid as kube-apiserver makes it), exp past.
    KEXP=$(cd "$SRC" && "$NODE" --input-type=module -e "
        import crypto from 'node:crypto'; import fs from 'node:fs'; import * as jose from 'jose';
        const k = JSON.parse(fs.readFileSync('$DIR/issuer/keys.json', 'utf8')).main;
        const kid = crypto.createHash('sha256').update(crypto.createPublicKey({ key: k,
            format: 'jwk' }).export({ type: 'spki', format: 'der' })).digest('base64url');
        const now = Math.floor(Date.now() / 1000);
        process.stdout.write(await new jose.SignJWT({ 'kubernetes.io': { namespace: 'ops',
            serviceaccount: { name: 'cli', uid: crypto.randomUUID() } } })
          .setProtectedHeader({ alg: 'RS256', kid }).setIssuer('$K8S')
          .setSubject('system:serviceaccount:ops:cli').setAudience(['tokensmith-management'])
          .setIssuedAt(now - 700).setNotBefore(now - 700).setExpirationTime(now - 300)
          .sign(await jose.importJWK(k, 'RS256')));")
    [ -n "$KW" ] && [ -n "$KEXP" ] || { echo "FAIL: no Kubernetes tokens"; fail=1; }
    K="Authorization: Bearer $KW"
    check "k8s: granted account creates" 201 "$(req POST /scope_mappings "$DIR/k" -H "$K" -H "$J" -d '{"scope":"k8s","claims":{"by":"ops"}}')"
    KE=$(etag_of "$DIR/k")
    check "k8s: granted account reads" 200 "$(req GET /scope_mappings/k8s "$DIR/k" -H "$K")"
    check "k8s: granted account replaces" 200 "$(req PUT /scope_mappings/k8s "$DIR/k" -H "$K" -H "$J" -H "If-Match: \"$KE\"" -d '{"scope":"k8s","claims":{"by":"ops2"}}')"
    check "k8s: stale ETag" 412 "$(req PUT /scope_mappings/k8s "$DIR/k" -H "$K" -H "$J" -H "If-Match: \"$KE\"" -d '{"scope":"k8s"}')"
    check "k8s: account without the grant" 403 "$(req POST /scope_mappings "$DIR/k" -H "Authorization: Bearer $KN" -H "$J" -d '{"scope":"k8s2"}')"
    grep -q '"schema_version":"authz.deny.v1"' "$DIR/k" && echo "ok: k8s 403 body is authz.deny.v1" ||
        { echo "FAIL: k8s 403 body: $(cat "$DIR/k")"; fail=1; }
    check "k8s: account without the grant, read" 403 "$(req GET /scope_mappings "$DIR/k" -H "Authorization: Bearer $KN")"
    check "k8s: the exchange's audience" 401 "$(req GET /scope_mappings "$DIR/k" -H "Authorization: Bearer $KX")"
    grep -qi '^WWW-Authenticate: Bearer realm="tokensmith-management", error="invalid_token"' "$DIR/k.h" &&
        grep -q '"authn_reason":"wrong_audience"' "$DIR/k" && echo "ok: 401 wrong_audience, challenge" ||
        { echo "FAIL: 401: $(cat "$DIR/k.h" "$DIR/k")"; fail=1; }
    check "k8s: expired" 401 "$(req GET /scope_mappings "$DIR/k" -H "Authorization: Bearer $KEXP")"
    grep -q '"authn_reason":"expired"' "$DIR/k" && echo "ok: expired named" || { echo "FAIL: $(cat "$DIR/k")"; fail=1; }
    check "k8s: older than max_token_age_s" 401 "$(req GET /scope_mappings "$DIR/k" -H "Authorization: Bearer $KOLD")"
    # Tampered: the signature's first character changed (its last may carry only padding bits).
    sig=${KW##*.}
    case $sig in A*) bad=B${sig#?} ;; *) bad=A${sig#?} ;; esac
    check "k8s: tampered" 401 "$(req GET /scope_mappings "$DIR/k" -H "Authorization: Bearer ${KW%.*}.$bad")"
    # A legacy Secret token names no audience: never taken here, allowed for the exchange or not.
    check "k8s: legacy Secret token" 401 "$(req GET /scope_mappings "$DIR/k" -H "Authorization: Bearer $(mint "ns=ops&sa=cli&shape=legacy")")"
    # ... and a management token is no subject token of the exchange.
    st=$(post /oauth/token "$DIR/kx" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=urn:ietf:params:oauth:token-type:jwt" \
        --data-urlencode "subject_token=$KW")
    check "k8s: management token at the exchange" 400 "$st"
    st=$(post /oauth/token "$DIR/kx" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=urn:ietf:params:oauth:token-type:jwt" \
        --data-urlencode "subject_token=$KX")
    check "k8s: exchange token at the exchange" 200 "$st"
    # The audit names the account, the log the kind of token.
    sqlite3 "$STORE" "SELECT peer FROM audit_log WHERE type = 'mappings_changed' AND detail LIKE '%\"name\":\"k8s\"%'" >"$DIR/kaudit"
    check "k8s: audit actor" "service:system:serviceaccount:ops:cli" "$(sort -u "$DIR/kaudit")"
    grep '"msg":"management access"' "$DIR/log" | grep -q '"subject_kind":"kubernetes"' &&
        echo "ok: decision log names the kind" || { echo "FAIL: no subject_kind in the decision log"; fail=1; }
    grep '"msg":"mappings changed"' "$DIR/log" | grep -q '"subject_kind":"kubernetes"' &&
        echo "ok: change log names the kind" || { echo "FAIL: no subject_kind in the change log"; fail=1; }
    # The CLI with the account's projected token file.
    printf '%s\n' "$KW" >"$DIR/ktok"
    printf '{"scope":"k8s","claims":{"by":"cli"}}' >"$DIR/k.json"
    "$TS" mappings apply scope_mappings -f "$DIR/k.json" --token-file "$DIR/ktok" \
        --url "http://127.0.0.1:$MPORT" >"$DIR/ko" 2>&1
    check "k8s: cli apply with --token-file" 0 $?
    "$TS" mappings delete scope_mappings k8s --token-file "$DIR/ktok" --if-match 0000000000000000 \
        --url "http://127.0.0.1:$MPORT" >"$DIR/ko" 2>&1
    check "k8s: cli delete with a stale --if-match" 4 $?
    for t in "$KW" "$KN" "$KX" "$KEXP"; do
        grep -q "$t" "$DIR/log" && { echo "FAIL: a Kubernetes token reached the log"; fail=1; }
    done
fi

grep -q "$ADMIN" "$DIR/log" && { echo "FAIL: a token reached the log"; fail=1; }
stop_server
if grep -q 'AddressSanitizer\|LeakSanitizer\|runtime error' "$DIR/log"; then
    echo "FAIL: sanitizer report"; grep -A20 'Sanitizer\|runtime error' "$DIR/log" | head -40; fail=1
fi
exit $fail
