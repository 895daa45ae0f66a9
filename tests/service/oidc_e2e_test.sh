#!/bin/sh
# The upstream OpenID exchange end to end: two real providers (node oidc-provider, started by
# tests/oidc/provider.mjs on loopback), `tokensmith serve` configured for both, ID tokens
# exchanged at POST /oauth/token and the issued tokens checked claim by claim; the refusals; the
# admin API (peer judgement, dry run, replace_existing, persistence across a restart) and
# `tokensmith oidc status|configure`.
# usage: oidc_e2e_test.sh TOKENSMITH SOURCE_DIR NODE
# Exit 77 when node or oidc-provider is missing.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${3:-node}
[ -d "$SRC/node_modules/oidc-provider" ] || { echo "SKIP: node_modules/oidc-provider missing (npm ci)"; exit 77; }
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node missing"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...
cleanup_more() { # the provider; lib.sh stops tokensmith
    stop_provider
}

# --- the providers
start_provider
A=$(prov_field a)
B=$(prov_field b)
CTL=$(prov_field control)
mint() { curl -s "$CTL/mint?$1"; }

ISS=https://tokensmith.test
cat >"$DIR/cfg.json" <<JSON
{"issuer": "$ISS",
 "groupScopes": {"viewer": ["read"]},
 "oidc": {"providers": [
   {"issuer": "$A", "client_id": "tokensmith-test", "name": "a",
    "group_scopes": {"admins": ["admin", "write", "read"], "viewers": ["read"]},
    "audiences": ["smd", "bss"], "jwks_refetch_cooldown_s": 1},
   {"issuer": "$B", "client_id": "tokensmith-test", "name": "b", "audiences": ["smd"]}]}}
