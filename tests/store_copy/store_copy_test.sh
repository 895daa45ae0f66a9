#!/bin/sh
# tokensmith store copy, end to end. An installation on SQLite: two bootstrap tokens made with
# `bootstrap-token create`, one exchanged through `serve` and its refresh token rotated once.
# The service stopped, `store copy` moves the store into PostgreSQL, and `serve --store
# postgres...` with the same home continues: the token not used before redeems, the used one
# is refused, the current refresh token refreshes while the rotated one is refused as reuse,
# the JWKS still serves the key that signed the access tokens issued on SQLite. Then a copy
# into the now non-empty database fails with exit 1 and names --force, --force replaces it,
# bad options exit 2, and the password of the connection string appears in no output.
# usage: store_copy_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=store_copy
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"
# Trust authentication on the fixture's Unix socket ignores the password; tokensmith must
# still never print it.
PW=copypw$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
PGPW="$PGDB password=$PW"
HOME_DIR=$DIR/home
LITE=$HOME_DIR/tokensmith.db
mkdir -p "$HOME_DIR"
: >"$DIR/seen" # every output of tokensmith, searched for the password at the end

copy() { # ARGS...: store copy; output in $DIR/out and $DIR/err, the status in rc
    "$TS" store copy "$@" >"$DIR/out" 2>"$DIR/err"
    rc=$?
    cat "$DIR/out" "$DIR/err" >>"$DIR/seen"
}
count_of() { # TABLE: the count store copy printed for it
    sed -n "s/^  $1  *\([0-9]*\)$/\1/p" "$DIR/out"
}

# --- the installation on SQLite
T_UNUSED=$(create_token "$LITE")
T_USED=$(create_token "$LITE")
check "two bootstrap tokens created" "64 64" "${#T_UNUSED} ${#T_USED}"
start_server "$DIR/lite.log" --home "$HOME_DIR" --store "$LITE" --issuer "$ISSUER" --alg ES256
st=$(exchange "$T_USED" "$DIR/x1"); check "exchange on SQLite" 200 "$st"
R1=$(json_field "$DIR/x1" refresh_token)
AT1=$(json_field "$DIR/x1" access_token)
st=$(refresh "$R1" "$DIR/r2"); check "refresh on SQLite" 200 "$st"
R2=$(json_field "$DIR/r2" refresh_token)
curl -s "$URL/.well-known/jwks.json" >"$DIR/jwks1"
KID=$(json_field "$DIR/jwks1" kid)
[ -n "$KID" ] || check "the SQLite service serves a key" "a kid" ""
stop_server
PID=

# --- the copy
copy --from "$LITE" --to "$PGPW"
check "store copy exits 0" 0 "$rc"
grep -q "^copied $LITE -> .*password=\*\*\*" "$DIR/out"
check "the output names both locations, the password as ***" 0 $?
check "bootstrap_tokens copied" 2 "$(count_of bootstrap_tokens)"
check "refresh_families copied" 1 "$(count_of refresh_families)"
check "refresh_rotated copied" 1 "$(count_of refresh_rotated)"
check "audit_log copied (every row)" "$(sql 'select count(*) from audit_log')" "$(count_of audit_log)"
check "published_keys copied" 1 "$(sql "select count(*) from published_keys where kid = '$KID'")"
check "the used token arrived consumed" 1 \
    "$(sql "select count(*) from bootstrap_tokens where consumed_at is not null")"

# --- the service on PostgreSQL continues
start_server "$DIR/pg.log" --home "$HOME_DIR" --store "$PGPW" --issuer "$ISSUER" --alg ES256
curl -s "$URL/.well-known/jwks.json" >"$DIR/jwks2"
grep -q "\"kid\":\"$KID\"" "$DIR/jwks2"
check "JWKS on PostgreSQL still serves the key" 0 $?
printf '%s' "$AT1" | "$TS" token verify --jwks "$DIR/jwks2" --issuer "$ISSUER" --audience smd - \
    >/dev/null 2>"$DIR/verify.err"
check "an access token issued on SQLite verifies against it" 0 $?
st=$(exchange "$T_UNUSED" "$DIR/x2"); check "the bootstrap token unused before the copy redeems" 200 "$st"
st=$(exchange "$T_USED" "$DIR/x3"); check "the used one is refused" 400 "$st"
check "as invalid_grant" invalid_grant "$(json_field "$DIR/x3" error)"
st=$(refresh "$R2" "$DIR/r3"); check "the refresh token from before the copy refreshes" 200 "$st"
st=$(refresh "$R1" "$DIR/r4"); check "the one rotated before the copy is refused" 400 "$st"
check "its family is revoked as reuse" reuse_detected "$(sql "select revoke_reason from refresh_families where revoked_at is not null")"
stop_server
PID=
cat "$DIR/pg.log" >>"$DIR/seen"

# --- a non-empty target: exit 1, nothing written, --force named
before=$(sql "select count(*) from audit_log")
copy --from "$LITE" --to "$PGPW"
check "a copy into a non-empty store exits 1" 1 "$rc"
grep -q "target not empty.*use --force" "$DIR/err"
check "the message says the target is not empty and names --force" 0 $?
check "nothing was written" "$before" "$(sql "select count(*) from audit_log")"
copy --from "$LITE" --to "$PGPW" --force
check "--force exits 0" 0 "$rc"
grep -q "^  replaced  *[1-9]" "$DIR/out"
check "--force reports the rows it replaced" 0 $?
check "the target holds the source's bootstrap tokens again" 1 \
    "$(sql "select count(*) from bootstrap_tokens where consumed_at is null")"

# --- bad options: exit 2
copy --from "$LITE"
check "a missing --to exits 2" 2 "$rc"
grep -q -- "--to is required" "$DIR/err"
check "and says so" 0 $?
copy --to "$PGPW"
check "a missing --from exits 2" 2 "$rc"
copy --from "$LITE" --to "$DIR/other.db"
check "--to a SQLite file exits 2" 2 "$rc"
[ ! -e "$DIR/other.db" ]
check "and creates nothing" 0 $?
copy --from "$PGPW" --to "$PGPW"
check "--from a PostgreSQL connection string exits 2" 2 "$rc"
copy --from "$DIR/missing.db" --to "$PGPW"
check "a missing source exits 1" 1 "$rc"
[ ! -e "$DIR/missing.db" ]
check "and is not created" 0 $?
# every way a connection string carries a password (as hostile.store_password tries them)
for to in "postgresql://tok:$PW@127.0.0.1:1/db?connect_timeout=3" \
    "postgresql://tok@127.0.0.1:1/db?connect_timeout=3&password=$PW" \
    "host=127.0.0.1 port=1 dbname=db user=tok connect_timeout=3 password=$PW" \
    "host=127.0.0.1 port=1 dbname=db connect_timeout=3 password = '$PW x'"; do
    copy --from "$LITE" --to "$to"
    check "an unreachable target exits 1" 1 "$rc"
    grep -q "127.0.0.1" "$DIR/err"
    check "naming its host" 0 $?
done
"$TS" store copy --help >"$DIR/out" 2>&1
check "--help exits 0" 0 $?
cat "$DIR/out" >>"$DIR/seen"

# --- the password, nowhere
if grep -q "$PW" "$DIR/seen"; then
    check "no output holds the password" "" "$(grep -h "$PW" "$DIR/seen" | head -c 300)"
else
    check "no output holds the password" 0 0
fi
[ $fail = 0 ] && echo "store_copy: all checks passed"
exit $fail
