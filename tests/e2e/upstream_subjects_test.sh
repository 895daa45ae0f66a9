#!/bin/bash
# Users of two upstream OpenID providers never share a subject, end to end:
#   two node oidc-provider instances (tests/oidc/provider.mjs, "a" and "b"), each with a user
#   whose `sub` is "alice" -> `tokensmith serve` exchanges both ID tokens -> examples/minisvc
#   authorizes with a policy fragment that makes provider a's Alice an admin.
# Provider a's Alice may DELETE; provider b's Alice is refused (403), although her upstream
# `sub` is the same. Also: a configuration whose providers could collide does not start, the
# admin API refuses to add a provider that would collide with a configured one, and upstream
# claims with control characters or a string email_verified are refused with 400, not 500
# (ID tokens, and RFC 7662 answers of the scripted issuer "raw" of provider.mjs, whose
# duplicate JSON members are refused too).
# usage: upstream_subjects_test.sh TOKENSMITH MINISVC SOURCE_DIR [NODE]
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

. "$SRC/tests/service/lib.sh" # DIR, cleanup, check, start_server, stop_server, post, json_field
MPID=
cleanup_more() { # minisvc and the provider; lib.sh stops tokensmith
    [ -n "$MPID" ] && { kill -TERM "$MPID" 2>/dev/null; wait "$MPID" 2>/dev/null; }
    stop_provider
}

# --- the two upstream providers
start_provider
A=$(prov_field a)
B=$(prov_field b)
RAW=$(prov_field raw)
CTL=$(prov_field control)
mint() { curl -s "$CTL/mint?$1"; } # QUERY -> an ID token minted by the provider itself

ISS=https://tokensmith.e2e.test
AUD=minisvc
IDT='urn:ietf:params:oauth:token-type:id_token'
provider() { # ISSUER [MEMBERS] -> one provider entry
    printf '{"issuer": "%s", "client_id": "tokensmith-test", %s
     "group_scopes": {"admins": ["admin", "write", "read"]}, "audiences": ["%s"]}' "$1" "${2:-}" "$AUD"
}
oexchange() { # ID_TOKEN OUTFILE -> status
    post /oauth/token "$2" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$IDT" --data-urlencode "subject_token=$1"
}
claims_of() { # ACCESS_TOKEN -> its verified claims
    "$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience "$AUD" "$1"
}

# --- two providers without names would give both Alices one subject: the service does not start
cat >"$DIR/unnamed.json" <<JSON
{"issuer": "$ISS", "oidc": {"providers": [$(provider "$A"), $(provider "$B")]}}
JSON
"$TS" serve --listen 127.0.0.1:0 --home "$DIR/h0" --config "$DIR/unnamed.json" 2>"$DIR/s0.log" &
P0=$!
i=0
while kill -0 $P0 2>/dev/null && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
if kill -0 $P0 2>/dev/null; then
    echo "FAIL: two unnamed providers: the service started"; fail=1
    kill -TERM $P0; wait $P0 2>/dev/null
else
    wait $P0; check "two unnamed providers: start refused" 1 $?
fi
grep -q 'providers\[1\]\.subject_template' "$DIR/s0.log" && echo "ok: the refusal names the field" ||
    { echo "FAIL: refusal does not name providers[1].subject_template: $(cat "$DIR/s0.log")"; fail=1; }

# --- named providers: subjects a:alice and b:alice
cat >"$DIR/ts.json" <<JSON
{"issuer": "$ISS", "oidc": {"providers": [
   $(provider "$A" '"name": "a",'), $(provider "$B" '"name": "b",'),
   $(provider "$RAW" '"name": "raw", "client_secret": "s3cret", "introspection": true,')]}}
JSON
start_server "$DIR/ts.log" --config "$DIR/ts.json" --home "$DIR/home"
for p in a b; do
    st=$(oexchange "$(mint "p=$p&sub=alice&groups=admins")" "$DIR/x.$p")
    check "provider $p's alice: ID token exchanged" 200 "$st"
    json_field "$DIR/x.$p" access_token >"$DIR/at.$p"
