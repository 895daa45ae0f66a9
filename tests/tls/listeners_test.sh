#!/bin/sh
# tls.listeners: with tlsCertFile and tlsKeyFile, every listener of `tokensmith serve` speaks
# HTTPS with the one pair (docs/configuration.md "TLS"). A test CA and certificates made here by
# openssl. Checked:
#   - the management listener (managementListen) and the metrics listener (metricsListen) serve
#     HTTPS, and plain HTTP to them fails; the admin listener stays plain HTTP without adminTls,
#     and serves HTTPS with it;
#   - the CLI over HTTPS: `tokensmith mappings list|apply|get` against the management listener
#     and `tokensmith oidc status` against the admin listener, trusting the test CA through
#     TOKENSMITH_CACERT; without it (the system's trust) they fail naming the certificate; a
#     host name the certificate does not carry fails too;
#   - a reload (new files + SIGHUP) is seen on every listener at once (one pair per process);
#   - refused at start (usage error, exit 2): adminTls without tlsCertFile, adminTls with a
#     unix: admin socket.
# usage: listeners_test.sh TOKENSMITH SOURCE_DIR
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
mkcert() { # NAME SERIAL: NAME.pem and NAME.key (0600) signed by the CA
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1.key" 2>/dev/null
    chmod 600 "$1.key"
    openssl req -new -key "$1.key" -subj "/CN=tokensmith-$1" -out "$1.csr" 2>/dev/null
    openssl x509 -req -in "$1.csr" -CA ca.pem -CAkey ca.key -set_serial "$2" -days 1 \
        -extfile san.ext -out "$1.pem" 2>/dev/null || { echo "FAIL: cert $1"; exit 1; }
}
mkcert one 4097
mkcert two 8194
mkdir -p live policy
cp one.pem live/cert.pem && cp one.key live/key.pem && chmod 600 live/key.pem
export CURL_CA_BUNDLE="$DIR/ca.pem"
cat >policy/mappings.csv <<'CSV'
p, role:mappings-admin, management:mappings, read
p, role:mappings-admin, management:mappings, write
g, service:mgmt-admin, role:mappings-admin
CSV
STORE=$DIR/ts.db
TLS="--tls-cert-file $DIR/live/cert.pem --tls-key-file $DIR/live/key.pem"
COMMON="--home $DIR/home --store $STORE --connection-timeout 3 --request-head-timeout 3"

# --- refusals at start ---------------------------------------------------------------------
refused() { # NAME WANT ARGS...
    name=$1; want=$2; shift 2
    timeout 20 "$TS" serve --listen 127.0.0.1:0 "$@" >/dev/null 2>"$DIR/refused.err"
    rc=$?
    if [ $rc -eq 2 ] && grep -q "$want" "$DIR/refused.err"; then
        echo "ok: refused: $name: $(grep -o "$want.*" "$DIR/refused.err" | head -c 140)"
    else
        bad "refused: $name: exit $rc, want '$want' in: $(cat "$DIR/refused.err")"
    fi
}
# shellcheck disable=SC2086
refused "adminTls without a certificate" "adminTls (--admin-tls, TOKENSMITH_ADMIN_TLS) is set without tlsCertFile" $COMMON --admin-listen 127.0.0.1:0 --admin-tls
# shellcheck disable=SC2086
refused "adminTls on a Unix socket" "is set for a unix: adminListen" $COMMON $TLS --admin-listen "unix:$DIR/a.sock" \
    --admin-tls

# --- every listener over HTTPS (admin with adminTls) ---------------------------------------
# shellcheck disable=SC2086
start_server "$DIR/s.log" $COMMON $TLS --management-listen 127.0.0.1:0 \
    --management-policy-dir "$DIR/policy" --metrics-listen 127.0.0.1:0 \
    --admin-listen 127.0.0.1:0 --admin-tls
URL=https://127.0.0.1:$PORT
field() { sed -n "s/.*\"msg\":\"listening\".*\"$1\":\([0-9a-z]*\).*/\1/p" "$DIR/s.log" | tail -1; }
MPORT=$(field management_port)
XPORT=$(field metrics_port)
APORT=$(field admin_port)
[ -n "$MPORT" ] && [ -n "$XPORT" ] && [ -n "$APORT" ] ||
    { echo "FAIL: ports: $(grep listening "$DIR/s.log")"; exit 1; }
check "listening line: admin_tls" true "$(field admin_tls)"
code() { curl -s -o /dev/null -w '%{http_code}' --max-time 10 "$@"; }
check "main /health over https" 200 "$(code "$URL/health")"
check "management over https (401 without a token)" 401 \
    "$(code "https://127.0.0.1:$MPORT/api/v1/mappings/scope_mappings")"
check "metrics over https" 200 "$(code "https://localhost:$XPORT/metrics")"
check "admin over https" 200 "$(code "https://127.0.0.1:$APORT/admin/oidc/config")"
for p in "$MPORT" "$XPORT" "$APORT"; do
    c=$(code "http://127.0.0.1:$p/health")
    [ "$c" = 000 ] && echo "ok: plain HTTP to the TLS port $p fails" ||
        bad "plain HTTP to $p answered $c"
