#!/bin/sh
# gateway.k8s: Kubernetes service-account tokens end to end (docs/gateway.md, "Kubernetes
# identity" and "Where a trust entry's keys come from"). A loopback stand-in for the API
# server's issuer (k8s_issuer.mjs: discovery, /openid/v1/jwks with Kubernetes' opaque
# SHA-256-of-SPKI kid, RS256 tokens signed by node jose in the projected and legacy shapes) and
# `tokensmith gateway` trusting it with "kind": "kubernetes" and no jwks_uri, so the keys come
# from OpenID discovery. A policy fragment binds app-prod/eso-sa to role:operator, another to
# role:x (which inherits role:y). Checked over
# the HTTP check listener (Envoy style: the check is the request) and over gRPC (grpc_client.mjs
# "one"):
#   - the issuer down at the first token: 503 / UNAVAILABLE; back up: still 503 until the
#     documented 30 s retry interval has passed (no discovery in between), then allowed;
#   - a projected token (array aud holding "gateway", nested kubernetes.io claims) on a route
#     operator may use: exactly 200, and the translated token, verified by node jose against
#     the gateway's admin JWKS, keeps sub system:serviceaccount:app-prod:eso-sa, the
#     kubernetes.io namespace and service account, idp = the cluster's issuer,
#     principal_type service and as roles exactly the policy's (role:operator, role:viewer
#     through the baseline's grouping, role:x, role:y; also in x-tokensmith-roles), none of
#     its token's; the same account on a route operator
#     may not use: 403 with the
#     authz.deny.v1 body, also when its token carries roles, groups and scope "admin";
#     another account: 403;
#   - 401 for: a legacy Secret token (iss kubernetes/serviceaccount, no exp), the legacy shape
#     under the trusted iss, an aud without "gateway", an unknown kid, iat older than
#     max_token_age, a sub naming another account than the nested claims (invalid_claim), a
#     token signed by another key under the real kid;
#   - SIGHUP after the binding to role:x is removed: the next check of the same token (whose
#     translation was cached) carries role:operator and role:viewer only, with the new
#     policy_version;
#   - discovery once for all of it, and the JWKS fetched at most twice however many unknown
#     kids come (a refetch at most every 30 s); no token in the gateway's log.
# Skips (77) without node or its modules.
# Usage: sh k8s_test.sh <tokensmith binary> <source dir>
set -u
TS=$1
SRC=$2

# shellcheck source=tests/gateway/lib.sh
. "$SRC/tests/gateway/lib.sh"
need_node @grpc/grpc-js @grpc/proto-loader jose
ISS_PID=
stop_issuer() {
    [ -n "$ISS_PID" ] || return 0
    kill -TERM "$ISS_PID" 2>/dev/null
    wait "$ISS_PID" 2>/dev/null
    ISS_PID=
}
cleanup_more() { stop_issuer; }

# start_issuer [PORT]: the issuer on PORT (0: any), its keys in $DIR/issuer; sets ISS_PORT. The
# same port again after a stop can be refused for a moment: retried.
start_issuer() {
    mkdir -p "$DIR/issuer"
    for _ in $(seq 1 50); do
        : >"$DIR/issuer.out"
        (cd "$SRC" && exec node tests/gateway/k8s_issuer.mjs "$DIR/issuer" "${1:-0}") \
            >"$DIR/issuer.out" 2>>"$DIR/issuer.err" &
        ISS_PID=$!
        for _ in $(seq 1 200); do
            ISS_PORT=$(awk '/^listening /{print $2}' "$DIR/issuer.out")
            [ -n "$ISS_PORT" ] && return 0
            kill -0 "$ISS_PID" 2>/dev/null || break
            sleep 0.05
        done
        wait "$ISS_PID" 2>/dev/null
        ISS_PID=
        sleep 0.2
    done
    echo "FAIL: the issuer did not start"
    cat "$DIR/issuer.err"
    exit 1
}
counts() { curl -s "$ISS/counts"; }
count_of() { counts | sed -n "s/.*\"$1\":\([0-9]*\).*/\1/p"; }