done
out=$(claims_of "$(cat "$DIR/at.a")"); check "a's token verifies" 0 $?
echo "$out" | grep -q '"sub":"a:alice"' && echo "$out" | grep -q "\"idp\":\"$A\"" &&
    echo "ok: provider a's alice is a:alice" || { echo "FAIL: a's claims: $out"; fail=1; }
out=$(claims_of "$(cat "$DIR/at.b")"); check "b's token verifies" 0 $?
echo "$out" | grep -q '"sub":"b:alice"' && echo "$out" | grep -q "\"idp\":\"$B\"" &&
    echo "ok: provider b's alice is b:alice" || { echo "FAIL: b's claims: $out"; fail=1; }

# --- minisvc: a policy fragment grants admin to provider a's Alice only
mkdir -p "$DIR/policy"
cat >"$DIR/policy/20-admins.csv" <<'CSV'
# provider a's Alice (docs/oidc.md, "Internal subjects")
g, user:a:alice, role:admin
# a line from when provider a was the only one and its users had plain subjects: it must not
# reach anyone now, least of all provider b's Alice
g, user:alice, role:admin
CSV
"$MINISVC" --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience "$AUD" --mode enforce \
    --policy-dir "$DIR/policy" --listen 127.0.0.1:0 --port-file "$DIR/m.port" 2>"$DIR/m.log" &
MPID=$!
i=0
while [ ! -s "$DIR/m.port" ] && [ $i -lt 200 ] && kill -0 $MPID 2>/dev/null; do sleep 0.05; i=$((i + 1)); done
[ -s "$DIR/m.port" ] || { echo "FAIL: minisvc did not start"; cat "$DIR/m.log"; exit 1; }
M=http://127.0.0.1:$(cat "$DIR/m.port")
call() { # WHO METHOD PATH -> status; body in $DIR/body
    curl -s -o "$DIR/body" -w '%{http_code}' -X "$2" -H "Authorization: Bearer $(cat "$DIR/at.$1")" "$M$3"
}
st=$(call a GET /v1/whoami); check "whoami (a)" 200 "$st"
grep -q '"id":"a:alice","type":"user"' "$DIR/body" || { echo "FAIL: whoami a: $(cat "$DIR/body")"; fail=1; }
st=$(call b GET /v1/whoami); check "whoami (b)" 200 "$st"
grep -q '"id":"b:alice","type":"user"' "$DIR/body" || { echo "FAIL: whoami b: $(cat "$DIR/body")"; fail=1; }
st=$(call a DELETE /v1/nodes/n1); check "provider a's alice may DELETE" 200 "$st"
st=$(call b DELETE /v1/nodes/n2); check "provider b's alice may not DELETE" 403 "$st"
grep -q '"code":"AUTHZ_DENIED"' "$DIR/body" || { echo "FAIL: b's refusal: $(cat "$DIR/body")"; fail=1; }
st=$(call b GET /v1/nodes); check "provider b's alice has no role at all" 403 "$st"

# --- upstream claims are read strictly: 400 invalid_request, never 500
refused() { # NAME ID_TOKEN
    st=$(oexchange "$2" "$DIR/r")
    check "$1: refused" 400 "$st"
    check "$1: invalid_request" invalid_request "$(json_field "$DIR/r" error)"
}
refused "newline in sub" "$(mint "p=a&sub=eve%0Aadmin&groups=admins")"
refused "CR LF in name" "$(mint "p=a&sub=eve&name=Eve%0D%0AAdmin&groups=admins")"
now=$(date +%s)
refused "email_verified as a string" "$(curl -s -X POST "$CTL/sign?p=a" -d "{\"iss\":\"$A\",
    \"aud\":\"tokensmith-test\",\"sub\":\"eve\",\"iat\":$now,\"exp\":$((now + 300)),
    \"email\":\"eve@example.org\",\"email_verified\":\"true\"}")"
