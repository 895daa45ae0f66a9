#!/bin/sh
# The Go original's single-provider options: --oidc-issuer, --oidc-client-id (OIDC_CLIENT_ID),
# --oidc-client-secret (OIDC_CLIENT_SECRET) and a repeatable --oidc-audience become one provider
# of the `oidc` configuration, whose groups map through groupScopes (the Go table by default);
# the two file-store options of the original are refused with a message naming --store.
# usage: oidc_shorthand_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
cd "$DIR" || exit 1
ISS=https://idp.example.com
has() { grep -F -q -- "$2" "$DIR/out" && ok "$1" || bad "$1: no '$2' in: $(cat "$DIR/out")"; }

start "$DIR/s.log" --listen 127.0.0.1:0 --home "$DIR/h" --admin-listen 127.0.0.1:0 \
    --oidc-issuer "$ISS" --oidc-client-id tokensmith --oidc-audience smd --oidc-audience bss ||
    bad "serve did not start: $(cat "$DIR/s.log")"
admin=$(sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/s.log")
run "$TS" oidc status --url "http://127.0.0.1:$admin"
expect "oidc status" 0
has "configured" "Configured: true"
has "issuer" "Issuer: $ISS"
has "client id" "Client ID: tokensmith"
has "audiences" "Audiences: smd bss"
has "Go table: admin" "Group admin: admin write read"
has "Go table: operator" "Group operator: write read"
has "Go table: viewer" "Group viewer: read"
has "Go table: user" "Group user: read"
has "no secret, no introspection" "Introspection: false"
stop

# The variables, a secret (introspection), and groupScopes from the config file.
printf '{"groupScopes": {"ops": ["write", "read"]}}' >"$DIR/g.json"
OIDC_CLIENT_ID=from-env OIDC_CLIENT_SECRET=s3cr3t-value TOKENSMITH_OIDC_AUDIENCE=smd,bss \
    run "$TS" serve --oidc-issuer "$ISS" --config "$DIR/g.json" --print-config
expect "variables" 0
has "client id from OIDC_CLIENT_ID" '"client_id": "from-env"'
has "audiences from TOKENSMITH_OIDC_AUDIENCE" '"audiences": ["smd", "bss"]'
has "a secret turns on introspection" '"introspection": true'
has "the secret is masked" '"client_secret": "********"'
has "groupScopes of the file" '"ops": ["write", "read"]'
grep -q s3cr3t-value "$DIR/out" "$DIR/err" && bad "the secret was printed" || ok "secret not printed"

OIDC_CLIENT_SECRET="$(printf 'zq7\033xv9')" run "$TS" serve --oidc-issuer "$ISS" \
    --oidc-client-id c --oidc-audience a --print-config
expect "a bad secret is refused" 2 "OIDC_CLIENT_SECRET"
grep -q 'zq7\|xv9' "$DIR/err" && bad "a bad secret is repeated: $(cat "$DIR/err")" ||
    ok "a bad secret is not repeated"

# Incomplete or conflicting.
run "$TS" serve --oidc-issuer "$ISS" --print-config
expect "issuer without client id" 2 "--oidc-client-id"
OIDC_CLIENT_ID=x run "$TS" serve --print-config
expect "OIDC_CLIENT_ID without an issuer" 2 "--oidc-issuer"
run "$TS" serve --oidc-issuer "$ISS" --oidc-client-id c --print-config
expect "no audience" 2 "--oidc-audience"
run "$TS" serve --oidc-issuer http://idp.example.com --oidc-client-id c --oidc-audience a \
    --print-config
expect "plain http issuer off loopback" 2 "issuer"
printf '{"oidc": {"providers": [{"issuer": "https://other.example", "client_id": "c"}]}}' \
    >"$DIR/o.json"
run "$TS" serve --config "$DIR/o.json" --oidc-issuer "$ISS" --oidc-client-id c \
    --oidc-audience a --print-config
expect "shorthand and the oidc member" 2 "use one of them"

# The file stores of the original.
run timeout 10 "$TS" serve --home "$DIR/h" --listen 127.0.0.1:0 --rfc8693-bootstrap-store ./data/b
expect "--rfc8693-bootstrap-store refused" 2 "--store"
run timeout 10 "$TS" serve --home "$DIR/h" --listen 127.0.0.1:0 --rfc8693-refresh-store ./data/r
expect "--rfc8693-refresh-store refused" 2 "--store"
TOKENSMITH_RFC8693_BOOTSTRAP_STORE=./data/b run timeout 10 "$TS" serve --home "$DIR/h" \
    --listen 127.0.0.1:0
expect "TOKENSMITH_RFC8693_BOOTSTRAP_STORE refused" 2 "--store"
finish