# http_check NAME METHOD PATH [TOKEN]: the check itself, Envoy style; the answer's head in
# $DIR/NAME.h, its body in $DIR/NAME; prints the status
http_check() {
    set -- "$@" ""
    if [ -n "$4" ]; then
        curl -s -o "$DIR/$1" -D "$DIR/$1.h" -w '%{http_code}' -X "$2" \
            -H "Authorization: Bearer $(cat "$DIR/tok/$4")" "http://127.0.0.1:$GW_PORT$3"
    else
        curl -s -o "$DIR/$1" -D "$DIR/$1.h" -w '%{http_code}' -X "$2" "http://127.0.0.1:$GW_PORT$3"
    fi
}
# grpc_check METHOD PATH [TOKEN]: one gRPC Check; prints grpc_client.mjs's JSON line
grpc_check() {
    (cd "$SRC" && node tests/gateway/grpc_client.mjs "$GW_GRPC_PORT" tokenservice/gateway/proto \
        one "$1" "$2" ${3:+"$DIR/tok/$3"})
}
# field JSON NAME: a top-level member of a grpc_check answer (strings without quotes)
field() {
    printf '%s' "$1" | node -e 'let s="";process.stdin.on("data",(d)=>{s+=d;}).on("end",()=>{
        const v=JSON.parse(s)[process.argv[1]]; console.log(v===undefined||v===null?"":v);})' "$2"
}
# verify_translated NAME TOKEN [ROLES]: node jose verifies TOKEN (the translated one) against the
# gateway's admin JWKS and the payload is app-prod/eso-sa's, with the roles claim ROLES (JSON;
# default: the policy's four)
verify_translated() {
    if ! out=$(cd "$SRC" && node tests/service/jose_verify.mjs \
        "http://127.0.0.1:$GW_ADMIN_PORT/.well-known/jwks.json" https://gateway.test backend "$2"); then
        bad "$1: jose did not verify the translated token"
        return
    fi
    why=$(printf '%s' "$out" | node -e 'let s="";process.stdin.on("data",(d)=>{s+=d;}).on("end",()=>{
        const p=JSON.parse(s).payload, k=p["kubernetes.io"]||{}, w=[];
        if(p.sub!=="system:serviceaccount:app-prod:eso-sa")w.push("sub "+p.sub);
        if(k.namespace!=="app-prod")w.push("namespace "+k.namespace);
        if(!k.serviceaccount||k.serviceaccount.name!=="eso-sa"||!k.serviceaccount.uid)
          w.push("serviceaccount "+JSON.stringify(k.serviceaccount));
        if(p.idp!==process.argv[1])w.push("idp "+p.idp);
        if(p.principal_type!=="service")w.push("principal_type "+p.principal_type);
        if(JSON.stringify(p.roles)!==process.argv[2])w.push("roles "+JSON.stringify(p.roles));
        if(JSON.stringify(p.aud)!=="[\"backend\"]")w.push("aud "+JSON.stringify(p.aud));
        console.log(w.join(", "));})' "$ISS" "${3:-$ROLES4}")
    if [ -z "$why" ]; then ok "$1: the translated token (jose): app-prod/eso-sa, idp the cluster"; else bad "$1: translated token: $why"; fi
}
# expect_401 NAME TOKEN [REASON]: refused over HTTP (401, invalid_token challenge, authn's
# body, with REASON as authn_reason when given) and over gRPC (UNAUTHENTICATED, Unauthorized)
expect_401() {
    st=$(http_check "$1" GET /nodes "$2")
    check "$1 (HTTP): status" 401 "$st"
    grep -qi '^WWW-Authenticate: Bearer.*error="invalid_token"' "$DIR/$1.h" ||
        bad "$1 (HTTP): no invalid_token challenge"
    grep -q '"schema_version":"authz.deny.v1"' "$DIR/$1" || bad "$1 (HTTP): body: $(cat "$DIR/$1")"
    if [ -n "${3:-}" ]; then
        grep -q "\"authn_reason\":\"$3\"" "$DIR/$1" || bad "$1 (HTTP): not $3: $(cat "$DIR/$1")"
    fi
    g=$(grpc_check GET /nodes "$2")
    check "$1 (gRPC): UNAUTHENTICATED" "16 Unauthorized" "$(field "$g" code) $(field "$g" http)"
}

