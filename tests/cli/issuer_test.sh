#!/bin/sh
# Without --issuer the issuer follows the listen address (http://HOST:PORT), instead of staying
# http://127.0.0.1:8080 while the service listens elsewhere.
# usage: issuer_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
cd "$DIR" || exit 1
json() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\).*/\1/p" "$1" | head -n 1; }
# The issuer follows --listen when none is given.
p=$(free_port)
start "$DIR/i.log" --listen "127.0.0.1:$p" --home "$DIR/h" ||
    bad "serve did not start: $(cat "$DIR/i.log")"
curl -s -o "$DIR/meta" "http://127.0.0.1:$p/.well-known/openid-configuration"
check "issuer follows --listen" "http://127.0.0.1:$p" "$(json "$DIR/meta" issuer)"
check "jwks_uri follows --listen" "http://127.0.0.1:$p/.well-known/jwks.json" \
    "$(json "$DIR/meta" jwks_uri)"
stop
start "$DIR/i2.log" --listen "127.0.0.1:$p" --home "$DIR/h" --issuer https://ts.example ||
    bad "serve did not start: $(cat "$DIR/i2.log")"
curl -s -o "$DIR/meta2" "http://127.0.0.1:$p/.well-known/openid-configuration"
check "an explicit issuer stays" https://ts.example "$(json "$DIR/meta2" issuer)"
stop
run "$TS" serve --listen "0.0.0.0:$p" --print-config
check "a wildcard host becomes the host name" "http://$(hostname):$p" "$(json "$DIR/out" issuer)"
finish
