#!/bin/sh
# k8s.exchange: Kubernetes service-account tokens as subject tokens of `tokensmith serve`
# (docs/kubernetes.md). A loopback stand-in for the cluster's issuer (tests/gateway/
# k8s_issuer.mjs: discovery, /openid/v1/jwks with kube-apiserver's opaque SHA-256-of-SPKI kid,
# projected and legacy tokens signed by node jose) and `tokensmith serve` with a provider of
# "kind": "kubernetes" found by discovery. Checked:
#   - a mapped account (boot/bss): 200 for subject_token_type jwt (and id_token), the issued
#     token verified by node jose: exactly the rule's scopes and roles, sub
#     system:serviceaccount:boot:bss, principal_type service, the kubernetes.io account, idp the
#     cluster, the provider's audiences; nothing of the token's own roles, scope or act; the
#     second rule (a namespace glob) for another account; the request narrows;
#   - refused: an audience other than ours, the API server's default audience, iat older than
#     max_token_age_s, a legacy Secret token, the legacy flat claims under the cluster's issuer
#     (also with exp and our audience: allow_legacy_tokens is off), an account no rule maps
#     (invalid_grant), a tampered token, sub naming another account than the claims;
#   - a key rotation at the issuer: the next token's unknown kid makes one JWKS refetch, then
#     the exchange succeeds;
#   - allow_legacy_tokens: a real legacy Secret token (iss kubernetes/serviceaccount, flat
#     claims, no exp, aud or iat) is exchanged, max_token_age_s notwithstanding, for a token
#     that lives accessTokenTTL with exactly the rule's claims; two clusters allowing them (their
#     legacy tokens share one iss): the one whose key signed it answers; still refused: flat
#     claims without exp or aud under a cluster's own issuer, another key, a tampered or
#     unmapped legacy token (tests/mappings/api_test.sh: and at the management API);
#   - no token in the service's log.
# Skips (77) without node or node_modules/jose.
# usage: exchange_test.sh TOKENSMITH SOURCE_DIR NODE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${3:-node}
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node missing"; exit 77; }
[ -d "$SRC/node_modules/jose" ] || { echo "SKIP: node_modules/jose missing (npm ci)"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, post, check, ...

ISS_PID=
cleanup_more() {
    [ -n "$ISS_PID" ] && { kill -TERM "$ISS_PID" 2>/dev/null; wait "$ISS_PID" 2>/dev/null; }
    ISS_PID=
}
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
CLUSTER=http://127.0.0.1:$ISS_PORT
mint() { curl -s "$CLUSTER/mint?$1"; }
count_jwks() { curl -s "$CLUSTER/counts" | sed -n 's/.*"jwks":\([0-9]*\).*/\1/p'; }

TSISS=https://tokensmith.test
# config LEGACY: the service's configuration with allow_legacy_tokens LEGACY
config() {
    cat <<JSON
{"issuer": "$TSISS",
 "oidc": {"providers": [
   {"kind": "kubernetes", "issuer": "$CLUSTER", "accepted_audiences": ["tokensmith"],
    "max_token_age_s": 600, "allow_legacy_tokens": $1, "audiences": ["smd", "bss"],
    "jwks_refetch_cooldown_s": 1,
    "identity_rules": [
      {"namespace": "boot", "service_account": "bss", "scopes": ["read", "write"],
       "roles": ["role:boot"]},
      {"namespace": "team-*", "service_account": "*", "scopes": ["read"]}]}]}}
JSON
}
config false >"$DIR/cfg.json"
start_server "$DIR/s.log" --config "$DIR/cfg.json" --home "$DIR/home"
JWKS=$URL/.well-known/jwks.json
JWT='urn:ietf:params:oauth:token-type:jwt'
IDT='urn:ietf:params:oauth:token-type:id_token'
kexchange() { # TOKEN OUTFILE [TYPE] [curl args...] -> status
    t=$1; o=$2; ty=${3:-$JWT}
    [ $# -ge 3 ] && shift 3 || shift $#
    post /oauth/token "$o" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$ty" --data-urlencode "subject_token=$t" "$@"
}
verify() { # TOKEN AUDIENCE -> {"alg","kid","payload"} from node jose, or exit status 1
    (cd "$SRC" && "$NODE" tests/service/jose_verify.mjs "$JWKS" "$TSISS" "$2" "$1")
}
has() { # NAME TEXT PATTERN...
    n=$1; t=$2; shift 2
    for c in "$@"; do
        echo "$t" | grep -q "$c" || { echo "FAIL: $n: $c missing: $t"; fail=1; return; }
    done
    echo "ok: $n"
}
hasnt() { # NAME TEXT PATTERN...
    n=$1; t=$2; shift 2
    for c in "$@"; do
        echo "$t" | grep -q "$c" && { echo "FAIL: $n: $c present: $t"; fail=1; return; }
    done
    echo "ok: $n"
}
# refused NAME TOKEN ERROR REASON: 400 with the OAuth error, and the reason in the log
refused() {
    before=$(grep -c "\"reason\":\"$4\"" "$DIR/s.log")
    st=$(kexchange "$2" "$DIR/e.$1")
    check "$1: status" 400 "$st"
    check "$1: error" "$3" "$(json_field "$DIR/e.$1" error)"
    after=$(grep -c "\"reason\":\"$4\"" "$DIR/s.log")
    [ "$after" -gt "$before" ] || { echo "FAIL: $1: reason $4 not logged"; fail=1; }
}

# --- a mapped account, its token carrying claims a cluster never signs
TOK=$(mint "ns=boot&sa=bss&aud=tokensmith,other&extra=roles")
st=$(kexchange "$TOK" "$DIR/r1"); check "mapped account: exchange" 200 "$st"
check "scope granted by the rule" "read write" "$(sed -n 's/.*"scope":"\([^"]*\)".*/\1/p' "$DIR/r1")"
AT=$(json_field "$DIR/r1" access_token)
out=$(verify "$AT" smd); check "issued token verifies with node jose" 0 $?
has "issued claims" "$out" '"iss":"https://tokensmith.test"' \
    '"sub":"system:serviceaccount:boot:bss"' '"principal_type":"service"' \
    '"aud":\["smd","bss"\]' '"scope":"read write"' '"roles":\["role:boot"\]' \
    '"kubernetes.io":{"namespace":"boot","serviceaccount":{"name":"bss","uid":"' \
    "\"idp\":\"$CLUSTER\"" '"jti":"'
hasnt "nothing of the token's own roles, groups, scope or act" "$out" '"admin"' \
    'system:masters' '"groups"' '"act"' '"may_act"'
st=$(kexchange "$TOK" "$DIR/r2" "$IDT" --data-urlencode "scope=read" --data-urlencode "audience=bss")
check "as an id_token, narrowed: exchange" 200 "$st"
out=$(verify "$(json_field "$DIR/r2" access_token)" bss)
has "narrowed claims" "$out" '"scope":"read"' '"aud":\["bss"\]'
st=$(kexchange "$TOK" "$DIR/r3" "$JWT" --data-urlencode "scope=admin")
check "scope beyond the rule" 400 "$st"
check "scope beyond the rule: error" invalid_scope "$(json_field "$DIR/r3" error)"
# the second rule: a namespace glob, any account
st=$(kexchange "$(mint "ns=team-a&sa=builder&aud=tokensmith")" "$DIR/r4")
check "glob rule: exchange" 200 "$st"
out=$(verify "$(json_field "$DIR/r4" access_token)" smd)
has "glob rule claims" "$out" '"sub":"system:serviceaccount:team-a:builder"' '"scope":"read"'
hasnt "glob rule: no roles" "$out" '"roles"'

# --- key rotation at the issuer: one JWKS refetch, then success
before=$(count_jwks)
curl -s "$CLUSTER/rotate" >/dev/null
sleep 1.1 # past jwks_refetch_cooldown_s
st=$(kexchange "$(mint "ns=boot&sa=bss&aud=tokensmith")" "$DIR/r5")
check "after the key rotation: exchange" 200 "$st"
check "after the key rotation: one JWKS refetch" $((before + 1)) "$(count_jwks)"
st=$(kexchange "$(mint "ns=boot&sa=bss&aud=tokensmith")" "$DIR/r6")
check "after the key rotation: no further fetch" "200 $((before + 1))" "$st $(count_jwks)"

# --- refusals (the last requests of this server: ten of them block the client for a while)
refused wrong_aud "$(mint "ns=boot&sa=bss&aud=vault")" invalid_request wrong_audience
refused default_aud "$(mint "ns=boot&sa=bss&aud=https://kubernetes.default.svc.cluster.local")" \
    invalid_request wrong_audience
refused too_old "$(mint "ns=boot&sa=bss&aud=tokensmith&age=900")" invalid_request invalid_claim
refused legacy "$(mint "ns=boot&sa=bss&shape=legacy")" invalid_request wrong_issuer
refused legacy_iss "$(mint "ns=boot&sa=bss&shape=legacy-iss")" invalid_request missing_claim
LEGACY_EXP=$(mint "ns=boot&sa=bss&shape=legacy-iss&aud=tokensmith&exp=600")
refused legacy_flat "$LEGACY_EXP" invalid_request missing_claim
refused unmapped "$(mint "ns=default&sa=default&aud=tokensmith")" invalid_grant no_identity_rule
refused mismatch "$(mint "ns=boot&sa=bss&aud=tokensmith&shape=mismatch")" invalid_request invalid_claim
refused other_key "$(mint "ns=boot&sa=bss&aud=tokensmith&key=other")" invalid_request bad_signature
# tampered: the payload of another account under this token's signature
GOOD=$(mint "ns=boot&sa=bss&aud=tokensmith")
OTHER=$(mint "ns=boot&sa=admin&aud=tokensmith")
TAMP=$(printf '%s' "$GOOD" | cut -d. -f1).$(printf '%s' "$OTHER" | cut -d. -f2).$(printf '%s' "$GOOD" | cut -d. -f3)
refused tampered "$TAMP" invalid_request bad_signature

# --- no token in the log
for t in "$TOK" "$GOOD" "$LEGACY_EXP" "$AT"; do
    sig=$(printf '%s' "$t" | cut -d. -f3)
    grep -qF "$sig" "$DIR/s.log" && { echo "FAIL: a token is in the log"; fail=1; }
done
stop_server

# --- allow_legacy_tokens, with a second cluster allowing them too and listed first: legacy
# tokens of both clusters say iss kubernetes/serviceaccount, and the signing key decides
mkdir -p "$DIR/issuer2"
(cd "$SRC" && exec "$NODE" tests/gateway/k8s_issuer.mjs "$DIR/issuer2" 0) \
    >"$DIR/issuer2.out" 2>"$DIR/issuer2.err" &
ISS2_PID=$!
i=0
while [ -z "$(awk '/^listening /{print $2}' "$DIR/issuer2.out")" ] && [ $i -lt 300 ]; do
    sleep 0.1
    i=$((i + 1))
done
CLUSTER2=http://127.0.0.1:$(awk '/^listening /{print $2}' "$DIR/issuer2.out")
config true | sed "s|\"providers\": \[|\"providers\": [{\"kind\": \"kubernetes\", \"subject_template\": \"c2:system:serviceaccount:{namespace}:{name}\", \"issuer\": \"$CLUSTER2\", \"accepted_audiences\": [\"tokensmith\"], \"allow_legacy_tokens\": true, \"audiences\": [\"smd\"], \"identity_rules\": [{\"namespace\": \"c2\", \"service_account\": \"*\", \"scopes\": [\"read\"]}]},|" \
    >"$DIR/cfg2.json"
start_server "$DIR/s2.log" --config "$DIR/cfg2.json" --home "$DIR/home2"
JWKS=$URL/.well-known/jwks.json
st=$(kexchange "$(mint "ns=boot&sa=bss&shape=legacy-iss&aud=tokensmith&exp=600")" "$DIR/r7")
check "allow_legacy_tokens: flat claims with exp and aud exchanged" 200 "$st"
out=$(verify "$(json_field "$DIR/r7" access_token)" smd)
has "legacy claims" "$out" '"sub":"system:serviceaccount:boot:bss"' '"principal_type":"service"'
LEG=$(mint "ns=boot&sa=bss&shape=legacy")
st=$(kexchange "$LEG" "$DIR/r8")
check "allow_legacy_tokens: a real legacy Secret token exchanged" 200 "$st"
out=$(verify "$(json_field "$DIR/r8" access_token)" smd)
has "legacy token: exactly the rule's claims" "$out" '"sub":"system:serviceaccount:boot:bss"' \
    '"principal_type":"service"' '"scope":"read write"' '"roles":\["role:boot"\]' \
    '"kubernetes.io":{"namespace":"boot","serviceaccount":{"name":"bss","uid":"' \
    "\"idp\":\"$CLUSTER\""
hasnt "legacy token: nothing of the Secret's claims" "$out" 'secret.name' 'kubernetes.io/serviceaccount'
life=$(echo "$out" | node -e 'let s="";process.stdin.on("data",d=>s+=d).on("end",()=>{const p=JSON.parse(s).payload;console.log(p.exp-p.iat)})')
check "legacy token: the issued token lives accessTokenTTL" 3600 "$life"
check "legacy token: expires_in" 3600 "$(sed -n 's/.*"expires_in":\([0-9]*\).*/\1/p' "$DIR/r8")"
# the second cluster's own legacy token: its provider answers (the first tried is this one's)
st=$(kexchange "$(curl -s "$CLUSTER2/mint?ns=c2&sa=job&shape=legacy")" "$DIR/r9")
check "legacy token of the other cluster exchanged under its own rules" 200 "$st"
out=$(verify "$(json_field "$DIR/r9" access_token)" smd)
has "other cluster's legacy claims" "$out" '"sub":"c2:system:serviceaccount:c2:job"' "\"idp\":\"$CLUSTER2\""
st=$(kexchange "$(mint "ns=boot&sa=bss&shape=legacy-iss")" "$DIR/r10")
check "flat claims without exp or aud under the cluster's issuer: refused" 400 "$st"
st=$(kexchange "$(mint "ns=boot&sa=bss&shape=legacy&key=other")" "$DIR/r11")
check "legacy token under another key: refused" 400 "$st"
LTAMP=$(printf '%s' "$LEG" | cut -d. -f1).$(mint "ns=boot&sa=admin&shape=legacy" | cut -d. -f2).$(printf '%s' "$LEG" | cut -d. -f3)
st=$(kexchange "$LTAMP" "$DIR/r12")
check "tampered legacy token: refused" "400 invalid_request" "$st $(json_field "$DIR/r12" error)"
st=$(kexchange "$(mint "ns=default&sa=default&shape=legacy")" "$DIR/r13")
check "unmapped legacy token: refused" "400 invalid_grant" "$st $(json_field "$DIR/r13" error)"
grep -qF "$(printf '%s' "$LEG" | cut -d. -f3)" "$DIR/s2.log" && { echo "FAIL: a legacy token is in the log"; fail=1; }
stop_server
kill -TERM "$ISS2_PID" 2>/dev/null
wait "$ISS2_PID" 2>/dev/null

[ $fail -eq 0 ] && echo "PASS" || { echo "--- service log"; tail -n 30 "$DIR/s.log"; }
exit $fail
