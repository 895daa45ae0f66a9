#!/bin/sh
# A store value that is not a SQLite file name never becomes one: PostgreSQL URIs and conninfo
# strings and other URIs are refused (exit 2 from a flag or variable, 1 from the config file),
# nothing is created, and the value (which may hold a password) is not repeated.
# usage: store_uri_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
mkdir "$DIR/cwd" && cd "$DIR/cwd" || exit 1
S="--listen 127.0.0.1:0 --home $DIR/h"
: >"$DIR/all-err"
# Every message of this test is kept, to look for the password at the end.
expect_() { expect "$@"; cat "$DIR/err" >>"$DIR/all-err"; }
for v in "postgres://tokens:hunter2@db.example/tokens" "postgresql://tokens:hunter2@db/tokens" \
    "host=db dbname=tokens password=hunter2" " dbname = tokens password=hunter2"; do
    run timeout 10 "$TS" serve $S --store "$v"
    expect_ "serve --store '$v'" 2 "PostgreSQL"
    TOKENSMITH_STORE=$v run "$TS" bootstrap-token create --subject s --audience a
    expect_ "bootstrap-token create with TOKENSMITH_STORE='$v'" 2 "TOKENSMITH_STORE"
    run "$TS" user-token create --enable-local-user-mint --subject s --scopes r --store "$v"
    expect_ "user-token create --store '$v'" 2 "PostgreSQL"
done
run timeout 10 "$TS" serve $S --store "sqlite:///var/lib/x.db"
expect_ "serve --store with another URI" 2 "URI"
printf '{"store": "postgres://tokens:hunter2@db/tokens"}' >"$DIR/c.json"
run timeout 10 "$TS" serve $S --config "$DIR/c.json"
expect_ "store in the config file" 1 "store"
grep -q hunter2 "$DIR/all-err" && bad "a message repeats the password" || ok "password not repeated"
[ -z "$(ls -A "$DIR/cwd")" ] && ok "nothing created in the working directory" ||
    bad "created $(ls -A "$DIR/cwd")"
[ ! -e "$DIR/h" ] && ok "no state directory either" || bad "created $DIR/h"
finish
