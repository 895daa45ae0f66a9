#!/bin/sh
# mtls.reload: the CA bundle and CRLs of mTLS service identity (serviceIdentityCaFile,
# serviceIdentityCrlFile; docs/mtls.md) reread while `tokensmith serve` runs. Certificates made
# here by `openssl ca`. Checked:
#   - a certificate revoked after start, the CRL file replaced, SIGHUP: the next session with it
#     is refused (revoked) while a good certificate still gets a token; the reload is logged;
#   - a bad new CRL (signed by a CA outside the bundle) and a CA file that holds no certificate:
#     refused and logged, the current bundle and CRL stay in use;
#   - a CA bundle grown by a second CA, the file replaced without a signal: within the 10 s look
#     a client of the new CA gets a token;
#   - requests answered throughout.
# usage: reload_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl missing"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, check, json_field
bad() { echo "FAIL: $1"; fail=1; }

cd "$DIR" || exit 1
mkca() { # NAME: an `openssl ca` directory
    mkdir -p "$1/new" && : >"$1/index.txt" && echo 1000 >"$1/serial"
    cat >"$1/ca.cnf" <<EOF
[ca]
default_ca = d
[d]
dir = $DIR/$1
database = \$dir/index.txt
new_certs_dir = \$dir/new
certificate = \$dir/ca.pem
private_key = \$dir/ca.key
serial = \$dir/serial
default_md = sha256
default_days = 2
default_crl_days = 2
policy = p
unique_subject = no
[p]
commonName = supplied
EOF
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1/ca.key" \
        -out "$1/ca.pem" -subj "/CN=tokensmith-test-$1" -days 2 2>/dev/null ||
        { echo "FAIL: CA $1"; exit 1; }
}
mkcert() { # CA NAME CN EXTENSIONS
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2.key" 2>/dev/null
    chmod 600 "$2.key"
    openssl req -new -key "$2.key" -subj "/CN=$3" -out "$2.csr" 2>/dev/null
    printf '%b\n' "$4" >"$2.ext"
    openssl ca -batch -notext -config "$1/ca.cnf" -in "$2.csr" -out "$2.pem" \
        -extfile "$2.ext" >"$2.calog" 2>&1 || { echo "FAIL: cert $2: $(cat "$2.calog")"; exit 1; }
}
mkca ca
mkca second
CLIENT='extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
mkcert ca server localhost 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
mkcert ca good good "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/good\n$CLIENT"
mkcert ca victim victim "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/victim\n$CLIENT"
mkcert second newcomer newcomer "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/new\n$CLIENT"
mkdir -p live home
cp ca/ca.pem live/ca.pem
openssl ca -config ca/ca.cnf -gencrl -out live/crl.pem >/dev/null 2>&1 || bad "gencrl (empty)"
cat >config.json <<'EOF'
{"serviceIdentity": {"rules": [
  {"kind": "uri", "prefix": "spiffe://cluster.local/ns/boot/sa/", "scopes": ["node:read"],
   "audience": ["smd"]}]}}
EOF
export CURL_CA_BUNDLE="$DIR/ca/ca.pem"
# shellcheck disable=SC2086
start_server "$DIR/s.log" --home "$DIR/home" --store "$DIR/ts.db" --config "$DIR/config.json" \
    --tls-cert-file "$DIR/server.pem" --tls-key-file "$DIR/server.key" \
    --service-identity-ca "$DIR/live/ca.pem" --service-identity-crl "$DIR/live/crl.pem"
URL=https://127.0.0.1:$PORT
session() { # NAME OUTFILE -> status
    curl -s -o "$2" -w '%{http_code}' --max-time 10 -X POST --cert "$DIR/$1.pem" \
        --key "$DIR/$1.key" "$URL/service-identity/session"
}
check "good: 200" 200 "$(session good r1)"
check "victim before its revocation: 200" 200 "$(session victim r2)"
check "a client of the second CA before it is trusted: 400" 400 "$(session newcomer r3)"

: >"$DIR/load.codes"
(
    while :; do
        curl -s -o /dev/null -w '%{http_code}\n' --max-time 10 "$URL/health" >>"$DIR/load.codes"
    done
) &
LOAD_PID=$!
cleanup_more() { [ -n "${LOAD_PID:-}" ] && kill "$LOAD_PID" 2>/dev/null; LOAD_PID=; }

