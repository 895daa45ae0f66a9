#!/bin/sh
# `policy version --model` loads the model exactly as a service linking authz does (its
# authorizer): a model the library refuses is refused here too, with exit 1.
# usage: policy_version_model_test.sh TOKENSMITH SOURCE_DIR
TS=$1
SRC=$2
. "$(dirname "$0")/lib.sh"
# The baseline model with a request definition whose tokens the authorizer cannot map.
sed 's/^r = sub, dom, obj, act$/r = a, b, c/; s/g(r.sub, p.sub, r.dom) \&\& r.obj == p.obj \&\& r.act == p.act/g(r.a, p.sub, "*") \&\& r.b == p.obj \&\& r.c == p.act/' \
    "$SRC/policy/model.conf" >"$DIR/abc.conf"
grep -q '^r = a, b, c$' "$DIR/abc.conf" || { bad "test model not built"; finish; }
run "$TS" policy version --model "$DIR/abc.conf"
expect "model with request definition a, b, c refused" 1 "request definition"
[ ! -s "$DIR/out" ] && ok "no version printed" || bad "printed $(cat "$DIR/out")"
# The baseline model itself still loads, from a file as embedded.
run "$TS" policy version --model "$SRC/policy/model.conf"
expect "baseline model from a file" 0
a=$(cat "$DIR/out")
run "$TS" policy version
check "same version as the embedded model" "$a" "$(cat "$DIR/out")"
finish
