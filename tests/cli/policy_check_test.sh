#!/bin/sh
# End-to-end checks of `tokensmith version` and `tokensmith policy check`: output format,
# exit codes, CSV and JSON request fields, load errors, matching options.
# usage: policy_check_test.sh PATH/TO/tokensmith
set -u

ts=${1:?usage: policy_check_test.sh PATH/TO/tokensmith}
tmp=$(mktemp -d "${TMPDIR:-/tmp}/ts-cli-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT
pass=0
fail=0
TAB=$(printf '\t')

ok() { pass=$((pass + 1)); }
bad() { fail=$((fail + 1)); echo "FAIL: $*"; }

# expect NAME EXPECTED_STATUS EXPECTED_STDOUT_FILE -- command...  (stdin from $tmp/in)
run() {
  "$@" < "$tmp/in" > "$tmp/out" 2> "$tmp/err"
  status=$?
}
check_out() { # name expected-status expected-text
  if [ "$status" -ne "$2" ]; then
    bad "$1: exit $status, wanted $2; stderr: $(cat "$tmp/err")"
    return
  fi
  printf '%s\n' "$3" > "$tmp/want"
  if cmp -s "$tmp/want" "$tmp/out"; then ok; else
    bad "$1: output differs"
    echo "--- want"; cat "$tmp/want"; echo "--- got"; cat "$tmp/out"
  fi
}
check_err() { # name expected-status text-in-stderr
  if [ "$status" -ne "$2" ]; then
    bad "$1: exit $status, wanted $2; stderr: $(cat "$tmp/err")"
  elif ! grep -F -q -- "$3" "$tmp/err"; then
    bad "$1: stderr lacks '$3': $(cat "$tmp/err")"
  else ok; fi
}

cat > "$tmp/rbac.conf" <<'X'
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
X
cat > "$tmp/rbac.csv" <<'X'
p, alice, data1, read
p, bob, data2, write
p, data2_admin, data2, read
p, data2_admin, data2, write
X
printf 'g, alice, data2_admin\n' > "$tmp/rbac_g.csv"

# --- dispatcher -------------------------------------------------------------------------------
: > "$tmp/in"
run "$ts" version
if [ $status -eq 0 ] && grep -q '^tokensmith [0-9][0-9.]*$' "$tmp/out"; then ok; else bad "version"; fi
run "$ts" no-such-command
if [ $status -eq 2 ] && [ ! -s "$tmp/out" ] && grep -q usage "$tmp/err"; then ok; else bad "unknown command"; fi
run "$ts"
[ $status -eq 2 ] && ok || bad "no command"
for args in "--help" "help" "policy --help" "policy check --help" "version --help" "help policy"; do
  # shellcheck disable=SC2086
  run "$ts" $args
  if [ $status -eq 0 ] && grep -q usage "$tmp/out"; then ok; else bad "$args"; fi
done
run "$ts" policy frobnicate
[ $status -eq 2 ] && ok || bad "unknown policy sub-command"
run "$ts" policy check --policy "$tmp/rbac.csv"
check_err "missing --model" 2 "--model"
run "$ts" policy check --model
check_err "--model without value" 2 "needs a value"
run "$ts" policy check --model "$tmp/rbac.conf" --bogus
check_err "unknown option" 2 "--bogus"

# --- decisions --------------------------------------------------------------------------------
printf 'alice,data1,read\nalice,data2,read\n\n   \nbob,data2,read\r\n"alice", "data1","read"\nalice, data2, write\n' > "$tmp/in"
run "$ts" policy check --model "$tmp/rbac.conf" --policy "$tmp/rbac.csv" --policy "$tmp/rbac_g.csv"
check_out "rbac decisions" 0 "true
true
false
true
true"
run "$ts" policy check --model="$tmp/rbac.conf" --policy="$tmp/rbac.csv" --policy "$tmp/rbac_g.csv" --explain
check_out "rbac explain" 0 "true${TAB}p, alice, data1, read
true${TAB}p, data2_admin, data2, read
false
true${TAB}p, alice, data1, read
true${TAB}p, data2_admin, data2, write"
# Without the g file alice has no role.
printf 'alice,data2,read\n' > "$tmp/in"
run "$ts" policy check --model "$tmp/rbac.conf" --policy "$tmp/rbac.csv"
check_out "policy files are all loaded" 0 "false"

# Request errors answer in place, later requests are still decided, the exit status is 1.
{
  printf 'alice,data1\n'
  printf 'alice,da"ta1,read\n'
  head -c 70000 /dev/zero | tr '\0' 'a'; printf ',data1,read\n'
  printf 'alice,data1,read\n'
} > "$tmp/in"
run "$ts" policy check --model "$tmp/rbac.conf" --policy "$tmp/rbac.csv"
if [ $status -eq 1 ] && [ "$(wc -l < "$tmp/out")" -eq 4 ] \
   && [ "$(grep -c '^error: ' "$tmp/out")" -eq 3 ] && [ "$(sed -n 4p "$tmp/out")" = "true" ] \
   && sed -n 3p "$tmp/out" | grep -q 'longer than'; then ok
else bad "request errors"; cat "$tmp/out"; fi

# --- load errors name the file and line ---------------------------------------------------------
printf 'p, alice, data1, read\np, bob, da"ta2, write\n' > "$tmp/bad.csv"
printf 'alice,data1,read\n' > "$tmp/in"
run "$ts" policy check --model "$tmp/rbac.conf" --policy "$tmp/bad.csv"
check_err "bad policy line" 1 "bad.csv:2"
[ ! -s "$tmp/out" ] && ok || bad "no decisions after a load error"
run "$ts" policy check --model "$tmp/missing.conf" --policy "$tmp/rbac.csv"
check_err "missing model" 1 "missing.conf"
run "$ts" policy check --model "$tmp/rbac.conf" --policy "$tmp/missing.csv"
check_err "missing policy" 1 "missing.csv"
printf 'p, alice, data1\n' > "$tmp/short.csv"
run "$ts" policy check --model "$tmp/rbac.conf" --policy "$tmp/short.csv"
check_err "rule with too few fields" 1 "short.csv:1"

# --- ABAC: JSON fields, raw or CSV-quoted --------------------------------------------------------
cat > "$tmp/abac.conf" <<'X'
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == r.obj.Owner
X
cat > "$tmp/in" <<'X'
alice,{"Owner": "alice", "Tags": ["a", "b,c"], "N": {"x": 1}},read
bob,{"Owner":"alice"},read
alice,"{""Owner"":""alice""}",read
alice,{"Owner": "alice",read
X
run "$ts" policy check --model "$tmp/abac.conf"
if [ $status -eq 1 ] && [ "$(sed -n 1,3p "$tmp/out" | tr '\n' ' ')" = "true false true " ] \
   && sed -n 4p "$tmp/out" | grep -q '^error: '; then ok
else bad "abac json"; cat "$tmp/out" "$tmp/err"; fi

# --- role and domain pattern functions ----------------------------------------------------------
cat > "$tmp/pattern.conf" <<'X'
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _
g2 = _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && g2(r.obj, p.obj) && r.act == p.act
X
printf 'p, alice, book_group, GET\ng2, /book/:id, book_group\n' > "$tmp/pattern.csv"
printf 'alice,/book/1,GET\nalice,/pen/1,GET\n' > "$tmp/in"
run "$ts" policy check --model "$tmp/pattern.conf" --policy "$tmp/pattern.csv"
check_out "no role pattern" 0 "false
false"
run "$ts" policy check --model "$tmp/pattern.conf" --policy "$tmp/pattern.csv" --role-match g2=keyMatch2
check_out "--role-match" 0 "true
false"
run "$ts" policy check --model "$tmp/pattern.conf" --policy "$tmp/pattern.csv" --role-match g2=noSuchFn
check_err "--role-match unknown function" 2 "noSuchFn"
run "$ts" policy check --model "$tmp/pattern.conf" --policy "$tmp/pattern.csv" --role-match g2
check_err "--role-match without =" 2 "G=FN"

cat > "$tmp/dom.conf" <<'X'
[request_definition]
r = sub, dom, obj, act

[policy_definition]
p = sub, dom, obj, act

[role_definition]
g = _, _, _

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && r.act == p.act
X
printf 'p, admin, domain1, data1, read\ng, alice, admin, *\n' > "$tmp/dom.csv"
printf 'alice,domain1,data1,read\n' > "$tmp/in"
run "$ts" policy check --model "$tmp/dom.conf" --policy "$tmp/dom.csv"
check_out "no domain pattern" 0 "false"
run "$ts" policy check --model "$tmp/dom.conf" --policy "$tmp/dom.csv" --domain-match g=keyMatch
check_out "--domain-match" 0 "true"

# --link-condition: conditional role links (g = _, _, (_, _)) with the time window function.
# The windows are far in the past or span centuries, so the answers do not depend on today.
cat > "$tmp/temporal.conf" <<'X'
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[role_definition]
g = _, _, (_, _)

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = g(r.sub, p.sub) && r.obj == p.obj && r.act == p.act
X
cat > "$tmp/temporal.csv" <<'X'
p, data2_admin, data2, read
p, data3_admin, data3, read
p, data4_admin, data4, read
g, alice, data2_admin, 2000-01-01 00:00:00, 2000-01-02 00:00:00
g, alice, data3_admin, 2000-01-01 00:00:00, 2999-01-01 00:00:00
g, alice, data4_admin, _, _
X
printf 'alice,data2,read\nalice,data3,read\nalice,data4,read\n' > "$tmp/in"
run "$ts" policy check --model "$tmp/temporal.conf" --policy "$tmp/temporal.csv" --link-condition g=timeMatch
check_out "--link-condition g=timeMatch" 0 "false
true
true"
run "$ts" policy check --model "$tmp/dom.conf" --policy "$tmp/dom.csv" --link-condition g=timeMatch
check_err "--link-condition on a definition without conditions" 1 "g"
run "$ts" policy check --model "$tmp/temporal.conf" --policy "$tmp/temporal.csv" --link-condition g=nope
check_err "--link-condition with an unknown function" 2 "nope"

# --function: a function shipped with tokensmith, called by the matcher.
cat > "$tmp/suffix.conf" <<'X'
[request_definition]
r = sub, obj, act

[policy_definition]
p = sub, obj, act

[policy_effect]
e = some(where (p.eft == allow))

[matchers]
m = r.sub == p.sub && hasSuffix(r.obj, p.obj) && r.act == p.act
X
printf 'p, alice, .txt, read\n' > "$tmp/suffix.csv"
printf 'alice,notes.txt,read\nalice,notes.pdf,read\n' > "$tmp/in"
run "$ts" policy check --model "$tmp/suffix.conf" --policy "$tmp/suffix.csv" --function hasSuffix
check_out "--function hasSuffix" 0 "true
false"
run "$ts" policy check --model "$tmp/suffix.conf" --policy "$tmp/suffix.csv" --function nope
check_err "--function with an unknown name" 2 "nope"
run "$ts" policy check --model "$tmp/suffix.conf" --policy "$tmp/suffix.csv"
check_err "a matcher calling an unregistered function" 1 "hasSuffix"

echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
