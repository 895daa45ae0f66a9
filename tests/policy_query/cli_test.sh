#!/bin/sh
# `tokensmith policy roles | users | permissions`: one item a line sorted by bytes, --direct,
# --domain, --json, exit codes; then every answer on a policy with domains and a cycle compared
# with node-casbin's (authz/tests/data/queries_casbin.js; that part skipped without node-casbin).
# usage: cli_test.sh PATH/TO/tokensmith SOURCE_DIR
TS=${1:?usage: cli_test.sh PATH/TO/tokensmith SOURCE_DIR}
SRC=${2:?usage: cli_test.sh PATH/TO/tokensmith SOURCE_DIR}
. "$SRC/tests/cli/lib.sh"

if ! "$TS" policy roles --help >/dev/null 2>&1; then
    echo "skipped: this tokensmith has no 'policy roles' command"
    exit 77
fi

cat >"$DIR/rbac.conf" <<'X'
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
cat >"$DIR/rbac.csv" <<'X'
p, admin, data2, write
p, alice, data1, read
p, staff, "a, b", read
g, alice, admin
g, admin, staff
g, bob, staff
g, carol, Admin
X
cat >"$DIR/dom.conf" <<'X'
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
cat >"$DIR/dom.csv" <<'X'
p, admin, d1, data, write
p, admin, d2, data, write
p, ops, d1, logs, read
p, alice, d2, home, read
g, alice, admin, d1
g, admin, ops, d1
g, ops, alice, d1
g, bob, admin, d2
X
R="--model $DIR/rbac.conf --policy $DIR/rbac.csv"
D="--model $DIR/dom.conf --policy $DIR/dom.csv"
nl='
'

run "$TS" policy roles $R alice
expect "roles: exit 0" 0
check "roles: implicit, sorted" "admin${nl}staff" "$(cat "$DIR/out")"
run "$TS" policy roles $R --direct alice
check "roles --direct" "admin" "$(cat "$DIR/out")"
run "$TS" policy roles $R mallory
expect "roles of an unknown name: exit 0" 0
check "roles of an unknown name: nothing" "" "$(cat "$DIR/out")"
run "$TS" policy users $R staff
check "users: implicit, bytes order" "admin${nl}alice${nl}bob" "$(cat "$DIR/out")"
run "$TS" policy users $R --direct staff
check "users --direct" "admin${nl}bob" "$(cat "$DIR/out")"
run "$TS" policy users $R --json staff
check "users --json" '["admin","alice","bob"]' "$(cat "$DIR/out")"
run "$TS" policy permissions $R alice
check "permissions: CSV lines" "p, admin, data2, write${nl}p, alice, data1, read${nl}p, staff, \"a, b\", read" "$(cat "$DIR/out")"
run "$TS" policy permissions $R --json bob
check "permissions --json: fields" '[["p","staff","a, b","read"]]' "$(cat "$DIR/out")"
run "$TS" policy roles $D --domain d1 alice
check "roles --domain: a cycle ends, no self" "admin${nl}ops" "$(cat "$DIR/out")"
run "$TS" policy roles $D alice
check "roles without --domain: the domain \"\"" "" "$(cat "$DIR/out")"
run "$TS" policy users $D --domain d2 admin
check "users --domain" "bob" "$(cat "$DIR/out")"
run "$TS" policy permissions $D --domain d1 alice
check "permissions --domain" "p, admin, d1, data, write${nl}p, ops, d1, logs, read" "$(cat "$DIR/out")"

run "$TS" policy roles $R
expect "no USER: usage" 2
run "$TS" policy roles $R alice bob
expect "two names: usage" 2
run "$TS" policy permissions $R --direct alice
expect "permissions --direct: usage" 2 "--direct"
run "$TS" policy roles --policy "$DIR/rbac.csv" alice
expect "no --model: usage" 2
run "$TS" policy roles --model "$DIR/missing.conf" alice
expect "missing model: exit 1, named" 1 "missing.conf"
printf 'p, alice, "data\n' >"$DIR/bad.csv"
run "$TS" policy users --model "$DIR/rbac.conf" --policy "$DIR/bad.csv" admin
expect "bad policy: exit 1, named" 1 "bad.csv"

# Every answer node-casbin gives on the domain policy, through the command.
cd "$DIR" || exit 1
node "$SRC/authz/tests/data/queries_casbin.js" "$SRC" dom.conf dom.csv >node.out 2>node.err
nst=$?
if [ $nst -eq 77 ] || [ $nst -eq 127 ]; then
    echo "skipped: node-casbin comparison (no node or node-casbin)"
elif [ $nst -ne 0 ]; then
    bad "node-casbin: exit $nst: $(head -c 600 node.err)"
else
    n=0
    RS=$(printf '\036')
    US=$(printf '\037')
    # Tabs as a separator that is not white space: empty fields (no domain) stay fields.
    tr '\t' "$US" <node.out >node.us
    while IFS="$US" read -r q name dom want; do
        case $q in
        roles) set -- roles --direct ;;
        implicit_roles) set -- roles ;;
        users) set -- users --direct ;;
        implicit_users) set -- users ;;
        *) set -- permissions ;;
        esac
        if [ -n "$dom" ]; then set -- "$@" --domain "$dom"; fi
        "$TS" policy "$@" $D "$name" >got 2>err || bad "$q $name $dom: exit $?: $(cat err)"
        got=$(tr '\n' "$RS" <got | sed "s/$RS\$//")
        [ "$got" = "$want" ] || bad "$q of $name in '$dom': got '$got', node-casbin '$want'"
        n=$((n + 1))
    done <node.us
    if [ "$n" -gt 0 ]; then ok "$n answers equal to node-casbin's"; else bad "no answers from node"; fi
fi
finish
