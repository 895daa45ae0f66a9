#!/bin/bash
# End to end, every part real:
#   node oidc-provider (tests/oidc/provider.mjs) issues ID tokens for users in groups
#   -> `tokensmith serve` exchanges them (RFC 8693) for access tokens, scopes from the groups
#   -> examples/minisvc verifies them through the service's JWKS URL and authorizes with the
#      embedded baseline policy plus a fragment that binds each user to a baseline role.
# Then a bootstrap token -> service token (and its refresh) -> minisvc; minisvc in shadow mode
# (never blocks, logs every would-be denial); and policy_version agreement: two instances with
# the same fragment directory report one value in /authz/diagnostics, an instance with another
# fragment reports another, and `tokensmith policy version` agrees.
# usage: e2e_test.sh TOKENSMITH MINISVC SOURCE_DIR [NODE]
# Exit 77 only when node or the npm modules (npm ci) are missing.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
MINISVC=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
SRC=$3
NODE=${4:-node}
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node not found (needed for oidc-provider)"; exit 77; }
for m in oidc-provider jose; do
    [ -d "$SRC/node_modules/$m" ] || { echo "SKIP: node_modules/$m missing (run npm ci at the repository root)"; exit 77; }
done

. "$SRC/tests/service/lib.sh" # DIR, cleanup, check, start_server, post, json_field, exchange
MPIDS=()
cleanup_more() { # minisvc instances and the provider; lib.sh stops tokensmith
    for p in "${MPIDS[@]}"; do kill -TERM "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
    stop_provider
}

# --- the upstream provider
start_provider
UPSTREAM=$(prov_field a)
CTL=$(prov_field control)
id_token() { # SUB GROUPS -> an ID token minted by the provider itself
    curl -s "$CTL/mint?p=a&sub=$1&groups=$2"
}

# --- tokensmith serve, configured for the provider (docs/oidc.md)
ISS=https://tokensmith.e2e.test
AUD=minisvc
cat >"$DIR/ts.json" <<JSON
{"issuer": "$ISS",
 "oidc": {"providers": [
   {"issuer": "$UPSTREAM", "client_id": "tokensmith-test",
    "group_scopes": {"admins": ["admin", "write", "read"], "operators": ["write", "read"],
                     "viewers": ["read"]},
    "audiences": ["$AUD"]}]}}
