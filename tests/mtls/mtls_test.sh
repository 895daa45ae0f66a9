#!/bin/sh
# mtls.serve: POST /service-identity/session (docs/mtls.md) with client certificates made here
# by openssl (`openssl ca`, so that certificates can be backdated and revoked). Checked:
#   - refused at start, naming the setting: the CA bundle without tlsCertFile, without rules,
#     a rule of kind "cn", a CRL file without the CA bundle;
#   - a SAN URI (spiffe://...) and a SAN DNS name each get a token; node `jose` verifies it
#     through the JWKS and its sub, aud, scope, roles and service_identity are the rule's;
#     without the binding setting there is no cnf;
#   - refused with invalid_client: no client certificate, a certificate naming its identity in
#     the CN only (never used), an expired one, one of an unknown CA, a serverAuth-only one,
#     one revoked by the CRL; with unauthorized_client: an identity no rule maps (also a glob
#     `*` that would have to cross a `/`); GET is 405;
#   - every session is one audit record in the store (sqlite3), with the reason of a refusal;
#   - the refusals count in the failed-attempt limiter: the 11th within a minute is 429;
#   - with serviceIdentityBindCertificate, cnf.x5t#S256 is the base64url SHA-256 of the
#     certificate's DER, as openssl computes it.
# Skips (77) without openssl, node, the jose module or sqlite3.
# usage: mtls_test.sh TOKENSMITH SOURCE_DIR NODE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${3:-node}
for c in openssl sqlite3 "$NODE"; do
    command -v "$c" >/dev/null 2>&1 || { echo "SKIP: $c missing"; exit 77; }
