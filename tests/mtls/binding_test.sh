#!/bin/sh
# mtls.binding: certificate-bound tokens end to end (RFC 8705, docs/authn.md "Certificate-bound
# tokens"). `tokensmith serve` with serviceIdentityBindCertificate issues a token bound to the
# client certificate of POST /service-identity/session; a libmicrohttpd service with TLS using
# authn's hook with check_certificate_binding (binding_svc) then:
#   - accepts the token with the same client certificate (curl --cert), on a second request too
#     (the verifier's cache);
#   - refuses it (401, invalid_token, error_description naming the binding) with another
#     certificate of the same CA, with a certificate of another CA, and with none;
#   - accepts a token bound to the other certificate with that certificate.
# Skips (77) without openssl.
# usage: binding_test.sh TOKENSMITH BINDING_SVC SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SVC=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
SRC=$3
command -v openssl >/dev/null 2>&1 || { echo "SKIP: openssl missing"; exit 77; }
SVC_PID=
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, check, json_field
cleanup_more() { [ -n "$SVC_PID" ] && { kill -TERM "$SVC_PID" 2>/dev/null; wait "$SVC_PID" 2>/dev/null; }; }
bad() { echo "FAIL: $1"; fail=1; }
cd "$DIR" || exit 1

# --- a CA, a rogue CA, the server's and three clients' certificates ------------------------
# mkca NAME; mkcert CA NAME CN EXTENSIONS
mkca() {
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" \
        -out "$1.pem" -subj "/CN=tokensmith-test-$1" -days 2 2>/dev/null || { echo "FAIL: CA $1"; exit 1; }
}
mkcert() {
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2.key" 2>/dev/null
    chmod 600 "$2.key"
    openssl req -new -key "$2.key" -subj "/CN=$3" -out "$2.csr" 2>/dev/null
    printf '%b\n' "$4" >"$2.ext"
    openssl x509 -req -in "$2.csr" -CA "$1.pem" -CAkey "$1.key" -CAcreateserial -days 2 \
        -extfile "$2.ext" -out "$2.pem" 2>/dev/null || { echo "FAIL: cert $2"; exit 1; }
}
mkca ca
mkca rogue
CLIENT='extendedKeyUsage=clientAuth\nkeyUsage=critical,digitalSignature'
mkcert ca server localhost 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth'
mkcert ca alpha alpha "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/alpha\n$CLIENT"
mkcert ca beta beta "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/beta\n$CLIENT"
mkcert rogue stranger alpha "subjectAltName=URI:spiffe://cluster.local/ns/boot/sa/alpha\n$CLIENT"
cat >config.json <<'JSON'
{"serviceIdentity": {"rules": [{"kind": "uri", "glob": "spiffe://cluster.local/ns/boot/sa/*",
  "scopes": ["node:read"], "audience": ["smd"]}]}}
JSON
mkdir -p home
export CURL_CA_BUNDLE="$DIR/ca.pem"

# --- serve issues bound tokens -------------------------------------------------------------
start_server "$DIR/serve.log" --home "$DIR/home" --store "$DIR/ts.db" --config "$DIR/config.json" \
    --tls-cert-file "$DIR/server.pem" --tls-key-file "$DIR/server.key" \
    --service-identity-ca "$DIR/ca.pem" --service-identity-bind-certificate
ISS=https://127.0.0.1:$PORT
session() { # NAME OUTFILE: prints the status
    curl -s -o "$2" -w '%{http_code}' -X POST --cert "$1.pem" --key "$1.key" \
        "$ISS/service-identity/session"
}
check "session alpha: 200" 200 "$(session alpha alpha.json)"
check "session beta: 200" 200 "$(session beta beta.json)"
check "JWKS: 200" 200 "$(curl -s -o jwks.json -w '%{http_code}' "$ISS/.well-known/jwks.json")"
TA=$(json_field alpha.json access_token)
TB=$(json_field beta.json access_token)
[ -n "$TA" ] && [ -n "$TB" ] || { echo "FAIL: no tokens: $(cat alpha.json)"; exit 1; }
# The token names the thumbprint (the payload, base64url, read by node-free means: openssl).
payload() { # TOKEN: the decoded payload
    p=$(printf '%s' "$1" | cut -d. -f2 | tr '_-' '/+')
    while [ $(( ${#p} % 4 )) -ne 0 ]; do p="$p="; done
    printf '%s' "$p" | openssl base64 -d -A
}
want=$(openssl x509 -in alpha.pem -outform DER | openssl dgst -sha256 -binary | openssl base64 -A |
    tr '+/' '-_' | tr -d '=')
case "$(payload "$TA")" in
*"\"x5t#S256\":\"$want\""*) echo "ok: alpha's token is bound to alpha's certificate" ;;
*) bad "alpha's token does not carry cnf.x5t#S256 $want: $(payload "$TA")" ;;
esac

# --- the resource server checks the binding ------------------------------------------------
"$SVC" server.pem server.key ca.pem jwks.json "$ISS" smd >svc.out 2>svc.err &
SVC_PID=$!
SPORT=
i=0
while [ $i -lt 100 ] && [ -z "$SPORT" ]; do
    SPORT=$(sed -n 's/^port \([0-9]*\)$/\1/p' svc.out)
    [ -n "$SPORT" ] || sleep 0.1
    i=$((i + 1))
done
[ -n "$SPORT" ] || { echo "FAIL: binding_svc did not start: $(cat svc.err)"; exit 1; }
SVC_URL=https://127.0.0.1:$SPORT/whoami
call() { # TOKEN CERT|"" HEADERFILE: prints the status
    if [ -n "$2" ]; then
        curl -s -o body.out -D "$3" -w '%{http_code}' --cert "$2.pem" --key "$2.key" \
            -H "Authorization: Bearer $1" "$SVC_URL"
    else
        curl -s -o body.out -D "$3" -w '%{http_code}' -H "Authorization: Bearer $1" "$SVC_URL"
    fi
}
# refused NAME TOKEN CERT WANT_DESCRIPTION
refused() {
    check "$1: 401" 401 "$(call "$2" "$3" h.out)"
    if grep -qi '^WWW-Authenticate: Bearer error="invalid_token", error_description="certificate binding: '"$4" h.out; then
        echo "ok: $1: challenge names the binding"
    else
        bad "$1: challenge: $(grep -i '^WWW-Authenticate' h.out)"
    fi
    grep -q '"authn_reason":"certificate_binding"' body.out || bad "$1: body: $(cat body.out)"
}
check "alpha's token, alpha's certificate: 200" 200 "$(call "$TA" alpha h.out)"
grep -q '"sub":"spiffe://cluster.local/ns/boot/sa/alpha"' body.out || bad "subject: $(cat body.out)"
check "again (cached token): 200" 200 "$(call "$TA" alpha h.out)"
refused "alpha's token, beta's certificate" "$TA" beta "the client certificate is not the one"
refused "alpha's token, a rogue CA's certificate" "$TA" stranger "the client certificate is not the one"
refused "alpha's token, no certificate" "$TA" "" "the token is bound to a client certificate and none"
check "beta's token, beta's certificate: 200" 200 "$(call "$TB" beta h.out)"
refused "beta's token, alpha's certificate" "$TB" alpha "the client certificate is not the one"
# The refusals are logged by jti and kid, never with the token.
grep -q 'certificate binding' svc.err || bad "no log line of a binding refusal"
if grep -qF "$TA" svc.err; then bad "a token in the log"; else echo "ok: no token in the log"; fi
stop_server
PID=
exit "$fail"
