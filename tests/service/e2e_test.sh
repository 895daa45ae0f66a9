#!/bin/sh
# End-to-end test of `tokensmith serve` on loopback: endpoints, both grants, every OAuth error
# of the token endpoint, the 100-way race, restart, keys, configuration precedence.
# usage: e2e_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...
ISS=https://tokensmith.test
HOME_A=$DIR/a
STORE=$HOME_A/tokensmith.db
# The 100-way race below opens 100 connections from one address at once: more than the
# default per-address limit (32), which would refuse some before they race.
start_server "$DIR/a.log" --home "$HOME_A" --issuer "$ISS" --max-connections-per-address 0
# service.e2e_thread_per_connection runs this whole file with a thread per connection.
if [ "${TOKENSMITH_THREAD_PER_CONNECTION:-false}" = true ]; then
    grep -q '"thread_per_connection":true' "$DIR/a.log"
    check "serving with a thread per connection" 0 $?
fi

# --- read-only endpoints
st=$(curl -s -o "$DIR/h" -w '%{http_code}' "$URL/health"); check "health status" 200 "$st"
check "health body" healthy "$(json_field "$DIR/h" status)"
hdr=$(curl -s -D - -o "$DIR/jwks" "$URL/.well-known/jwks.json")
echo "$hdr" | grep -qi '^cache-control: public, max-age=' || { echo "FAIL: JWKS Cache-Control"; fail=1; }
KID=$(json_field "$DIR/jwks" kid)
[ ${#KID} -eq 43 ] || { echo "FAIL: kid '$KID'"; fail=1; }
check "jwks alg" PS256 "$(json_field "$DIR/jwks" alg)"
KIDFILE=$(ls "$HOME_A/keys"/*.pem)
check "key file named by kid" "$HOME_A/keys/$KID.pem" "$KIDFILE"
check "key file mode" 600 "$(stat -c %a "$KIDFILE")"
check "kid = thumbprint of the key file" "$KID" "$("$TS" keys thumbprint "$KIDFILE")"
curl -s -o "$DIR/meta" "$URL/.well-known/openid-configuration"
check "metadata issuer" "$ISS" "$(json_field "$DIR/meta" issuer)"
check "metadata jwks_uri" "$ISS/.well-known/jwks.json" "$(json_field "$DIR/meta" jwks_uri)"
check "metadata token_endpoint" "$ISS/oauth/token" "$(json_field "$DIR/meta" token_endpoint)"
rid=$(curl -s -D - -o /dev/null -H 'X-Request-Id: abc-123' "$URL/health" | tr -d '\r' | sed -n 's/^X-Request-Id: //Ip')
check "request id echoed" abc-123 "$rid"
rid=$(curl -s -D - -o /dev/null "$URL/health" | tr -d '\r' | sed -n 's/^X-Request-Id: //Ip')
[ -n "$rid" ] || { echo "FAIL: no generated request id"; fail=1; }

# --- bootstrap exchange, verification through the served JWKS
TOK=$(create_token "$STORE")
[ ${#TOK} -eq 64 ] || { echo "FAIL: bootstrap token '$TOK'"; exit 1; }
hdr=$(curl -s -D - -o "$DIR/r1" -X POST "$URL/oauth/token" --data-urlencode "grant_type=$GRANT" \
    --data-urlencode "subject_token_type=$BOOT" --data-urlencode "subject_token=$TOK" | tr -d '\r')
echo "$hdr" | grep -q '^HTTP/1.1 200' || { echo "FAIL: exchange: $hdr"; cat "$DIR/r1"; fail=1; }
echo "$hdr" | grep -qi '^Cache-Control: no-store' || { echo "FAIL: exchange Cache-Control"; fail=1; }
check "token_type" Bearer "$(json_field "$DIR/r1" token_type)"
check "expires_in" 3600 "$(json_field "$DIR/r1" expires_in)"
check "issued_token_type" urn:ietf:params:oauth:token-type:access_token "$(json_field "$DIR/r1" issued_token_type)"
check "scope" "read write" "$(sed -n 's/.*"scope":"\([^"]*\)".*/\1/p' "$DIR/r1")"
rexp=$(json_field "$DIR/r1" refresh_expires_in)
[ "$rexp" -gt 86300 ] && [ "$rexp" -le 86400 ] || { echo "FAIL: refresh_expires_in $rexp"; fail=1; }
AT=$(json_field "$DIR/r1" access_token)
RT=$(json_field "$DIR/r1" refresh_token)
out=$("$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience smd "$AT")
check "authn verifies the access token via JWKS URL" 0 $?
for c in '"sub":"svc-a"' '"scope":"read write"' '"auth_level":"IAL2"' '"auth_methods":\["bootstrap_exchange"\]' '"jti":"'; do
    echo "$out" | grep -q "$c" || { echo "FAIL: claim $c missing: $out"; fail=1; }
done
if command -v node >/dev/null 2>&1 && [ -d "$SRC/node_modules/jose" ]; then
    jout=$(node "$SRC/tests/service/jose_verify.mjs" "$URL/.well-known/jwks.json" "$ISS" smd "$AT")
    check "node jose verifies via createRemoteJWKSet" 0 $?
    echo "$jout" | grep -q "\"kid\":\"$KID\"" || { echo "FAIL: jose kid: $jout"; fail=1; }
else
    echo "skip: node jose not installed"
fi
grep -q "$AT" "$DIR/a.log" && { echo "FAIL: access token in the log"; fail=1; }
grep -q "$TOK" "$DIR/a.log" && { echo "FAIL: bootstrap token in the log"; fail=1; }
grep -q "$RT" "$DIR/a.log" && { echo "FAIL: refresh token in the log"; fail=1; }
strings "$STORE" 2>/dev/null | grep -q "$TOK" && { echo "FAIL: bootstrap token at rest"; fail=1; }

# --- replay
st=$(exchange "$TOK" "$DIR/r"); check "replay status" 400 "$st"
check "replay error" invalid_grant "$(json_field "$DIR/r" error)"
check "replay text" "The provided token is invalid or has already been used" "$(json_field "$DIR/r" error_description)"

# --- refresh rotation and reuse
st=$(refresh "$RT" "$DIR/r2"); check "refresh status" 200 "$st"
RT2=$(json_field "$DIR/r2" refresh_token)
[ -n "$RT2" ] && [ "$RT2" != "$RT" ] || { echo "FAIL: refresh token not rotated"; fail=1; }
rexp2=$(json_field "$DIR/r2" refresh_expires_in)
[ "$rexp2" -le "$rexp" ] || { echo "FAIL: family lifetime extended ($rexp2 > $rexp)"; fail=1; }
grep -q issued_token_type "$DIR/r2" && { echo "FAIL: issued_token_type in a refresh answer"; fail=1; }
AT2=$(json_field "$DIR/r2" access_token)
"$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience smd "$AT2" | grep -q '"auth_methods":\["refresh_token"\]'
check "refreshed token verifies and says refresh_token" 0 $?
st=$(refresh "$RT2" "$DIR/r3"); check "second refresh" 200 "$st"
RT3=$(json_field "$DIR/r3" refresh_token)
st=$(refresh "$RT" "$DIR/r"); check "reuse of a rotated token" 400 "$st"
check "reuse error" invalid_grant "$(json_field "$DIR/r" error)"
check "reuse text" "The provided refresh token is invalid or has expired" "$(json_field "$DIR/r" error_description)"
st=$(refresh "$RT3" "$DIR/r"); check "family revoked after reuse" 400 "$st"
grep -q '"audit_event":"refresh_token_family_revoked"' "$DIR/a.log" || { echo "FAIL: reuse not logged"; fail=1; }
sqlite3 "$STORE" "select count(*) from audit_log where type='refresh_token_family_revoked'" 2>/dev/null | grep -q '^[1-9]' \
    || { command -v sqlite3 >/dev/null && { echo "FAIL: revocation not audited in the store"; fail=1; }; }

# --- every OAuth error of the token endpoint
expect() { # name status error description curl-args...
    n=$1; s=$2; e=$3; d=$4; shift 4
    got=$(post /oauth/token "$DIR/e" "$@")
    check "$n: status" "$s" "$got"
    check "$n: error" "$e" "$(json_field "$DIR/e" error)"
    [ -z "$d" ] || check "$n: text" "$d" "$(sed -n 's/.*"error_description":"\([^"]*\)".*/\1/p' "$DIR/e")"
}
expect "missing grant_type" 400 invalid_request "Missing grant_type parameter" --data-urlencode "scope=x"
expect "empty body" 400 invalid_request "Missing grant_type parameter" -H 'Content-Type: application/x-www-form-urlencoded' --data-binary ''
expect "unknown grant type" 400 unsupported_grant_type "Grant type 'password' is not supported" -d grant_type=password
expect "authorization_code" 400 unsupported_grant_type "" -d grant_type=authorization_code
expect "wrong subject_token_type" 400 invalid_request "Invalid subject_token_type parameter" --data-urlencode "grant_type=$GRANT" --data-urlencode "subject_token_type=urn:ietf:params:oauth:token-type:jwt" -d subject_token=x
expect "missing subject_token_type" 400 invalid_request "Invalid subject_token_type parameter" --data-urlencode "grant_type=$GRANT" -d subject_token=x
expect "empty subject_token" 400 invalid_request "Missing or empty subject_token parameter" --data-urlencode "grant_type=$GRANT" --data-urlencode "subject_token_type=$BOOT" -d 'subject_token=+++'
expect "missing refresh_token" 400 invalid_request "Missing or empty refresh_token parameter" -d grant_type=refresh_token
expect "garbage refresh_token" 400 invalid_grant "The provided refresh token is invalid or has expired" -d grant_type=refresh_token -d refresh_token=garbage
expect "malformed form (empty pair)" 400 invalid_request "Failed to parse request" --data-binary 'grant_type=refresh_token&&refresh_token=x'
expect "malformed form (bad escape)" 400 invalid_request "Failed to parse request" --data-binary 'grant_type=refresh%2_token'
expect "malformed form (no =)" 400 invalid_request "Failed to parse request" --data-binary 'grant_type'
expect "duplicate parameter" 400 invalid_request "Failed to parse request" --data-binary 'grant_type=refresh_token&grant_type=password'
expect "JSON body" 400 invalid_request "Content-Type must be application/x-www-form-urlencoded" -H 'Content-Type: application/json' --data-binary '{"grant_type":"refresh_token"}'
st=$(curl -s -o "$DIR/e" -w '%{http_code}' -X POST "$URL/oauth/token?grant_type=refresh_token&refresh_token=$RT3" -d x=1)
check "credentials in the query string: status" 400 "$st"
check "credentials in the query string: text" "Parameters must be sent in the request body, not in the URL query" "$(sed -n 's/.*"error_description":"\([^"]*\)".*/\1/p' "$DIR/e")"
big=$(head -c 20000 /dev/zero | tr '\0' 'a')
expect "oversized body" 413 invalid_request "Request body exceeds 16384 bytes" --data-binary "grant_type=refresh_token&refresh_token=$big"
st=$(curl -s -o "$DIR/e" -w '%{http_code}' "$URL/oauth/token"); check "GET /oauth/token" 405 "$st"
check "405 body" invalid_request "$(json_field "$DIR/e" error)"
st=$(curl -s -o /dev/null -w '%{http_code}' "$URL/nope"); check "unknown path" 404 "$st"
st=$(post /token "$DIR/e" -d grant_type=password); check "/token alias" 400 "$st"
st=$(post /oauth/token/ "$DIR/e" -d grant_type=password); check "trailing slash" 400 "$st"
hdr=$(curl -s -D - -o /dev/null -X POST "$URL/oauth/token" -d grant_type=password | tr -d '\r')
echo "$hdr" | grep -qi '^Cache-Control: no-store' || { echo "FAIL: error Cache-Control"; fail=1; }

# --- 100 concurrent redemptions of one token: exactly one 200
TOK=$(create_token "$STORE")
i=0
pids=
while [ $i -lt 100 ]; do
    exchange "$TOK" "$DIR/race.$i" > "$DIR/race.st.$i" &
    pids="$pids $!"
    i=$((i + 1))
done
wait $pids
ok=$(grep -l '^200$' "$DIR"/race.st.* | wc -l)
check "100-way race: exactly one 200" 1 "$ok"
bad=$(grep -L '^\(200\|400\|429\)$' "$DIR"/race.st.* | wc -l)
check "100-way race: others refused" 0 "$bad"
# The limiter now blocks this address (more than 10 failures within a minute).
st=$(exchange "$(create_token "$STORE")" "$DIR/e"); check "limiter: 429" 429 "$st"
check "limiter error" too_many_requests "$(json_field "$DIR/e" error)"
check "limiter text" "Too many failed token exchange attempts from this address" "$(json_field "$DIR/e" error_description)"
RACE_RT=$(cat "$DIR"/race.[0-9]* | sed -n 's/.*"refresh_token":"\([0-9a-f]*\)".*/\1/p')

# --- bootstrap-token create validates before writing; works while serve runs
before=$(sqlite3 "$STORE" 'select count(*) from bootstrap_tokens' 2>/dev/null)
"$TS" bootstrap-token create --subject s --audience a --store "$STORE" --ttl 2h >/dev/null 2>&1
check "ttl over 1h refused" 2 $?
"$TS" bootstrap-token create --subject s --audience a --store "$STORE" --output-format yaml >/dev/null 2>&1
check "bad output format refused" 2 $?
"$TS" bootstrap-token create --audience a --store "$STORE" >/dev/null 2>&1
check "missing subject refused" 2 $?
after=$(sqlite3 "$STORE" 'select count(*) from bootstrap_tokens' 2>/dev/null)
check "nothing written by refused commands" "$before" "$after"
txt=$("$TS" bootstrap-token create --subject s --audience a --scopes "a b" --store "$STORE" 2>"$DIR/err")
echo "$txt" | grep -q '^Bootstrap Token: [0-9a-f]\{64\}$' || { echo "FAIL: text output: $txt"; fail=1; }
echo "$txt" | grep -q '^Scopes:          a, b$' || { echo "FAIL: text scopes: $txt"; fail=1; }
echo "$txt" | grep -q '^TTL:             10m0s$' || { echo "FAIL: text TTL: $txt"; fail=1; }
grep -q 'Token hash: [0-9a-f]\{8\}\.\.\.$' "$DIR/err" || { echo "FAIL: stderr: $(cat "$DIR/err")"; fail=1; }

# --- restart keeps keys and store
stop_server
grep -q '"msg":"stopped"' "$DIR/a.log" || { echo "FAIL: no graceful stop"; fail=1; }
start_server "$DIR/a2.log" --home "$HOME_A" --issuer "$ISS"
curl -s -o "$DIR/jwks2" "$URL/.well-known/jwks.json"
check "same kid after restart" "$KID" "$(json_field "$DIR/jwks2" kid)"
st=$(refresh "$RACE_RT" "$DIR/r"); check "refresh token from before the restart" 200 "$st"
st=$(exchange "$TOK" "$DIR/r"); check "consumed token stays consumed after restart" 400 "$st"
"$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience smd "$AT" >/dev/null
check "old access token verifies after restart" 0 $?

# --- rotation: a second key in the directory; the newest signs, both are published
sleep 1
"$TS" keys generate --key-dir "$HOME_A/keys" --alg ES256 > "$DIR/gen"
check "keys generate" 0 $?
NEWKID=$(cut -d' ' -f2 "$DIR/gen")
"$TS" keys generate --key-file "$KIDFILE" >/dev/null 2>&1
check "keys generate never overwrites" 1 $?
stop_server
start_server "$DIR/a3.log" --home "$HOME_A" --issuer "$ISS"
curl -s -o "$DIR/jwks3" "$URL/.well-known/jwks.json"
grep -q "\"kid\":\"$KID\"" "$DIR/jwks3" && grep -q "\"kid\":\"$NEWKID\"" "$DIR/jwks3"
check "JWKS publishes old and new key" 0 $?
st=$(exchange "$(create_token "$STORE")" "$DIR/r"); check "exchange with the new ES256 key" 200 "$st"
AT3=$(json_field "$DIR/r" access_token)
out=$("$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience smd "$AT3")
check "ES256 token verifies" 0 $?
hdr=$(printf '%s' "$AT3" | cut -d. -f1 | tr '_-' '/+' | base64 -d 2>/dev/null)
echo "$hdr" | grep -q '"alg":"ES256"' && echo "$hdr" | grep -q "\"kid\":\"$NEWKID\""
check "new key signs" 0 $?
"$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$ISS" --audience smd "$AT" >/dev/null
check "token of the previous key still verifies" 0 $?
stop_server

# --- configuration: generate-config, precedence flag > env > file > default
"$TS" generate-config --config "$DIR/cfg.json" >/dev/null
check "generate-config" 0 $?
"$TS" generate-config --config "$DIR/cfg.json" >/dev/null 2>&1
check "generate-config keeps an existing file" 1 $?
sed 's#"issuer": "http://127.0.0.1:8080"#"issuer": "https://from-file"#; s#"clusterId": "cl-F00F00F00"#"clusterId": "cl-file"#' \
    "$DIR/cfg.json" > "$DIR/cfg2.json"
TOKENSMITH_CLUSTER_ID=cl-env start_server "$DIR/c.log" --config "$DIR/cfg2.json" --home "$DIR/c" --openchami-id oc-flag
curl -s -o "$DIR/h" "$URL/health"
check "issuer from file" https://from-file "$(json_field "$DIR/h" issuer)"
check "env beats file" cl-env "$(json_field "$DIR/h" cluster_id)"
check "flag value" oc-flag "$(json_field "$DIR/h" openchami_id)"
stop_server
echo '{"issuer": "x", "bogus": 1}' > "$DIR/bad.json"
"$TS" serve --config "$DIR/bad.json" --home "$DIR/c" 2>"$DIR/err"
check "unknown config key refused" 1 $?
grep -q bogus "$DIR/err" || { echo "FAIL: error does not name the key: $(cat "$DIR/err")"; fail=1; }
"$TS" serve --tls-cert-file x 2>/dev/null
check "TLS flag refused" 2 $?

# --- no flags: loopback, embedded defaults, ./tokensmith-data
mkdir "$DIR/cwd"
(cd "$DIR/cwd" && env -u TOKENSMITH_HOME TOKENSMITH_PORT=0 "$TS" serve 2>"$DIR/d.log") &
PID=$!
i=0; PORT=
while [ $i -lt 100 ] && [ -z "$PORT" ]; do sleep 0.1; PORT=$(sed -n 's/.*"port":\([0-9]*\).*/\1/p' "$DIR/d.log"); i=$((i+1)); done
grep -q '"listen":"127.0.0.1:0"' "$DIR/d.log"; check "default listen host is loopback" 0 $?
st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$PORT/health"); check "default serve healthy" 200 "$st"
[ -f "$DIR/cwd/tokensmith-data/tokensmith.db" ] && ls "$DIR/cwd/tokensmith-data/keys/"*.pem >/dev/null 2>&1
check "default state directory" 0 $?
stop_server

[ $fail -eq 0 ] && echo "PASS" || echo "FAILED"
exit $fail
