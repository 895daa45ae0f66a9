#!/bin/sh
# client.doc_example: the complete example of docs/client.md (the C block after the snippet
# marker `file=client_example.c`, which docs.snippets compiles too), extracted, compiled against this build's
# libtokensmith-client and run twice with one state file against a real `tokensmith serve`:
# the first run exchanges the bootstrap token, the second only refreshes the family, and the
# 401 in the example drops one token. The server never revokes the family.
#   doc_example_test.sh TOKENSMITH SOURCE_DIR CC ARCHIVE "CFLAGS" "INCLUDES" "LIBS"
set -eu
TS=$1 SRC=$2 CC=$3 ARCHIVE=$4 CFLAGS=$5 INCLUDES=$6 LIBS=$7
DIR=$(mktemp -d)
PID=
cleanup() {
    [ -n "$PID" ] && { kill -TERM "$PID" 2>/dev/null; wait "$PID" 2>/dev/null || true; }
    if [ -n "${KEEP:-}" ]; then echo "kept $DIR"; else rm -rf "$DIR"; fi
}
trap cleanup EXIT

awk '/<!-- snippet: .*file=client_example\.c/ { armed = 1; next }
     armed && /^```c$/ { on = 1; next }
     on && /^```$/ { exit }
     on { print }' "$SRC/docs/client.md" > "$DIR/client_example.c"
test -s "$DIR/client_example.c" || { echo "FAIL: no example found in docs/client.md"; exit 1; }
# shellcheck disable=SC2086 # flag lists
"$CC" -std=c11 -Wall -Wextra -Werror $CFLAGS $INCLUDES -o "$DIR/client_example" \
    "$DIR/client_example.c" "$ARCHIVE" $LIBS

"$TS" serve --listen 127.0.0.1:0 --home "$DIR/h" --alg ES256 --access-ttl 1m 2>"$DIR/serve.log" &
PID=$!
i=0
PORT=
while [ $i -lt 400 ] && [ -z "$PORT" ]; do
    PORT=$(sed -n 's/.*"msg":"listening".*"port":\([0-9]*\).*/\1/p' "$DIR/serve.log" | head -1)
    [ -n "$PORT" ] || sleep 0.1
    i=$((i + 1))
done
[ -n "$PORT" ] || { echo "FAIL: serve did not start"; cat "$DIR/serve.log"; exit 1; }
BOOT=$("$TS" bootstrap-token create --subject svc --audience smd --store "$DIR/h/tokensmith.db" \
    --output-format json 2>/dev/null | sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p')
EP="http://127.0.0.1:$PORT/oauth/token"

fail=0
check() { if [ "$2" = "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: got '$3', want '$2'"; fail=1; fi; }
"$DIR/client_example" "$EP" "$BOOT" "$DIR/state.json" >"$DIR/run1" 2>"$DIR/run1.err"
gens() { sed -n 's/^request [0-9]: token generation \([0-9]*\),.*/\1/p' "$1" | tr '\n' ' '; }
check "first run: generations (the 401 dropped the first)" "1 1 2 " "$(gens "$DIR/run1")"
"$DIR/client_example" "$EP" "$BOOT" "$DIR/state.json" >"$DIR/run2" 2>"$DIR/run2.err"
check "second run: the family continued" "1 1 2 " "$(gens "$DIR/run2")"
count() { grep -c "$1" "$DIR/serve.log" || true; }
check "one bootstrap exchange" 1 "$(count '"audit_event":"bootstrap_token_exchanged"')"
check "three refreshes" 3 "$(count '"audit_event":"refresh_token_rotated"')"
check "no revocation" 0 "$(count 'refresh_token_family_revoked')"
check "state file mode" 600 "$(stat -c %a "$DIR/state.json")"
if grep -q 'eyJ\|[0-9a-f]\{32\}' "$DIR/run1.err" "$DIR/run2.err"; then
    echo "FAIL: the example's log lines hold a token"
    fail=1
fi
[ $fail -eq 0 ] || { cat "$DIR/run1" "$DIR/run1.err" "$DIR/run2" "$DIR/run2.err"; }
exit $fail
