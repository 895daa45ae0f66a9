#!/bin/sh
# bootstrap-token create checks everything before it opens anything: a refused command exits 2
# and leaves no store file and no directory behind.
# usage: bootstrap_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
mkdir "$DIR/cwd" && cd "$DIR/cwd" || exit 1
long=$(printf '%0300d' 0)
many=$(seq -s, 1 65 | sed 's/[0-9]*/s&/g')
refused() { # NAME ARGS...: refused with exit 2, nothing created
    name=$1
    shift
    run "$TS" bootstrap-token create "$@" --store "$DIR/new/st.db"
    expect "$name (explicit store)" 2
    [ ! -e "$DIR/new" ] || { bad "$name: created $(find "$DIR/new")"; rm -rf "$DIR/new"; }
    run env -u TOKENSMITH_HOME -u TOKENSMITH_STORE "$TS" bootstrap-token create "$@"
    expect "$name (default store)" 2
    [ -z "$(ls -A "$DIR/cwd")" ] || { bad "$name: created $(ls -A "$DIR/cwd")"; rm -rf "$DIR/cwd/"*; }
}
refused "ttl below 1m" --subject s --audience a --ttl 30s
refused "ttl above 1h" --subject s --audience a --ttl 61m
refused "refresh-ttl below 1h" --subject s --audience a --refresh-ttl 59m
refused "refresh-ttl above 720h" --subject s --audience a --refresh-ttl 721h
refused "scope with a quote" --subject s --audience a --scopes 'read,wr"ite'
refused "scope with a backslash" --subject s --audience a --scopes 'read,a\b'
refused "more than 64 scopes" --subject s --audience a --scopes "$many"
refused "subject with a control character" --subject "$(printf 'a\tb')" --audience a
refused "blank subject" --subject '   ' --audience a
refused "subject not UTF-8" --subject "$(printf 'a\377b')" --audience a
refused "audience over 255 bytes" --subject s --audience "$long"
refused "binding identifier with a control character" --subject s --audience a \
    --binding-identifier "$(printf 'x\033y')"
refused "bad output format" --subject s --audience a --output-format yaml
refused "missing audience" --subject s

# The same values are accepted once they are right, and the store appears then.
run "$TS" bootstrap-token create --subject s --audience a --scopes "read, write read" \
    --ttl 1h --refresh-ttl 720h --store "$DIR/new/st.db" --output-format json
expect "valid request creates the token" 0
grep -q '"scopes": \[' "$DIR/out" && grep -q '"ttl_seconds": 3600' "$DIR/out" ||
    bad "json output: $(cat "$DIR/out")"
[ -f "$DIR/new/st.db" ] && ok "store created" || bad "no store"
check "store directory mode" 700 "$(stat -c %a "$DIR/new")"
finish
