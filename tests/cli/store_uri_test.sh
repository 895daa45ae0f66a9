#!/bin/sh
# The store location: a PostgreSQL URI or conninfo selects the PostgreSQL store (one that cannot
# be reached fails at the store naming the host, exit 1; the fixture's cluster works: a token
# made by bootstrap-token create is redeemed by a serve on the same database, /health says the
# store is ok), any other URI is refused naming the flag (exit 2 from a flag or variable, 1 from
# the config file), nothing named after a URI is created in the working directory, and the
# value (which may hold a password) is never repeated. Needs the ctest fixture store_pg for
# the last part (skips, exit 77, without a cluster unless TS_REQUIRE_PG=1).
# usage: store_uri_test.sh TOKENSMITH
TS=$1
. "$(dirname "$0")/lib.sh"
mkdir "$DIR/cwd" && cd "$DIR/cwd" || exit 1
S="--listen 127.0.0.1:0 --home $DIR/h"
: >"$DIR/all-err"
# Every message of this test is kept, to look for the password at the end.
expect_() { expect "$@"; cat "$DIR/err" "$DIR/out" >>"$DIR/all-err"; }
# Port 1 of the loopback: nothing listens there, the connection is refused at once.
for v in "postgres://tokens:hunter2@127.0.0.1:1/tokens" "postgresql://tokens:hunter2@127.0.0.1:1/tokens" \
    "host=127.0.0.1 port=1 dbname=tokens password=hunter2" " dbname = tokens host=127.0.0.1 port=1 password=hunter2"; do
    run timeout 30 "$TS" serve $S --store "$v"
    expect_ "serve --store '$v': PostgreSQL, unreachable" 1 "127.0.0.1"
    TOKENSMITH_STORE=$v run timeout 30 "$TS" bootstrap-token create --subject s --audience a --home "$DIR/h"
    expect_ "bootstrap-token create with TOKENSMITH_STORE='$v'" 1 "PostgreSQL"
    run timeout 30 "$TS" user-token create --enable-local-user-mint --subject s --scopes r --home "$DIR/h" --store "$v"
    expect_ "user-token create --store '$v'" 1 "PostgreSQL"
done
for v in "sqlite:///var/lib/x.db" "foo://bar" "file:///tmp/x.db" "mysql://u:hunter2@db/x"; do
    run timeout 10 "$TS" serve $S --store "$v"
    expect_ "serve --store '$v' (another URI) refused" 2 "--store"
    TOKENSMITH_STORE=$v run "$TS" bootstrap-token create --subject s --audience a --home "$DIR/h"
    expect_ "TOKENSMITH_STORE='$v' refused" 2 "TOKENSMITH_STORE"
done
# A connection string longer than the setting holds (1023 bytes) is refused, not cut.
long="host=127.0.0.1 port=1 password=hunter2 dbname=$(head -c 1100 /dev/zero | tr '\0' x)"
run "$TS" serve $S --store "$long"
expect_ "an overlong connection string refused" 2 "--store (store): value longer than 1023 bytes"
printf '{"store": "mysql://tokens:hunter2@db/tokens"}' >"$DIR/c.json"
run timeout 10 "$TS" serve $S --config "$DIR/c.json"
expect_ "another URI in the config file" 1 "store"

# The fixture's cluster, a database of this test's own.
[ $fail -eq 0 ] || finish
pg_setup
H="$DIR/pg-home"
run "$TS" bootstrap-token create --subject svc --audience smd --home "$H" --store "$PG_CONN" \
    --output-format json
expect_ "bootstrap-token create --store <conninfo>" 0 "Store path: $PG_CONN"
tok=$(sed -n 's/.*"bootstrap_token": "\([0-9a-f]*\)".*/\1/p' "$DIR/out")
[ ${#tok} -eq 64 ] && ok "a token printed" || bad "no token: $(cat "$DIR/out")"
n=$(psql_ "$PG_CONN" -tAc "SELECT count(*) FROM bootstrap_tokens")
check "the token is a row of the PostgreSQL database" 1 "$n"
start "$DIR/serve.log" --listen 127.0.0.1:0 --home "$H" --store "$PG_URI" ||
    bad "serve --store <URI> did not start: $(cat "$DIR/serve.log")"
cat "$DIR/serve.log" >>"$DIR/all-err"
health=$(curl -s -w ' %{http_code}' "http://127.0.0.1:$PORT/health")
case $health in *'"store":"ok"'*' 200' | *'"store": "ok"'*' 200') ok "/health 200, store ok" ;;
*) bad "/health: $health" ;; esac
check "the start line names the PostgreSQL store" "$PG_URI" \
    "$(sed -n 's/.*"msg":"listening".*"store":"\([^"]*\)".*/\1/p' "$DIR/serve.log" | sed 's/\\\//\//g')"
code=$(curl -s -o /dev/null -w '%{http_code}' -X POST "http://127.0.0.1:$PORT/oauth/token" \
    --data-urlencode grant_type=urn:ietf:params:oauth:grant-type:token-exchange \
    --data-urlencode subject_token_type=urn:openchami:params:oauth:token-type:bootstrap-token \
    --data-urlencode "subject_token=$tok")
check "the token made on the conninfo is redeemed by serve on the URI" 200 "$code"
stop
[ -z "$(ls -A "$DIR/cwd")" ] && ok "PostgreSQL: nothing created in the working directory" ||
    bad "created $(ls -A "$DIR/cwd")"
[ "$(ls -A "$H")" = keys ] && ok "PostgreSQL: only the key directory in the home" ||
    bad "home holds $(ls -A "$H")"

grep -q hunter2 "$DIR/all-err" && bad "a message repeats the password" || ok "password not repeated"
[ -z "$(ls -A "$DIR/cwd")" ] && ok "nothing created in the working directory" ||
    bad "created $(ls -A "$DIR/cwd")"
[ ! -e "$DIR/h/postgres:" ] && [ ! -e "$DIR/h/postgresql:" ] && ok "no directory named after a URI" ||
    bad "created $(ls -A "$DIR/h")"
finish
