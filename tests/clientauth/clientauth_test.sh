#!/bin/sh
# Client authentication (RFC 6749 §2.3.1: client_secret_basic, client_secret_post) at RFC 7662
# introspection and RFC 7009 revocation, checked against a real OAuth server: node
# oidc-provider (provider.mjs) and `tokensmith serve` register the same clients, get the same
# requests, and must answer alike: status, OAuth `error`, WWW-Authenticate: Basic on a 401, and
# for introspection whether the token is active (each side introspects a live token it issued
# itself). Where the two differ on purpose the row says so (`differ`) and why, with both
# answers pinned: a change on either side fails the test.
# usage: clientauth_test.sh TOKENSMITH SOURCE_DIR NODE
set -u
TS=$(cd "$(dirname "$1")" && pwd)/$(basename "$1")
SRC=$2
NODE=$3
. "$SRC/tests/service/lib.sh" # DIR, check, start_server, post, json_field, create_token, ...

# Secrets of VSCHAR only (RFC 6749 Appendix A.2), with the characters a form-urlencoded Basic
# header must escape: rs2's id and secret go through %XX, '+' and ':' handling.
RS1_SECRET=rs1-secret-0123456789
RS2_ID='rs2+%/~'
RS2_SECRET='p:w%d+&=/ sec-0123'
CLIENTS="[{\"client_id\":\"rs1\",\"client_secret\":\"$RS1_SECRET\"},"
CLIENTS="$CLIENTS{\"client_id\":\"$RS2_ID\",\"client_secret\":\"$RS2_SECRET\"}]"

# --- node oidc-provider
NPID=
cleanup_more() {
    exec 3>&- 2>/dev/null
    [ -n "$NPID" ] && { kill "$NPID" 2>/dev/null; wait "$NPID" 2>/dev/null; }
}
mkfifo "$DIR/prov.in"
(cd "$SRC" && exec "$NODE" tests/clientauth/provider.mjs "$CLIENTS") <"$DIR/prov.in" \
    >"$DIR/prov" 2>"$DIR/prov.err" &
NPID=$!
exec 3>"$DIR/prov.in" # the provider exits when its stdin closes
i=0
while [ ! -s "$DIR/prov" ] && [ $i -lt 300 ]; do sleep 0.1; i=$((i + 1)); done
if [ ! -s "$DIR/prov" ]; then
    if grep -q 'missing (run npm ci)' "$DIR/prov.err"; then
        echo "SKIP: $(cat "$DIR/prov.err")"; exit 77
    fi
    echo "FAIL: oidc-provider did not start"; cat "$DIR/prov.err"; exit 1
fi
OP=$(head -1 "$DIR/prov")

# --- tokensmith serve: the same clients, both allowed to introspect. Each row comes from an
# address of its own (X-Forwarded-For from the trusted loopback proxy), so that the refusals
# the matrix provokes never reach the failed-attempt limiter's 10 a minute.
cat >"$DIR/config.json" <<JSON
{"trustedProxy": "127.0.0.1", "clients": [
  {"client_id": "rs1", "client_secret": "$RS1_SECRET", "introspect": true},
  {"client_id": "$RS2_ID", "client_secret": "$RS2_SECRET", "introspect": true}
]}
JSON
mkdir -p "$DIR/a"
start_server "$DIR/a.log" --config "$DIR/config.json" --home "$DIR/a" \
    --store "$DIR/a/tokensmith.db" --issuer https://tokensmith.test

# --- a live token from each side
b64() { printf '%s' "$1" | base64 | tr -d '\n'; }
RS1=$(b64 "rs1:$RS1_SECRET")
st=$(exchange "$(create_token "$DIR/a/tokensmith.db")" "$DIR/g")
check "tokensmith: access token" 200 "$st"
OURS_TOKEN=$(json_field "$DIR/g" access_token)
st=$(curl -s -o "$DIR/g" -w '%{http_code}' -X POST "$OP/token" -H "Authorization: Basic $RS1" \
    --data-urlencode grant_type=client_credentials)
check "oidc-provider: client_credentials token" 200 "$st"
OP_TOKEN=$(json_field "$DIR/g" access_token)

