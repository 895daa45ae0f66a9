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
