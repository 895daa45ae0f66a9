#!/bin/sh
# One directory rule for serve, bootstrap-token create, user-token create and keys generate:
# a missing directory (state, keys, the store's, a key file's) is created with mode 0700 when
# its parent exists; a chain of missing parents is never created.
# usage: dirs_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
cd "$DIR" || exit 1
S="--listen 127.0.0.1:0"

# A chain is refused, and nothing of it is created.
run timeout 10 "$TS" serve $S --store "$DIR/x/y/z.db" --key-dir "$DIR/k"
expect "serve: store two levels deep" 1 "its parent $DIR/x does not exist"
[ ! -e "$DIR/x" ] && ok "serve created no chain" || bad "serve created $DIR/x"
run timeout 10 "$TS" serve $S --home "$DIR/a/b"
expect "serve: home two levels deep" 1 "its parent $DIR/a does not exist"
[ ! -e "$DIR/a" ] && ok "serve created no home chain" || bad "serve created $DIR/a"
run "$TS" keys generate --key-dir "$DIR/p/q"
expect "keys generate: key dir two levels deep" 1 "its parent $DIR/p does not exist"
[ ! -e "$DIR/p" ] && ok "keys generate created no chain" || bad "keys generate created $DIR/p"
run "$TS" keys generate --key-file "$DIR/f/g/key.pem"
expect "keys generate: key file two levels deep" 1 "its parent $DIR/f does not exist"
run "$TS" bootstrap-token create --subject s --audience a --store "$DIR/b/c/st.db"
expect "bootstrap-token create: store two levels deep" 1 "its parent $DIR/b does not exist"

# One level is created, mode 0700.
run "$TS" keys generate --key-dir "$DIR/keys1"
expect "keys generate: one level" 0
check "keys generate: mode" 700 "$(stat -c %a "$DIR/keys1" 2>/dev/null)"
run "$TS" keys generate --key-file "$DIR/kf/key.pem"
expect "keys generate --key-file: one level" 0
check "keys generate --key-file: mode" 700 "$(stat -c %a "$DIR/kf" 2>/dev/null)"
start "$DIR/s1.log" $S --store "$DIR/st1/t.db" --key-dir "$DIR/keys2" ||
    bad "serve with one-level directories did not start: $(cat "$DIR/s1.log")"
stop
check "serve: store directory mode" 700 "$(stat -c %a "$DIR/st1" 2>/dev/null)"
check "serve: key directory mode" 700 "$(stat -c %a "$DIR/keys2" 2>/dev/null)"
[ ! -e "$DIR/tokensmith-data" ] && ok "serve left the unused state directory alone" ||
    bad "serve created ./tokensmith-data although nothing lives there"
start "$DIR/s2.log" $S --home "$DIR/home" || bad "serve --home did not start: $(cat "$DIR/s2.log")"
stop
check "serve: state directory mode" 700 "$(stat -c %a "$DIR/home" 2>/dev/null)"
check "serve: default key directory mode" 700 "$(stat -c %a "$DIR/home/keys" 2>/dev/null)"
[ -f "$DIR/home/tokensmith.db" ] && ok "serve: default store" || bad "no default store"
run "$TS" bootstrap-token create --subject s --audience a --home "$DIR/home2"
expect "bootstrap-token create: the state directory of its default store" 0
check "bootstrap-token create: mode" 700 "$(stat -c %a "$DIR/home2" 2>/dev/null)"
finish
