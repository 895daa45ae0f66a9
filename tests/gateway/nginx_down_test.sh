#!/bin/sh
# gateway.nginx_down: nginx's auth_request when the gateway is not there: the client gets 500
# and the upstream is never asked, whatever the request carries.
# usage: nginx_down_test.sh TOKENSMITH SOURCE_DIR
GW_MODE=enforce
. "$(dirname "$0")/nginx_setup.sh" # TS, SRC, DIR, AT, GW_*, NGINX_PORT, UP_PORT
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