JSON
start_server "$DIR/ts.log" --config "$DIR/ts.json" --home "$DIR/home"
TSURL=$URL
JWKS=$TSURL/.well-known/jwks.json
IDT='urn:ietf:params:oauth:token-type:id_token'
oidc_exchange() { # ID_TOKEN OUTFILE -> status
    post /oauth/token "$2" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$IDT" --data-urlencode "subject_token=$1"
}
access_token() { # SUB GROUPS WANT_SCOPE -> the access token of an OIDC exchange
    st=$(oidc_exchange "$(id_token "$1" "$2")" "$DIR/x.$1")
    check "$1 ($2): ID token exchanged" 200 "$st"
    check "$1: scope from the groups" "$3" "$(sed -n 's/.*"scope":"\([^"]*\)".*/\1/p' "$DIR/x.$1")"
    json_field "$DIR/x.$1" access_token >"$DIR/at.$1"
}
access_token alice admins "admin write read"
access_token bob operators "write read"
access_token carol viewers "read"
access_token dave admins "admin write read" # an admin upstream whom the service binds to nothing

# --- the bootstrap flow: operator creates a token, the service exchanges it, then refreshes
BT=$("$TS" bootstrap-token create --subject boot-agent --audience "$AUD" --scopes read \
    --store "$DIR/home/tokensmith.db" --output-format json 2>/dev/null |
    sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
check "bootstrap token created while serve runs" 64 "${#BT}"
st=$(exchange "$BT" "$DIR/b1"); check "bootstrap exchange" 200 "$st"
json_field "$DIR/b1" access_token >"$DIR/at.boot"
st=$(exchange "$BT" "$DIR/b2"); check "bootstrap token is single use" 400 "$st"
st=$(refresh "$(json_field "$DIR/b1" refresh_token)" "$DIR/b3"); check "refresh grant" 200 "$st"
json_field "$DIR/b3" access_token >"$DIR/at.boot2"

# every token verifies against the published JWKS with the CLI too
for who in alice boot boot2; do
    "$TS" token verify --jwks "$JWKS" --issuer "$ISS" --audience "$AUD" "$(cat "$DIR/at.$who")" >"$DIR/v.$who"
    check "$who: token verify through the JWKS URL" 0 $?
done
grep -q '"auth_methods":\["oidc_exchange"\]' "$DIR/v.alice" || { echo "FAIL: alice: not an OIDC-exchange token"; fail=1; }
grep -q '"auth_methods":\["refresh_token"\]' "$DIR/v.boot2" || { echo "FAIL: refreshed token does not say refresh_token"; fail=1; }

# --- minisvc instances
# F1 binds the upstream users and the bootstrap service to baseline roles. The tokens carry
# scopes, not roles: the binding of a principal (`<type>:<sub>`) to a role is the service's
# policy (docs/claims.md). F2 is F1 plus one more rule.
mkdir -p "$DIR/f1" "$DIR/f2"
# start_minisvc NAME MODE POLICY_DIR [OPTIONS...]: sets MURL; its log is $DIR/NAME.log
start_minisvc() {
    name=$1 mode=$2 pdir=$3
    shift 3
    "$MINISVC" --jwks "$JWKS" --issuer "$ISS" --audience "$AUD" --mode "$mode" --policy-dir "$pdir" \
        --listen 127.0.0.1:0 --port-file "$DIR/$name.port" "$@" 2>"$DIR/$name.log" &
    MPIDS+=($!)
    i=0
    while [ ! -s "$DIR/$name.port" ] && [ $i -lt 200 ]; do
        kill -0 "${MPIDS[-1]}" 2>/dev/null || break
        sleep 0.05; i=$((i + 1))
    done
    [ -s "$DIR/$name.port" ] || { echo "FAIL: minisvc $name did not start"; cat "$DIR/$name.log"; exit 1; }
    MURL=http://127.0.0.1:$(cat "$DIR/$name.port")
}
call() { # BASE WHO METHOD PATH -> status; body in $DIR/body
    if [ "$2" = none ]; then
        curl -s -o "$DIR/body" -w '%{http_code}' -X "$3" "$1$4"
    else
        curl -s -o "$DIR/body" -w '%{http_code}' -X "$3" -H "Authorization: Bearer $(cat "$DIR/at.$2")" "$1$4"
    fi
}
expect() { # BASE WHO METHOD PATH STATUS [CODE]: the status and, for refusals, the deny.v1 code
    st=$(call "$1" "$2" "$3" "$4")
    check "$2 $3 $4" "$5" "$st"
    if [ -n "${6:-}" ]; then
        grep -q "\"schema_version\":\"authz.deny.v1\",\"code\":\"$6\"" "$DIR/body" ||
            { echo "FAIL: $2 $3 $4: body is not authz.deny.v1 $6: $(cat "$DIR/body")"; fail=1; }
    fi
}

# A bootstrapped workload's token says principal_type service; minisvc must see it so
# (whoami needs a token but no policy decision).
: >"$DIR/f1/20-e2e.csv"
start_minisvc probe enforce "$DIR/f1"
st=$(call "$MURL" boot GET /v1/whoami); check "whoami with the service token" 200 "$st"
BOOT_TYPE=$(sed -n 's/.*"type":"\([a-z]*\)".*/\1/p' "$DIR/body")
grep -q '"id":"boot-agent"' "$DIR/body" || { echo "FAIL: whoami: $(cat "$DIR/body")"; fail=1; }
[ "$BOOT_TYPE" = service ] ||
    { echo "FAIL: the bootstrap-exchanged token is seen as principal type '$BOOT_TYPE', not 'service'"; fail=1; }
st=$(call "$MURL" alice GET /v1/whoami); check "whoami with alice's token" 200 "$st"
grep -q '"id":"alice","type":"user","issuer":"https://tokensmith.e2e.test","roles":\[\],"scopes":\["admin","write","read"\]' "$DIR/body" ||
    { echo "FAIL: whoami alice: $(cat "$DIR/body")"; fail=1; }
kill -TERM "${MPIDS[-1]}"; wait "${MPIDS[-1]}" 2>/dev/null; unset 'MPIDS[-1]'

cat >"$DIR/f1/20-e2e.csv" <<CSV
# users of the upstream provider, by the group their scopes came from
g, user:alice, role:admin
g, user:bob, role:operator
g, user:carol, role:viewer
# the service that bootstraps with tokensmith
g, $BOOT_TYPE:boot-agent, role:service
CSV
cp "$DIR/f1/20-e2e.csv" "$DIR/f2/20-e2e.csv"
printf 'p, role:viewer, boot:scripts, read\n' >"$DIR/f2/30-extra.csv"

start_minisvc enforce enforce "$DIR/f1"; E=$MURL
start_minisvc shadow shadow "$DIR/f1"; S=$MURL
start_minisvc other enforce "$DIR/f2"; O=$MURL

# --- enforce: exactly the baseline (policy/policy.csv + policy/grouping.csv)
expect "$E" none GET /v1/nodes 401 AUTHN_REQUIRED
expect "$E" none GET /health 200
# admin: everything, including delete
expect "$E" alice GET /v1/nodes 200
expect "$E" alice PUT /v1/nodes/a1 200
expect "$E" alice GET /v1/boot/configs 200
expect "$E" alice DELETE /v1/nodes/a1 200
expect "$E" alice POST /v1/admin/reload 403 AUTHZ_DENIED # minisvc:policy is not in the baseline
expect "$E" alice GET /v1/unmapped 403 AUTHZ_UNMAPPED
# operator: read, create, update; no delete
expect "$E" bob GET /v1/groups 200
expect "$E" bob PUT /v1/nodes/b1 200
expect "$E" bob DELETE /v1/nodes/b1 403 AUTHZ_DENIED
# viewer: read only
expect "$E" carol GET /v1/nodes/n1 200
expect "$E" carol GET /v1/boot/configs 200
expect "$E" carol PUT /v1/nodes/n1 403 AUTHZ_DENIED
expect "$E" carol DELETE /v1/nodes/n1 403 AUTHZ_DENIED
# an upstream admin nobody bound: scopes alone grant nothing
expect "$E" dave GET /v1/nodes 403 AUTHZ_DENIED
# the bootstrap service: metadata reads only; its refreshed token works the same
expect "$E" boot GET /v1/nodes 200
expect "$E" boot GET /v1/groups 200
expect "$E" boot GET /v1/boot/configs 403 AUTHZ_DENIED
expect "$E" boot PUT /v1/nodes/n1 403 AUTHZ_DENIED
expect "$E" boot2 GET /v1/nodes/n2 200
expect "$E" boot2 DELETE /v1/nodes/n2 403 AUTHZ_DENIED
grep -q '"policy_version":"[0-9a-f]\{64\}"' "$DIR/body" || { echo "FAIL: deny body lacks policy_version"; fail=1; }
# a token of another audience is refused by authn
BT2=$("$TS" bootstrap-token create --subject boot-agent --audience elsewhere \
    --store "$DIR/home/tokensmith.db" --output-format json 2>/dev/null |
    sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
exchange "$BT2" "$DIR/b4" >/dev/null
json_field "$DIR/b4" access_token >"$DIR/at.elsewhere"
expect "$E" elsewhere GET /v1/nodes 401 AUTHN_INVALID
grep -q '"authn_reason":"wrong_audience"' "$DIR/body" || { echo "FAIL: wrong audience reason: $(cat "$DIR/body")"; fail=1; }

# --- roles from scopes instead of g lines: no fragment binds anyone here
mkdir -p "$DIR/f0"
start_minisvc scoped enforce "$DIR/f0" --scope-role read=viewer --scope-role write=operator
expect "$MURL" carol GET /v1/nodes 200          # scope read -> viewer
expect "$MURL" carol PUT /v1/nodes/s1 403 AUTHZ_DENIED
expect "$MURL" dave PUT /v1/nodes/s1 200        # scopes admin write read -> operator, viewer
expect "$MURL" dave DELETE /v1/nodes/s1 403 AUTHZ_DENIED
expect "$MURL" boot PUT /v1/nodes/s2 403 AUTHZ_DENIED # a service with scope read is a viewer here
kill -TERM "${MPIDS[-1]}"; wait "${MPIDS[-1]}" 2>/dev/null; unset 'MPIDS[-1]'

# --- shadow: nothing is blocked, every would-be denial is logged with what enforce would do
expect "$S" carol DELETE /v1/nodes/n1 200
expect "$S" carol PUT /v1/nodes/n9 200
expect "$S" bob DELETE /v1/nodes/n9 200
expect "$S" boot GET /v1/boot/configs 200
expect "$S" dave GET /v1/groups 200
expect "$S" carol GET /v1/unmapped 404 # reaches the handler, which knows no such route
expect "$S" carol GET /v1/nodes 200
expect "$S" none GET /v1/nodes 401 AUTHN_REQUIRED # no principal: authn refuses in every mode
sleep 0.2
deny_logged() { # NAME PATTERN...: one shadow log line matches every pattern
    n=$1; shift
    l=$(grep '"event":"authz.decision"' "$DIR/shadow.log")
    for p in "$@"; do l=$(printf '%s\n' "$l" | grep -e "$p"); done
    [ -n "$l" ] && echo "ok: shadow log: $n" || { echo "FAIL: shadow log: $n not logged"; fail=1; }
}
common='"mode":"shadow","enforced":false,"status":403'
deny_logged "carol DELETE" "$common" '"decision":"deny"' '"principal_id":"carol"' '"action":"delete"' '"path":"/v1/nodes/n1"'
deny_logged "carol PUT" "$common" '"decision":"deny"' '"principal_id":"carol"' '"action":"update"' '"path":"/v1/nodes/n9"'
deny_logged "bob DELETE" "$common" '"decision":"deny"' '"principal_id":"bob"' '"action":"delete"'
deny_logged "boot GET boot:configs" "$common" '"decision":"deny"' '"principal_id":"boot-agent"' '"object":"boot:configs"'
deny_logged "dave (no role)" "$common" '"principal_id":"dave"' '"code":"AUTHZ_DENIED"'
deny_logged "carol unmapped" "$common" '"reason":"unmapped_route"' '"code":"AUTHZ_UNMAPPED"' '"path":"/v1/unmapped"'
n=$(grep '"event":"authz.decision"' "$DIR/shadow.log" | grep -c '"enforced":false,"status":403')
check "shadow: one would-be denial line per refused request" 6 "$n"
grep -q '"enforced":true' "$DIR/shadow.log" && { echo "FAIL: shadow mode enforced something"; fail=1; }
grep -q '"decision":"deny".*"principal_id":"carol".*"path":"/v1/nodes"[,}]' "$DIR/shadow.log" &&
    { echo "FAIL: shadow logged a denial for an allowed request"; fail=1; }
# the same requests in enforce mode are refused, and enforce logs them as enforced
expect "$E" carol PUT /v1/nodes/n9 403 AUTHZ_DENIED
grep -q '"decision":"deny".*"mode":"enforce","enforced":true' "$DIR/enforce.log" || { echo "FAIL: enforce log"; fail=1; }

# --- policy_version: same fragments, same value; another fragment, another value
pv() { curl -s "$1/authz/diagnostics" | sed -n 's/.*"policy_version":"\([0-9a-f]*\)".*/\1/p'; }
PV_E=$(pv "$E"); PV_S=$(pv "$S"); PV_O=$(pv "$O")
check "diagnostics policy_version is 64 hex" 64 "${#PV_E}"
check "two instances, one fragment directory: one policy_version" "$PV_E" "$PV_S"
[ "$PV_O" != "$PV_E" ] && [ ${#PV_O} = 64 ] && echo "ok: another fragment, another policy_version" ||
    { echo "FAIL: fragment f2 gives '$PV_O', f1 '$PV_E'"; fail=1; }
check "tokensmith policy version agrees (f1)" "$PV_E" "$("$TS" policy version --policy-dir "$DIR/f1")"
check "tokensmith policy version agrees (f2)" "$PV_O" "$("$TS" policy version --policy-dir "$DIR/f2")"
curl -s "$E/authz/diagnostics" | grep -q '"policy_source":"baseline+fragments"' || { echo "FAIL: policy_source"; fail=1; }
# the extra rule of f2 is live there only
expect "$O" carol GET /v1/nodes 200
grep -q "\"policy_version\":\"$PV_O\"" "$DIR/other.log" || { echo "FAIL: other instance logged another version"; fail=1; }

# --- nothing secret in any log
for f in "$DIR"/ts.log "$DIR"/enforce.log "$DIR"/shadow.log "$DIR"/other.log; do
    for t in "$DIR"/at.*; do
        tok=$(cat "$t")
        [ -n "$tok" ] && grep -qF "$tok" "$f" && { echo "FAIL: a token reached $(basename "$f")"; fail=1; }
        sig=${tok##*.}
        [ -n "$sig" ] && grep -qF "$sig" "$f" && { echo "FAIL: a token signature reached $(basename "$f")"; fail=1; }
    done
    grep -qF "$BT" "$f" && { echo "FAIL: the bootstrap token reached $(basename "$f")"; fail=1; }
done

[ $fail = 0 ] && echo "e2e: all checks passed" || echo "e2e: FAILED"
exit $fail