done
serial() { # PORT: the serial a new handshake on PORT presents
    echo | openssl s_client -connect "127.0.0.1:$1" -CAfile ca.pem 2>/dev/null |
        openssl x509 -noout -serial 2>/dev/null | sed 's/serial=//'
}
for p in "$PORT" "$MPORT" "$XPORT" "$APORT"; do check "serial on port $p" 1001 "$(serial "$p")"; done

# --- the CLI over HTTPS ----------------------------------------------------------------------
b=$("$TS" bootstrap-token create --subject mgmt-admin --audience tokensmith-management \
    --scopes read --store "$STORE" --output-format json 2>/dev/null |
    sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
exchange "$b" "$DIR/x" >/dev/null
json_field "$DIR/x" access_token >"$DIR/tok"
[ -s "$DIR/tok" ] || { echo "FAIL: no management token: $(cat "$DIR/x")"; exit 1; }
M=https://127.0.0.1:$MPORT
printf '{"scope":"read","claims":{"tier":"gold"}}' >"$DIR/item.json"
TOKENSMITH_CACERT=$DIR/ca.pem "$TS" mappings apply scope_mappings -f "$DIR/item.json" \
    --url "$M" --token-file "$DIR/tok" >"$DIR/c1" 2>&1
check "mappings apply over https (TOKENSMITH_CACERT)" 0 $?
TOKENSMITH_CACERT=$DIR/ca.pem "$TS" mappings get scope_mappings read --url "$M" \
    --token-file "$DIR/tok" >"$DIR/c2" 2>&1
check "mappings get over https" 0 $?
grep -q '"gold"' "$DIR/c2" && echo "ok: the item came back over https" || bad "get: $(cat "$DIR/c2")"
TOKENSMITH_CACERT=$DIR/ca.pem "$TS" mappings list scope_mappings \
    --url "https://localhost:$MPORT" --token-file "$DIR/tok" >"$DIR/c3" 2>&1
check "mappings list over https by name (localhost)" 0 $?
# The system's trust does not hold the test CA: refused, saying why.
"$TS" mappings list scope_mappings --url "$M" --token-file "$DIR/tok" >"$DIR/c4" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'not trusted' "$DIR/c4" && echo "ok: untrusted server refused: $(head -c 160 "$DIR/c4")" ||
    bad "without TOKENSMITH_CACERT: exit $rc: $(cat "$DIR/c4")"
# A name the certificate does not carry ("127.1" resolves to 127.0.0.1 but is no SAN of it).
TOKENSMITH_CACERT=$DIR/ca.pem "$TS" mappings list scope_mappings \
    --url "https://127.1:$MPORT" --token-file "$DIR/tok" >"$DIR/c5" 2>&1
rc=$?
[ $rc -ne 0 ] && grep -q 'not trusted' "$DIR/c5" &&
    echo "ok: a name the certificate lacks is refused: $(head -c 160 "$DIR/c5")" ||
    bad "wrong name: exit $rc: $(cat "$DIR/c5")"
TOKENSMITH_CACERT=$DIR/ca.pem "$TS" oidc status --url "https://127.0.0.1:$APORT" >"$DIR/c6" 2>&1
check "oidc status over https (adminTls)" 0 $?
grep -q 'Configured' "$DIR/c6" && echo "ok: oidc status answered" || bad "oidc status: $(cat "$DIR/c6")"
grep -q "$(cut -c1-24 "$DIR/tok")" "$DIR/s.log" && bad "a token is in the log"

# --- one reload, every listener --------------------------------------------------------------
cp two.key live/key.new && chmod 600 live/key.new && mv live/key.new live/key.pem
cp two.pem live/cert.new && mv live/cert.new live/cert.pem
kill -HUP "$PID"
i=0
while [ "$(serial "$PORT")" != 2002 ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
for p in "$PORT" "$MPORT" "$XPORT" "$APORT"; do
    check "serial on port $p after SIGHUP" 2002 "$(serial "$p")"
done
TOKENSMITH_CACERT=$DIR/ca.pem "$TS" mappings list scope_mappings --url "$M" \
    --token-file "$DIR/tok" >"$DIR/c7" 2>&1
check "mappings list after the reload" 0 $?
stop_server

# --- without adminTls the admin listener stays plain -----------------------------------------
# shellcheck disable=SC2086
start_server "$DIR/s2.log" $COMMON $TLS --admin-listen 127.0.0.1:0
APORT=$(sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/s2.log" | tail -1)
grep '"msg":"listening"' "$DIR/s2.log" | grep -q '"admin_tls":false' &&
    echo "ok: listening line: admin_tls false" || bad "admin_tls: $(grep listening "$DIR/s2.log")"
check "admin over plain http" 200 "$(code "http://127.0.0.1:$APORT/admin/oidc/config")"
"$TS" oidc status --url "http://127.0.0.1:$APORT" >"$DIR/c8" 2>&1
check "oidc status over plain http" 0 $?
check "main still https" 200 "$(code "https://127.0.0.1:$PORT/health")"
stop_server
[ $fail -eq 0 ] && echo "PASS" || { echo "--- log"; tail -n 30 "$DIR/s.log"; }
exit $fail
