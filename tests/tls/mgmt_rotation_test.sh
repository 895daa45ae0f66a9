#!/bin/sh
# tls.mgmt_rotation: with TLS on the main listener the management listener reads this service's
# keys from <home>/management-jwks.json (docs/configuration.md "TLS"); the file follows the
# served JWKS, so a key rotation reaches the management API without a restart. Checked:
#   - a key made and promoted by `tokensmith keys rotate --force` (never in the file at start),
#     then SIGHUP: the file gets the new kid, and a management token signed by the new key is
#     accepted by `tokensmith mappings list` over HTTPS; a token of the old key still is;
#   - the same without a signal, through serve's own rotation check (keyRotationInterval);
#   - the rewrite is logged ("management keys updated"), never with a token in the log.
# usage: mgmt_rotation_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl missing"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, check, exchange, ...
bad() { echo "FAIL: $1"; fail=1; }
unset TOKENSMITH_CACERT

cd "$DIR" || exit 1
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key \
    -out ca.pem -subj /CN=tokensmith-test-ca -days 2 2>/dev/null || { echo "FAIL: CA"; exit 1; }
printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth\n' >san.ext
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out tls.key 2>/dev/null
chmod 600 tls.key
openssl req -new -key tls.key -subj /CN=tokensmith-serve -out tls.csr 2>/dev/null
openssl x509 -req -in tls.csr -CA ca.pem -CAkey ca.key -set_serial 4097 -days 1 \
    -extfile san.ext -out tls.pem 2>/dev/null || { echo "FAIL: cert"; exit 1; }
export CURL_CA_BUNDLE="$DIR/ca.pem"
mkdir -p policy
cat >policy/mappings.csv <<'CSV'
p, role:mappings-admin, management:mappings, read
p, role:mappings-admin, management:mappings, write
g, service:mgmt-admin, role:mappings-admin
CSV
H=$DIR/home
mkdir -p "$H"
STORE=$DIR/ts.db
KEYS=$H/management-jwks.json

