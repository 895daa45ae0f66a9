#!/bin/sh
# gateway.hostile: hostile input across both listeners of `tokensmith gateway` (docs/gateway.md,
# "Hostile input"), by tests/gateway/hostile_client.mjs over raw sockets, @grpc/grpc-js and
# hand-written HTTP/2 frames. The caller's tokens are ES256 tokens that node jose signed
# (grpc_client.mjs keys), trusted through a file:// JWKS. Three gateways:
#   - Envoy's convention (http.prefix /ext-authz, the client's x-tokensmith-* stripped) with
#     the gRPC listener: forged x-tokensmith-*, two Authorization headers, header floods, huge
#     paths, encoded traversal, another audience, on both listeners; on gRPC also a message
#     over the bound, garbage, a non-gRPC content-type and a stream flood;
#   - nginx's convention (X-Original-URI/-Method, x-tokensmith-* rejected): the HTTP cases;
#   - a 2 s request deadline and 8 connections: a slow head is cut, the connection bound holds.
# After every refused case a good request must still pass; no token reaches the log.
# Skips (77) without node or its modules.
# Usage: sh hostile_test.sh <tokensmith binary> <source dir>
set -u
TS=$1
SRC=$2
# shellcheck source=tests/gateway/lib.sh
. "$SRC/tests/gateway/lib.sh"
need_node @grpc/grpc-js @grpc/proto-loader jose
CLIENT=$SRC/tests/gateway/hostile_client.mjs
PROTO=$SRC/tokenservice/gateway/proto

mkdir -p "$DIR/keys"
node "$SRC/tests/gateway/grpc_client.mjs" keys "$DIR/keys" || { echo "FAIL: jose could not make keys"; exit 1; }
JWKS="file://$DIR/keys/jwks.json"
AUTHZ='"authz": {"mode": "enforce", "scope_roles": {"read": "viewer"}, "public_paths": ["/public/*"],
      "routes": [{"method": "GET", "path": "/nodes", "object": "metadata:nodes"},
                 {"method": "GET", "path": "/nodes/:id", "object": "metadata:nodes"},
                 {"method": "GET", "path": "/secret", "object": "admin:secret"}]}'

# gateway_run LABEL CONFIG CASES: start a gateway on CONFIG, run the shell function CASES
# against it, then it must still be healthy (admin /health) and stop with status 0.
gateway_run() {
    if ! start_gateway "$2"; then
        bad "tokensmith gateway ($1) did not start"
        return
    fi
    $3 || bad "$1"
    st=$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$GW_ADMIN_PORT/health")
    check "$1: /health afterwards" 200 "$st"
    stop_gateway
    check "$1: the gateway's exit status" 0 "$GW_RC"
}

# --- Envoy's convention, both listeners
# shellcheck disable=SC2317 # the *_cases functions are called through gateway_run
envoy_cases() {
    node "$CLIENT" http "$GW_PORT" envoy "$DIR/keys"
    http=$?
    node "$CLIENT" grpc "$GW_GRPC_PORT" "$PROTO" "$DIR/keys" || return 1
    return "$http"
}
gateway_config "$DIR/envoy.json" https://tokens.test "$JWKS" ", $AUTHZ,
  \"http\": {\"prefix\": \"/ext-authz\"}"
gateway_run "Envoy's convention, HTTP and gRPC" "$DIR/envoy.json" envoy_cases

# --- nginx's convention
# shellcheck disable=SC2317
nginx_cases() { node "$CLIENT" http "$GW_PORT" nginx "$DIR/keys"; }
gateway_config "$DIR/nginx.json" https://tokens.test "$JWKS" ", $AUTHZ,
  \"http\": {\"original_uri_header\": \"X-Original-URI\", \"original_method_header\": \"X-Original-Method\",
           \"client_tokensmith_headers\": \"reject\"}"
gateway_run "nginx's convention" "$DIR/nginx.json" nginx_cases

# --- slow heads and the connection bound
# shellcheck disable=SC2317
slow_cases() { node "$CLIENT" slow "$GW_PORT" 8 2000 "$DIR/keys"; }
gateway_config "$DIR/slow.json" https://tokens.test "$JWKS" ", $AUTHZ,
  \"http\": {\"prefix\": \"/ext-authz\"},
  \"limits\": {\"request_timeout\": \"2s\", \"max_connections\": 8}"
gateway_run "slow heads and the connection bound" "$DIR/slow.json" slow_cases

# tokens are named by hash prefixes only
for f in token token_other; do
    if grep -qF "$(cat "$DIR/keys/$f")" "$DIR/gateway.log"; then
        bad "the gateway logged a caller's token ($f)"
    else
        ok "no $f in the gateway's log"
    fi
done
finish
