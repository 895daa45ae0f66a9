#!/bin/sh
# The upstream provider configuration across replicas: replicas A and B (their own homes) share
# one PostgreSQL database; a real OpenID provider (node oidc-provider, tests/oidc/provider.mjs)
# is the upstream.
#  - A's home holds a state file of an older tokensmith (provider b): A copies it into the empty
#    store at start, audited once; B, whose own state file names another provider, serves the
#    store's (the store wins over a state file);
#  - before provider a is configured B refuses its ID token (the check can fail);
#  - a provider configured through A's admin API is listed by B's `oidc status` within 5 s, and
#    B then exchanges that provider's ID token at its token endpoint;
#  - the change is audited exactly once in the database (by A, not again by B applying it);
#  - a change on B based on a stale version (expected_version) gets 409 and writes nothing;
#  - a removal through B's admin API reaches A within 5 s (A refuses the ID token again);
#  - SIGHUP re-reads the store, not A's state file edited meanwhile;
#  - while the table cannot be read, A keeps its configuration and logs one warning for several
#    failed polls; a change through the admin API is refused (503) meanwhile;
#  - the client secret appears in no log, and no state file is written with a shared store.
# usage: oidc_shared_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=${NODE:-node}
TEST_NAME=oidc_shared
. "$SRC/tests/replicas_grants/replicas_lib.sh"
# replicas_lib.sh's cleanup, and the provider's
cleanup_more() {
    stop_provider
    for r in $REPLICAS; do
        eval "p=\${PID_$r:-}"
        [ -n "$p" ] && kill -9 "$p" 2>/dev/null && wait "$p" 2>/dev/null
    done
    if [ -n "$PGDBNAME" ]; then
        psql -X -q -d "$PGBASE" -c "DROP DATABASE IF EXISTS $PGDBNAME WITH (FORCE)" >/dev/null 2>&1
    fi
    :
}
use_fixture_db "$3"
if ! command -v "$NODE" >/dev/null 2>&1 || [ ! -d "$SRC/node_modules/oidc-provider" ]; then
    if [ "${TS_REQUIRE_PG:-}" = 1 ]; then echo "FAIL: node with oidc-provider is required"; exit 1; fi
    echo "SKIP: node or node_modules/oidc-provider missing (npm ci)"; exit 77
fi
start_provider
PA=$(prov_field a)
PB=$(prov_field b)
CTL=$(prov_field control)
SECRET=tokensmith-test-secret
idtoken() { curl -s "$CTL/mint?p=a&sub=alice&groups=viewer"; }

printf '{"groupScopes": {"viewer": ["read"]}}' >"$DIR/cfg.json"
mkdir -p "$DIR/a" "$DIR/b"
printf '{"providers":[{"issuer":"%s","client_id":"tokensmith-test","name":"b","audiences":["smd"]}]}' \
    "$PB" >"$DIR/a/oidc-providers.json"
printf '{"providers":[{"issuer":"https://stale.invalid","client_id":"c","name":"s"}]}' \
    >"$DIR/b/oidc-providers.json"
