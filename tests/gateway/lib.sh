# Shared helpers of the gateway's black-box tests (sourced by tests/gateway/*_test.sh, after
# setting TS, the tokensmith binary, and SRC, the source directory). Peers have their own
# helpers (nginx_lib.sh, ...).
#
#   DIR                     a scratch directory, removed at exit (KEEP=1 keeps it); the gateway
#                           (and whatever cleanup_more stops) is stopped first
#   ok MSG / bad MSG        a passed / failed check; finish exits 1 after any bad
#   check NAME WANT GOT     ok when GOT is WANT, else bad
#   start_gateway CONFIG [ARGS...]
#                           runs `tokensmith gateway --config CONFIG ARGS...` (stderr to
#                           $DIR/gateway.log), waits for its own "listening" line and exports
#                           GW_PORT, GW_GRPC_PORT (0 without a gRPC listener) and GW_ADMIN_PORT;
#                           GW_PID is its process. Returns 1 (log printed) when it did not start.
#   stop_gateway            SIGTERM and wait; the exit status in GW_RC
#   need_node MODULE...     exits 77 (skip) without node or one of the node MODULEs in
#                           $SRC/node_modules (npm ci installs them)
#   gateway_config FILE ISSUER JWKS_URI [EXTRA]
#                           writes a configuration that listens on port 0 everywhere, with
#                           home $DIR/gw-home, one trust entry (audience "gateway") and EXTRA
#                           (JSON members, with a leading comma) added at the top level
#
# TS_TEST_WRAPPER, when set, is a command put in front of the gateway (scripts/valgrind.sh):
# the gateway then gets more time to start, and a non-zero exit at stop_gateway is a failure.
if [ -z "${DIR:-}" ]; then
    DIR=$(mktemp -d)
    cleanup_more() { :; }
    cleanup() {
        cleanup_more
        [ -n "${GW_PID:-}" ] && { kill -TERM "$GW_PID" 2>/dev/null; wait "$GW_PID" 2>/dev/null; }
        if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
    }
    trap cleanup EXIT
fi
GW_PID=
fail=0
ok() { echo "ok: $*"; }
bad() { echo "FAIL: $*"; fail=1; }
finish() { [ "$fail" = 0 ] || exit 1; exit 0; }
check() { if [ "$2" = "$3" ]; then ok "$1"; else bad "$1: got '$3', want '$2'"; fi; }

need_node() {
    command -v node >/dev/null 2>&1 || { echo "SKIP: node not installed"; exit 77; }
    for _m in "$@"; do
        [ -d "$SRC/node_modules/$_m" ] || { echo "SKIP: node module $_m not installed (npm ci)"; exit 77; }
    done
}

start_gateway() {
    cfg=$1; shift
    log=$DIR/gateway.log
    # Only this start's lines count: an earlier gateway of the same test wrote to the log too.
    seen=$(cat "$log" 2>/dev/null | wc -l)
    # shellcheck disable=SC2086 # the wrapper is a command line: split on blanks
    ${TS_TEST_WRAPPER:-} "$TS" gateway --config "$cfg" "$@" 2>>"$log" &
    GW_PID=$!
    GW_PORT= GW_GRPC_PORT= GW_ADMIN_PORT=
    i=0
    tries=400 # 40 s: a bound for a loaded machine (ASan), not the expected time
    [ -z "${TS_TEST_WRAPPER:-}" ] || tries=1200
    while [ $i -lt $tries ]; do
        line=$(tail -n +$((seen + 1)) "$log" 2>/dev/null | grep '"msg":"listening"' | tail -1)
        if [ -n "$line" ]; then
            GW_PORT=$(echo "$line" | sed -n 's/.*"port":\([0-9]*\).*/\1/p')
            GW_GRPC_PORT=$(echo "$line" | sed -n 's/.*"grpc_port":\([0-9]*\).*/\1/p')
            GW_ADMIN_PORT=$(echo "$line" | sed -n 's/.*"admin_port":\([0-9]*\).*/\1/p')
            break
        fi
        kill -0 "$GW_PID" 2>/dev/null || break
        sleep 0.1
        i=$((i + 1))
    done
    if [ -z "$GW_PORT" ] || [ -z "$GW_ADMIN_PORT" ]; then
        echo "the gateway did not start:"; cat "$log"
        return 1
    fi
    export GW_PORT GW_GRPC_PORT GW_ADMIN_PORT
}

stop_gateway() {
    [ -n "$GW_PID" ] || return 0
    kill -TERM "$GW_PID" 2>/dev/null
    wait "$GW_PID" 2>/dev/null
    GW_RC=$?
    GW_PID=
    if [ -n "${TS_TEST_WRAPPER:-}" ] && [ "$GW_RC" -ne 0 ]; then
        bad "tokensmith gateway under '$TS_TEST_WRAPPER' exited $GW_RC"
        tail -n 40 "$DIR/gateway.log"
    fi
}

gateway_config() {
    cat >"$1" <<EOC
{"listen": "127.0.0.1:0", "grpc_listen": "127.0.0.1:0", "admin_listen": "127.0.0.1:0",
 "issuer": "https://gateway.test", "home": "$DIR/gw-home",
 "trust": [{"issuer": "$2", "jwks_uri": "$3", "audiences": ["gateway"]}],
 "translate": {"audience": "backend"}${4:-}}
EOC
}