# --- the issuer, and every token it will be asked about (minting is not a fetch)
start_issuer
ISS=http://127.0.0.1:$ISS_PORT
mkdir -p "$DIR/tok" "$DIR/policy"
mint() { curl -sf -o "$DIR/tok/$1" "$ISS/mint?$2" || bad "minting $1"; }
AUDS=gateway,https://kubernetes.default.svc.cluster.local
mint good "ns=app-prod&sa=eso-sa&aud=$AUDS"
mint other "ns=app-prod&sa=web-sa&aud=$AUDS"
mint legacy "ns=app-prod&sa=eso-sa&shape=legacy"
mint legacy_iss "ns=app-prod&sa=eso-sa&shape=legacy-iss"
mint wrong_aud "ns=app-prod&sa=eso-sa&aud=https://kubernetes.default.svc.cluster.local,vault"
mint old "ns=app-prod&sa=eso-sa&age=7200"
mint mismatch "ns=app-prod&sa=eso-sa&shape=mismatch"
mint other_key "ns=app-prod&sa=eso-sa&key=other"
mint with_roles "ns=app-prod&sa=eso-sa&aud=$AUDS&extra=roles"
for i in 1 2 3 4 5 6; do mint "unknown_kid$i" "ns=app-prod&sa=eso-sa&kid=unknown"; done
check "the issuer: nothing fetched yet" '{"discovery":0,"jwks":0}' "$(counts)"
# the kid is Kubernetes' (SHA-256 of the DER SPKI), which is not the RFC 7638 thumbprint
kid_kind=$(curl -s "$ISS/openid/v1/jwks" | (cd "$SRC" && node --input-type=module -e '
    import * as jose from "jose"; let s = ""; process.stdin.on("data", (d) => { s += d; });
    process.stdin.on("end", async () => { const k = JSON.parse(s).keys[0];
      console.log(k.kid === await jose.calculateJwkThumbprint(k) ? "rfc7638" : "opaque"); });'))
check "the issuer's kid is not an RFC 7638 thumbprint" opaque "$kid_kind"
stop_issuer

# --- the gateway: the issuer by discovery only (no jwks_uri)
cat >"$DIR/policy/k8s.csv" <<'EOF'
# app-prod/eso-sa, a Kubernetes workload, may operate on metadata
g, service:system:serviceaccount:app-prod:eso-sa, role:operator, *
EOF
# roles that grant nothing here but that the translated token must carry (role:y inherited)
cat >"$DIR/policy/roles.csv" <<'EOF'
g, service:system:serviceaccount:app-prod:eso-sa, role:x
g, role:x, role:y
EOF
ROLES4='["role:operator","role:viewer","role:x","role:y"]'
cat >"$DIR/gw.json" <<EOC
{"listen": "127.0.0.1:0", "grpc_listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0",
 "issuer": "https://gateway.test", "home": "$DIR/gw-home",
 "trust": [{"issuer": "$ISS", "kind": "kubernetes", "audiences": ["gateway"],
            "max_token_age": "1h"}],
 "translate": {"audience": "backend"},
 "authz": {"mode": "enforce", "policy_dir": "$DIR/policy",
           "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"},
                      {"method": "POST", "path": "/nodes", "object": "metadata:nodes"},
                      {"method": "DELETE", "path": "/nodes/:id", "object": "metadata:nodes"}]}}
EOC
start_gateway "$DIR/gw.json" || { bad "tokensmith gateway did not start"; finish; }

# --- the issuer is down at the first token: cannot decide, never an allow
st=$(http_check down GET /nodes good)
T1=$(date +%s) # the failed discovery was at T1 or before
check "issuer down: HTTP 503" 503 "$st"
grep -qi '^Retry-After: 1' "$DIR/down.h" || bad "issuer down: no Retry-After"
g=$(grpc_check GET /nodes good)
check "issuer down: gRPC UNAVAILABLE" 14 "$(field "$g" grpc)"

