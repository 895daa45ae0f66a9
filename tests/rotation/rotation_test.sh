#!/bin/sh
# Key rotation (docs/keys.md "Rotation"): `tokensmith keys rotate` makes a next key that the
# running service publishes, promotes it (--force: at once), `keys list` shows every state, and
# serve signs with the new key after SIGHUP and, with keyRotationInterval set, by itself at its
# next check, while the old key stays in the JWKS; the settings' rules.
# usage: rotation_test.sh TOKENSMITH SOURCE_DIR
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, exchange, create_token, ...
H=$DIR/home
mkdir -p "$H"
STORE=$H/tokensmith.db

kid_of() { # JWT -> the kid of its header
    h=$(printf '%s' "$1" | cut -d. -f1 | tr '_-' '/+')
    while [ $(( ${#h} % 4 )) -ne 0 ]; do h="$h="; done
    printf '%s' "$h" | base64 -d 2>/dev/null | sed -n 's/.*"kid":"\([^"]*\)".*/\1/p'
}
state_of() { # KID -> its state in `keys list`
    "$TS" keys list --home "$H" | awk -v k="$1" '$1 == k { print $3 }'
}
signing_kid() { # -> the kid of a freshly issued access token
    b=$(create_token "$STORE")
    exchange "$b" "$DIR/g" >/dev/null
    kid_of "$(json_field "$DIR/g" access_token)"
}

# --- by hand, before the service ever ran: the first key is adopted, a next key is made
out=$("$TS" keys rotate --home "$H")
check "keys rotate exit" 0 $?
K2=$(printf '%s\n' "$out" | sed -n 's/^next //p')
check "a next key" 43 ${#K2}
K1=$(readlink "$H/keys/active.pem" | sed 's/\.pem$//')
check "active.pem is a symlink" 43 ${#K1}
check "K1 active" active "$(state_of "$K1")"
check "K2 next" next "$(state_of "$K2")"
"$TS" keys rotate --home "$H" >/dev/null 2>"$DIR/err"
check "no promotion inside the window" 1 $?
grep -q -- '--force' "$DIR/err"
check "the refusal names --force" 0 $?

# --- serve publishes the next key and signs with the active one
start_server "$DIR/s.log" --home "$H" --key-rotation-interval 720h
curl -s -o "$DIR/jwks" "$URL/.well-known/jwks.json"
grep -qF -e "$K2" "$DIR/jwks"
check "the next key is in the JWKS" 0 $?
check "serve signs with K1" "$K1" "$(signing_kid)"

# --- a forced step (a compromised key) and SIGHUP: K2 signs, K1 stays published
"$TS" keys rotate --home "$H" --force > "$DIR/out"
check "forced step" "active $K2" "$(sed -n 1p "$DIR/out")"
check "K1 retiring" retiring "$(state_of "$K1")"
kill -HUP "$PID"
sleep 1
check "serve signs with K2 after SIGHUP" "$K2" "$(signing_kid)"
curl -s -o "$DIR/jwks" "$URL/.well-known/jwks.json"
grep -qF -e "$K1" "$DIR/jwks"
check "the retiring key stays in the JWKS" 0 $?

# --- with keyRotationInterval set, serve picks a step up at its next check (30 s)
"$TS" keys rotate --home "$H" --force > "$DIR/out"
K3=$(sed -n 's/^active //p' "$DIR/out")
check "K3 made and promoted" 43 ${#K3}
i=0; got=
while [ $i -lt 45 ]; do
    got=$(signing_kid)
    [ "$got" = "$K3" ] && break
    sleep 1; i=$((i + 1))
done
check "serve signs with K3 without a signal" "$K3" "$got"
grep -q '"cause":"key rotation"' "$DIR/s.log"
check "the reload is logged" 0 $?
stop_server

# --- the rules
"$TS" keys rotate --key-file "$DIR/one.pem" >/dev/null 2>&1
check "keyFile refused" 1 $?
"$TS" serve --home "$H" --key-rotation-interval 1h --key-rotation-prepublish 1h \
    --listen 127.0.0.1:0 >/dev/null 2>"$DIR/err"
check "interval not longer than the window refused" 1 $?
grep -q keyRotationInterval "$DIR/err"
check "the refusal names the setting" 0 $?
exit $fail