kid_of() { # JWT -> the kid of its header
    h=$(printf '%s' "$1" | cut -d. -f1 | tr '_-' '/+')
    while [ $((${#h} % 4)) -ne 0 ]; do h="$h="; done
    printf '%s' "$h" | base64 -d 2>/dev/null | sed -n 's/.*"kid":"\([^"]*\)".*/\1/p'
}
mgmt_token() { # FILE: a fresh management token (audience tokensmith-management) into FILE
    b=$("$TS" bootstrap-token create --subject mgmt-admin --audience tokensmith-management \
        --scopes read --store "$STORE" --output-format json 2>/dev/null |
        sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
    exchange "$b" "$DIR/x" >/dev/null
    json_field "$DIR/x" access_token >"$1"
    [ -s "$1" ] || { echo "FAIL: no management token: $(cat "$DIR/x")"; exit 1; }
}
list() { # TOKENFILE OUT: `mappings list` over HTTPS; prints the exit status
    "$TS" mappings list scope_mappings --url "$M" --cacert "$DIR/ca.pem" \
        --token-file "$1" >"$2" 2>&1
    echo $?
}
status() { # TOKENFILE: the management API's HTTP status for a read with that token (curl)
    curl -s -o /dev/null -w '%{http_code}' --max-time 10 -H "Authorization: Bearer $(cat "$1")" \
        "$M/api/v1/mappings/scope_mappings"
}

# K1 signs, K2 is the next key (published from the start).
"$TS" keys rotate --home "$H" >/dev/null || { echo "FAIL: keys rotate"; exit 1; }
K1=$(readlink "$H/keys/active.pem" | sed 's/\.pem$//')
check "K1 made" 43 ${#K1}

start_server "$DIR/s.log" --home "$H" --store "$STORE" --connection-timeout 3 \
    --request-head-timeout 3 --tls-cert-file "$DIR/tls.pem" --tls-key-file "$DIR/tls.key" \
    --management-listen 127.0.0.1:0 --management-policy-dir "$DIR/policy" \
    --key-rotation-interval 720h
# shellcheck disable=SC2034 # lib.sh's exchange posts to URL
URL=https://127.0.0.1:$PORT
MPORT=$(sed -n 's/.*"msg":"listening".*"management_port":\([0-9]*\).*/\1/p' "$DIR/s.log" | tail -1)
[ -n "$MPORT" ] || { echo "FAIL: no management port: $(grep listening "$DIR/s.log")"; exit 1; }
M=https://127.0.0.1:$MPORT
[ -s "$KEYS" ] || { echo "FAIL: no $KEYS with TLS on"; exit 1; }
cp "$KEYS" "$DIR/keys.at-start"

mgmt_token "$DIR/t1"
check "the first token is K1's" "$K1" "$(kid_of "$(cat "$DIR/t1")")"
check "management API status with a K1 token" 200 "$(status "$DIR/t1")"
printf '{"scope":"read","claims":{"tier":"gold"}}' >"$DIR/item.json"
"$TS" mappings apply scope_mappings -f "$DIR/item.json" --url "$M" --cacert "$DIR/ca.pem" \
    --token-file "$DIR/t1" >"$DIR/c0" 2>&1
check "mappings apply with a K1 token" 0 $?
check "mappings list with a K1 token" 0 "$(list "$DIR/t1" "$DIR/c1")"

# --- a key the file never held: made and promoted at once, then SIGHUP -----------------------
"$TS" keys rotate --home "$H" --force >/dev/null # K2 signs
"$TS" keys rotate --home "$H" --force >"$DIR/out" # K3 made and promoted
K3=$(sed -n 's/^active //p' "$DIR/out")
check "K3 made and promoted" 43 ${#K3}
grep -qF -e "$K3" "$DIR/keys.at-start" && bad "K3 was in the keys file at start"
kill -HUP "$PID"
i=0
while ! grep -qF -e "$K3" "$KEYS" 2>/dev/null && [ $i -lt 100 ]; do sleep 0.1; i=$((i + 1)); done
grep -qF -e "$K3" "$KEYS"
check "the keys file holds K3 after SIGHUP" 0 $?
mgmt_token "$DIR/t3"
check "the new token is K3's" "$K3" "$(kid_of "$(cat "$DIR/t3")")"
check "management API status with a K3 token" 200 "$(status "$DIR/t3")"
check "mappings list with a K3 token (no restart)" 0 "$(list "$DIR/t3" "$DIR/c3")"
grep -q '"gold"' "$DIR/c3" && echo "ok: the item came back with a K3 token" ||
    bad "list output: $(cat "$DIR/c3")"
check "mappings list with the K1 token still" 0 "$(list "$DIR/t1" "$DIR/c1b")"
grep -q '"msg":"management keys updated"' "$DIR/s.log"
check "the rewrite is logged" 0 $?

# --- serve's own rotation check, no signal (every 30 s) ---------------------------------------
"$TS" keys rotate --home "$H" --force >"$DIR/out" # K4 made and promoted
K4=$(sed -n 's/^active //p' "$DIR/out")
check "K4 made and promoted" 43 ${#K4}
i=0
got=
while [ $i -lt 45 ]; do
    mgmt_token "$DIR/t4"
    got=$(kid_of "$(cat "$DIR/t4")")
    [ "$got" = "$K4" ] && break
    sleep 1
    i=$((i + 1))
done
check "serve signs with K4 without a signal" "$K4" "$got"
check "management API status with a K4 token" 200 "$(status "$DIR/t4")"
check "mappings list with a K4 token (no signal, no restart)" 0 "$(list "$DIR/t4" "$DIR/c4")"

for t in t1 t3 t4; do
    grep -q "$(cut -c1-24 "$DIR/$t")" "$DIR/s.log" && bad "a token is in the log"
done
stop_server
[ $fail -eq 0 ] && echo "PASS" || { echo "--- log"; tail -n 30 "$DIR/s.log"; }
exit $fail