# --- back up on the same address: not asked again before the retry interval (30 s) ...
start_issuer "$ISS_PORT"
st=$(http_check early GET /nodes good)
check "issuer back, within 30 s of the failure: still 503" 503 "$st"
check "issuer back, within 30 s: no discovery" 0 "$(count_of discovery)"
# ... and after it, the next token starts discovery again
wait_until=$((T1 + 31))
while [ "$(date +%s)" -lt "$wait_until" ]; do sleep 1; done

# --- the account the policy grants operator
st=$(http_check allow GET /nodes good)
check "eso-sa GET /nodes (HTTP): exactly 200" 200 "$st"
check "discovery once" 1 "$(count_of discovery)"
auth=$(sed -n 's/^[Aa]uthorization: Bearer \([^[:space:]]*\).*/\1/p' "$DIR/allow.h")
if [ -z "$auth" ] || [ "$auth" = "$(cat "$DIR/tok/good")" ]; then
    bad "eso-sa (HTTP): no translated Authorization"
fi
verify_translated "eso-sa (HTTP)" "$auth"
grep -qi '^x-tokensmith-subject: system:serviceaccount:app-prod:eso-sa' "$DIR/allow.h" ||
    bad "eso-sa (HTTP): x-tokensmith-subject"
tr -d '\r' <"$DIR/allow.h" | grep -qi '^x-tokensmith-roles: role:operator,role:viewer,role:x,role:y$' ||
    bad "eso-sa (HTTP): x-tokensmith-roles: $(grep -i '^x-tokensmith-roles' "$DIR/allow.h")"
st=$(http_check create POST /nodes good)
check "eso-sa POST /nodes (HTTP, operator creates): 200" 200 "$st"
g=$(grpc_check GET /nodes good)
check "eso-sa GET /nodes (gRPC): OK" "0 OK" "$(field "$g" code) $(field "$g" http)"
gauth=$(field "$g" authorization)
verify_translated "eso-sa (gRPC)" "${gauth#Bearer }"

# --- routes and accounts the policy does not grant: 403 with the deny body
st=$(http_check delete DELETE /nodes/7 good)
check "eso-sa DELETE /nodes/7 (HTTP, operator may not delete): 403" 403 "$st"
grep -q '"schema_version":"authz.deny.v1"' "$DIR/delete" || bad "403 body: $(cat "$DIR/delete")"
grep -q '"policy_version":"[0-9a-f]\{64\}"' "$DIR/delete" || bad "403 policy_version"
g=$(grpc_check DELETE /nodes/7 good)
check "eso-sa DELETE /nodes/7 (gRPC): PERMISSION_DENIED" "7 Forbidden" \
    "$(field "$g" code) $(field "$g" http)"
field "$g" body | grep -q '"schema_version":"authz.deny.v1"' || bad "gRPC 403 body"
# roles in the token are not the account's: only the policy's binding (operator) counts
st=$(http_check roles_claim DELETE /nodes/7 with_roles)
check "eso-sa with roles/groups/scope admin in its token, DELETE (HTTP): 403" 403 "$st"
g=$(grpc_check DELETE /nodes/7 with_roles)
check "eso-sa with roles in its token, DELETE (gRPC): PERMISSION_DENIED" "7 Forbidden" \
    "$(field "$g" code) $(field "$g" http)"
st=$(http_check other GET /nodes other)
check "web-sa (no grant) GET /nodes (HTTP): 403" 403 "$st"
grep -q '"schema_version":"authz.deny.v1"' "$DIR/other" || bad "web-sa 403 body"
g=$(grpc_check GET /nodes other)
check "web-sa GET /nodes (gRPC): PERMISSION_DENIED" "7 Forbidden" \
    "$(field "$g" code) $(field "$g" http)"

