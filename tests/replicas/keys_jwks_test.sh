#!/bin/sh
# Keys across replicas that do not share a filesystem: replicas A and B each have their own key
# directory (their own --home) and share one PostgreSQL database.
#  - a token minted on A verifies with node jose createRemoteJWKSet on B's JWKS URL (and a
#    replica on another store, which never saw A's keys, refuses it: the check can fail);
#  - A's key is rotated (a new key in A's directory + SIGHUP): a token signed with the new key
#    verifies at B within a bounded delay, and the token of the old key still does, also after
#    the old key was retired from A's directory;
#  - once the old key's publication has expired it is served by neither replica, and its token
#    is refused; the database never holds private key material;
#  - while the published-key table cannot be read, B keeps serving its last JWKS (200).
# usage: keys_jwks_test.sh TOKENSMITH SOURCE_DIR CONNINFO_FILE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
TEST_NAME=keys_jwks
. "$SRC/tests/replicas_grants/replicas_lib.sh"
use_fixture_db "$3"
if ! command -v node >/dev/null 2>&1 || [ ! -d "$SRC/node_modules/jose" ]; then
    if [ "${TS_REQUIRE_PG:-}" = 1 ]; then echo "FAIL: node with jose is required"; exit 1; fi
    echo "SKIP: node or node_modules/jose not installed"; exit 77
fi
VERIFY="$SRC/tests/service/jose_verify.mjs"

start_replica a
start_replica b
kid_of_health() { curl -s "$1/health" | sed -n 's/.*"key":"\([^"]*\)".*/\1/p'; }
jwks_has() { curl -s "$1/.well-known/jwks.json" | grep -q "\"kid\":\"$2\""; }
# verify_at URL_VAR TOKEN: node jose with a fresh createRemoteJWKSet on that replica's JWKS;
# prints the kid of the verified token, or nothing
verify_at() {
    eval "u=\$URL_$1"
    node "$VERIFY" "$u/.well-known/jwks.json" "$ISSUER" smd "$2" 2>>"$DIR/jose.err" |
        sed -n 's/.*"kid":"\([^"]*\)".*/\1/p'
}
mint_on_a() { # OUTFILE: a bootstrap token exchanged on A; prints the access token
    tok=$(create_token "$PGDB")
    st=$(at a exchange "$tok" "$1")
    [ "$st" = 200 ] || echo "FAIL: exchange on A gave $st: $(cat "$1")" >&2
    json_field "$1" access_token
}
# wait_jwks URL_VAR KID yes|no: until that replica's JWKS does (not) serve KID. The refresher
# runs every second; the bound (30 s) is for a loaded machine, not the expected time.
wait_jwks() {
    eval "u=\$URL_$1"
    i=0
    while [ $i -lt 300 ]; do
        if jwks_has "$u" "$2"; then [ "$3" = yes ] && return 0; else [ "$3" = no ] && return 0; fi
        sleep 0.1
        i=$((i + 1))
    done
    return 1
}

KA1=$(kid_of_health "$URL_a")
KB=$(kid_of_health "$URL_b")
[ -n "$KA1" ] && [ "$KA1" != "$KB" ]; check "A and B sign with different keys" 0 $?
check "A's key directory is its own" 1 "$(ls "$DIR/a/keys"/*.pem | wc -l)"
grep '"msg":"listening"' "$DIR/b.log" | grep -q '"keys_of_other_replicas":1'
check "B's start log counts A's published key" 0 $?

# --- a token minted on A verifies at B
AT1=$(mint_on_a "$DIR/x1")
check "the token of A verifies with B's JWKS (jose)" "$KA1" "$(verify_at b "$AT1")"
check "and with A's" "$KA1" "$(verify_at a "$AT1")"
wait_jwks a "$KB" yes; check "A serves B's key (its refresher reads the store every second)" 0 $?
# Control: a replica on another store has never seen A's key.
mkdir -p "$DIR/c"
start_server "$DIR/c.log" --home "$DIR/c" --store "$DIR/c/store.db" --issuer "$ISSUER" --alg ES256
PID_c=$PID URL_c=$URL
REPLICAS="$REPLICAS c"
PID=
check "a replica on another store refuses it" "" "$(verify_at c "$AT1")"
stop_replica c

