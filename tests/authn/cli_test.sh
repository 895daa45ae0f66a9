#!/bin/sh
# End-to-end test of `tokensmith keys thumbprint` and `tokensmith token verify`.
# usage: cli_test.sh TOKENSMITH AUTHN_MINT KEYS_DIR
set -u
TS=$1
MINT=$2
KEYS=$3
DIR=$(mktemp -d)
trap 'rm -rf "$DIR"' EXIT
fail=0
check() { # name expected-status actual-status
    if [ "$2" != "$3" ]; then
        echo "FAIL: $1: exit $3, want $2"
        fail=1
    else
        echo "ok: $1"
    fi
}

"$MINT" "$DIR" https://issuer.test svc-a || { echo "mint failed"; exit 1; }

# keys thumbprint: PEM forms of one key give one kid; JWK files too.
want=$(sed -n 's/^rsa //p' "$KEYS/thumbprints.txt")
for f in rsa_spki.pem rsa_pkcs1_public.pem rsa_cert.pem rsa_pkcs8_private.pem; do
    got=$("$TS" keys thumbprint "$KEYS/$f")
    check "thumbprint $f" 0 $?
    [ "$got" = "$want" ] || { echo "FAIL: thumbprint $f: $got != $want"; fail=1; }
done
cat > "$DIR/ec.jwk" <<'JWK'
{"kty":"EC","crv":"P-256","x":"MKBCTNIcKUSDii11ySs3526iDZ8AiTo7Tu6KPAqv7D4","y":"4Etl6SRW2YiLUrN5vfvVHuhp7x8PxltmWWlbbM4IFyM"}
JWK
got=$("$TS" keys thumbprint "$DIR/ec.jwk")
[ "$got" = "cn-I_WNMClehiVp51i_0VpOENW1upEerA8sEam5hn-s" ] || { echo "FAIL: EC JWK thumbprint $got"; fail=1; }
"$TS" keys thumbprint "$DIR/jwks.json" >/dev/null 2>&1
check "thumbprint of a JWKS is refused" 1 $?
"$TS" keys thumbprint >/dev/null 2>&1
check "thumbprint without FILE" 2 $?

# token verify: every algorithm, as an argument and on stdin.
for alg in RS256 RS384 RS512 PS256 PS384 PS512 ES256 ES384 ES512; do
    out=$("$TS" token verify --jwks "$DIR/jwks.json" --issuer https://issuer.test --audience svc-a "$(cat "$DIR/$alg.jwt")")
    check "verify $alg" 0 $?
    echo "$out" | grep -q "\"sub\":\"svc-$alg\"" || { echo "FAIL: $alg claims: $out"; fail=1; }
    "$TS" token verify --jwks "$DIR/jwks.json" --issuer https://issuer.test --audience svc-a - < "$DIR/$alg.jwt" >/dev/null
    check "verify $alg from stdin" 0 $?
done

expect_error() { # name code args...
    name=$1; code=$2; shift 2
    err=$("$TS" token verify "$@" 2>&1 >/dev/null)
    st=$?
    check "$name" 1 $st
    case "$err" in
        "error: $code: "*) ;;
        *) echo "FAIL: $name: stderr '$err', want 'error: $code: ...'"; fail=1 ;;
    esac
    [ "$(printf '%s\n' "$err" | wc -l)" -eq 1 ] || { echo "FAIL: $name: more than one line"; fail=1; }
}
J="--jwks $DIR/jwks.json"
expect_error "expired" expired $J --issuer https://issuer.test --audience svc-a "$(cat "$DIR/expired.jwt")"
expect_error "wrong audience" wrong_audience $J --issuer https://issuer.test --audience svc-a "$(cat "$DIR/wrong-aud.jwt")"
expect_error "bad signature" bad_signature $J --issuer https://issuer.test --audience svc-a "$(cat "$DIR/bad-sig.jwt")"
expect_error "wrong issuer" wrong_issuer $J --issuer https://other.test --audience svc-a "$(cat "$DIR/ES256.jwt")"
expect_error "garbage" malformed $J --issuer https://issuer.test --audience svc-a "not-a-token"
expect_error "alg none" alg_not_allowed $J --issuer https://issuer.test --audience svc-a "eyJhbGciOiJub25lIn0.eyJzdWIiOiJ4In0."
expect_error "missing JWKS file" keys_unavailable --jwks "$DIR/nope.json" --issuer a --audience b x
expect_error "non-loopback http URL" keys_unavailable --jwks http://example.invalid/jwks --issuer a --audience b x
expect_error "unreachable URL" keys_unavailable --jwks http://127.0.0.1:1/jwks --issuer a --audience b x
printf '' | "$TS" token verify $J --issuer https://issuer.test --audience svc-a 2>"$DIR/err" >/dev/null
check "empty stdin" 1 $?
grep -q "^error: missing_token: " "$DIR/err" || { echo "FAIL: empty stdin message"; fail=1; }

# Usage errors exit 2.
"$TS" token verify --issuer a --audience b x >/dev/null 2>&1
check "no --jwks" 2 $?
"$TS" token verify $J --audience b x >/dev/null 2>&1
check "no --issuer" 2 $?
"$TS" token verify $J --issuer a --audience b --leeway 601 x >/dev/null 2>&1
check "leeway too large" 2 $?
"$TS" token verify $J --issuer a --audience b --frobnicate x >/dev/null 2>&1
check "unknown option" 2 $?
"$TS" token verify --help | grep -q "usage: tokensmith token verify"
check "help" 0 $?
"$TS" help token | grep -q "token verify"
check "help token" 0 $?
"$TS" help keys | grep -q "keys thumbprint"
check "help keys" 0 $?
exit $fail