chmod 600 "$DIR/a/oidc-providers.json" "$DIR/b/oidc-providers.json"
cp "$DIR/b/oidc-providers.json" "$DIR/b.state"
start_replica a --config "$DIR/cfg.json" --admin-listen 127.0.0.1:0
start_replica b --config "$DIR/cfg.json" --admin-listen 127.0.0.1:0
aport() { sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/$1.log" | tail -1; }
ADMIN_a=http://127.0.0.1:$(aport a)
ADMIN_b=http://127.0.0.1:$(aport b)
IDT='urn:ietf:params:oauth:token-type:id_token'
oexchange() { # URL_VAR OUTFILE -> status of exchanging a fresh ID token of provider a there
    at "$1" post /oauth/token "$2" --data-urlencode "grant_type=$GRANT" \
        --data-urlencode "subject_token_type=$IDT" --data-urlencode "subject_token=$(idtoken)"
}
admin_post() { # NAME BODY OUTFILE -> status
    eval "u=\$ADMIN_$1"
    curl -s -o "$3" -w '%{http_code}' -X POST "$u/admin/oidc/config" -d "$2"
}
admin_version() { eval "u=\$ADMIN_$1"; curl -s "$u/admin/oidc/config" | sed -n 's/.*"version": *\([0-9]*\).*/\1/p'; }
audits() { sql "SELECT count(*) FROM audit_log WHERE type = 'oidc_config_changed'"; }
# within5 CMD...: until CMD succeeds, at most 5 s
within5() {
    i=0
    while [ $i -lt 50 ]; do
        "$@" && return 0
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}
status_of() { eval "u=\$ADMIN_$1"; "$TS" oidc status --url "$u" 2>/dev/null; }
b_lists_provider() { status_of b | grep -q "Issuer: $PA"; }
a_lacks_provider() { ! status_of a | grep -q "Issuer: $PA"; }

# --- the state file of A, migrated into the store at start; B serves the store's
grep -q '"msg":"oidc state file copied into the store' "$DIR/a.log"
check "A copied its state file into the store" 0 $?
check "the migration is audited once" "state-file|oidc-config-v1" \
    "$(sql "SELECT peer || '|' || ref_id FROM audit_log WHERE type = 'oidc_config_changed'")"
status_of b | grep -q "Issuer: $PB"; check "B lists the migrated provider" 0 $?
status_of b | grep -q "stale.invalid"; check "B's own state file is not used" 1 $?
check "B is at version 1" 1 "$(admin_version b)"
check "B refuses provider a's ID token before the change" 400 "$(oexchange b "$DIR/e0")"

# --- configure on A
P="{\"issuer\":\"$PA\",\"client_id\":\"tokensmith-test\",\"client_secret\":\"$SECRET\",\"name\":\"a\",\"audiences\":[\"smd\"]}"
check "configure on A" 200 "$(admin_post a "{\"providers\":[$P]}" "$DIR/p1")"
check "A's answer names version 2" 2 "$(sed -n 's/.*"version": *\([0-9]*\).*/\1/p' "$DIR/p1" | head -1)"
within5 b_lists_provider; check "B's oidc status lists the provider within 5 s" 0 $?
check "B exchanges the provider's ID token" 200 "$(oexchange b "$DIR/e1")"
grep -q '"access_token"' "$DIR/e1"; check "B issued an access token" 0 $?
check "B is at version 2" 2 "$(admin_version b)"
grep '"msg":"oidc configuration applied from the store"' "$DIR/b.log" | grep -q '"oidc_version":2'
check "B logs the version it applied" 0 $?
sleep 3 # more than one poll: applying a version must not audit it again
check "the change is audited exactly once" 2 "$(audits)"
check "audited by A's admin peer, naming the version" "127.0.0.1|oidc-config-v2" \
    "$(sql "SELECT peer || '|' || ref_id FROM audit_log WHERE type = 'oidc_config_changed' ORDER BY id DESC LIMIT 1")"

# --- a second change on A; B's change based on version 2 is stale
P2="{\"issuer\":\"$PA\",\"client_id\":\"tokensmith-test\",\"client_secret\":\"$SECRET\",\"name\":\"a\",\"audiences\":[\"smd\",\"bss\"]}"
check "second change on A" 200 \
    "$(admin_post a "{\"providers\":[$P2],\"replace_existing\":true}" "$DIR/p2")"
check "stale change on B: 409" 409 \
    "$(admin_post b "{\"remove\":[\"$PA\"],\"expected_version\":2}" "$DIR/p3")"
grep -q '"error":"conflict"' "$DIR/p3"; check "409 says conflict" 0 $?
grep -q '"version_conflict":true' "$DIR/p3"; check "409 marks a version conflict" 0 $?
check "the stale change wrote nothing" 3 "$(sql 'SELECT version FROM oidc_config')"
check "and was not audited" 3 "$(audits)"

# --- removal on B reaches A
check "remove on B" 200 "$(admin_post b "{\"remove\":[\"$PA\"],\"expected_version\":3}" "$DIR/p4")"
within5 a_lacks_provider; check "A no longer lists the provider within 5 s" 0 $?
status_of a | grep -q "Issuer: $PB"; check "A keeps the other provider" 0 $?
check "A refuses the ID token after the removal" 400 "$(oexchange a "$DIR/e2")"
check "four changes, four audit records" 4 "$(audits)"

# --- SIGHUP re-reads the store, never the state file once the store holds a configuration
printf '{"providers":[{"issuer":"https://stale.invalid","client_id":"c","name":"s"}]}' \
    >"$DIR/a/oidc-providers.json"
eval "kill -HUP \$PID_a"
within5 grep -q '"msg":"reloaded"' "$DIR/a.log"; check "A reloaded on SIGHUP" 0 $?
grep '"msg":"reloaded"' "$DIR/a.log" | grep -q '"oidc_source":"store"'
check "the reload read the store" 0 $?
status_of a | grep -q "stale.invalid"; check "A's edited state file is not used" 1 $?
status_of a | grep -q "Issuer: $PB"; check "A still serves the store's provider" 0 $?

# --- the table cannot be read: the current configuration stays, one warning for many polls
sql "ALTER TABLE oidc_config RENAME TO oidc_config_away" >/dev/null
sleep 5 # two polls or more
check "one warning for the failed polls" 1 \
    "$(grep -c '"msg":"shared oidc configuration could not be refreshed' "$DIR/a.log")"
status_of a | grep -q "Issuer: $PB"; check "A keeps its providers while the store fails" 0 $?
check "a change while the store fails: 503" 503 \
    "$(admin_post a "{\"remove\":[\"$PB\"]}" "$DIR/p5")"
sql "ALTER TABLE oidc_config_away RENAME TO oidc_config" >/dev/null
check "nothing changed meanwhile" 4 "$(sql 'SELECT version FROM oidc_config')"

# --- secrets
for r in a b; do
    grep -q "$SECRET" "$DIR/$r.log"; check "replica $r's log holds no client secret" 1 $?
done
cmp -s "$DIR/b/oidc-providers.json" "$DIR/b.state"; check "B wrote no state file" 0 $?
for r in a b; do stop_replica $r; done
[ $fail = 0 ] && echo "oidc_shared_config: all checks passed"
exit $fail
