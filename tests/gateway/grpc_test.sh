#!/bin/sh
# gateway.grpc: the gRPC listener (tokenservice/gateway/src/grpc_server.c) against a real gRPC
# client, node @grpc/grpc-js + @grpc/proto-loader on the gateway's own .proto files
# (grpc_client.mjs). The server is gateway_grpc_fake_server: the real listener with a scripted
# checker (tokenservice/gateway/tests/grpc_fake_checker.h), so the cases are the listener's:
# allow with the header mutation, deny inside an OK call, UNAVAILABLE, DEADLINE_EXCEEDED,
# INVALID_ARGUMENT for raw malformed bytes, RESOURCE_EXHAUSTED for 1 MiB, UNIMPLEMENTED for
# another method, 64 concurrent calls; then a clean stop. Then the same client against
# `tokensmith gateway` itself (lib.sh), trusting an issuer whose ES256 key and tokens node jose
# made: allow with a translated token that jose verifies against the gateway's admin JWKS, deny
# 403 and 401, another audience, two Authorization lines, malformed bytes.
# Skips (77) without node or its modules.
# Usage: sh grpc_test.sh <tokensmith binary> <source dir>
set -u
TS=$1
SRC=$2
FAKE=$(dirname "$TS")/tokenservice/gateway/gateway_grpc_fake_server

if [ ! -x "$FAKE" ]; then
    echo "FAIL: $FAKE not built (target gateway_grpc_fake_server)"
    exit 1
fi

# shellcheck source=tests/gateway/lib.sh
. "$SRC/tests/gateway/lib.sh"
need_node @grpc/grpc-js @grpc/proto-loader jose
PID=
cleanup_more() { [ -n "$PID" ] && kill "$PID" 2>/dev/null && wait "$PID" 2>/dev/null; }

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
    echo "FAIL: the fake server did not start"
    cat "$DIR/err"
    exit 1
fi

node "$SRC/tests/gateway/grpc_client.mjs" "$PORT" "$SRC/tokenservice/gateway/proto" ||
    bad "grpc-js against the listener with the scripted checker"

# a clean stop: SIGTERM drains and the server reports how often its checker was asked
kill -TERM "$PID"
if wait "$PID"; then ok "the fake server stopped cleanly"; else bad "the fake server's exit"; fi
PID=
cat "$DIR/err"
CALLS=$(awk '/^calls /{print $2}' "$DIR/out")
# allow, two denials, unavailable, the slow call and 64 concurrent: 69 at most; the malformed,
# oversized and unimplemented calls never reach the checker
if [ -n "$CALLS" ] && [ "$CALLS" -le 69 ] && [ "$CALLS" -ge 68 ]; then
    ok "the checker was asked $CALLS times"
else
    bad "the checker was asked ${CALLS:-?} times (want 68 or 69)"
fi

# the real gateway
mkdir -p "$DIR/keys"
node "$SRC/tests/gateway/grpc_client.mjs" keys "$DIR/keys" || bad "jose could not make keys"
gateway_config "$DIR/gw.json" https://tokens.test "file://$DIR/keys/jwks.json" \
    ', "authz": {"mode": "enforce", "scope_roles": {"read": "viewer", "write": "operator"},
      "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"},
                 {"method": "DELETE", "path": "/nodes/:id", "object": "metadata:nodes"}]}'
if start_gateway "$DIR/gw.json"; then
    node "$SRC/tests/gateway/grpc_client.mjs" "$GW_GRPC_PORT" "$SRC/tokenservice/gateway/proto" \
        gateway "$DIR/keys" "$GW_ADMIN_PORT" || bad "grpc-js against tokensmith gateway"
    stop_gateway
    check "the gateway's exit status" 0 "$GW_RC"
    # tokens are named by hash prefixes only
    if grep -qF "$(cat "$DIR/keys/token")" "$DIR/gateway.log"; then
        bad "the gateway logged a token"
    else
        ok "no token in the gateway's log"
    fi
else
    bad "tokensmith gateway did not start"
fi
finish
