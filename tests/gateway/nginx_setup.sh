# The set-up shared by tests/gateway/nginx*_test.sh, sourced by the test script itself (so $1
# and $2 are its arguments: TOKENSMITH SOURCE_DIR) after it set GW_MODE (the gateway's
# authz.mode): the peers of nginx_lib.sh (tokensmith serve as the callers' issuer with a token
# in $AT, the echo upstream), a gateway with nginx_gateway_config, and nginx in front of both.
# Every server is stopped at exit. Exits 77 (skip) without a peer, 1 when one did not start.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, start_server, create_token, exchange, json_field
. "$SRC/tests/gateway/lib.sh" # check, start_gateway, stop_gateway
. "$SRC/tests/gateway/nginx_lib.sh"
nginx_need_peers
cleanup_more() { nginx_stop_peers; }
nginx_start_issuer
nginx_start_upstream

nginx_gateway_config "$GW_MODE" "$DIR/gw.json"
start_gateway "$DIR/gw.json" || exit 1
start_nginx "$DIR/nginx" "$GW_PORT" "$UP_PORT" || exit 1
