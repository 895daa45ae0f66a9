#!/bin/sh
# A key file and a key directory together are refused instead of one silently winning: exit 2
# when a flag or variable is involved, 1 when both come from the config file.
# usage: key_file_dir_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
cd "$DIR" || exit 1
"$TS" keys generate --key-dir "$DIR/kd" >/dev/null && "$TS" keys generate --key-file "$DIR/k.pem" >/dev/null
S="--listen 127.0.0.1:0 --home $DIR/h"
run timeout 10 "$TS" serve $S --key-file "$DIR/k.pem" --key-dir "$DIR/kd"
expect "serve: both flags" 2 "keyFile (from --key-file) and keyDir (from --key-dir)"
TOKENSMITH_KEY_DIR="$DIR/kd" run timeout 10 "$TS" serve $S --key-file "$DIR/k.pem"
expect "serve: flag and variable" 2 "keyDir (from TOKENSMITH_KEY_DIR)"
echo "{\"keyDir\": \"$DIR/kd\"}" >"$DIR/c1.json"
run timeout 10 "$TS" serve $S --config "$DIR/c1.json" --key-file "$DIR/k.pem"
expect "serve: file and flag" 2 "keyDir (from the config file)"
echo "{\"keyDir\": \"$DIR/kd\", \"keyFile\": \"$DIR/k.pem\"}" >"$DIR/c2.json"
run timeout 10 "$TS" serve $S --config "$DIR/c2.json"
expect "serve: both in the config file" 1 "both set in the config file"
run "$TS" user-token create --enable-local-user-mint --subject s --scopes read \
    --home "$DIR/h" --key-file "$DIR/k.pem" --key-dir "$DIR/kd"
expect "user-token create: both flags" 2 "both set"
# Either alone works.
start "$DIR/s.log" $S --key-file "$DIR/k.pem" && ok "serve --key-file alone" ||
    bad "serve --key-file alone: $(cat "$DIR/s.log")"
stop
start "$DIR/s2.log" $S --key-dir "$DIR/kd" && ok "serve --key-dir alone" ||
    bad "serve --key-dir alone: $(cat "$DIR/s2.log")"
stop
finish