# ask URL TOKEN ADDR CURL-ARGS... : one request; "@TOKEN@" in an argument becomes TOKEN. Prints
# the outcome: "STATUS ERROR WWW ACTIVE" ('-' for what the answer lacks; WWW is "basic" when a
# WWW-Authenticate: Basic came).
ask() {
    url=$1; tok=$2; addr=$3; shift 3
    n=$#
    for a in "$@"; do
        case $a in *@TOKEN@*) a="${a%%@TOKEN@*}$tok${a#*@TOKEN@}" ;; esac
        set -- "$@" "$a"
    done
    shift "$n"
    : >"$DIR/h"; : >"$DIR/b"
    code=$(curl -s -D "$DIR/h" -o "$DIR/b" -w '%{http_code}' -X POST \
        -H "X-Forwarded-For: $addr" "$@" "$url")
    err=$(json_field "$DIR/b" error); active=$(json_field "$DIR/b" active)
    www=-
    grep -qi '^www-authenticate: *basic' "$DIR/h" && www=basic
    echo "$code ${err:--} $www ${active:--}"
}
ROW=0
# both ENDPOINT NAME CURL-ARGS... : sets OURS and THEIRS (ENDPOINT introspect or revoke).
both() {
    ep=$1; name=$2; shift 2
    ROW=$((ROW + 1))
    addr=10.0.$((ROW / 250)).$((ROW % 250 + 1))
    if [ "$ep" = introspect ]; then
        OURS=$(ask "$URL/oauth/introspect" "$OURS_TOKEN" "$addr" "$@")
        THEIRS=$(ask "$OP/token/introspection" "$OP_TOKEN" - "$@")
    else # revocation rows revoke an unknown token: the live ones stay for the rows after
        OURS=$(ask "$URL/oauth/revoke" unknown-token-0 "$addr" "$@")
        THEIRS=$(ask "$OP/token/revocation" unknown-token-0 - "$@")
    fi
}
# same ENDPOINT NAME WANT CURL-ARGS... : both sides answer WANT.
same() {
    ep=$1; name=$2; want=$3; shift 3
    both "$ep" "$name" "$@"
    check "$ep: $name: tokensmith" "$want" "$OURS"
    check "$ep: $name: oidc-provider" "$want" "$THEIRS"
}
# differ ENDPOINT NAME OURS THEIRS CURL-ARGS... : a deliberate difference, both answers pinned.
differ() {
    ep=$1; name=$2; want_ours=$3; want_theirs=$4; shift 4
    both "$ep" "$name" "$@"
    check "$ep: $name: tokensmith (differs on purpose)" "$want_ours" "$OURS"
    check "$ep: $name: oidc-provider (differs on purpose)" "$want_theirs" "$THEIRS"
}

# Basic credentials are form-urlencoded before base64 (RFC 6749 §2.3.1).
RS2_ENC="rs2%2B%25%2F~:p%3Aw%25d%2B%26%3D%2F+sec-0123"
RS2=$(b64 "$RS2_ENC")
RAW_UTF8=$(printf 'rs1:rs1-secret-01234567\303\251' | base64 | tr -d '\n') # é unescaped
TOKEN='token=@TOKEN@'
F=--data-urlencode
MALFORMED="400 invalid_request - -"
BAD_BASIC="401 invalid_client basic -"

