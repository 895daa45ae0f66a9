#!/bin/sh
# gateway.nginx_shadow: the set-up of gateway.nginx with authz.mode shadow: a route enforce
# would deny passes (translated) and the gateway's log holds the guard's line saying what
# enforce would do; authentication still refuses (shadow applies to authorization).
# usage: nginx_shadow_test.sh TOKENSMITH SOURCE_DIR
GW_MODE=shadow
. "$(dirname "$0")/nginx_setup.sh" # TS, SRC, DIR, AT, GW_*, NGINX_PORT, UP_PORT

st=$(through /nodes/7 "$DIR/d" -X DELETE -H "Authorization: Bearer $AT")
check "shadow: denied route passes" 200 "$st"
case "$(seen_authorization "$DIR/d")" in "Bearer "*) ;; *) echo "FAIL: not translated"; cat "$DIR/d"; fail=1 ;; esac
grep -q '"method":"DELETE"' "$DIR/d" || { echo "FAIL: upstream method"; cat "$DIR/d"; fail=1; }
i=0
while ! grep -q '"decision":"deny"' "$DIR/gateway.log" && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
grep '"decision":"deny"' "$DIR/gateway.log" | grep -q '"mode":"shadow"' ||
    { echo "FAIL: no shadow deny line"; tail -n 20 "$DIR/gateway.log"; fail=1; }
grep -q "$AT" "$DIR/gateway.log" && { echo "FAIL: the token is in the log"; fail=1; }
st=$(through /nodes "$DIR/n"); check "shadow: no token still 401" 401 "$st"
check "upstream: only the shadow-allowed request" 1 "$(upstream_requests)"
exit $fail