# --- tokens that do not verify, or do not map: 401
expect_401 legacy legacy
expect_401 legacy_iss legacy_iss
expect_401 wrong_aud wrong_aud
expect_401 old old invalid_claim
expect_401 mismatch mismatch invalid_claim
expect_401 other_key other_key
j0=$(count_of jwks)
for i in 1 2 3 4 5 6; do
    st=$(http_check "unknown_kid$i" GET /nodes "unknown_kid$i")
    check "unknown kid $i (HTTP): 401" 401 "$st"
done
g=$(grpc_check GET /nodes unknown_kid1)
check "unknown kid (gRPC): UNAUTHENTICATED" 16 "$(field "$g" code)"
j1=$(count_of jwks)
# the first token fetched the JWKS once; unknown kids may refetch it at most once per 30 s
if [ "$j0" -ge 1 ] && [ "$j1" -le 2 ]; then
    ok "JWKS fetched $j1 times for 7 unknown-kid checks (bounded)"
else
    bad "JWKS fetches: $j0 before the unknown kids, $j1 after (want >= 1, <= 2)"
fi

# --- a reload that removes the binding to role:x: the next check's token no longer has role:x
# or role:y, although the same presented token's translation was cached
http_check cached GET /nodes good >/dev/null
cached=$(sed -n 's/^[Aa]uthorization: Bearer \([^[:space:]]*\).*/\1/p' "$DIR/cached.h")
check "eso-sa again: the cached translation" "$auth" "$cached"
pv_of() { sed -n 's/^[Xx]-[Tt]okensmith-[Pp]olicy-[Vv]ersion: \([0-9a-f]*\).*/\1/p' "$DIR/$1.h"; }
pv1=$(pv_of cached)
cat >"$DIR/policy/roles.csv" <<'EOF'
g, role:x, role:y
EOF
kill -HUP "$GW_PID"
for _ in $(seq 1 100); do
    st=$(http_check reloaded GET /nodes good)
    [ "$(pv_of reloaded)" != "$pv1" ] && break
    sleep 0.1
done
check "after SIGHUP: eso-sa GET /nodes (HTTP): 200" 200 "$st"
pv2=$(pv_of reloaded)
if [ -n "$pv2" ] && [ "$pv2" != "$pv1" ]; then
    ok "after SIGHUP: a new policy_version"
else
    bad "after SIGHUP: policy_version $pv1 -> $pv2"
fi
auth2=$(sed -n 's/^[Aa]uthorization: Bearer \([^[:space:]]*\).*/\1/p' "$DIR/reloaded.h")
verify_translated "after SIGHUP (HTTP)" "$auth2" '["role:operator","role:viewer"]'
tr -d '\r' <"$DIR/reloaded.h" | grep -qi '^x-tokensmith-roles: role:operator,role:viewer$' ||
    bad "after SIGHUP: x-tokensmith-roles: $(grep -i '^x-tokensmith-roles' "$DIR/reloaded.h")"
g=$(grpc_check GET /nodes good)
gauth=$(field "$g" authorization)
verify_translated "after SIGHUP (gRPC)" "${gauth#Bearer }" '["role:operator","role:viewer"]'

# --- many checks, one discovery
for i in 1 2 3 4 5 6 7 8 9 10; do http_check many GET /nodes good >/dev/null; done
check "after every check: discovery still once" 1 "$(count_of discovery)"
st=$(http_check still GET /nodes good)
check "eso-sa still allowed" 200 "$st"

stop_gateway
check "the gateway's exit status" 0 "$GW_RC"
# refusals are logged with the cluster's opaque kid and a hash prefix (after the counts: this
# is one more JWKS fetch)
KID=$(curl -s "$ISS/openid/v1/jwks" | sed -n 's/.*"kid":"\([^"]*\)".*/\1/p')
grep -q "\"msg\":\"gateway.authn\",\"reason\":\"invalid_claim\",\"kid\":\"$KID\"" \
    "$DIR/gateway.log" || bad "no gateway.authn invalid_claim line with the kid $KID"
leaked=0
for f in "$DIR"/tok/*; do grep -qF "$(cat "$f")" "$DIR/gateway.log" && leaked=1; done
check "no token in the gateway's log" 0 "$leaked"
finish
