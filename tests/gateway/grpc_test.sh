#!/bin/sh
# gateway.grpc: the gRPC listener (tokenservice/gateway/src/grpc_server.c) against a real gRPC
# client, node @grpc/grpc-js + @grpc/proto-loader on the gateway's own .proto files
# (grpc_client.mjs). The server is gateway_grpc_fake_server: the real listener with a scripted
# checker (tokenservice/gateway/tests/grpc_fake_checker.h), so the cases are the listener's:
# allow with the header mutation, deny inside an OK call, UNAVAILABLE, DEADLINE_EXCEEDED,
# INVALID_ARGUMENT for raw malformed bytes, RESOURCE_EXHAUSTED for 1 MiB, UNIMPLEMENTED for
# another method, 64 concurrent calls; then a clean stop. Skips (77) without node or its modules.
# Usage: sh grpc_test.sh <tokensmith binary> <source dir>
set -u
BIN=$1
SRC=$2
FAKE=$(dirname "$BIN")/tokenservice/gateway/gateway_grpc_fake_server

if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRC/node_modules/@grpc/grpc-js" ] ||
    [ ! -d "$SRC/node_modules/@grpc/proto-loader" ]; then
    echo "SKIP: node or @grpc/grpc-js/@grpc/proto-loader not installed"
    exit 77
fi
if [ ! -x "$FAKE" ]; then
    echo "FAIL: $FAKE not built (target gateway_grpc_fake_server)"
    exit 1
fi

DIR=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM

# port 0: the server prints the port the kernel chose
${TS_TEST_WRAPPER:-} "$FAKE" 65536 4 >"$DIR/out" 2>"$DIR/err" &
PID=$!
PORT=
for _ in $(seq 1 200); do
    PORT=$(awk '/^listening /{print $2}' "$DIR/out")
    [ -n "$PORT" ] && break
    kill -0 "$PID" 2>/dev/null || break
    sleep 0.05
done
if [ -z "$PORT" ]; then
    echo "FAIL: the server did not start"
    cat "$DIR/err"
    exit 1
fi

rc=0
node "$SRC/tests/gateway/grpc_client.mjs" "$PORT" "$SRC/tokenservice/gateway/proto" || rc=1

# a clean stop: SIGTERM drains and the server reports how often its checker was asked
kill -TERM "$PID"
if ! wait "$PID"; then
    echo "FAIL: the server did not stop cleanly"
    rc=1
fi
PID=
cat "$DIR/err"
CALLS=$(awk '/^calls /{print $2}' "$DIR/out")
# allow, two denials, unavailable, the slow call and 64 concurrent: 69 at most; the malformed,
# oversized and unimplemented calls never reach the checker
if [ -z "$CALLS" ] || [ "$CALLS" -gt 69 ] || [ "$CALLS" -lt 68 ]; then
    echo "FAIL: the checker was asked ${CALLS:-?} times (want 68 or 69)"
    rc=1
else
    echo "ok checker asked $CALLS times"
fi
exit $rc
