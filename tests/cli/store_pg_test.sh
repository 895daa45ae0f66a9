#!/bin/sh
# Every command that uses the store, on PostgreSQL (the store_pg fixture's cluster, a database
# of this test's own): `store migrate` (0 -> N on an empty database, N -> N again, through the
# flag, TOKENSMITH_STORE and the config file; unreachable: exit 1 naming the host; SQLite: says
# it migrates at open and creates nothing), `bootstrap-token create` and `user-token create`
# (rows and audit records in the database), `serve` on the database (bootstrap exchange, refresh
# rotation, reuse revoking the family), and the admin API (`oidc configure`, audited in the
# database; `oidc status`). Skips (77) without a cluster unless TS_REQUIRE_PG=1.
# usage: store_pg_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
pg_setup
mkdir "$DIR/cwd" && cd "$DIR/cwd" || exit 1
H=$DIR/h
q() { psql_ "$PG_CONN" -tAc "$1"; }

# --- store migrate
run "$TS" store migrate --store "$PG_CONN"
expect "store migrate on an empty database" 0
V=$(sed -n 's/.*schema version 0 -> \([0-9][0-9]*\)$/\1/p' "$DIR/out")
[ -n "$V" ] && [ "$V" -ge 1 ] && ok "schema version 0 -> $V" || bad "store migrate said: $(cat "$DIR/out")"
grep -q "^$PG_CONN: " "$DIR/out" && ok "names the store" || bad "store migrate: $(cat "$DIR/out")"
check "the database holds schema version $V" "$V" "$(q 'SELECT max(version) FROM schema_version')"
TOKENSMITH_STORE=$PG_URI run "$TS" store migrate
expect "store migrate again (TOKENSMITH_STORE, URI)" 0
grep -q "schema version $V -> $V (already current)$" "$DIR/out" && ok "already current" ||
    bad "second migrate said: $(cat "$DIR/out")"
printf '{"store": "%s"}' "$PG_CONN" >"$DIR/pg.json"
run "$TS" store migrate --config "$DIR/pg.json"
expect "store migrate with store in the config file" 0
grep -q "schema version $V -> $V" "$DIR/out" && ok "config file: current" || bad "$(cat "$DIR/out")"
run timeout 30 "$TS" store migrate --store "postgresql://tokens:hunter2@127.0.0.1:1/tokens"
expect "store migrate, unreachable" 1 "127.0.0.1"
grep -q hunter2 "$DIR/out" "$DIR/err" && bad "store migrate repeats the password" || ok "no password"
run "$TS" store migrate --home "$DIR/sq"
expect "store migrate on SQLite" 0
grep -q "SQLite store; its schema is migrated when it is opened" "$DIR/out" && ok "SQLite: says so" ||
    bad "SQLite: $(cat "$DIR/out")"
[ ! -e "$DIR/sq" ] && ok "SQLite: nothing created" || bad "SQLite: created $(ls -R "$DIR/sq")"
run "$TS" store migrate --store "mysql://db/x"
expect "store migrate, another URI" 2 "--store"

# --- bootstrap-token create, user-token create
mkdir "$H"
run "$TS" keys generate --key-dir "$H/keys"
expect "keys generate" 0
run "$TS" bootstrap-token create --subject svc --audience smd --home "$H" --store "$PG_CONN" \
    --output-format json
expect "bootstrap-token create" 0
tok=$(sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p' "$DIR/out")
check "bootstrap token row" 1 "$(q 'SELECT count(*) FROM bootstrap_tokens')"
TOKENSMITH_STORE=$PG_URI run "$TS" user-token create --enable-local-user-mint --subject alice \
    --scopes read --operator op --home "$H" --ttl 20h
expect "user-token create" 0 "audited"
# Its key is published for as long as the token lives (20 h, beyond any access token), so that
# every replica serves it even after the key is retired: not_after >= now + 20 h.
check "user-token create published its key until the token's expiry" 1 \
    "$(q "SELECT count(*) FROM published_keys WHERE not_after >= extract(epoch FROM now())::bigint + 72000 - 60")"
check "user-token create audited in the database" 1 \
    "$(q "SELECT count(*) FROM audit_log WHERE type = 'local_user_token_minted' AND subject = 'alice'")"

# --- serve on the database: the grants, and the admin API
start "$DIR/up.log" --listen 127.0.0.1:0 --home "$DIR/up" || bad "upstream serve: $(cat "$DIR/up.log")"
UP_PID=$PID UP=http://127.0.0.1:$PORT
PID=
start "$DIR/s.log" --listen 127.0.0.1:0 --home "$H" --store "$PG_URI" --admin-listen 127.0.0.1:0 ||
    bad "serve --store <URI>: $(cat "$DIR/s.log")"
APORT=$(sed -n 's/.*"msg":"listening".*"admin_port":\([0-9]*\).*/\1/p' "$DIR/s.log")
post() { # OUT FORM-ARGS... -> status
    o=$1
    shift
    curl -s -o "$o" -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/oauth/token" "$@"
}
code=$(post "$DIR/t1" --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    --data-urlencode subject_token_type=urn:openchami:params:oauth:token-type:bootstrap-token \
    --data-urlencode "subject_token=$tok")
check "bootstrap exchange" 200 "$code"
r1=$(sed -n 's/.*"refresh_token": *"\([^"]*\)".*/\1/p' "$DIR/t1")
code=$(post "$DIR/t2" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$r1")
check "refresh rotation" 200 "$code"
code=$(post "$DIR/t3" --data-urlencode grant_type=refresh_token --data-urlencode "refresh_token=$r1")
check "refresh reuse refused" 400 "$code"
check "reuse revoked the family in the database" 1 \
    "$(q 'SELECT count(*) FROM refresh_families WHERE revoked_at IS NOT NULL')"
run "$TS" oidc configure --url "http://127.0.0.1:$APORT" --issuer-url "$UP" --client-id c
expect "oidc configure (admin API)" 0
check "the admin change audited in the database" 1 \
    "$(q "SELECT count(*) FROM audit_log WHERE type = 'oidc_config_changed'")"
run "$TS" oidc status --url "http://127.0.0.1:$APORT"
expect "oidc status (admin API)" 0
grep -q "$UP" "$DIR/out" && ok "oidc status lists the provider" || bad "oidc status: $(cat "$DIR/out")"
stop
PID=$UP_PID
stop
[ -z "$(ls -A "$DIR/cwd")" ] && ok "nothing created in the working directory" ||
    bad "created $(ls -A "$DIR/cwd")"
finish
