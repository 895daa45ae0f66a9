#!/bin/sh
# slowloris against `tokensmith serve`: 1,100 slow connections from 127.0.0.1 for 20 s (more
# than serve's 1,024 connections in total, so that without a per-address limit one client would
# hold them all) while 127.0.0.2 asks for /health and makes a real grant (a bootstrap exchange
# with a fresh token each time) every 200 ms; every probe must be answered within 1 s.
# usage: serve_test.sh TOKENSMITH SLOWLORIS SOURCE_DIR [SERVE-ARGS...]
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SLOW=$2
SRC=$3
shift 3
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...

start_server "$DIR/s.log" --home "$DIR/h" "$@"
# One fresh bootstrap token per grant probe: 20 s at one probe pair per 200 ms is 100 grants.
for _ in $(seq 110); do
    t=$(create_token "$DIR/h/tokensmith.db")
    [ -n "$t" ] || { echo "FAIL: bootstrap-token create"; exit 1; }
    printf 'grant_type=%s&subject_token_type=%s&subject_token=%s\n' \
        "urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange" \
        "urn%3Aopenchami%3Aparams%3Aoauth%3Atoken-type%3Abootstrap-token" "$t"
done >"$DIR/grants"
"$SLOW" --target "127.0.0.1:$PORT" --connections 1100 --duration 20 --interval 3000 \
    --probe GET /health --probe POST /oauth/token --expect 200 --body-lines "$DIR/grants"
rc=$?
[ $rc = 77 ] && exit 77
check "every probe answered within 1 s" 0 $rc
kill -0 "$PID" 2>/dev/null; check "serve still runs" 0 $?
st=$(curl -s -o /dev/null -w '%{http_code}' "$URL/health"); check "health after the attack" 200 "$st"
grep -q '"msg":"connections refused or closed"' "$DIR/s.log"
check "the refusals are logged" 0 $?
stop_server; PID=
[ $fail = 0 ] && echo "slowloris against serve: all checks passed"
exit $fail
