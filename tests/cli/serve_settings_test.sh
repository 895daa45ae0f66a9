#!/bin/sh
# Every serve setting has a variable and a config-file field, and they work end to end:
# TOKENSMITH_THREADS and TOKENSMITH_REDEEM_RETRY_GRACE are honoured, `port` is accepted in the
# config file (after `listen`, wherever it stands). (tests/cli/test_settings.c checks every row
# of the table through each source.)
# usage: serve_settings_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
cd "$DIR" || exit 1
json() { sed -n "s/.*\"$2\": *\"\{0,1\}\([^\",}]*\).*/\1/p" "$1" | head -n 1; }

# TOKENSMITH_THREADS
TOKENSMITH_THREADS=3 start "$DIR/t.log" --listen 127.0.0.1:0 --home "$DIR/h" ||
    bad "serve did not start: $(cat "$DIR/t.log")"
check "TOKENSMITH_THREADS" 3 "$(json "$DIR/t.log" threads)"
stop

# TOKENSMITH_REDEEM_RETRY_GRACE: a second redemption within the window is a retry, not a replay.
TOKENSMITH_REDEEM_RETRY_GRACE=5m start "$DIR/g.log" --listen 127.0.0.1:0 --home "$DIR/h" ||
    bad "serve did not start: $(cat "$DIR/g.log")"
tok=$("$TS" bootstrap-token create --subject svc --audience smd --store "$DIR/h/tokensmith.db" \
    --output-format json 2>/dev/null | sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
redeem() {
    curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/oauth/token" \
        --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
        --data-urlencode subject_token_type=urn:openchami:params:oauth:token-type:bootstrap-token \
        --data-urlencode "subject_token=$tok"
}
check "first redemption" 200 "$(redeem)"
check "retry within TOKENSMITH_REDEEM_RETRY_GRACE" 200 "$(redeem)"
stop

# `port` in the config file, before or after `listen`; a --listen flag still wins over it.
p=$(free_port)
printf '{"port": %s, "listen": "127.0.0.1:8080"}' "$p" >"$DIR/port.json"
start "$DIR/p.log" --config "$DIR/port.json" --home "$DIR/h" ||
    bad "serve with port in the config file did not start: $(cat "$DIR/p.log")"
check "port from the config file" "$p" "$PORT"
stop
start "$DIR/p2.log" --config "$DIR/port.json" --home "$DIR/h" --listen 127.0.0.1:0 ||
    bad "serve did not start: $(cat "$DIR/p2.log")"
[ "$PORT" != "$p" ] && ok "--listen beats the file's port" || bad "the file's port beat --listen"
stop
TOKENSMITH_PORT=$p start "$DIR/p3.log" --home "$DIR/h" ||
    bad "serve with TOKENSMITH_PORT did not start: $(cat "$DIR/p3.log")"
check "TOKENSMITH_PORT replaces the default port" "$p" "$PORT"
stop

finish
