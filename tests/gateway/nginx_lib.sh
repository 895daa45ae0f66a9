# nginx for the gateway's tests (sourced by tests/gateway/*_test.sh): Debian's nginx binary run
# by the test itself on loopback, with its own prefix, configuration, pid file and temp
# directories under one directory, no system service. nginx cannot bind port 0, so a free port
# is picked and the start retried with another one when something took it meanwhile.
#
#   need_nginx                  exit 77 without nginx (unless TS_REQUIRE_NGINX=1: then fail)
#   start_nginx DIR GW_PORT UPSTREAM_PORT [TEMPLATE]
#                               sets NGINX_PORT and NGINX_PID; returns 1 when it did not start
#                               (its log, DIR/nginx.log, is printed)
#   stop_nginx                  stops it (fast shutdown) and waits for it
#   nginx_free_port             a port free on 127.0.0.1 now

NGINX_BIN=${NGINX_BIN:-$(command -v nginx || echo /usr/sbin/nginx)}
NGINX_PORT=
NGINX_PID=

need_nginx() {
    if [ ! -x "$NGINX_BIN" ]; then
        if [ "${TS_REQUIRE_NGINX:-0}" = 1 ]; then
            echo "nginx is required (TS_REQUIRE_NGINX=1) but not installed" >&2
            exit 1
        fi
        echo "skip: nginx not installed" >&2
        exit 77
    fi
}

nginx_free_port() {
    python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'
}

# A TCP connection to 127.0.0.1:PORT succeeds (a request would go through auth_request).
nginx_port_open() {
    python3 -c 'import socket, sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1).close()' "$1" 2>/dev/null
}

# Write DIR/nginx.conf from TEMPLATE with PORT.
nginx_write_conf() {
    _dir=$1 _gw=$2 _up=$3 _tpl=$4 _port=$5
    # As root the workers would run as nobody and could not use the temp directories in DIR.
    _user=
    [ "$(id -u)" = 0 ] && _user='user root root;'
    sed -e "s|@USER@|$_user|" -e "s|@DIR@|$_dir|g" -e "s|@PORT@|$_port|g" \
        -e "s|@GATEWAY_PORT@|$_gw|g" -e "s|@UPSTREAM_PORT@|$_up|g" "$_tpl" >"$_dir/nginx.conf"
}

start_nginx() {
    _dir=$1 _gw=$2 _up=$3
    _tpl=${4:-$(dirname "$0")/nginx.conf.in}
    mkdir -p "$_dir/client_body" "$_dir/proxy" "$_dir/fastcgi" "$_dir/uwsgi" "$_dir/scgi"
    _try=0
    while [ $_try -lt 5 ]; do
        _try=$((_try + 1))
        _port=$(nginx_free_port)
        nginx_write_conf "$_dir" "$_gw" "$_up" "$_tpl" "$_port"
        : >"$_dir/nginx.log"
        "$NGINX_BIN" -p "$_dir" -c "$_dir/nginx.conf" -e stderr -g 'daemon off;' \
            >>"$_dir/nginx.log" 2>&1 &
        NGINX_PID=$!
        _i=0
        while [ $_i -lt 100 ]; do
            if ! kill -0 $NGINX_PID 2>/dev/null; then
                break
            fi
            if nginx_port_open "$_port"; then
                NGINX_PORT=$_port
                return 0
            fi
            sleep 0.05
            _i=$((_i + 1))
        done
        if grep -q 'Address already in use' "$_dir/nginx.log"; then
            stop_nginx
            continue
        fi
        break
    done
    stop_nginx
    echo "nginx did not start:" >&2
    cat "$_dir/nginx.log" >&2
    return 1
}

stop_nginx() {
    if [ -n "$NGINX_PID" ]; then
        kill -TERM $NGINX_PID 2>/dev/null
        wait $NGINX_PID 2>/dev/null
    fi
    NGINX_PID=
    NGINX_PORT=
}