for ep in introspect revoke; do
    if [ $ep = introspect ]; then OK="200 - - true"; else OK="200 - - -"; fi
    # --- well-formed credentials
    same $ep "Basic" "$OK" -H "Authorization: Basic $RS1" $F "$TOKEN"
    same $ep "Basic, scheme in lower case" "$OK" -H "Authorization: basic $RS1" $F "$TOKEN"
    same $ep "post" "$OK" $F client_id=rs1 $F "client_secret=$RS1_SECRET" $F "$TOKEN"
    same $ep "Basic with escaped id and secret (: % + & = / space)" "$OK" \
        -H "Authorization: Basic $RS2" $F "$TOKEN"
    same $ep "post with the same id and secret" "$OK" \
        $F "client_id=$RS2_ID" $F "client_secret=$RS2_SECRET" $F "$TOKEN"
    same $ep "Basic and the same client_id in the body" "$OK" \
        -H "Authorization: Basic $RS1" $F client_id=rs1 $F "$TOKEN"
    # --- wrong credentials: 401 invalid_client
    same $ep "Basic, wrong secret" "$BAD_BASIC" \
        -H "Authorization: Basic $(b64 rs1:wrong-secret-0000000)" $F "$TOKEN"
    same $ep "Basic, unknown client" "$BAD_BASIC" \
        -H "Authorization: Basic $(b64 "nobody:$RS1_SECRET")" $F "$TOKEN"
    same $ep "Basic, id and secret not escaped (a '+' is a space)" "$BAD_BASIC" \
        -H "Authorization: Basic $(b64 'rs1:rs1-secret+0123456789')" $F "$TOKEN"
    # RFC 6749 §5.2 wants WWW-Authenticate only when the client tried the Authorization header;
    # RFC 7235 §3.1 wants it on every 401, which tokensmith follows. oidc-provider sends none
    # without an Authorization header.
    differ $ep "post, wrong secret" "$BAD_BASIC" "401 invalid_client - -" \
        $F client_id=rs1 $F client_secret=wrong-secret-0000000 $F "$TOKEN"
    differ $ep "post, unknown client" "$BAD_BASIC" "401 invalid_client - -" \
        $F client_id=nobody $F "client_secret=$RS1_SECRET" $F "$TOKEN"
    differ $ep "post, empty secret" "$BAD_BASIC" "401 invalid_client - -" \
        $F client_id=rs1 $F client_secret= $F "$TOKEN"
    differ $ep "post, non-ASCII secret" "$BAD_BASIC" "401 invalid_client - -" \
        $F client_id=rs1 $F "client_secret=rs1-secret-01234567é" $F "$TOKEN"
    # An empty secret is well-formed (RFC 6749 Appendix A.2: *VSCHAR; §2.3.1 lets a client with
    # an empty secret omit it), so no registered client matching it is a failed authentication
    # (401, §5.2); oidc-provider calls it malformed.
    differ $ep "Basic, empty secret" "$BAD_BASIC" "$MALFORMED" \
        -H "Authorization: Basic $(b64 rs1:)" $F "$TOKEN"
    # --- malformed client authentication: 400 invalid_request
    same $ep "Basic without ':'" "$MALFORMED" \
        -H "Authorization: Basic $(b64 "rs1$RS1_SECRET")" $F "$TOKEN"
    same $ep "Basic, not base64" "$MALFORMED" -H 'Authorization: Basic !!not*base64!!' $F "$TOKEN"
    same $ep "Basic, empty credentials" "$MALFORMED" -H 'Authorization: Basic ' $F "$TOKEN"
    same $ep "Basic, empty id" "$MALFORMED" -H "Authorization: Basic $(b64 ":$RS1_SECRET")" \
        $F "$TOKEN"
    same $ep "Basic, bad escape" "$MALFORMED" -H "Authorization: Basic $(b64 'rs1:%zz')" $F "$TOKEN"
    same $ep "Basic, unescaped '%' (rs2 sent raw)" "$MALFORMED" \
        -H "Authorization: Basic $(b64 "$RS2_ID:$RS2_SECRET")" $F "$TOKEN"
    same $ep "Basic, escaped non-ASCII secret" "$MALFORMED" \
        -H "Authorization: Basic $(b64 'rs1:rs1-secret-01234567%C3%A9')" $F "$TOKEN"
    same $ep "Basic, raw UTF-8 secret" "$MALFORMED" \
        -H "Authorization: Basic $RAW_UTF8" $F "$TOKEN"
    same $ep "Basic, escape that is not UTF-8" "$MALFORMED" \
        -H "Authorization: Basic $(b64 'rs1:rs1-secret-0123456%FF')" $F "$TOKEN"
    same $ep "Basic and post at once" "$MALFORMED" -H "Authorization: Basic $RS1" \
        $F client_id=rs1 $F "client_secret=$RS1_SECRET" $F "$TOKEN"
    same $ep "Basic and a post secret" "$MALFORMED" -H "Authorization: Basic $RS1" \
        $F "client_secret=$RS1_SECRET" $F "$TOKEN"
    same $ep "client_id in the body other than Basic's" "$MALFORMED" \
        -H "Authorization: Basic $RS1" $F "client_id=$RS2_ID" $F "$TOKEN"
    same $ep "post secret without client_id" "$MALFORMED" $F "client_secret=$RS1_SECRET" \
        $F "$TOKEN"
    same $ep "client_id twice" "$MALFORMED" $F client_id=rs1 $F client_id=rs1 \
        $F "client_secret=$RS1_SECRET" $F "$TOKEN"
    same $ep "client_secret twice" "$MALFORMED" $F client_id=rs1 $F "client_secret=$RS1_SECRET" \
        $F "client_secret=$RS1_SECRET" $F "$TOKEN"
    # An empty client_secret is still the post method: with Basic, two methods (RFC 6749 §2.3
    # "MUST NOT use more than one"); oidc-provider overlooks an empty parameter.
    differ $ep "Basic and an empty post secret" "$MALFORMED" "$OK" \
        -H "Authorization: Basic $RS1" $F client_secret= $F "$TOKEN"
    # RFC 4648 §3.2: base64 is padded unless the referring specification says otherwise, and
    # RFC 7617 does not; oidc-provider accepts it unpadded.
    differ $ep "Basic, base64 without padding" "$MALFORMED" "$OK" \
        -H "Authorization: Basic $(echo "$RS1" | tr -d =)" $F "$TOKEN"
    # RFC 7235 §2.1: credentials = auth-scheme 1*SP token68; oidc-provider wants one space.
    differ $ep "Basic, two spaces after the scheme" "$OK" "$MALFORMED" \
        -H "Authorization: Basic  $RS1" $F "$TOKEN"
    # --- the request itself
    same $ep "token twice" "$MALFORMED" -H "Authorization: Basic $RS1" $F "$TOKEN" $F "$TOKEN"
    same $ep "token missing" "$MALFORMED" -H "Authorization: Basic $RS1" \
        $F token_type_hint=access_token
    same $ep "token empty" "$MALFORMED" -H "Authorization: Basic $RS1" $F token=
    same $ep "Content-Type application/json" "$MALFORMED" -H "Authorization: Basic $RS1" \
        -H 'Content-Type: application/json' --data-raw '{"token":"x"}'
    same $ep "Content-Type text/plain" "$MALFORMED" -H "Authorization: Basic $RS1" \
        -H 'Content-Type: text/plain' $F "$TOKEN"
    same $ep "no Content-Type" "$MALFORMED" -H "Authorization: Basic $RS1" -H 'Content-Type:' \
        $F "$TOKEN"
    # The endpoint exists and takes POST only: 405 (RFC 9110 §15.5.6); oidc-provider routes
    # by method and path, so to it the path is not there.
    differ $ep "GET" "405 invalid_request - -" "404 - - -" -X GET \
        -H "Authorization: Basic $RS1"
    differ $ep "PUT" "405 invalid_request - -" "404 - - -" -X PUT \
        -H "Authorization: Basic $RS1" $F "$TOKEN"
