#!/bin/sh
# Log lines cannot be forged or garbled by what a client sends: in the text format a value with
# blanks, quotes, control characters or non-ASCII is written as an ASCII-only JSON string, and a
# JSON line never carries a raw control character or non-ASCII byte.
# usage: log_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, ...

# A path that would start a new, forged line if written raw (%0a is a line feed), one with a
# right-to-left override (U+202E), and a request id header that is not a plain token.
FORGED='/x%0a2026-01-01T00:00:00.000Z%20info%20%20request%20method=GET%20path=/admin%20status=200'
RLO='/y%E2%80%AEgnp.exe'
for fmt in text json; do
    start_server "$DIR/$fmt.log" --home "$DIR/$fmt" --log-format "$fmt"
    curl -s -o /dev/null "$URL$FORGED"
    curl -s -o /dev/null "$URL$RLO"
    curl -s -o /dev/null -H 'X-Request-Id: a b' "$URL/health"
    stop_server; PID=
    n=$(grep -c 'path=/admin' "$DIR/$fmt.log")
    forged=$(grep -c '^2026-01-01T00:00:00.000Z' "$DIR/$fmt.log")
    check "$fmt: no forged line" 0 "$forged"
    [ "$fmt" = text ] && check "$fmt: the forged text stays inside one quoted value" 1 "$n"
    bad=$(LC_ALL=C grep -c "$(printf '[\001-\010\013-\037\177-\377]')" "$DIR/$fmt.log")
    check "$fmt: no raw control or non-ASCII byte" 0 "$bad"
    grep -q '\\u202e\|\\u202E' "$DIR/$fmt.log"; check "$fmt: U+202E written escaped" 0 $?
    if [ "$fmt" = json ]; then
        while IFS= read -r line; do
            printf '%s' "$line" | python3 -c 'import json,sys; json.loads(sys.stdin.read())' 2>/dev/null ||
                { echo "FAIL: not one JSON object per line: $line"; fail=1; }
        done <"$DIR/$fmt.log"
    fi
done
[ $fail = 0 ] && echo "logs: all checks passed"
exit $fail
