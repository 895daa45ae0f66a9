#!/bin/sh
# A store password never leaves tokensmith. A PostgreSQL store location with a password (in a
# URI's userinfo, in a URI's password= parameter, in a key=value conninfo, quoted or not) is
# given through --store, TOKENSMITH_STORE and the config file to every command that reads it,
# and the password must not appear in anything tokensmith prints or logs:
#   - unreachable (127.0.0.1 port 1): serve, bootstrap-token create, user-token create and
#     store migrate fail (exit 1) with a message that names the host, never the password;
#   - --help of the top level and of every store command, with the password in the variable;
#   - serve --print-config (the location is written with password=***);
#   - the fixture's cluster (Unix-socket trust authentication ignores the password): a serve
#     that starts (its whole log, /health), bootstrap-token create ("Store path: ..."), store
#     migrate.
# Needs the ctest fixture store_pg for the last part (skips, exit 77, without a cluster unless
# TS_REQUIRE_PG=1, after the other parts passed).
# usage: store_password_test.sh TOKENSMITH SOURCE_DIR
TS=$1
. "$2/tests/cli/lib.sh"
mkdir "$DIR/cwd" && cd "$DIR/cwd" || exit 1
PW=hunter2secret
: >"$DIR/seen"
keep() { cat "$DIR/out" "$DIR/err" >>"$DIR/seen"; }
clean() { # NAME: the last run printed no password
    if grep -q "$PW" "$DIR/out" "$DIR/err"; then
        bad "$1 prints the password: $(grep -h "$PW" "$DIR/out" "$DIR/err" | head -c 400)"
    else
        ok "$1: no password"
    fi
    keep
}
H=$DIR/h
mkdir "$H"
"$TS" keys generate --key-dir "$H/keys" >/dev/null 2>&1 || bad "keys generate"

# --- unreachable
for v in "postgres://tokensmith:$PW@127.0.0.1:1/db" \
    "postgresql://tokensmith@127.0.0.1:1/db?sslmode=disable&password=$PW" \
    "host=127.0.0.1 port=1 dbname=db user=tokensmith password=$PW" \
    "host=127.0.0.1 port=1 dbname=db password = '$PW x'"; do
    run timeout 30 "$TS" serve --listen 127.0.0.1:0 --home "$H" --store "$v"
    expect "serve --store '<...>' unreachable" 1 "127.0.0.1"
    clean "serve --store"
    TOKENSMITH_STORE=$v run timeout 30 "$TS" serve --listen 127.0.0.1:0 --home "$H"
    expect "serve with TOKENSMITH_STORE unreachable" 1 "127.0.0.1"
    clean "serve with TOKENSMITH_STORE"
    printf '{"store": "%s"}' "$v" >"$DIR/c.json"
    run timeout 30 "$TS" serve --listen 127.0.0.1:0 --home "$H" --config "$DIR/c.json"
    expect "serve with store in the config file unreachable" 1 "127.0.0.1"
    clean "serve --config"
    run timeout 30 "$TS" bootstrap-token create --subject s --audience a --home "$H" --store "$v"
    expect "bootstrap-token create unreachable" 1 "127.0.0.1"
    clean "bootstrap-token create"
    run timeout 30 "$TS" user-token create --enable-local-user-mint --subject s --scopes r \
        --operator op --home "$H" --store "$v"
    expect "user-token create unreachable" 1 "127.0.0.1"
    clean "user-token create"
    run timeout 30 "$TS" store migrate --store "$v"
    expect "store migrate unreachable" 1 "127.0.0.1"
    clean "store migrate"
    run "$TS" serve --print-config --home "$H" --store "$v"
    expect "serve --print-config" 0
    grep -q '"store": ".*\*\*\*' "$DIR/out" && ok "print-config: the store with ***" ||
        bad "print-config store: $(grep '"store"' "$DIR/out")"
    clean "serve --print-config"
    for h in "--help" "serve --help" "bootstrap-token create --help" "user-token create --help" \
        "store migrate --help" "help settings" "store --help"; do
        # shellcheck disable=SC2086 # the words of the command
        TOKENSMITH_STORE=$v run "$TS" $h
        expect "tokensmith $h" 0
        clean "tokensmith $h"
    done
done
[ $fail -eq 0 ] || finish

# --- a serve that starts: the fixture's cluster, which trusts local connections and so
# ignores the password.
pg_setup
CONN="$PG_CONN password=$PW"
URI="postgresql://$PG_USER:$PW@/$PG_DB?host=$PG_HOST&port=$PG_PORT"
run "$TS" store migrate --store "$URI"
expect "store migrate on the cluster" 0
grep -q "^postgresql://$PG_USER:\*\*\*@/$PG_DB" "$DIR/out" && ok "store migrate: location redacted" ||
    bad "store migrate said: $(cat "$DIR/out")"
clean "store migrate on the cluster"
run "$TS" bootstrap-token create --subject s --audience a --home "$H" --store "$CONN"
expect "bootstrap-token create on the cluster" 0 "password=***"
clean "bootstrap-token create on the cluster"
start "$DIR/serve.log" --listen 127.0.0.1:0 --home "$H" --store "$URI" \
    --admin-listen 127.0.0.1:0 || bad "serve did not start: $(cat "$DIR/serve.log")"
health=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$PORT/health")
case $health in *' 200') ok "/health 200" ;; *) bad "/health: $health" ;; esac
echo "$health" | grep -q "$PW" && bad "/health prints the password" || ok "/health: no password"
curl -s -o /dev/null -X POST "http://127.0.0.1:$PORT/oauth/token" -d grant_type=refresh_token \
    -d refresh_token=nope
stop
grep -q '"store":"postgresql://'"$PG_USER"':\*\*\*@' "$DIR/serve.log" &&
    ok "the start line shows the store redacted" || bad "start line: $(grep listening "$DIR/serve.log")"
grep -q "$PW" "$DIR/serve.log" && bad "the service log holds the password: $(grep "$PW" "$DIR/serve.log")" ||
    ok "service log: no password"
cat "$DIR/serve.log" >>"$DIR/seen"
grep -q "$PW" "$DIR/seen" && bad "the password was printed somewhere" || ok "nothing printed the password"
finish
