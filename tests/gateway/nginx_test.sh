#!/bin/sh
# gateway.nginx: Debian nginx's auth_request in front of `tokensmith gateway` (nginx convention,
# http.client_tokensmith_headers reject) and an upstream that echoes what it receives; the
# caller's token comes from `tokensmith serve`. An allowed route reaches the upstream with the
# gateway's translated token (verified by node jose against the gateway's JWKS: iss gateway,
# aud backend, idp serve's issuer), never the client's token nor its x-tokensmith-* headers; no
# token is 401 with WWW-Authenticate and the deny JSON; a denied route is 403 with the
# authz.deny.v1 body; a second check is a translation cache hit. docs/gateway.md, "nginx".
# usage: nginx_test.sh TOKENSMITH SOURCE_DIR
GW_MODE=enforce
. "$(dirname "$0")/nginx_setup.sh" # TS, SRC, DIR, AT, GW_*, NGINX_PORT, UP_PORT
JWKS=http://127.0.0.1:$GW_ADMIN_PORT/.well-known/jwks.json

# --- allowed route: the translated token, not the client's
st=$(through /nodes "$DIR/a" -H "Authorization: Bearer $AT"); check "allowed: status" 200 "$st"
seen=$(seen_authorization "$DIR/a")
case "$seen" in "Bearer "*) ;; *) echo "FAIL: upstream Authorization '$seen'"; fail=1 ;; esac
[ "$seen" != "Bearer $AT" ] || { echo "FAIL: the client's token reached the upstream"; fail=1; }
out=$(cd "$SRC" && "$NODE" tests/service/jose_verify.mjs "$JWKS" "$GW_ISS" backend "${seen#Bearer }")
check "jose verifies the translated token" 0 $?
echo "$out" | grep -q '"sub":"svc-a"' || { echo "FAIL: sub: $out"; fail=1; }
echo "$out" | grep -q "\"idp\":\"$ISS\"" || { echo "FAIL: idp: $out"; fail=1; }
grep -q '"x-tokensmith-subject":"svc-a"' "$DIR/a" || { echo "FAIL: x-tokensmith-subject"; cat "$DIR/a"; fail=1; }
grep -q '"x-tokensmith-roles":"viewer,operator"' "$DIR/a" || { echo "FAIL: x-tokensmith-roles"; cat "$DIR/a"; fail=1; }
grep -q '"x-original-uri"' "$DIR/a" && { echo "FAIL: check headers reached the upstream"; fail=1; }
n0=$(upstream_requests); check "upstream: one request" 1 "$n0"

# --- the client's own x-tokensmith-* never reach the upstream (reject: 400 -> nginx 500)
st=$(through /nodes "$DIR/f" -H "Authorization: Bearer $AT" -H 'X-Tokensmith-Subject: admin')
check "forged x-tokensmith-subject: refused" 500 "$st"
st=$(through /nodes "$DIR/f" -H "Authorization: Bearer $AT" -H 'x-tokensmith-other: 1')
check "forged x-tokensmith-other: refused" 500 "$st"
check "forged: upstream not asked" "$n0" "$(upstream_requests)"

# --- no token: 401, challenge and deny JSON at the client, upstream not asked
st=$(through /nodes "$DIR/n"); check "no token: status" 401 "$st"
grep -qi '^WWW-Authenticate: Bearer' "$DIR/n.h" || { echo "FAIL: no WWW-Authenticate"; cat "$DIR/n.h"; fail=1; }
grep -q '"schema_version":"authz.deny.v1"' "$DIR/n" || { echo "FAIL: 401 body"; cat "$DIR/n"; fail=1; }
st=$(through /nodes "$DIR/b" -H 'Authorization: Bearer not.a.token'); check "bad token: status" 401 "$st"
grep -qi '^WWW-Authenticate: Bearer.*error="invalid_token"' "$DIR/b.h" || { echo "FAIL: bad token challenge"; cat "$DIR/b.h"; fail=1; }
check "refused: upstream not asked" "$n0" "$(upstream_requests)"

# --- denied route: 403 with the authz.deny.v1 body (nginx drops the check's body: error_page)
st=$(through /nodes/7 "$DIR/d" -X DELETE -H "Authorization: Bearer $AT"); check "denied: status" 403 "$st"
grep -q '"schema_version":"authz.deny.v1"' "$DIR/d" || { echo "FAIL: 403 body"; cat "$DIR/d"; fail=1; }
grep -q '"policy_version":"[0-9a-f]\{64\}"' "$DIR/d" || { echo "FAIL: 403 policy_version"; cat "$DIR/d"; fail=1; }
# the method is the client's (X-Original-Method), not the subrequest's GET
st=$(through /nodes "$DIR/p" -X POST -d x=1 -H "Authorization: Bearer $AT"); check "POST /nodes (no route): status" 403 "$st"
check "denied: upstream not asked" "$n0" "$(upstream_requests)"

# --- the same token again: a translation cache hit, the same translated token
st=$(through /nodes "$DIR/a2" -H "Authorization: Bearer $AT"); check "again: status" 200 "$st"
check "again: same translated token" "$seen" "$(seen_authorization "$DIR/a2")"
curl -s "http://127.0.0.1:$GW_ADMIN_PORT/metrics" >"$DIR/metrics"
hits=$(sed -n 's/^tokensmith_gateway_translation_cache_total{result="hit"} \([0-9]*\).*/\1/p' "$DIR/metrics")
[ "${hits:-0}" -ge 1 ] || { echo "FAIL: no translation cache hit"; grep -i cache "$DIR/metrics"; fail=1; }
exit $fail