# ---------------------------------------------------------------------------------------------
# The peers of the nginx tests (gateway.nginx, nginx_shadow, nginx_down), for a test that has
# sourced tests/service/lib.sh (start_server, create_token, exchange, json_field) and
# tests/gateway/lib.sh (start_gateway, stop_gateway) and set TS and SRC.
#
#   nginx_need_peers        exit 77 without nginx, node or node_modules (nginx: see need_nginx)
#   nginx_start_issuer      tokensmith serve as the caller's issuer (ISS); sets URL and AT, an
#                           access token of svc-a with scopes read and write (viewer, operator)
#   nginx_start_upstream    the echo upstream; sets UP_PORT and UP_PID
#   nginx_gateway_config MODE FILE
#                           the gateway in nginx convention, trusting serve, authz.mode MODE,
#                           routes GET /nodes and DELETE /nodes/:id (object metadata:nodes),
#                           client x-tokensmith-* headers rejected; issuer GW_ISS
#   nginx_stop_peers        stops nginx, the gateway and the upstream (for cleanup_more)
#   through PATH OUT [CURL ARGS]
#                           a request through nginx: prints the status; body in OUT, head in OUT.h
#   upstream_requests       how many requests the upstream has seen
#   seen_authorization OUT  the Authorization the upstream saw (from its JSON in OUT)

ISS=https://tokensmith.test
GW_ISS=https://gateway.test
UP_PID=
UP_PORT=

nginx_need_peers() {
    need_nginx
    NODE=$(command -v node) || { echo "SKIP: node not installed"; exit 77; }
    [ -d "$SRC/node_modules/jose" ] || { echo "SKIP: node_modules missing (npm ci)"; exit 77; }
}

nginx_start_issuer() {
    start_server "$DIR/serve.log" --home "$DIR/serve" --issuer "$ISS"
    _boot=$(create_token "$DIR/serve/tokensmith.db")
    _st=$(exchange "$_boot" "$DIR/exchange.json")
    [ "$_st" = 200 ] || { echo "FAIL: token exchange at serve: $_st"; cat "$DIR/exchange.json"; exit 1; }
    AT=$(json_field "$DIR/exchange.json" access_token)
}

nginx_start_upstream() {
    (cd "$SRC" && exec "$NODE" tests/gateway/echo_upstream.mjs) >"$DIR/echo.out" 2>"$DIR/echo.err" &
    UP_PID=$!
    _i=0
    while [ ! -s "$DIR/echo.out" ] && [ $_i -lt 200 ]; do sleep 0.05; _i=$((_i + 1)); done
    UP_PORT=$(sed -n 's/.*"listening":\([0-9]*\).*/\1/p' "$DIR/echo.out")
    [ -n "$UP_PORT" ] || { echo "FAIL: the echo upstream did not start"; cat "$DIR/echo.err"; exit 1; }
}

nginx_gateway_config() {
    mkdir -p "$DIR/gw-home"
    cat >"$2" <<EOC
{"listen": "127.0.0.1:0", "grpc_listen": "", "admin_listen": "127.0.0.1:0",
 "issuer": "$GW_ISS", "home": "$DIR/gw-home",
 "trust": [{"issuer": "$ISS", "jwks_uri": "$URL/.well-known/jwks.json", "audiences": ["smd"]}],
 "translate": {"audience": "backend", "ttl": "5m"},
 "authz": {"mode": "$1", "scope_roles": {"read": "viewer", "write": "operator", "admin": "admin"},
           "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"},
                      {"method": "DELETE", "path": "/nodes/:id", "object": "metadata:nodes"}],
           "policy_dir": null},
 "http": {"original_uri_header": "X-Original-URI", "original_method_header": "X-Original-Method",
          "client_tokensmith_headers": "reject"}}
EOC
}

nginx_stop_peers() {
    stop_nginx
    stop_gateway
    [ -n "$UP_PID" ] && { kill "$UP_PID" 2>/dev/null; wait "$UP_PID" 2>/dev/null; }
    UP_PID=
}

through() {
    _p=$1 _o=$2
    shift 2
    curl -s -D "$_o.h" -o "$_o" -w '%{http_code}' "$@" "http://127.0.0.1:$NGINX_PORT$_p"
}

upstream_requests() {
    curl -s "http://127.0.0.1:$UP_PORT/__requests" | sed -n 's/.*"requests":\([0-9]*\).*/\1/p'
}

seen_authorization() { sed -n 's/.*"authorization":"\([^"]*\)".*/\1/p' "$1"; }
