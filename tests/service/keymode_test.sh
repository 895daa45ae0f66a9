#!/bin/sh
# Signing keys that other users may read are refused at start (serve and user-token create),
# naming the file and the fix, unless allowInsecureKeyPermissions says otherwise; and a derived
# issuer follows the port the kernel chose for --listen HOST:0.
# usage: keymode_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...
umask 022
mkdir -p "$DIR/h"
"$TS" keys generate --key-dir "$DIR/h/keys" --alg ES256 >/dev/null 2>&1
check "keys generate" 0 $?
KEY=$(ls "$DIR"/h/keys/*.pem | head -1)
check "a generated key is 0600" 600 "$(stat -c %a "$KEY")"

for mode in 644 640 604; do
    chmod "$mode" "$KEY"
    "$TS" serve --listen 127.0.0.1:0 --home "$DIR/h" 2>"$DIR/e" &
    p=$!; wait $p; rc=$?
    check "mode $mode: serve refuses to start" 1 $rc
    grep -q "$KEY" "$DIR/e" && grep -q "chmod 600" "$DIR/e"
    check "mode $mode: the message names the file and the fix" 0 $?
done
chmod 644 "$KEY"
"$TS" user-token create --home "$DIR/h" --enable-local-user-mint --subject a --scopes read \
    >/dev/null 2>"$DIR/e"
check "user-token create refuses the key too" 1 $?
start_server "$DIR/s.log" --home "$DIR/h" --allow-insecure-key-permissions
check "allowInsecureKeyPermissions lets it start" 0 0
stop_server; PID=
chmod 600 "$KEY"

# The issuer, not configured, is http://<listen> with the bound port.
start_server "$DIR/s2.log" --home "$DIR/h"
iss=$(curl -s "$URL/.well-known/openid-configuration" | sed -n 's/.*"issuer":"\([^"]*\)".*/\1/p')
check "metadata issuer follows the bound port" "$URL" "$iss"
st=$(exchange "$(create_token "$DIR/h/tokensmith.db")" "$DIR/r")
check "exchange" 200 "$st"
out=$("$TS" token verify --jwks "$URL/.well-known/jwks.json" --issuer "$URL" --audience smd \
    "$(json_field "$DIR/r" access_token)" 2>&1)
check "tokens carry that issuer" 0 $?
stop_server; PID=
[ $fail = 0 ] && echo "key modes and issuer: all checks passed"
exit $fail