done

# --- without client authentication, and with a scheme other than Basic.
# RFC 6749 §5.2 names "no client authentication included" and "unsupported authentication
# method" as invalid_client (401); oidc-provider answers invalid_request (400).
differ introspect "no client authentication" "$BAD_BASIC" "$MALFORMED" $F "$TOKEN"
differ introspect "Bearer instead of Basic" "$BAD_BASIC" "$MALFORMED" \
    -H "Authorization: Bearer $RS1" $F "$TOKEN"
# A registered client naming itself without its secret: both refuse it.
differ introspect "post, client_id without secret" "$BAD_BASIC" "401 invalid_client - -" \
    $F client_id=rs1 $F "$TOKEN"
# Revocation is open to the holder of a token (docs/revocation.md: bootstrap clients are
# public), so tokensmith takes a request without credentials, and a scheme it does not know is
# no credentials; oidc-provider authenticates every revocation.
differ revoke "no client authentication" "200 - - -" "$MALFORMED" $F "$TOKEN"
differ revoke "Bearer instead of Basic" "200 - - -" "$MALFORMED" \
    -H "Authorization: Bearer $RS1" $F "$TOKEN"
differ revoke "post, client_id without secret" "$BAD_BASIC" "401 invalid_client - -" \
    $F client_id=rs1 $F "$TOKEN"

# --- revocation by a client takes effect on both sides
ADDR=10.1.0.1
st=$(ask "$URL/oauth/revoke" "$OURS_TOKEN" $ADDR -H "Authorization: Basic $RS1" $F "$TOKEN")
check "tokensmith: rs1 revokes its live token" "200 - - -" "$st"
st=$(ask "$OP/token/revocation" "$OP_TOKEN" - -H "Authorization: Basic $RS1" $F "$TOKEN")
check "oidc-provider: rs1 revokes its live token" "200 - - -" "$st"
st=$(ask "$URL/oauth/introspect" "$OURS_TOKEN" $ADDR -H "Authorization: Basic $RS1" $F "$TOKEN")
check "tokensmith: revoked token inactive" "200 - - false" "$st"
st=$(ask "$OP/token/introspection" "$OP_TOKEN" - -H "Authorization: Basic $RS1" $F "$TOKEN")
check "oidc-provider: revoked token inactive" "200 - - false" "$st"

grep -q "$RS1_SECRET" "$DIR/a.log"; check "no secret in the log" 1 $?
grep -q "$OURS_TOKEN" "$DIR/a.log"; check "no token in the log" 1 $?
stop_server
exit $fail
