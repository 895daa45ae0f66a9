#!/bin/sh
# Replaying one rotated refresh token many times: the first replay revokes the family, failed
# attempts count in the limiter (429 after 10 in 60 s), the audit log stays bounded, and a
# legitimate client of another family, from another address, is not affected.
# usage: replay_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
command -v python3 >/dev/null 2>&1 || { echo "FAIL: python3 not found"; exit 1; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...
curl -s -o /dev/null --interface 127.0.0.2 http://127.0.0.2:9/ 2>/dev/null
[ $? -eq 45 ] && { echo "SKIP: cannot bind 127.0.0.2"; exit 77; }

start_server "$DIR/s.log" --home "$DIR/h" --listen 0.0.0.0:0
DB=$DIR/h/tokensmith.db
audit_rows() {
    python3 -c 'import sqlite3,sys; print(sqlite3.connect(sys.argv[1]).execute("select count(*) from audit_log").fetchone()[0])' "$DB"
}
# two families: the victim's (replayed by the attacker on 127.0.0.1) and a legitimate client's
exchange "$(create_token "$DB")" "$DIR/a" >/dev/null
R1=$(json_field "$DIR/a" refresh_token)
st=$(refresh "$R1" "$DIR/a2"); check "first rotation" 200 "$st"
exchange "$(create_token "$DB")" "$DIR/b" >/dev/null
L=$(json_field "$DIR/b" refresh_token)
before=$(audit_rows)

python3 - "$PORT" "$R1" >"$DIR/replay.out" <<'PY'
import http.client, sys, urllib.parse
port, tok = int(sys.argv[1]), sys.argv[2]
body = urllib.parse.urlencode({"grant_type": "refresh_token", "refresh_token": tok})
hdr = {"Content-Type": "application/x-www-form-urlencoded"}
counts, first_429 = {}, None
c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
for i in range(10000):
    try:
        c.request("POST", "/oauth/token", body, hdr)
        r = c.getresponse(); r.read()
    except (http.client.HTTPException, OSError):
        c.close(); c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        continue
    counts[r.status] = counts.get(r.status, 0) + 1
    if r.status == 429 and first_429 is None:
        first_429 = i + 1
        print("retry-after", r.getheader("Retry-After"))
print("first-429", first_429)
for k in sorted(counts):
    print("status", k, counts[k])
PY
cat "$DIR/replay.out"
check "replays refused before the limit" "status 400 10" "$(grep '^status 400' "$DIR/replay.out")"
check "429 from the 11th replay on" "first-429 11" "$(grep '^first-429' "$DIR/replay.out")"
ra=$(sed -n 's/^retry-after \([0-9]*\)$/\1/p' "$DIR/replay.out")
[ -n "$ra" ] && [ "$ra" -ge 1 ] && [ "$ra" -le 60 ]; check "Retry-After is 1..60 s (got '$ra')" 0 $?
check "no 5xx" "" "$(grep '^status 5' "$DIR/replay.out")"
after=$(audit_rows)
added=$((after - before))
echo "audit rows added by 10,000 replays: $added"
[ "$added" -le 5 ]; check "audit rows stay bounded (at most 5)" 0 $?
# the victim's family is revoked: its newest token is refused too (from another address)
R2=$(json_field "$DIR/a2" refresh_token)
st=$(curl -s -o "$DIR/v" -w '%{http_code}' --interface 127.0.0.2 -X POST "http://127.0.0.2:$PORT/oauth/token" \
    --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$R2")
check "reuse revoked the victim's family" 400 "$st"
# the legitimate client of another family, from another address, is not affected
st=$(curl -s -o "$DIR/l" -w '%{http_code}' --interface 127.0.0.2 -X POST "http://127.0.0.2:$PORT/oauth/token" \
    --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$L")
check "another family from another address still rotates" 200 "$st"
stop_server; PID=
[ $fail = 0 ] && echo "replay: all checks passed"
exit $fail