done
[ -d "$SRC/node_modules/jose" ] || { echo "SKIP: node module jose missing (npm ci)"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, check, json_field
bad() { echo "FAIL: $1"; fail=1; }

# --- two CAs, a server certificate, client certificates ------------------------------------
cd "$DIR" || exit 1
# mkca NAME: NAME/ holds an `openssl ca` directory (its database, serial and configuration).
mkca() {
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
mkca ca
mkca rogue
# mkcert CA NAME CN EXTENSIONS [openssl ca options]: NAME.pem and NAME.key (mode 0600)
mkcert() {
    ca=$1 name=$2 cn=$3 ext=$4
    shift 4
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$name.key" 2>/dev/null
    chmod 600 "$name.key"
    openssl req -new -key "$name.key" -subj "/CN=$cn" -out "$name.csr" 2>/dev/null
    printf '%b\n' "$ext" >"$name.ext"
    openssl ca -batch -notext -config "$ca/ca.cnf" -in "$name.csr" -out "$name.pem" \
        -extfile "$name.ext" "$@" >"$name.calog" 2>&1 ||
        { echo "FAIL: cert $name: $(cat "$name.calog")"; exit 1; }
}
CLIENT='extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
mkcert ca server localhost 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
mkcert ca uri bss-cert "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/bss\n$CLIENT"
mkcert ca dns node7 "subjectAltName=DNS:Node7.Nodes.Example\n$CLIENT"
# The identity in the CN alone: a rule would map it, were the CN ever read.
mkcert ca cnonly node7.nodes.example "$CLIENT"
mkcert ca expired exp "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/bss\n$CLIENT" \
    -startdate 20200101000000Z -enddate 20200102000000Z
mkcert rogue rogue rogue "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/bss\n$CLIENT"
mkcert ca srvonly srv \
    'subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/bss\nextendedKeyUsage=serverAuth'
mkcert ca revoked rev "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/bss\n$CLIENT"
mkcert ca unmapped other "subjectAltName=URI:spiffe://cluster.local/ns/other/sa/x\n$CLIENT"
# An identity ending in a hash: the audit trail refuses long hex runs, so it is cut there.
HASHID=spiffe://cluster.local/ns/boot/sa/$(printf 'x' | openssl dgst -sha256 -r | cut -c1-64)
mkcert ca hashed hashed "subjectAltName=URI:$HASHID\n$CLIENT"
mkcert ca deeper deep "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/bss/extra\n$CLIENT"
openssl ca -config ca/ca.cnf -revoke revoked.pem >/dev/null 2>&1 || bad "revoke"
openssl ca -config ca/ca.cnf -gencrl -out crl.pem >/dev/null 2>&1 || bad "gencrl"
cat >config.json <<'EOF'
{
  "serviceIdentity": {
    "rules": [
      {"kind": "uri", "glob": "spiffe://cluster.local/ns/boot/sa/*", "scopes": ["node:read",
       "node:write"], "roles": ["boot-service"], "audience": ["smd", "bss"]},
      {"kind": "dns", "glob": "*.nodes.example", "subject": "node-agent", "scopes": ["node:read"],
       "audience": ["smd"]}
    ]
  }
}
EOF
mkdir -p home
export CURL_CA_BUNDLE="$DIR/ca/ca.pem" NODE_EXTRA_CA_CERTS="$DIR/ca/ca.pem"
TLS="--tls-cert-file $DIR/server.pem --tls-key-file $DIR/server.key"
SERVE="--home $DIR/home --store $DIR/ts.db --config $DIR/config.json"

# --- refusals at start ---------------------------------------------------------------------
refused() { # NAME WANT ARGS...
    name=$1 want=$2
    shift 2
    # shellcheck disable=SC2086
    timeout 20 "$TS" serve --listen 127.0.0.1:0 --home "$DIR/home" --store "$DIR/ts.db" "$@" \
        >/dev/null 2>"$DIR/refused.err"
    rc=$?
    if [ $rc -ne 0 ] && [ $rc -ne 124 ] && grep -q "$want" "$DIR/refused.err"; then
        echo "ok: refused: $name: $(grep -o "$want.*" "$DIR/refused.err" | head -c 140)"
    else
        bad "refused: $name: exit $rc, want '$want' in: $(cat "$DIR/refused.err")"
    fi
}
# shellcheck disable=SC2086
refused "CA bundle without TLS" "without tlsCertFile" --config "$DIR/config.json" \
    --service-identity-ca "$DIR/ca/ca.pem"
# shellcheck disable=SC2086
refused "CA bundle without rules" "without the serviceIdentity rules" $TLS --service-identity-ca "$DIR/ca/ca.pem"
echo '{"serviceIdentity":{"rules":[{"kind":"cn","exact":"x","audience":["a"]}]}}' >cn.json
# shellcheck disable=SC2086
refused "a rule of kind cn" "never an identity" $TLS --config "$DIR/cn.json" \
    --service-identity-ca "$DIR/ca/ca.pem"
# shellcheck disable=SC2086
refused "CRL without CA bundle" "serviceIdentityCrlFile (--service-identity-crl) is set without" $TLS \
    --service-identity-crl "$DIR/crl.pem"

# --- sessions ------------------------------------------------------------------------------
: >"$DIR/serve.log"
# shellcheck disable=SC2086
TOKENSMITH_SERVICE_IDENTITY_CA="$DIR/ca/ca.pem" start_server "$DIR/serve.log" $SERVE $TLS \
    --service-identity-crl "$DIR/crl.pem"
URL=https://127.0.0.1:$PORT
ISS=$URL
# session NAME OUTFILE: POST with NAME.pem/NAME.key ("" = no certificate); prints the status
session() {
    if [ -n "$1" ]; then
        curl -s -o "$2" -w '%{http_code}' -X POST --cert "$DIR/$1.pem" --key "$DIR/$1.key" \
            "$URL/service-identity/session"
    else
        curl -s -o "$2" -w '%{http_code}' -X POST "$URL/service-identity/session"
    fi
}
# claims FILE AUD: the token of FILE verified by jose against the JWKS; prints its payload
claims() {
    tok=$(json_field "$1" access_token)
    (cd "$SRC" && "$NODE" tests/service/jose_verify.mjs "$URL/.well-known/jwks.json" "$ISS" \
        "$2" "$tok") 2>&1
}
# field JSON EXPR: a value of the payload, through node (arrays joined by ',')
field() {
    "$NODE" -e 'const p=JSON.parse(process.argv[1]).payload; const v=eval("p"+process.argv[2]);
        console.log(v === undefined ? "<none>" : Array.isArray(v) ? v.join(",") : typeof v ===
        "object" ? JSON.stringify(v) : v)' "$1" "$2" 2>&1
}
check "SAN URI: 200" 200 "$(session uri uri.json)"
check "token_type" Bearer "$(json_field uri.json token_type)"
P=$(claims uri.json bss)
echo "uri token: $P" | head -c 600 && echo
check "uri: sub is the SAN URI" spiffe://cluster.local/ns/boot/sa/bss "$(field "$P" .sub)"
check "uri: aud" smd,bss "$(field "$P" .aud)"
check "uri: scope" "node:read node:write" "$(field "$P" .scope)"
check "uri: roles" boot-service "$(field "$P" .roles)"
check "uri: service_identity" spiffe://cluster.local/ns/boot/sa/bss \
    "$(field "$P" .service_identity)"
check "uri: iss" "$ISS" "$(field "$P" .iss)"
check "uri: no cnf without the binding setting" "<none>" "$(field "$P" .cnf)"
check "uri: principal_type" service "$(field "$P" .principal_type)"
check "SAN DNS: 200" 200 "$(session dns dns.json)"
P=$(claims dns.json smd)
check "dns: sub from the rule" node-agent "$(field "$P" .sub)"
check "dns: identity (lower case)" node7.nodes.example "$(field "$P" .service_identity)"
check "dns: scope" node:read "$(field "$P" .scope)"
check "dns: no roles" "" "$(field "$P" .roles)"
check "identity ending in a hash: 200" 200 "$(session hashed hashed.json)"
check "hash identity: sub" "$HASHID" "$(field "$(claims hashed.json smd)" .sub)"
# the first 31 hex characters of the run are kept
check "hash identity: audited, the hash cut" "$(printf %s "$HASHID" | cut -c1-65)..." \
    "$(sqlite3 ts.db "select subject from audit_log where type='service_identity_issued'
        order by id desc limit 1")"
check "GET: 405" 405 "$(curl -s -o /dev/null -w '%{http_code}' --cert uri.pem --key uri.key \
    "$URL/service-identity/session")"

# expect_refusal NAME CERT STATUS ERROR REASON
n_refusal=0
expect_refusal() {
    n_refusal=$((n_refusal + 1))
    out="refusal-$n_refusal.json"
    code=$(session "$2" "$out")
    check "$1: $3" "$3" "$code"
    check "$1: error" "$4" "$(json_field "$out" error)"
    grep -q access_token "$out" && bad "$1: a token was issued"
    check "$1: audited as $5" "$5" "$(sqlite3 ts.db "select json_extract(detail,'\$.reason')
        from audit_log where type='service_identity_refused' order by id desc limit 1")"
}
expect_refusal "no certificate" "" 400 invalid_client no_certificate
expect_refusal "CN only" cnonly 400 invalid_client no_identity
expect_refusal "expired" expired 400 invalid_client expired
expect_refusal "unknown CA" rogue 400 invalid_client untrusted
expect_refusal "serverAuth only" srvonly 400 invalid_client wrong_usage
expect_refusal "revoked (CRL)" revoked 400 invalid_client revoked
expect_refusal "unmapped" unmapped 400 unauthorized_client unmapped
expect_refusal "glob does not cross /" deeper 400 unauthorized_client unmapped
echo "audit: $(sqlite3 ts.db "select type||' '||subject||' '||detail from audit_log where
    type like 'service_identity%' order by id" | head -c 3000)"
check "issued sessions audited" 3 \
    "$(sqlite3 ts.db "select count(*) from audit_log where type='service_identity_issued'")"
check "refused sessions audited" 8 \
    "$(sqlite3 ts.db "select count(*) from audit_log where type='service_identity_refused'")"
jti=$(field "$(claims uri.json smd)" .jti)
check "the issued token is recorded with its audit record" 1 \
    "$(sqlite3 ts.db "select count(*) from audit_log a join issued_tokens t on t.jti=a.ref_id
        where a.type='service_identity_issued' and a.ref_id='$jti'")"
grep -q 'service_identity_issued' serve.log || bad "no log line of an issued session"
grep -q 'BEGIN\|eyJ' serve.log && bad "key or token material in the log"
# Ten failures within a minute block the address, as for the grants.
session unmapped r.json >/dev/null
session unmapped r.json >/dev/null
check "11th refusal: 429" 429 "$(session unmapped r.json)"
check "blocked also with a good certificate" 429 "$(session uri r.json)"
stop_server
PID=

# --- binding to the certificate (RFC 8705) -------------------------------------------------
: >"$DIR/bind.log"
# shellcheck disable=SC2086
start_server "$DIR/bind.log" $SERVE $TLS --service-identity-ca "$DIR/ca/ca.pem" \
    --service-identity-bind-certificate
URL=https://127.0.0.1:$PORT
ISS=$URL
check "bound: 200" 200 "$(session uri bound.json)"
want=$(openssl x509 -in uri.pem -outform DER | openssl dgst -sha256 -binary | openssl base64 -A |
    tr '+/' '-_' | tr -d '=')
P=$(claims bound.json smd)
check "cnf.x5t#S256 is the certificate's thumbprint" "$want" "$(field "$P" '.cnf["x5t#S256"]')"
# Without a CRL file, the revoked certificate is not known to be revoked: only the CRL says so.
check "no CRL configured: the revoked certificate passes" 200 "$(session revoked r.json)"
stop_server
PID=
exit "$fail"
