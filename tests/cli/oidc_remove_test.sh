#!/bin/sh
# `tokensmith oidc configure --remove` and `--expected-version`, and the Version line of
# `tokensmith oidc status`, against `tokensmith serve` with an admin listener and two real
# upstream OpenID providers (node oidc-provider, tests/oidc/provider.mjs, as in
# tests/service/oidc_e2e_test.sh): the version starts at 0 and goes up by one per change; a
# stale --expected-version is refused with a message that says what happened and changes
# nothing; a removal with the right version removes; an unknown issuer is the service's 404;
# removal and addition in one change; several removals; a value that is not UTF-8 is refused
# before anything is sent.
# usage: oidc_remove_test.sh TOKENSMITH SOURCE_DIR
# Exit 77 when node or oidc-provider is missing.
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${NODE:-node}
[ -d "$SRC/node_modules/oidc-provider" ] || { echo "SKIP: node_modules/oidc-provider missing (npm ci)"; exit 77; }
command -v "$NODE" >/dev/null 2>&1 || { echo "SKIP: node missing"; exit 77; }
. "$SRC/tests/service/lib.sh" # DIR, cleanup at exit, start_server, start_provider, check
cleanup_more() { # the provider; lib.sh stops tokensmith
    stop_provider
}

run() { # CMD...: sets st, and the files out and err
    "$@" >"$DIR/out" 2>"$DIR/err" </dev/null
    st=$?
}
expect() { # NAME STATUS [TEXT-IN-STDERR]: checks the last run
    if [ "$st" != "$2" ]; then
        echo "FAIL: $1: exit $st, want $2; stdout: $(head -c 600 "$DIR/out"); stderr: $(head -c 600 "$DIR/err")"
        fail=1
    elif [ $# -ge 3 ] && ! grep -F -q -- "$3" "$DIR/err"; then
        echo "FAIL: $1: stderr lacks '$3': $(head -c 600 "$DIR/err")"
        fail=1
    else
        echo "ok: $1"
    fi
}
has() { # NAME LINE: stdout of the last run has this whole line
    if grep -F -x -q -- "$2" "$DIR/out"; then echo "ok: $1"; else
        echo "FAIL: $1: no line '$2' in: $(cat "$DIR/out")"
        fail=1
    fi
}
lacks() { # NAME TEXT: stdout of the last run does not contain it
    if grep -F -q -- "$2" "$DIR/out"; then
        echo "FAIL: $1: '$2' in: $(cat "$DIR/out")"
        fail=1
    else echo "ok: $1"; fi
}
err_lacks() { # NAME TEXT
    if grep -F -q -- "$2" "$DIR/err"; then
        echo "FAIL: $1: '$2' in stderr: $(cat "$DIR/err")"
        fail=1
    else echo "ok: $1"; fi
}

start_provider
A=$(prov_field a)
B=$(prov_field b)
start_server "$DIR/s.log" --home "$DIR/home" --admin-listen 127.0.0.1:0
APORT=$(sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/s.log" | tail -1)
ADMIN=http://127.0.0.1:$APORT
status() { run "$TS" oidc status --url "$ADMIN"; }
configure() { run "$TS" oidc configure --url "$ADMIN" "$@"; }

# Nothing stored: version 0, the providers of the configuration file (none here).
status
expect "status" 0
has "nothing stored: Version 0" "Version: 0"
has "no provider" "Configured: false"

configure --issuer-url "$A" --client-id tokensmith-test --name a --audiences smd
expect "add provider a" 0
has "created" "Status: created"
has "the answer carries the new version" "Version: 1"
status
has "status: Version 1" "Version: 1"
has "status lists a" "Issuer: $A"

# A stale version: refused, said so, nothing changed.
configure --issuer-url "$B" --client-id tokensmith-test --name b --expected-version 0
expect "stale --expected-version" 1 "changed meanwhile (another operator or replica)"
expect "stale: the service's reason" 1 "at version 1, not 0"
expect "stale: read it again" 1 "tokensmith oidc status"
status
has "stale: still Version 1" "Version: 1"
lacks "stale: b not added" "Issuer: $B"

configure --issuer-url "$B" --client-id tokensmith-test --name b --expected-version 1
expect "add b at the right version" 0
has "b: Version 2" "Version: 2"

# An issuer that is already configured is a 409 too, but not a concurrent change.
configure --issuer-url "$B" --client-id tokensmith-test --name b
expect "b again without --replace-existing" 1 "set replace_existing"
err_lacks "not reported as a concurrent change" "changed meanwhile"

configure --remove "$A" --dry-run
expect "dry run of a removal" 0
has "would_remove" "Status: would_remove"
has "dry run: still Version 2" "Version: 2"
has "dry run: a stays" "Issuer: $A"

configure --remove "$A" --expected-version 2
expect "remove a at the right version" 0
has "removed" "Status: removed"
has "removal: Version 3" "Version: 3"
status
has "after removal: Version 3" "Version: 3"
lacks "a is gone" "Issuer: $A"
has "b stays" "Issuer: $B"

configure --remove https://unknown.example --expected-version 3
expect "remove an unknown issuer" 1 "Provider https://unknown.example is not configured"
expect "unknown issuer: the service's 404" 1 "(404)"
status
has "unknown issuer: still Version 3" "Version: 3"

configure --remove "$A" --expected-version 3
expect "remove a twice" 1 "Provider $A is not configured"

# Removal and addition in one change: one version.
configure --remove "$B" --issuer-url "$A" --client-id other-client --name a2 --expected-version 3
expect "remove b and add a in one change" 0
has "one change: Version 4" "Version: 4"
has "one change: a added" "Issuer: $A"
has "one change: a's new client" "  Client ID: other-client"
lacks "one change: b gone" "Issuer: $B"

# Several removals at once; the last provider removed turns the exchange off.
configure --issuer-url "$B" --client-id tokensmith-test --name b
expect "b back" 0
configure --remove "$A" --remove "$B" --expected-version 5
expect "two removals" 0
has "two removals: Version 6" "Version: 6"
has "two removals: none left" "Configured: false"
lacks "two removals: no issuer" "Issuer:"

# Refused before anything is sent: text that is not UTF-8 would vanish from the request, and
# the one-provider options without --issuer-url would be dropped.
configure --remove "$(printf 'https://x\377')"
expect "--remove not UTF-8" 2 "--remove: not valid UTF-8"
configure --issuer-url "$A" --client-id tokensmith-test --name "$(printf 'a\377')"
expect "--name not UTF-8" 2 "--name: not valid UTF-8"
configure --remove "$A" --name a
expect "--name without --issuer-url" 2 "--name describes the provider of --issuer-url"
configure --issuer-url "$A"
expect "--issuer-url without --client-id" 2 "together"
configure
expect "nothing to do" 2 "--remove ISSUER"
status
has "refusals changed nothing" "Version: 6"

grep -q "tokensmith-test-secret\|other-client-secret" "$DIR/s.log" &&
    { echo "FAIL: a client secret reached the log"; fail=1; }
[ $fail -eq 0 ] && echo PASS || echo FAILED
exit $fail
