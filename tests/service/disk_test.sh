#!/bin/sh
# The store on a full and on a read-only file system: the service answers 503
# temporarily_unavailable (never a 500, never a crash), and once the disk recovers every token
# it answered with 200 works and every token it refused can still be redeemed.
# usage: disk_test.sh TOKENSMITH
set -u
TS=$1
DIR=$(mktemp -d)
. "$(dirname "$0")/lib.sh"
MNT=$DIR/mnt
mkdir -p "$MNT"
if ! mount -t tmpfs -o size=4m tmpfs "$MNT" 2>/dev/null; then
    echo "skipped: cannot mount a small tmpfs here (needs root and mount rights)"
    rm -rf "$DIR"
    exit 77
fi
cleanup() {
    stop_server 2>/dev/null
    umount "$MNT" 2>/dev/null
    rm -rf "$DIR"
}
trap cleanup EXIT INT TERM
STORE=$MNT/tokensmith.db
KEYS=$DIR/keys

T1=$(create_token "$STORE")
T2=$(create_token "$STORE")
T3=$(create_token "$STORE")
start_server "$DIR/log" --store "$STORE" --key-dir "$KEYS"
st=$(exchange "$T1" "$DIR/r1")
check "exchange on a healthy disk" 200 "$st"
RT=$(json_field "$DIR/r1" refresh_token)

# --- full disk
dd if=/dev/zero of="$MNT/fill" bs=16k 2>/dev/null || true
st=$(exchange "$T2" "$DIR/r2")
case "$st" in
200) T2_DONE=1; echo "ok: exchange on a full disk still fit in the store's free pages" ;;
503) T2_DONE=0; check "full disk: error code" temporarily_unavailable "$(json_field "$DIR/r2" error)" ;;
*) check "exchange on a full disk answers 200 or 503" "200|503" "$st"; T2_DONE=0 ;;
esac
st=$(refresh "$RT" "$DIR/r3")
case "$st" in
200) RT=$(json_field "$DIR/r3" refresh_token); echo "ok: refresh on a full disk fit" ;;
503) check "full disk refresh: error code" temporarily_unavailable "$(json_field "$DIR/r3" error)" ;;
*) check "refresh on a full disk answers 200 or 503" "200|503" "$st" ;;
esac
kill -0 $PID 2>/dev/null
check "server alive after a full disk" 0 $?
rm -f "$MNT/fill"
if [ "$T2_DONE" = 0 ]; then
    st=$(exchange "$T2" "$DIR/r4")
    check "a token refused on a full disk redeems once space is back" 200 "$st"
fi
st=$(refresh "$RT" "$DIR/r5")
check "the last refresh token answered with 200 still works" 200 "$st"
RT=$(json_field "$DIR/r5" refresh_token)

# --- read-only file system: a store that cannot be written is refused with a clear message
# at start-up and by the CLI, and nothing issued before is lost once it is writable again.
# (A running server keeps its files open for writing, so the kernel refuses to remount under
# it; a failing write while running takes the 503 path exercised by the full disk above.)
stop_server
mount -o remount,ro "$MNT"
check "remounted read-only" 0 $?
"$TS" serve --listen 127.0.0.1:0 --store "$STORE" --key-dir "$KEYS" 2>"$DIR/ro.log" &
RO_PID=$!
# It must stop by itself; how soon depends on the machine's load (ASan, parallel tests): wait
# up to 30 s rather than a fixed second.
i=0
while kill -0 $RO_PID 2>/dev/null && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
kill -0 $RO_PID 2>/dev/null
check "serve refuses a read-only store" 1 $?
kill -9 $RO_PID 2>/dev/null
wait $RO_PID 2>/dev/null
grep -q "Read-only file system" "$DIR/ro.log"
check "the refusal says why and names the store" 0 $?
grep -q "$STORE" "$DIR/ro.log"
check "the refusal names the store file" 0 $?
"$TS" bootstrap-token create --subject svc-a --audience smd --store "$STORE" >/dev/null 2>"$DIR/ro-cli.log"
check "bootstrap-token create fails on a read-only store" 1 $?
mount -o remount,rw "$MNT"
start_server "$DIR/log2" --store "$STORE" --key-dir "$KEYS"
st=$(exchange "$T3" "$DIR/r8")
check "an unused token redeems once the store is writable" 200 "$st"
st=$(refresh "$RT" "$DIR/r9")
check "the last refresh token answered with 200 still works" 200 "$st"
hs=$(curl -s -o /dev/null -w '%{http_code}' "$URL/health")
check "health is ready" 200 "$hs"

if grep -q "$T1\|$T2\|$T3" "$DIR/log" "$DIR/log2"; then
    check "no token in the logs" absent present
fi
exit $fail
