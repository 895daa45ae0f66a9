#!/bin/sh
# Step-up authentication end to end (RFC 9470): ID tokens minted by a real OpenID provider (node
# oidc-provider) with acr and auth_time are exchanged by `tokensmith serve` (provider a renames
# its acr values through acr_map; provider b does not carry the authentication context), and
# the issued tokens are presented to a service behind tokensmith-mhd's gate whose step-up rules
# ask for acr "mfa" below /v1/admin and for an authentication at most 300 s old on /v1/recent.
# The 401s are checked byte for byte (WWW-Authenticate and the authz.deny.v1 body).
# usage: stepup_test.sh TOKENSMITH STEPUP_SVC SOURCE_DIR NODE. Exit 77 without oidc-provider.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SVC=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
SRC=$3
NODE=${4:-node}
[ -d "$SRC/node_modules/oidc-provider" ] || { echo "SKIP: node_modules/oidc-provider missing (npm ci)"; exit 77; }
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node missing"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, start_provider, check, ...
SPID=
cleanup_more() {
    exec 4>&- 2>/dev/null
    [ -n "$SPID" ] && { kill "$SPID" 2>/dev/null; wait "$SPID" 2>/dev/null; }
    stop_provider
}

start_provider
A=$(prov_field a)
B=$(prov_field b)
CTL=$(prov_field control)
mint() { curl -s "$CTL/mint?$1"; }

ISS=https://tokensmith.test
cat >"$DIR/cfg.json" <<JSON
{"issuer": "$ISS",
 "oidc": {"providers": [
   {"issuer": "$A", "client_id": "tokensmith-test", "name": "a",
    "group_scopes": {"admins": ["admin", "read"]}, "audiences": ["smd"],
    "acr_map": {"urn:idp:mfa": "mfa", "urn:idp:pwd": "pwd"}},
   {"issuer": "$B", "client_id": "tokensmith-test", "name": "b",
    "group_scopes": {"admins": ["admin", "read"]}, "audiences": ["smd"],
    "carry_auth_context": false}]}}
JSON
start_server "$DIR/s.log" --config "$DIR/cfg.json" --home "$DIR/home"
IDT='urn:ietf:params:oauth:token-type:id_token'
# exchange ID_TOKEN NAME: the issued access token in $DIR/NAME.at
exchange_id() {
    st=$(post /oauth/token "$DIR/$2.json" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$IDT" --data-urlencode "subject_token=$1")
    check "exchange $2" 200 "$st"
    json_field "$DIR/$2.json" access_token >"$DIR/$2.at"
}
exchange_id "$(mint 'p=a&sub=alice&groups=admins&acr=urn:idp:mfa&amr=pwd,otp')" mfa
exchange_id "$(mint 'p=a&sub=alice&groups=admins&acr=urn:idp:pwd&amr=pwd')" pwd
exchange_id "$(mint 'p=a&sub=alice&groups=admins&acr=urn:other')" unmapped
exchange_id "$(mint 'p=a&sub=alice&groups=admins&acr=urn:idp:mfa&auth_age=3600')" old
exchange_id "$(mint 'p=b&sub=bob&groups=admins&acr=urn:idp:mfa')" b

# What the exchanged tokens say about the authentication context.
claims() { "$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience smd "$(cat "$DIR/$1.at")"; }
claims mfa | grep -q '"acr":"mfa"' && claims mfa | grep -q '"amr":\["pwd","otp"\]'
check "acr renamed through acr_map, amr carried" 0 $?
claims pwd | grep -q '"acr":"pwd"'; check "pwd renamed" 0 $?
claims unmapped | grep -q '"acr"'; check "an acr the map does not name is not carried" 1 $?
claims unmapped | grep -q '"auth_time":[0-9]'; check "auth_time carried without the acr" 0 $?
claims b | grep -q '"acr"\|"amr"\|"auth_time"'; check "provider b carries no auth context" 1 $?

# The service behind the gate.
cat >"$DIR/gate.json" <<JSON
{"issuers": ["$ISS"], "audiences": ["smd"], "jwks": ["$URL/.well-known/jwks.json"],
 "realm": "stepup", "public_paths": ["/health"],
 "authn_only_paths": ["/v1/admin/*", "/v1/recent", "/v1/open"],
 "step_up": [
   {"path": "/v1/admin/*", "acr_values": ["mfa", "phr"]},
   {"path": "/v1/recent", "max_age_s": 300}]}
JSON
mkfifo "$DIR/svc.in"
"$SVC" "$DIR/gate.json" <"$DIR/svc.in" >"$DIR/svc.out" 2>"$DIR/svc.log" &
SPID=$!
exec 4>"$DIR/svc.in" # the service stops when its stdin closes
i=0
while [ ! -s "$DIR/svc.out" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
SPORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$DIR/svc.out")
[ -n "$SPORT" ] || { echo "FAIL: the service did not start"; cat "$DIR/svc.log"; exit 1; }

# call NAME PATH: status; headers in $DIR/h, body in $DIR/b
call() {
    curl -s -D "$DIR/h" -o "$DIR/b" -w '%{http_code}' -H "Authorization: Bearer $(cat "$DIR/$1.at")" \
        "http://127.0.0.1:$SPORT$2"
}
www() { tr -d '\r' <"$DIR/h" | sed -n 's/^[Ww][Ww][Ww]-[Aa]uthenticate: //p'; }
ACR='Bearer realm="stepup", error="insufficient_user_authentication", acr_values="mfa phr"'
AGE='Bearer realm="stepup", error="insufficient_user_authentication", max_age="300"'

check "mfa token on /v1/admin" 200 "$(call mfa /v1/admin/x)"
check "mfa body" "who=a:alice acr=mfa" "$(cat "$DIR/b")"
for t in pwd unmapped b; do
    check "$t token on /v1/admin" 401 "$(call $t /v1/admin/x)"
    check "$t challenge" "$ACR" "$(www)"
done
call pwd /v1/admin/x >/dev/null
check "the step-up body" '{"schema_version":"authz.deny.v1","code":"AUTHN_STEP_UP","message":"stronger or more recent authentication required","decision":"deny","reason":"insufficient_user_authentication","mode":"enforce","principal":{"id":"","type":"unknown"},"input":{"object":"/v1/admin/x","action":"GET"},"policy_version":"","request":{"method":"GET","path":"/v1/admin/x"},"details":{"authn_reason":"insufficient_user_authentication"}}' "$(cat "$DIR/b")"
tr -d '\r' <"$DIR/h" | grep -qi '^cache-control: no-store$'; check "no-store" 0 $?
# The second request for the same token is served from the verifier's cache: still refused.
check "pwd again (cached token)" 401 "$(call pwd /v1/admin/x)"
check "old token on /v1/recent" 401 "$(call old /v1/recent)"
check "old challenge has max_age" "$AGE" "$(www)"
check "b token (no auth_time) on /v1/recent" 401 "$(call b /v1/recent)"
check "b challenge" "$AGE" "$(www)"
check "fresh token on /v1/recent" 200 "$(call pwd /v1/recent)"
check "old token where no step-up applies" 200 "$(call old /v1/open)"
grep -q '"reason":"insufficient_user_authentication"' "$DIR/svc.log"; check "refusals logged" 0 $?
for t in mfa pwd old; do
    grep -qF "$(cat "$DIR/$t.at")" "$DIR/svc.log" && { echo "FAIL: a token in the log"; fail=1; }
done
grep -q 'AddressSanitizer\|runtime error' "$DIR/svc.log" "$DIR/s.log" && { echo "FAIL: sanitizer report"; fail=1; }
exit $fail
