# Shared helpers of the tests of the exchange with stored token mappings (sourced after
# tests/service/lib.sh, with SRC and NODE set): the loopback Kubernetes issuer, a management
# token, the mappings the tests write and what the issued token must then hold.
#
#   start_issuer               tests/gateway/k8s_issuer.mjs on a loopback port; sets CLUSTER
#   mint QUERY                 a service-account token from it (k8s_issuer.mjs's /mint)
#   write_policy               $DIR/policy: service:mgmt-admin may read and write the mappings
#   mapping_config             the service's configuration: a Kubernetes provider whose only
#                              rule maps boot/bss to scope "read"
#   mgmt_token STORE           a token for the management API, from a bootstrap token ($URL)
#   write_mappings M TOKEN     the identity rules, resource mapping and scope mappings below
#   delete_item M TOKEN KIND NAME
#   kexchange TOKEN OUT [TYPE] [curl args]   the exchange at $URL; prints the status
#   verify TOKEN AUDIENCE      the payload as node jose verified it through $JWKS
#   expect_mapped NAME PAYLOAD SCOPE LIMITS  exactly the mapped claims (LIMITS '' = none)
#   no_token_logged LOG TOKEN...
JWT='urn:ietf:params:oauth:token-type:jwt'
TSISS=${ISSUER:-https://tokensmith.test}
EDC=https://edc.example/api
# docs/mappings.md "Replicas": a change is used by the first exchange after 5 s.
BOUND=5.3
ISS_PID=

start_issuer() {
    mkdir -p "$DIR/issuer"
    (cd "$SRC" && exec "$NODE" tests/gateway/k8s_issuer.mjs "$DIR/issuer" 0) \
        >"$DIR/issuer.out" 2>"$DIR/issuer.err" &
    ISS_PID=$!
    # Stopped when this shell ends, whichever cleanup the test uses.
    (while kill -0 $$ 2>/dev/null; do sleep 1; done; kill -TERM "$ISS_PID" 2>/dev/null) \
        </dev/null >/dev/null 2>&1 &
    i=0
    while [ -z "$(awk '/^listening /{print $2}' "$DIR/issuer.out")" ] && [ $i -lt 300 ]; do
        kill -0 "$ISS_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    ISS_PORT=$(awk '/^listening /{print $2}' "$DIR/issuer.out")
    [ -n "$ISS_PORT" ] || { echo "FAIL: the issuer did not start"; cat "$DIR/issuer.err"; exit 1; }
    CLUSTER=http://127.0.0.1:$ISS_PORT
}
mint() { curl -s "$CLUSTER/mint?$1"; }

write_policy() {
    mkdir -p "$DIR/policy"
    cat >"$DIR/policy/mappings.csv" <<'CSV'
p, role:mappings-admin, management:mappings, read
p, role:mappings-admin, management:mappings, write
g, service:mgmt-admin, role:mappings-admin
CSV
}

mapping_config() {
    cat <<JSON
{"issuer": "$TSISS",
 "oidc": {"providers": [
   {"kind": "kubernetes", "issuer": "$CLUSTER", "accepted_audiences": ["tokensmith"],
    "audiences": ["smd", "bss"],
    "identity_rules": [{"namespace": "boot", "service_account": "bss", "scopes": ["read"]}]}]}}
JSON
}

mgmt_token() {
    b=$("$TS" bootstrap-token create --subject mgmt-admin --audience tokensmith-management \
        --scopes read --store "$1" --output-format json 2>/dev/null |
        sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
    exchange "$b" "$DIR/mgmt-token" >/dev/null
    json_field "$DIR/mgmt-token" access_token
}

mreq() { # M TOKEN METHOD PATH [curl args] -> status; body in $DIR/m, headers in $DIR/m.h
    m=$1; t=$2; me=$3; p=$4; shift 4
    curl -s -D "$DIR/m.h" -o "$DIR/m" -w '%{http_code}' -X "$me" "$m$p" \
        -H "Authorization: Bearer $t" "$@"
}
mpost() { # M TOKEN KIND JSON
    st=$(mreq "$1" "$2" POST "/$3" -H 'Content-Type: application/json' -d "$4")
    check "create $3 $(printf '%s' "$4" | cut -c1-40)" 201 "$st"
}
write_mappings() {
    mpost "$1" "$2" identity_rules "{\"name\":\"payments\",\"issuer\":\"$CLUSTER\",\"namespace\":\"payments\",\"service_account\":\"api-*\",\"scopes\":[\"pay.read\",\"pay.write\"],\"roles\":[\"role:payments\"],\"priority\":10}"
    mpost "$1" "$2" identity_rules '{"name":"boot-any","namespace":"boot","service_account":"*","scopes":["admin"]}'
    mpost "$1" "$2" resource_mappings "{\"name\":\"edc\",\"resource\":\"$EDC\",\"issued_audience\":\"edc\",\"claims\":{\"participant_context_id\":\"pc-1\",\"tier\":\"edc\"}}"
    # pay.read's tier loses to the resource mapping's; its idp is the service's own claim.
    mpost "$1" "$2" scope_mappings '{"scope":"pay.read","claims":{"tier":"basic","idp":"forged"}}'
    mpost "$1" "$2" scope_mappings '{"scope":"pay.write","claims":{"limits":{"daily":1000}}}'
}
delete_item() { # M TOKEN KIND NAME
    mreq "$1" "$2" GET "/$3/$4" >/dev/null
    e=$(sed -n 's/^[Ee][Tt][Aa][Gg]: *"\([0-9a-f]*\)".*/\1/p' "$DIR/m.h" | tr -d '\r')
    check "delete $3/$4" 204 "$(mreq "$1" "$2" DELETE "/$3/$4" -H "If-Match: \"$e\"")"
}

kexchange() { # TOKEN OUTFILE [TYPE] [curl args...] -> status
    t=$1; o=$2; ty=${3:-$JWT}
    [ $# -ge 3 ] && shift 3 || shift $#
    post /oauth/token "$o" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$ty" --data-urlencode "subject_token=$t" "$@"
}
verify() { # TOKEN AUDIENCE
    (cd "$SRC" && "$NODE" tests/service/jose_verify.mjs "$JWKS" "$TSISS" "$2" "$1")
}
claims_of() { # PAYLOAD_JSON EXPR...: each expression over the payload p, space-separated
    j=$1; shift
    "$NODE" -e 'const p = JSON.parse(process.argv[1]).payload;
        console.log(process.argv.slice(2).map((e) => String(eval(e))).join(" "));' "$j" "$@"
}
# The claims a mapped service account's token holds: exactly these names, with these values.
expect_mapped() { # NAME PAYLOAD SCOPE LIMITS
    # What the service sets itself (claims.nist and the deployment ids are on by default) ...
    base="aud auth_events auth_factors auth_level auth_methods cluster_id exp iat idp iss jti"
    base="$base kubernetes.io nbf openchami_id principal_type roles scope session_exp session_id sub"
    # ... and what the mappings add: nothing else.
    mapped="participant_context_id tier"
    [ -n "$4" ] && mapped="$mapped limits"
    keys=$(printf '%s\n' $base $mapped | LC_ALL=C sort | tr '\n' ',' | sed 's/,$//')
    check "$1: exactly the mapped claims" "$keys" \
        "$(claims_of "$2" 'Object.keys(p).sort().join(",")')"
    check "$1: values" "[\"edc\"]|$3|pc-1|edc|$4|$CLUSTER|[\"role:payments\"]|system:serviceaccount:payments:api-1|service" \
        "$(claims_of "$2" '[JSON.stringify(p.aud), p.scope, p.participant_context_id, p.tier,
            p.limits ? JSON.stringify(p.limits) : "", p.idp, JSON.stringify(p.roles), p.sub,
            p.principal_type].join("|")')"
}
no_token_logged() { # LOG TOKEN...
    l=$1; shift
    for t in "$@"; do
        sig=$(printf '%s' "$t" | cut -d. -f3)
        [ -n "$sig" ] && grep -qF "$sig" "$l" && { echo "FAIL: a token is in $l"; fail=1; return; }
    done
    echo "ok: no token in $l"
}