ACT=urn:ietf:params:oauth:token-type:access_token
introspected() { # ANSWER OUTFILE -> status of exchanging an opaque token that "raw" describes so
    curl -s -X POST "$CTL/raw?doc=introspect" -d "$1" >/dev/null
    post /oauth/token "$2" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$ACT" --data-urlencode "subject_token=opaque-token"
}
ANS='"client_id":"tokensmith-test","groups":["admins"],"exp":'$((now + 300))
st=$(introspected "{\"active\":true,\"sub\":\"eve\",$ANS}" "$DIR/i1")
check "introspected token exchanged" 200 "$st"
out=$(claims_of "$(json_field "$DIR/i1" access_token)")
echo "$out" | grep -q '"sub":"raw:eve"' && echo "ok: introspected subject raw:eve" ||
    { echo "FAIL: introspected claims: $out"; fail=1; }
st=$(introspected "{\"active\":true,\"sub\":\"eve\\nadmin\",$ANS}" "$DIR/i2")
check "newline in an introspected sub: refused" 400 "$st"
check "newline in an introspected sub: invalid_request" invalid_request "$(json_field "$DIR/i2" error)"
n=$(grep -c '"reason":"invalid_claim"' "$DIR/ts.log")
check "each refusal logged as invalid_claim" 4 "$n"
# "last one wins" would make this an active token; the answer is refused as a provider failure
st=$(introspected "{\"active\":false,\"sub\":\"eve\",$ANS,\"active\":true}" "$DIR/i3")
check "duplicate members in an introspection answer" 503 "$st"
grep -q '"reason":"introspection_failed","detail":"introspection: answer repeats a member' "$DIR/ts.log" ||
    { echo "FAIL: duplicate members not logged as introspection_failed"; fail=1; }
stop_server
PID=

# --- the admin API refuses a provider that could collide with a configured one
cat >"$DIR/one.json" <<JSON
{"issuer": "$ISS", "oidc": {"providers": [$(provider "$A")]}}
JSON
start_server "$DIR/ts2.log" --config "$DIR/one.json" --home "$DIR/home2" --admin-listen 127.0.0.1:0
APORT=$(sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/ts2.log" | tail -1)
ADMIN=http://127.0.0.1:$APORT
st=$(oexchange "$(mint "p=a&sub=alice&groups=admins")" "$DIR/y1"); check "one provider: exchange" 200 "$st"
out=$(claims_of "$(json_field "$DIR/y1" access_token)")
echo "$out" | grep -q '"sub":"alice"' && echo "ok: one unnamed provider: the plain sub" ||
    { echo "FAIL: single provider claims: $out"; fail=1; }
admin_post() { # BODY OUTFILE -> status
    curl -s -o "$2" -w '%{http_code}' -X POST "$ADMIN/admin/oidc/config" -d "$1"
}
st=$(admin_post "{\"providers\": [$(provider "$B" '"name": "b",')]}" "$DIR/p1")
check "adding b next to unnamed a" 400 "$st"
check "adding b: invalid_config" invalid_config "$(json_field "$DIR/p1" error)"
grep -q 'subject_template' "$DIR/p1" || { echo "FAIL: admin refusal: $(cat "$DIR/p1")"; fail=1; }
st=$(oexchange "$(mint "p=b&sub=alice&groups=admins")" "$DIR/y2"); check "b not configured" 400 "$st"
st=$(admin_post "{\"providers\": [$(provider "$A" '"name": "a",'), $(provider "$B" '"name": "b",')],
    \"replace_existing\": true}" "$DIR/p2")
check "naming a while adding b" 200 "$st"
for p in a b; do
    st=$(oexchange "$(mint "p=$p&sub=alice&groups=admins")" "$DIR/y.$p"); check "after the change: $p" 200 "$st"
    out=$(claims_of "$(json_field "$DIR/y.$p" access_token)")
    echo "$out" | grep -q "\"sub\":\"$p:alice\"" && echo "ok: after the change: $p:alice" ||
        { echo "FAIL: after the change, $p's claims: $out"; fail=1; }
done
stop_server
PID=

# --- nothing secret in any log
for f in "$DIR"/ts.log "$DIR"/ts2.log "$DIR"/m.log; do
    for t in "$DIR"/at.*; do
        tok=$(cat "$t")
        [ -n "$tok" ] && grep -qF "${tok##*.}" "$f" && { echo "FAIL: a token reached $(basename "$f")"; fail=1; }
    done
done

[ $fail = 0 ] && echo "upstream subjects: all checks passed" || echo "upstream subjects: FAILED"
exit $fail