JSON
HOME_A=$DIR/home
start_server "$DIR/s.log" --config "$DIR/cfg.json" --home "$HOME_A" --admin-listen 127.0.0.1:0
APORT=$(sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/s.log" | tail -1)
ADMIN=http://127.0.0.1:$APORT
JWKS=$URL/.well-known/jwks.json
IDT='urn:ietf:params:oauth:token-type:id_token'
oexchange() { # TOKEN OUTFILE [curl args...] -> status
    t=$1; o=$2; shift 2
    post /oauth/token "$o" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$IDT" --data-urlencode "subject_token=$t" "$@"
}
verify() { # TOKEN AUDIENCE -> verified claims on stdout
    "$TS" token verify --jwks "$JWKS" --issuer "$ISS" --audience "$2" "$1"
}
has() { # NAME TEXT PATTERN...
    n=$1; t=$2; shift 2
    for c in "$@"; do
        echo "$t" | grep -q "$c" || { echo "FAIL: $n: $c missing: $t"; fail=1; return; }
    done
    echo "ok: $n"
}

# --- an ID token from provider a, exchanged and checked claim by claim
IDTOK=$(mint "p=a&sub=alice&name=Alice%20A&email=alice@example.org&groups=admins,other&amr=pwd,otp&acr=urn:mfa")
st=$(oexchange "$IDTOK" "$DIR/r1"); check "exchange status" 200 "$st"
check "issued_token_type" urn:ietf:params:oauth:token-type:access_token "$(json_field "$DIR/r1" issued_token_type)"
check "token_type" Bearer "$(json_field "$DIR/r1" token_type)"
check "scope granted by the mapping" "admin write read" "$(sed -n 's/.*"scope":"\([^"]*\)".*/\1/p' "$DIR/r1")"
grep -q refresh_token "$DIR/r1" && { echo "FAIL: an OIDC exchange must not issue a refresh token"; fail=1; }
ein=$(json_field "$DIR/r1" expires_in)
[ "$ein" -gt 200 ] && [ "$ein" -le 300 ] || { echo "FAIL: expires_in $ein must not outlive the ID token"; fail=1; }
AT=$(json_field "$DIR/r1" access_token)
out=$(verify "$AT" smd); check "token verifies through the JWKS URL" 0 $?
has "claims of the exchanged token" "$out" '"iss":"https://tokensmith.test"' '"sub":"a:alice"' \
    '"aud":\["smd","bss"\]' '"scope":"admin write read"' '"name":"Alice A"' \
    '"email":"alice@example.org"' '"email_verified":true' '"amr":\["pwd","otp"\]' \
    '"acr":"urn:mfa"' '"auth_time":[0-9]' "\"idp\":\"$A\"" '"auth_methods":\["oidc_exchange"\]' \
    '"auth_events":\["oidc_token_exchange"\]' '"session_id":"oidc-' '"jti":"'
echo "$out" | grep -q '"groups"' && { echo "FAIL: upstream groups leaked into the token"; fail=1; }
verify "$AT" bss >/dev/null; check "second granted audience verifies" 0 $?

# narrowing: scope, audience
st=$(oexchange "$IDTOK" "$DIR/r2" --data-urlencode "scope=read" --data-urlencode "audience=bss")
check "narrowed exchange" 200 "$st"
out=$(verify "$(json_field "$DIR/r2" access_token)" bss)
has "narrowed claims" "$out" '"scope":"read"' '"aud":\["bss"\]'
verify "$(json_field "$DIR/r2" access_token)" smd >/dev/null 2>&1
check "narrowed audience no longer contains smd" 1 $?

# provider b: no group_scopes of its own, so the service's groupScopes apply
st=$(oexchange "$(mint "p=b&sub=bob&groups=viewer")" "$DIR/r3"); check "provider b exchange" 200 "$st"
out=$(verify "$(json_field "$DIR/r3" access_token)" smd)
has "provider b claims" "$out" '"sub":"b:bob"' '"scope":"read"' "\"idp\":\"$B\""

# --- refusals
st=$(oexchange "$IDTOK" "$DIR/e1" --data-urlencode "scope=read delete")
check "scope beyond the mapping" 400 "$st"; check "invalid_scope" invalid_scope "$(json_field "$DIR/e1" error)"
st=$(oexchange "$(mint "p=a&groups=viewers")" "$DIR/e2" --data-urlencode "scope=admin")
check "viewer asking for admin" 400 "$st"; check "viewer: invalid_scope" invalid_scope "$(json_field "$DIR/e2" error)"
st=$(oexchange "$IDTOK" "$DIR/e3" --data-urlencode "audience=hsm")
check "audience not allowed" 400 "$st"; check "invalid_target" invalid_target "$(json_field "$DIR/e3" error)"
st=$(oexchange "$(mint "p=a&client=other-client")" "$DIR/e4")
check "wrong audience (other client)" 400 "$st"; check "wrong aud: invalid_request" invalid_request "$(json_field "$DIR/e4" error)"
grep -q '"reason":"wrong_audience"' "$DIR/s.log" || { echo "FAIL: wrong_audience not logged"; fail=1; }
now=$(date +%s)
EXP=$(curl -s -X POST "$CTL/sign?p=a" -d "{\"iss\":\"$A\",\"aud\":\"tokensmith-test\",\"sub\":\"alice\",\"iat\":$((now - 900)),\"exp\":$((now - 600))}")
st=$(oexchange "$EXP" "$DIR/e5"); check "expired ID token" 400 "$st"
grep -q '"reason":"expired"' "$DIR/s.log" || { echo "FAIL: expired not logged"; fail=1; }
TAMP=$(printf '%s' "$IDTOK" | awk -F. '{s=$3; c=substr(s,10,1); r=(c=="A")?"B":"A"; print $1"."$2"."substr(s,1,9) r substr(s,11)}')
st=$(oexchange "$TAMP" "$DIR/e6"); check "tampered signature" 400 "$st"
grep -q '"reason":"bad_signature"' "$DIR/s.log" || { echo "FAIL: bad_signature not logged"; fail=1; }
FOREIGN=$(curl -s -X POST "$CTL/sign?p=a" -d "{\"iss\":\"https://evil.example\",\"aud\":\"tokensmith-test\",\"sub\":\"alice\",\"iat\":$now,\"exp\":$((now + 300))}")
st=$(oexchange "$FOREIGN" "$DIR/e7"); check "unknown issuer" 400 "$st"
grep -q '"reason":"wrong_issuer"' "$DIR/s.log" || { echo "FAIL: wrong_issuer not logged"; fail=1; }
st=$(oexchange "not-a-jwt" "$DIR/e8"); check "garbage subject token" 400 "$st"
# key rotation at the provider: the unknown kid is refetched
curl -s "$CTL/rotate?p=a" >/dev/null
sleep 1.1 # past the refetch cooldown
st=$(oexchange "$(mint "p=a&groups=viewers")" "$DIR/r4"); check "after key rotation" 200 "$st"
# a provider that is down and was never reached: 503
curl -s "$CTL/down?p=b" >/dev/null
cat >"$DIR/cfg2.json" <<JSON
{"issuer": "$ISS", "oidc": {"providers": [{"issuer": "$B", "client_id": "x", "audiences": ["smd"]}]}}
JSON
SAVE_PID=$PID; SAVE_URL=$URL
start_server "$DIR/s2.log" --config "$DIR/cfg2.json" --home "$DIR/home2"
BTOK=$(curl -s -X POST "$CTL/sign?p=a" -d "{\"iss\":\"$B\",\"aud\":\"x\",\"sub\":\"carol\",\"iat\":$now,\"exp\":$((now + 300))}")
st=$(oexchange "$BTOK" "$DIR/e9"); check "upstream unreachable" 503 "$st"
check "unreachable: server_error" server_error "$(json_field "$DIR/e9" error)"
stop_server
PID=$SAVE_PID; URL=$SAVE_URL

# the store's audit trail has the exchange (never the token)
grep -q '"audit_event":"oidc_token_exchanged"' "$DIR/s.log" || { echo "FAIL: no exchange audit log line"; fail=1; }
grep -q "$AT" "$DIR/s.log" && { echo "FAIL: a token reached the log"; fail=1; }

# --- admin API
st=$(curl -s -o "$DIR/g1" -w '%{http_code}' "$ADMIN/admin/oidc/config"); check "admin GET" 200 "$st"
grep -q "\"issuer\":\"$A\"" "$DIR/g1" || { echo "FAIL: admin GET lacks provider a: $(cat "$DIR/g1")"; fail=1; }
st=$(curl -s -o /dev/null -w '%{http_code}' "$URL/admin/oidc/config"); check "admin API absent on the main listener" 404 "$st"
st=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 127.0.0.1' "$URL/admin/oidc/config")
check "main listener ignores X-Forwarded-For for admin" 404 "$st"
out=$("$TS" oidc status --url "$ADMIN"); check "oidc status" 0 $?
has "oidc status output" "$out" "Configured: true" "Issuer: $A" "Issuer: $B" "Name: a" \
    "Subject template: {name}:{sub}"
# adding a provider: dry run first (nothing changes), then for real
NEWP="{\"issuer\":\"$A\",\"client_id\":\"other-client\",\"name\":\"a\",\"audiences\":[\"hsm\"]}"
st=$(curl -s -o "$DIR/p1" -w '%{http_code}' -X POST "$ADMIN/admin/oidc/config" -d "{\"providers\":[$NEWP]}")
check "replace without replace_existing" 409 "$st"
"$TS" oidc configure --url "$ADMIN" --issuer-url "$A" --client-id other-client --name a --audiences hsm --dry-run --replace-existing >"$DIR/c1"
check "configure --dry-run" 0 $?
has "dry run status" "$(cat "$DIR/c1")" "Status: would_replace"
[ ! -e "$HOME_A/oidc-providers.json" ] || { echo "FAIL: dry run wrote the state file"; fail=1; }
st=$(oexchange "$(mint "p=a&groups=viewers")" "$DIR/r5"); check "dry run changed nothing" 200 "$st"
st=$(curl -s -o "$DIR/p2" -w '%{http_code}' -X POST "$ADMIN/admin/oidc/config" -d '{"providers":[{"issuer":"http://127.0.0.1:1","client_id":"c","name":"down"}]}')
check "unreachable new provider refused" 400 "$st"; check "discovery_failed" discovery_failed "$(json_field "$DIR/p2" error)"
"$TS" oidc configure --url "$ADMIN" --issuer-url "$A" --client-id other-client --name a --audiences hsm --replace-existing >"$DIR/c2"
check "configure (replace)" 0 $?
has "replace status" "$(cat "$DIR/c2")" "Status: replaced"
check "state file mode" 600 "$(stat -c %a "$HOME_A/oidc-providers.json")"
grep -q '"oidc_config_changed"' "$DIR/s.log" || { echo "FAIL: no admin audit line"; fail=1; }
st=$(oexchange "$(mint "p=a&client=other-client&groups=viewers")" "$DIR/r6" --data-urlencode "scope=read")
# the replacement has no group_scopes of its own: the service's groupScopes know "viewer" only
check "new mapping: group viewers grants nothing" 400 "$st"
st=$(oexchange "$(mint "p=a&client=other-client&groups=viewer")" "$DIR/r6")
check "new client id accepted (service groupScopes)" 200 "$st"
out=$(verify "$(json_field "$DIR/r6" access_token)" hsm)
has "new provider's audience" "$out" '"aud":\["hsm"\]' '"scope":"read"'
st=$(oexchange "$(mint "p=a&groups=viewers")" "$DIR/r7"); check "old client id refused after replace" 400 "$st"

# --- the change survives a restart
stop_server
# (this time the admin API listens on a Unix socket, mode 0600)
start_server "$DIR/s3.log" --config "$DIR/cfg.json" --home "$HOME_A" --admin-listen "unix:$DIR/admin.sock"
st=$(oexchange "$(mint "p=a&client=other-client&groups=viewer")" "$DIR/r8"); check "after restart: new client id" 200 "$st"
st=$(oexchange "$(mint "p=a&groups=viewers")" "$DIR/r9"); check "after restart: old client id refused" 400 "$st"
check "admin socket mode" 600 "$(stat -c %a "$DIR/admin.sock")"
out=$("$TS" oidc status --url "unix:$DIR/admin.sock")
has "status after restart (Unix socket)" "$out" "Source: admin" "Issuer: $A" "Client ID: other-client"
stop_server
[ ! -e "$DIR/admin.sock" ] || { echo "FAIL: admin socket left behind"; fail=1; }

# --- the admin listener refuses to face the network
"$TS" serve --listen 127.0.0.1:0 --home "$DIR/h4" --admin-listen 0.0.0.0:0 2>"$DIR/s4.log" &
P4=$!; wait $P4; rc=$?
[ $rc -ne 0 ] || { echo "FAIL: adminListen 0.0.0.0 accepted"; fail=1; }
grep -q adminListen "$DIR/s4.log" && echo "ok: adminListen 0.0.0.0 refused" || { echo "FAIL: no adminListen error"; fail=1; }

# --- a bad provider configuration stops the start and names the field
echo '{"oidc": {"providers": [{"issuer": "http://127.0.0.1:9", "client_id": "c", "colour": 1}]}}' >"$DIR/bad.json"
"$TS" serve --listen 127.0.0.1:0 --home "$DIR/h7" --config "$DIR/bad.json" 2>"$DIR/s7.log"
check "bad provider configuration" 1 $?
grep -q 'providers\[0\].colour' "$DIR/s7.log" && echo "ok: the error names the field" \
    || { echo "FAIL: error: $(cat "$DIR/s7.log")"; fail=1; }

# --- a non-loopback peer (when this machine has a non-loopback address)
EXT=$(hostname -I 2>/dev/null | tr ' ' '\n' | grep -v '^127\.' | grep -v ':' | head -1)
if [ -n "$EXT" ]; then
    "$TS" serve --listen 0.0.0.0:0 --home "$DIR/h5" --config "$DIR/cfg.json" 2>"$DIR/s6.log" &
    PID=$!
    i=0; P6=
    while [ -z "$P6" ] && [ $i -lt 100 ]; do
        P6=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$DIR/s6.log"); sleep 0.1; i=$((i + 1))
    done
    st=$(curl -s -o /dev/null -w '%{http_code}' -H 'X-Forwarded-For: 127.0.0.1' -H 'X-Real-IP: 127.0.0.1' "http://$EXT:$P6/admin/oidc/config")
    check "non-loopback peer with X-Forwarded-For: 127.0.0.1 refused" 404 "$st"
    st=$(curl -s -o /dev/null -w '%{http_code}' -X POST -H 'X-Forwarded-For: 127.0.0.1' "http://$EXT:$P6/admin/oidc/config" -d '{"providers":[]}')
    check "non-loopback POST refused" 404 "$st"
    stop_server
else
    echo "note: no non-loopback address; the peer judgement is covered by service.admin"
fi
exit $fail