# --- revoke, new CRL, SIGHUP -----------------------------------------------------------------
openssl ca -config ca/ca.cnf -revoke victim.pem >/dev/null 2>&1 || bad "revoke"
openssl ca -config ca/ca.cnf -gencrl -out crl.new >/dev/null 2>&1 || bad "gencrl"
mv crl.new live/crl.pem
kill -HUP "$PID"
i=0
while ! grep -q '"msg":"service identity CA bundle reloaded"' "$DIR/s.log" && [ $i -lt 50 ]; do
    sleep 0.1
    i=$((i + 1))
done
grep -q '"msg":"service identity CA bundle reloaded".*"cause":"SIGHUP".*"changed":true' \
    "$DIR/s.log" && echo "ok: the reload is logged" || bad "no reload line: $(grep identity "$DIR/s.log")"
check "victim after the new CRL + SIGHUP: 400" 400 "$(session victim r4)"
check "victim: invalid_client" invalid_client "$(json_field r4 error)"
check "victim: refused as revoked" "The client certificate has been revoked" \
    "$(sed -n 's/.*"error_description":"\([^"]*\)".*/\1/p' r4)"
grep -q '"audit_event":"service_identity_refused","reason":"revoked","serial":"10:02"' \
    "$DIR/s.log" && echo "ok: the refusal is logged as revoked" || bad "no revoked refusal in the log"
check "good after the reload: 200" 200 "$(session good r5)"

# --- bad new files: refused, the current ones stay -----------------------------------------
openssl ca -config second/ca.cnf -gencrl -out crl.bad >/dev/null 2>&1 || bad "gencrl (second)"
cp live/crl.pem crl.keep
mv crl.bad live/crl.pem
kill -HUP "$PID"
sleep 1
grep -q '"msg":"service identity CA bundle reload refused; the current one stays".*serviceIdentityCrlFile' \
    "$DIR/s.log" && echo "ok: a CRL of another CA is refused" ||
    bad "no refusal line for the CRL: $(grep identity "$DIR/s.log")"
check "victim still refused after the bad CRL" 400 "$(session victim r6)"
check "good still served after the bad CRL" 200 "$(session good r7)"
cp crl.keep crl.new && mv crl.new live/crl.pem
echo "not a certificate" >ca.new && mv ca.new live/ca.pem
kill -HUP "$PID"
sleep 1
grep -q '"msg":"service identity CA bundle reload refused; the current one stays".*serviceIdentityCaFile' \
    "$DIR/s.log" && echo "ok: a CA file without certificates is refused" ||
    bad "no refusal line for the CA file: $(grep identity "$DIR/s.log")"
check "good still served after the bad CA file" 200 "$(session good r8)"

# --- a grown bundle, no signal: the periodic look --------------------------------------------
cat ca/ca.pem second/ca.pem >ca.new && mv ca.new live/ca.pem
# (Polled through the log, not with sessions: refusals count in the failed-attempt limiter.)
i=0
while ! grep -q '"msg":"service identity CA bundle reloaded".*"cause":"files changed".*"changed":true' \
    "$DIR/s.log" && [ $i -lt 150 ]; do
    sleep 0.1
    i=$((i + 1))
done
[ $i -lt 150 ] && echo "ok: the periodic reload is logged (after $((i / 10)) s)" ||
    bad "no periodic reload line: $(grep identity "$DIR/s.log")"
check "a client of the second CA after the bundle grew (no signal)" 200 "$(session newcomer r9)"
check "victim still refused (the CRL stayed)" 400 "$(session victim r10)"

kill "$LOAD_PID" 2>/dev/null
wait "$LOAD_PID" 2>/dev/null
LOAD_PID=
total=$(wc -l <"$DIR/load.codes")
failed=$(grep -vc '^200$' "$DIR/load.codes")
echo "timing: $total requests during the reloads, $failed failed"
check "failed requests during the reloads" 0 "$failed"
stop_server
[ $fail -eq 0 ] && echo "PASS" || { echo "--- log"; grep -v '"msg":"request"' "$DIR/s.log" | tail -n 20; }
exit $fail
