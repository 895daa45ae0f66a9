#!/bin/sh
# gateway.nginx_down: nginx's auth_request when the gateway is not there: the client gets 500
# and the upstream is never asked, whatever the request carries.
# usage: nginx_down_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, start_server, create_token, exchange, json_field
. "$SRC/tests/gateway/lib.sh" # check, start_gateway, stop_gateway
. "$(dirname "$0")/nginx_lib.sh"
nginx_need_peers
cleanup_more() { nginx_stop_peers; }
nginx_start_issuer
nginx_start_upstream

nginx_gateway_config enforce "$DIR/gw.json"
start_gateway "$DIR/gw.json" || exit 1
start_nginx "$DIR/nginx" "$GW_PORT" "$UP_PORT" || exit 1
st=$(through /nodes "$DIR/a" -H "Authorization: Bearer $AT"); check "gateway up: allowed" 200 "$st"
n0=$(upstream_requests)
stop_gateway
for m in GET DELETE POST; do
    st=$(through /nodes "$DIR/x" -X $m -H "Authorization: Bearer $AT")
    check "gateway down: $m" 500 "$st"
done
st=$(through /nodes "$DIR/x"); check "gateway down: no token" 500 "$st"
check "gateway down: upstream not asked" "$n0" "$(upstream_requests)"
exit $fail