# --- rotation on A: a new key in A's directory, SIGHUP
OLD=$(ls "$DIR/a/keys"/*.pem)
sleep 1 # the new file must be the newest by modification time
"$TS" keys generate --key-dir "$DIR/a/keys" --alg ES256 >/dev/null
check "a second key in A's directory" 2 "$(ls "$DIR/a/keys"/*.pem | wc -l)"
eval "kill -HUP \$PID_a"
i=0
until grep -q '"msg":"keys reloaded"' "$DIR/a.log" || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
grep '"msg":"keys reloaded"' "$DIR/a.log" | grep -q '"changed":true'
check "A reloaded its keys on SIGHUP" 0 $?
KA2=$(kid_of_health "$URL_a")
[ -n "$KA2" ] && [ "$KA2" != "$KA1" ]; check "A signs with a new key" 0 $?
check "A published the new key before signing with it" 1 "$(sql "select count(*) from published_keys where kid = '$KA2'")"
AT2=$(mint_on_a "$DIR/x2")
wait_jwks b "$KA2" yes; check "B serves A's new key" 0 $?
check "the token of A's new key verifies at B" "$KA2" "$(verify_at b "$AT2")"
check "the token of A's old key still verifies at B" "$KA1" "$(verify_at b "$AT1")"

# --- the old key retired from A's directory: still served (published) until its tokens expire
mv "$OLD" "$OLD.retired"
eval "kill -HUP \$PID_a"
i=0
until [ "$(grep -c '"msg":"keys reloaded"' "$DIR/a.log")" -ge 2 ] || [ $i -ge 300 ]; do sleep 0.1; i=$((i + 1)); done
check "A's key set has one key" 1 "$(grep '"msg":"keys reloaded"' "$DIR/a.log" | tail -1 | sed -n 's/.*"keys":\([0-9]*\).*/\1/p')"
check "the old key's token still verifies at A" "$KA1" "$(verify_at a "$AT1")"
check "and at B" "$KA1" "$(verify_at b "$AT1")"
NA=$(sql "select not_after - extract(epoch from now())::bigint from published_keys where kid = '$KA1'")
[ "$NA" -ge 3600 ] && [ "$NA" -le 3960 ]
check "the old key stays published for the token lifetime plus leeway ($NA s)" 0 $?

# --- the old key's publication expires (moved to now, as time would): served by no replica
sql "update published_keys set not_after = extract(epoch from now())::bigint where kid = '$KA1'" >/dev/null
wait_jwks b "$KA1" no; check "B stops serving the expired key" 0 $?
wait_jwks a "$KA1" no; check "A stops serving it" 0 $?
check "the old key's token is refused at B" "" "$(verify_at b "$AT1")"
check "the new key's token still verifies at B" "$KA2" "$(verify_at b "$AT2")"
check "no private key material in the database" 0 "$(sql "select count(*) from published_keys where jwk::jsonb ?| array['d','p','q','k']")"
check "three keys published (A old and new, B)" 3 "$(sql "select count(*) from published_keys")"

# --- the table cannot be read: B keeps serving its last JWKS
sql "alter table published_keys rename to published_keys_away" >/dev/null
sleep 2
st=$(curl -s -o "$DIR/jwks.b" -w '%{http_code}' "$URL_b/.well-known/jwks.json")
check "B's JWKS answers while the store fails" 200 "$st"
grep -q "\"kid\":\"$KA2\"" "$DIR/jwks.b"; check "and still serves A's key" 0 $?
sql "alter table published_keys_away rename to published_keys" >/dev/null
check "B's token of A still verifies after the store is back" "$KA2" "$(verify_at b "$AT2")"

stop_replica a
stop_replica b
grep -Eq '"(kty|jwk|d|x|y)":' "$DIR/a.log" "$DIR/b.log"
check "no key material in the logs (kid only)" 1 $?
[ $fail -eq 0 ] && echo "PASS" || { echo "--- a.log"; tail -n 20 "$DIR/a.log"; echo "--- b.log"; tail -n 20 "$DIR/b.log"; cat "$DIR/jose.err"; }
exit $fail
