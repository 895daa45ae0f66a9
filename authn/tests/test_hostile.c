/* A corpus of hostile tokens, each of which must be refused with one exact reason code. */
#include <openssl/hmac.h>
#include <openssl/evp.h>

#include "testkit.h"

typedef struct hcase {
    char name[64];
    char *tok;
    size_t len;
    ts_authn_reason want;
    int verifier; /* 0 plain, 1 RFC 7638 kids + required jti, 2 NIST claims */
} hcase;

static hcase cases[160];
static size_t ncases;
static ts_jwk *rsa, *ec, *ps, *other;
static ts_jwks *set;
static char hdr_rsa[256], hdr_ec[256], hdr_ps[256];

static void add(const char *name, char *tok, ts_authn_reason want, int verifier)
{
    assert_true(ncases < sizeof cases / sizeof cases[0]);
    hcase *c = &cases[ncases++];
    snprintf(c->name, sizeof c->name, "%s", name);
    c->tok = tok;
    c->len = strlen(tok);
    c->want = want;
    c->verifier = verifier;
}

static char *b64(const char *s)
{
    char *o = NULL;
    assert_int_equal(ts_b64url_encode(s, strlen(s), &o, NULL, NULL), TS_OK);
    return o;
}

/* header.payload.sig from raw parts (no signing). */
static char *raw(const char *header, const char *payload, const char *sig_b64)
{
    char *h = b64(header), *p = b64(payload);
    size_t n = strlen(h) + strlen(p) + strlen(sig_b64) + 3;
    char *t = malloc(n);
    snprintf(t, n, "%s.%s.%s", h, p, sig_b64);
    ts_free(h);
    ts_free(p);
    return t;
}

static char *append(char *tok, const char *junk)
{
    size_t n = strlen(tok) + strlen(junk) + 1;
    char *t = malloc(n);
    snprintf(t, n, "%s%s", tok, junk);
    ts_free(tok);
    return t;
}

static char *claims(const char *extra)
{
    static char buf[32768];
    tk_claims(buf, sizeof buf, extra);
    return buf;
}

static char *dupstr(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    memcpy(d, s, n);
    return d;
}

/* Claims without the default member @p drop, plus @p extra. */
static char *claims_without(const char *drop, const char *extra)
{
    static char buf[32768];
    const char *names[] = {"iss", "sub", "aud", "exp", "nbf", "iat", "jti"};
    char vals[7][64];
    snprintf(vals[0], 64, "\"https://issuer.test\"");
    snprintf(vals[1], 64, "\"alice\"");
    snprintf(vals[2], 64, "[\"svc-a\"]");
    snprintf(vals[3], 64, "%lld", TK_NOW + 3600);
    snprintf(vals[4], 64, "%lld", TK_NOW - 10);
    snprintf(vals[5], 64, "%lld", TK_NOW - 10);
    snprintf(vals[6], 64, "\"j-1\"");
    size_t o = 0;
    o += (size_t)snprintf(buf + o, sizeof buf - o, "{");
    bool first = true;
    for (int i = 0; i < 7; i++) {
        if (strcmp(names[i], drop) == 0)
            continue;
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s\"%s\":%s", first ? "" : ",", names[i],
                              vals[i]);
        first = false;
    }
    if (extra && *extra)
        o += (size_t)snprintf(buf + o, sizeof buf - o, "%s%s", first ? "" : ",", extra);
    snprintf(buf + o, sizeof buf - o, "}");
    return buf;
}

static char *hs_token(const char *alg, const EVP_MD *md, const char *secret, size_t slen)
{
    char header[256];
    snprintf(header, sizeof header, "{\"alg\":\"%s\",\"kid\":\"%s\",\"typ\":\"JWT\"}", alg,
             ts_jwk_kid(rsa));
    char *h = b64(header), *p = b64(claims(NULL));
    size_t n = strlen(h) + strlen(p) + 2;
    char *input = malloc(n);
    snprintf(input, n, "%s.%s", h, p);
    unsigned char mac[64];
    unsigned int ml = 0;
    HMAC(md, secret, (int)slen, (const unsigned char *)input, strlen(input), mac, &ml);
    char *s = NULL;
    assert_int_equal(ts_b64url_encode(mac, ml, &s, NULL, NULL), TS_OK);
    size_t tn = n + strlen(s) + 1;
    char *t = malloc(tn);
    snprintf(t, tn, "%s.%s", input, s);
    free(input);
    ts_free(h);
    ts_free(p);
    ts_free(s);
    return t;
}

/* A claims object with @p depth nested arrays in member "x". */
static char *deep_claims(int depth)
{
    static char buf[8192];
    size_t o = 0;
    for (int i = 0; i < depth; i++)
        buf[o++] = '[';
    for (int i = 0; i < depth; i++)
        buf[o++] = ']';
    buf[o] = 0;
    char extra[8300];
    snprintf(extra, sizeof extra, "\"x\":%s", buf);
    return claims(extra);
}

static char *mint_h(const ts_jwk *key, ts_jws_alg alg, const char *header, const char *payload)
{
    return tk_mint(key, alg, header, payload);
}

/* The token with its signature cut to its first @p keep bytes (re-encoded canonically). */
static char *cut_sig(const char *tok, size_t keep)
{
    const char *d2 = strrchr(tok, '.');
    uint8_t *sig;
    size_t sl;
    assert_int_equal(ts_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl, NULL), TS_OK);
    assert_true(keep < sl);
    char *enc = NULL;
    assert_int_equal(ts_b64url_encode(sig, keep, &enc, NULL, NULL), TS_OK);
    size_t in = (size_t)(d2 - tok), n = in + strlen(enc) + 2;
    char *t = malloc(n);
    snprintf(t, n, "%.*s.%s", (int)in, tok, enc);
    ts_free(sig);
    ts_free(enc);
    return t;
}

static char *zero_sig(const char *tok, size_t n)
{
    unsigned char *z = calloc(1, n);
    char *enc = NULL;
    assert_int_equal(ts_b64url_encode(z, n, &enc, NULL, NULL), TS_OK);
    const char *d2 = strrchr(tok, '.');
    size_t in = (size_t)(d2 - tok), tn = in + strlen(enc) + 2;
    char *t = malloc(tn);
    snprintf(t, tn, "%.*s.%s", (int)in, tok, enc);
    free(z);
    ts_free(enc);
    return t;
}

static void build_corpus(void)
{
    char h[1024];
    const char *rk = ts_jwk_kid(rsa), *ek = ts_jwk_kid(ec);
    char *good = mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims(NULL));
    const char *d1 = strchr(good, '.'), *d2 = strrchr(good, '.');

    /* --- alg --- */
    snprintf(h, sizeof h, "{\"alg\":\"none\",\"kid\":\"%s\",\"typ\":\"JWT\"}", rk);
    add("alg none, empty signature", raw(h, claims(NULL), ""), TS_AUTHN_ALG_NOT_ALLOWED, 0);
    add("alg none, junk signature", raw(h, claims(NULL), "AAAA"), TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"NoNe\",\"kid\":\"%s\"}", rk);
    add("alg NoNe", raw(h, claims(NULL), ""), TS_AUTHN_ALG_NOT_ALLOWED, 0);
    {
        /* HS256 keyed with the RSA public key's PEM, libjwt 1.10.2's key confusion. */
        char *pem = tk_slurp(TS_TEST_DATA_DIR "/keys/rsa_spki.pem", NULL);
        assert_non_null(pem);
        add("HS256 keyed with the public PEM", hs_token("HS256", EVP_sha256(), pem, strlen(pem)),
            TS_AUTHN_ALG_NOT_ALLOWED, 0);
        add("HS384 keyed with the public PEM", hs_token("HS384", EVP_sha384(), pem, strlen(pem)),
            TS_AUTHN_ALG_NOT_ALLOWED, 0);
        add("HS512 keyed with the public PEM", hs_token("HS512", EVP_sha512(), pem, strlen(pem)),
            TS_AUTHN_ALG_NOT_ALLOWED, 0);
        free(pem);
    }
    snprintf(h, sizeof h, "{\"alg\":\"rs256\",\"kid\":\"%s\"}", ek);
    add("alg lower case", mint_h(ec, TS_JWS_ES256, h, claims(NULL)), TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"ES384\",\"kid\":\"%s\"}", ek);
    add("wrong curve: ES384 on a P-256 key", mint_h(ec, TS_JWS_ES256, h, claims(NULL)),
        TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"ES512\",\"kid\":\"%s\"}", ek);
    add("wrong curve: ES512 on a P-256 key", mint_h(ec, TS_JWS_ES256, h, claims(NULL)),
        TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", ek);
    add("RS256 against an EC key", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)),
        TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"kid\":\"%s\"}", rk);
    add("ES256 against an RSA key", mint_h(ec, TS_JWS_ES256, h, claims(NULL)),
        TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"PS256\",\"kid\":\"%s\"}", rk);
    add("PS256 against a key bound to RS256", mint_h(ps, TS_JWS_PS256, h, claims(NULL)),
        TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"EdDSA\",\"kid\":\"%s\"}", rk);
    add("EdDSA", raw(h, claims(NULL), "AAAA"), TS_AUTHN_ALG_NOT_ALLOWED, 0);
    snprintf(h, sizeof h, "{\"kid\":\"%s\"}", rk);
    add("alg missing", raw(h, claims(NULL), "AAAA"), TS_AUTHN_MALFORMED, 0);
    snprintf(h, sizeof h, "{\"alg\":256,\"kid\":\"%s\"}", rk);
    add("alg a number", raw(h, claims(NULL), "AAAA"), TS_AUTHN_MALFORMED, 0);

    /* --- kid --- */
    add("kid missing", mint_h(rsa, TS_JWS_RS256, "{\"alg\":\"RS256\"}", claims(NULL)),
        TS_AUTHN_BAD_KID, 0);
    add("kid a number", mint_h(rsa, TS_JWS_RS256, "{\"alg\":\"RS256\",\"kid\":7}", claims(NULL)),
        TS_AUTHN_BAD_KID, 0);
    add("kid empty", mint_h(rsa, TS_JWS_RS256, "{\"alg\":\"RS256\",\"kid\":\"\"}", claims(NULL)),
        TS_AUTHN_BAD_KID, 0);
    const char *pathkid = "{\"alg\":\"RS256\",\"kid\":\"../../../../etc/passwd\"}";
    const char *sqlkid = "{\"alg\":\"RS256\",\"kid\":\"x' OR '1'='1'; DROP TABLE keys; --\"}";
    add("kid with a path (opaque kid)", mint_h(rsa, TS_JWS_RS256, pathkid, claims(NULL)),
        TS_AUTHN_UNKNOWN_KID, 0);
    add("kid with SQL (opaque kid)", mint_h(rsa, TS_JWS_RS256, sqlkid, claims(NULL)),
        TS_AUTHN_UNKNOWN_KID, 0);
    add("kid with a path (RFC 7638 kids)", mint_h(rsa, TS_JWS_RS256, pathkid, claims(NULL)),
        TS_AUTHN_BAD_KID, 1);
    add("kid with SQL (RFC 7638 kids)", mint_h(rsa, TS_JWS_RS256, sqlkid, claims(NULL)),
        TS_AUTHN_BAD_KID, 1);
    {
        char longkid[300];
        memset(longkid, 'k', 200);
        longkid[200] = 0;
        snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", longkid);
        add("kid of 200 bytes", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_BAD_KID, 0);
    }
    add("kid with an escaped NUL",
        mint_h(rsa, TS_JWS_RS256, "{\"alg\":\"RS256\",\"kid\":\"a\\u0000b\"}", claims(NULL)),
        TS_AUTHN_MALFORMED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", ts_jwk_kid(other));
    add("unknown kid (valid thumbprint form)", mint_h(other, TS_JWS_RS256, h, claims(NULL)),
        TS_AUTHN_UNKNOWN_KID, 1);
    {
        /* Embedded attacker key (jwk header) must not be trusted. */
        char *pub = ts_jwk_to_json(other, NULL);
        char hh[2048];
        snprintf(hh, sizeof hh, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"jwk\":%s}", ts_jwk_kid(other),
                 pub);
        add("embedded jwk header", mint_h(other, TS_JWS_RS256, hh, claims(NULL)),
            TS_AUTHN_UNKNOWN_KID, 0);
        snprintf(hh, sizeof hh, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"jku\":\"https://evil/jwks\"}",
                 rk);
        add("jku header, signed by another key", mint_h(other, TS_JWS_RS256, hh, claims(NULL)),
            TS_AUTHN_BAD_SIGNATURE, 0);
        ts_free(pub);
    }

    /* --- size and structure --- */
    {
        char *big = malloc(17 * 1024 + 1);
        memset(big, 'A', 17 * 1024);
        big[17 * 1024] = 0;
        add("17 KiB token", big, TS_AUTHN_TOO_LARGE, 0);
        char extra[16000];
        memset(extra, 0, sizeof extra);
        snprintf(extra, sizeof extra, "\"pad\":\"");
        memset(extra + 7, 'p', 13000);
        extra[13007] = '"';
        add("signed token over 16 KiB", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims(extra)),
            TS_AUTHN_TOO_LARGE, 0);
    }
    add("empty token", dupstr(""), TS_AUTHN_MISSING_TOKEN, 0);
    add("two parts", dupstr("eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ4In0"), TS_AUTHN_MALFORMED, 0);
    add("four parts", append(dupstr(good), ".AAAA"), TS_AUTHN_MALFORMED, 0);
    add("only dots", dupstr(".."), TS_AUTHN_MALFORMED, 0);
    {
        /* Padding, white space and the standard alphabet inside otherwise valid tokens. */
        size_t hl = (size_t)(d1 - good);
        char *t = malloc(strlen(good) + 8);
        snprintf(t, strlen(good) + 8, "%.*s==%s", (int)hl, good, d1);
        add("padded header", t, TS_AUTHN_MALFORMED, 0);
        t = malloc(strlen(good) + 8);
        snprintf(t, strlen(good) + 8, "%.*s %s", (int)hl, good, d1);
        add("space in header", t, TS_AUTHN_MALFORMED, 0);
        t = malloc(strlen(good) + 8);
        snprintf(t, strlen(good) + 8, "%.*s\n%s", (int)(d1 - good + 5), good, d1 + 5);
        add("newline in payload", t, TS_AUTHN_MALFORMED, 0);
        t = dupstr(good);
        t[2] = '+';
        add("standard-alphabet + in header", t, TS_AUTHN_MALFORMED, 0);
        t = dupstr(good);
        t[(size_t)(d2 - good) + 5] = '/';
        add("standard-alphabet / in signature", t, TS_AUTHN_MALFORMED, 0);
        add("leading space", append(dupstr(" "), good), TS_AUTHN_MALFORMED, 0);
    }
    add("signature padded with ==", append(dupstr(good), "=="), TS_AUTHN_MALFORMED, 0);
    add("! appended to the signature", append(dupstr(good), "!"), TS_AUTHN_MALFORMED, 0);
    add("~~ appended to the signature", append(dupstr(good), "~~"), TS_AUTHN_MALFORMED, 0);
    add("space appended to the signature", append(dupstr(good), " "), TS_AUTHN_MALFORMED, 0);
    add("newline appended to the signature", append(dupstr(good), "\n"), TS_AUTHN_MALFORMED, 0);
    add("AAAA appended to the signature", append(dupstr(good), "AAAA"), TS_AUTHN_BAD_SIGNATURE, 0);
    {
        add("signature truncated by 3 bytes", cut_sig(good, 253), TS_AUTHN_BAD_SIGNATURE, 0);
        add("signature truncated to 1 byte", cut_sig(good, 1), TS_AUTHN_BAD_SIGNATURE, 0);
        char *t = dupstr(good);
        t[strlen(t) - 1] = 0;
        add("signature missing its last character", t, TS_AUTHN_MALFORMED, 0);
        t = dupstr(good);
        t[(size_t)(d2 - good) + 1] = 0;
        add("signature truncated to nothing", t, TS_AUTHN_MALFORMED, 0);
        t = dupstr(good);
        char *c = t + (d2 - good) + 10;
        *c = *c == 'A' ? 'B' : 'A';
        add("one signature character changed", t, TS_AUTHN_BAD_SIGNATURE, 0);
        t = dupstr(good);
        c = t + (d1 - good) + 10;
        *c = *c == 'A' ? 'B' : 'A';
        add("one payload character changed", t, TS_AUTHN_BAD_SIGNATURE, 0);
    }
    {
        /* ECDSA: an all-zero R||S (CVE-2022-21449 style), a DER signature, a short one. */
        char *et = mint_h(ec, TS_JWS_ES256, hdr_ec, claims(NULL));
        const char *ed2 = strrchr(et, '.');
        size_t in = (size_t)(ed2 - et);
        unsigned char zeros[64] = {0};
        char *zs = NULL;
        assert_int_equal(ts_b64url_encode(zeros, 64, &zs, NULL, NULL), TS_OK);
        char *t = malloc(in + strlen(zs) + 2);
        snprintf(t, in + strlen(zs) + 2, "%.*s.%s", (int)in, et, zs);
        add("ES256 all-zero signature", t, TS_AUTHN_BAD_SIGNATURE, 0);
        unsigned char der[72] = {0x30, 0x44, 0x02, 0x20};
        der[36] = 0x02;
        der[37] = 0x20;
        char *ds = NULL;
        assert_int_equal(ts_b64url_encode(der, 70, &ds, NULL, NULL), TS_OK);
        t = malloc(in + strlen(ds) + 2);
        snprintf(t, in + strlen(ds) + 2, "%.*s.%s", (int)in, et, ds);
        add("ES256 DER-shaped signature", t, TS_AUTHN_BAD_SIGNATURE, 0);
        add("ES256 truncated signature", cut_sig(et, 60), TS_AUTHN_BAD_SIGNATURE, 0);
        add("ES256 signature of R only", cut_sig(et, 32), TS_AUTHN_BAD_SIGNATURE, 0);
        unsigned char big[256] = {0};
        char *bs = NULL;
        assert_int_equal(ts_b64url_encode(big, 256, &bs, NULL, NULL), TS_OK);
        t = malloc(in + strlen(bs) + 2);
        snprintf(t, in + strlen(bs) + 2, "%.*s.%s", (int)in, et, bs);
        add("RSA-sized signature on an EC key", t, TS_AUTHN_BAD_SIGNATURE, 0);
        ts_free(zs);
        ts_free(ds);
        ts_free(bs);
        ts_free(et);
    }
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", rk);
    add("signed by another key under our kid", mint_h(other, TS_JWS_RS256, h, claims(NULL)),
        TS_AUTHN_BAD_SIGNATURE, 0);
    add("RSA signature all zeros", zero_sig(good, 256), TS_AUTHN_BAD_SIGNATURE, 0);

    /* --- JSON --- */
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"alg\":\"RS256\",\"kid\":\"%s\"}", rk);
    add("duplicated header member", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_MALFORMED,
        0);
    add("duplicated claim (sub twice)",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims("\"sub\":\"root\"")), TS_AUTHN_MALFORMED, 0);
    add("duplicated claim (exp twice)",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims("\"exp\":99999999999")), TS_AUTHN_MALFORMED, 0);
    add("payload nested 100 deep", mint_h(rsa, TS_JWS_RS256, hdr_rsa, deep_claims(100)),
        TS_AUTHN_MALFORMED, 0);
    add("payload nested 3000 deep", mint_h(rsa, TS_JWS_RS256, hdr_rsa, deep_claims(3000)),
        TS_AUTHN_MALFORMED, 0);
    snprintf(h, sizeof h,
             "{\"alg\":\"RS256\",\"kid\":\"%s\",\"x\":[[[[[[[[[[[[[[[[[[[[]]]]]]]]]]]]]]]]]]]]}",
             rk);
    add("header nested 20 deep", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_MALFORMED, 0);
    add("payload not JSON", mint_h(rsa, TS_JWS_RS256, hdr_rsa, "not json"), TS_AUTHN_MALFORMED, 0);
    add("payload a JSON array", mint_h(rsa, TS_JWS_RS256, hdr_rsa, "[1,2,3]"), TS_AUTHN_MALFORMED,
        0);
    add("payload with trailing junk", mint_h(rsa, TS_JWS_RS256, hdr_rsa, "{\"sub\":\"a\"} x"),
        TS_AUTHN_MALFORMED, 0);
    add("payload invalid UTF-8", mint_h(rsa, TS_JWS_RS256, hdr_rsa, "{\"sub\":\"\xff\xfe\"}"),
        TS_AUTHN_MALFORMED, 0);
    add("header not JSON", raw("alg=RS256", claims(NULL), "AAAA"), TS_AUTHN_MALFORMED, 0);
    add("header a JSON string", raw("\"RS256\"", claims(NULL), "AAAA"), TS_AUTHN_MALFORMED, 0);
    add("exp too big for 64 bits",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa,
               "{\"iss\":\"https://issuer.test\",\"sub\":\"a\",\"aud\":\"svc-a\","
               "\"exp\":100000000000000000000000000000}"),
        TS_AUTHN_MALFORMED, 0);

    /* --- header rules --- */
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"crit\":[\"exp\"]}", rk);
    add("crit [exp]", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_CRIT_UNSUPPORTED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"crit\":[]}", rk);
    add("crit []", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_CRIT_UNSUPPORTED, 0);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"id+jwt\"}", rk);
    add("typ id+jwt", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_WRONG_TYP, 0);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"JWE\"}", rk);
    add("typ JWE", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_WRONG_TYP, 0);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":1}", rk);
    add("typ a number", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_WRONG_TYP, 0);
    snprintf(h, sizeof h, "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"application/jwt+x\"}", rk);
    add("typ application/jwt+x", mint_h(rsa, TS_JWS_RS256, h, claims(NULL)), TS_AUTHN_WRONG_TYP, 0);

    /* --- claims --- */
    add("exp a string",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("exp", "\"exp\":\"1900000000\"")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("exp a float",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("exp", "\"exp\":1900000000.5")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("exp null", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("exp", "\"exp\":null")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("exp missing", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("exp", NULL)),
        TS_AUTHN_MISSING_CLAIM, 0);
    {
        char e[64];
        snprintf(e, sizeof e, "\"exp\":%lld", TK_NOW - 61);
        add("expired beyond leeway", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("exp", e)),
            TS_AUTHN_EXPIRED, 0);
        snprintf(e, sizeof e, "\"nbf\":%lld", TK_NOW + 120);
        add("nbf in the future", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("nbf", e)),
            TS_AUTHN_NOT_YET_VALID, 0);
        snprintf(e, sizeof e, "\"iat\":%lld", TK_NOW + 3000);
        add("iat in the future", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("iat", e)),
            TS_AUTHN_NOT_YET_VALID, 0);
    }
    add("nbf a string", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("nbf", "\"nbf\":\"0\"")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("iat a boolean", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("iat", "\"iat\":true")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("wrong issuer",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("iss", "\"iss\":\"https://evil.test\"")),
        TS_AUTHN_WRONG_ISSUER, 0);
    add("issuer with trailing slash",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa,
               claims_without("iss", "\"iss\":\"https://issuer.test/\"")),
        TS_AUTHN_WRONG_ISSUER, 0);
    add("issuer in other case",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa,
               claims_without("iss", "\"iss\":\"HTTPS://ISSUER.TEST\"")),
        TS_AUTHN_WRONG_ISSUER, 0);
    add("issuer missing", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("iss", NULL)),
        TS_AUTHN_MISSING_CLAIM, 0);
    add("issuer an array",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa,
               claims_without("iss", "\"iss\":[\"https://issuer.test\"]")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("wrong audience",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("aud", "\"aud\":[\"svc-b\"]")),
        TS_AUTHN_WRONG_AUDIENCE, 0);
    add("audience prefix",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("aud", "\"aud\":\"svc-\"")),
        TS_AUTHN_WRONG_AUDIENCE, 0);
    add("audience empty array",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("aud", "\"aud\":[]")),
        TS_AUTHN_WRONG_AUDIENCE, 0);
    add("audience array with a number",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("aud", "\"aud\":[1,\"svc-a\"]")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("audience an object",
        mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("aud", "\"aud\":{\"svc-a\":1}")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("audience missing", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("aud", NULL)),
        TS_AUTHN_MISSING_CLAIM, 0);
    add("sub missing", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("sub", NULL)),
        TS_AUTHN_MISSING_CLAIM, 0);
    add("sub empty", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("sub", "\"sub\":\"\"")),
        TS_AUTHN_INVALID_CLAIM, 0);
    add("sub a number", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims_without("sub", "\"sub\":0")),
        TS_AUTHN_INVALID_CLAIM, 0);
    {
        char h1[256];
        snprintf(h1, sizeof h1, "{\"alg\":\"RS256\",\"kid\":\"%s\"}", rk);
        add("required jti missing", mint_h(rsa, TS_JWS_RS256, h1, claims_without("jti", NULL)),
            TS_AUTHN_MISSING_CLAIM, 1);
        add("required jti null",
            mint_h(rsa, TS_JWS_RS256, h1, claims_without("jti", "\"jti\":null")),
            TS_AUTHN_MISSING_CLAIM, 1);
    }
    add("NIST claims absent", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims(NULL)),
        TS_AUTHN_MISSING_CLAIM, 2);
    {
        char e[512];
        snprintf(e, sizeof e,
                 "\"auth_level\":\"IAL2\",\"auth_factors\":1,\"auth_methods\":[\"pwd\"],"
                 "\"session_id\":\"s\",\"session_exp\":%lld,\"auth_events\":[\"e\"]",
                 TK_NOW + 100);
        add("NIST auth_factors 1", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims(e)),
            TS_AUTHN_INVALID_CLAIM, 2);
        snprintf(e, sizeof e,
                 "\"auth_level\":\"IAL2\",\"auth_factors\":2,\"auth_methods\":[\"pwd\"],"
                 "\"session_id\":\"s\",\"session_exp\":%lld,\"auth_events\":[\"e\"]",
                 TK_NOW + 90000);
        add("NIST session_exp beyond 24 h", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims(e)),
            TS_AUTHN_INVALID_CLAIM, 2);
        snprintf(e, sizeof e,
                 "\"auth_level\":\"IAL2\",\"auth_factors\":2,\"auth_methods\":[],"
                 "\"session_id\":\"s\",\"session_exp\":%lld,\"auth_events\":[\"e\"]",
                 TK_NOW + 100);
        add("NIST empty auth_methods", mint_h(rsa, TS_JWS_RS256, hdr_rsa, claims(e)),
            TS_AUTHN_INVALID_CLAIM, 2);
    }
    ts_free(good);
}

static ts_authn_verifier *make_verifier(int which)
{
    const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc-a"}, *req[] = {"jti"};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    o.now = tk_clock;
    o.disable_cache = which == 0; /* verifier 1 and 2 run with the cache on */
    if (which == 1) {
        o.require_rfc7638_kid = true;
        o.required_claims = req;
        o.n_required_claims = 1;
    }
    o.require_nist_claims = which == 2;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_verifier *v = ts_authn_verifier_new(&o, &err);
    if (!v)
        fail_msg("verifier: %s", err.msg);
    return v;
}

static int setup(void **state)
{
    (void)state;
    ec = ts_jwk_generate(TS_JWS_ES256, NULL);
    ps = ts_jwk_generate(TS_JWS_PS256, NULL);
    other = ts_jwk_generate(TS_JWS_RS256, NULL);
    rsa = ts_jwk_generate(TS_JWS_RS256, NULL);
    /* rsa is replaced by the PEM fixture key inside build_corpus (the HS256 case needs its
       PEM); the headers are built after that. */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < ncases; i++)
        free(cases[i].tok);
    ts_jwks_free(set);
    ts_jwk_free(rsa);
    ts_jwk_free(ec);
    ts_jwk_free(ps);
    ts_jwk_free(other);
    return 0;
}

static void test_corpus(void **state)
{
    (void)state;
    /* Fix the RSA key first so that every header names the final kid. */
    char *pem = tk_slurp(TS_TEST_DATA_DIR "/keys/rsa_spki.pem", NULL);
    ts_jwk *priv = ts_jwk_load_file(TS_TEST_DATA_DIR "/keys/rsa_pkcs1_private.pem", NULL);
    assert_non_null(pem);
    assert_non_null(priv);
    ts_jwk_free(rsa);
    rsa = ts_jwk_with(priv, NULL, TS_JWS_RS256, NULL);
    ts_jwk_free(priv);
    free(pem);
    tk_header(hdr_rsa, sizeof hdr_rsa, rsa, TS_JWS_RS256);
    tk_header(hdr_ec, sizeof hdr_ec, ec, TS_JWS_ES256);
    tk_header(hdr_ps, sizeof hdr_ps, ps, TS_JWS_PS256);
    ts_jwk *pubs[3];
    char *j;
    for (int i = 0; i < 3; i++) {
        ts_jwk *k = i == 0 ? rsa : i == 1 ? ec : ps;
        j = ts_jwk_to_json(k, NULL);
        pubs[i] = ts_jwk_parse(j, strlen(j), NULL);
        assert_non_null(pubs[i]);
        ts_free(j);
    }
    set = ts_jwks_new(pubs, 3, NULL);
    for (int i = 0; i < 3; i++)
        ts_jwk_free(pubs[i]);

    /* Positive controls: the same verifiers accept well-formed tokens. */
    ts_authn_verifier *v[3] = {make_verifier(0), make_verifier(1), make_verifier(2)};
    const char *hdrs[] = {hdr_rsa, hdr_ec, hdr_ps};
    ts_jwk *keys[] = {rsa, ec, ps};
    ts_jws_alg algs[] = {TS_JWS_RS256, TS_JWS_ES256, TS_JWS_PS256};
    for (int i = 0; i < 3; i++) {
        char *t = tk_mint(keys[i], algs[i], hdrs[i], claims(NULL));
        ts_authn_principal *p = NULL;
        assert_int_equal(ts_authn_verify(v[0], t, strlen(t), &p, NULL, NULL), TS_AUTHN_OK);
        assert_string_equal(ts_authn_principal_id(p), "alice");
        ts_authn_principal_free(p);
        assert_int_equal(ts_authn_verify(v[1], t, strlen(t), &p, NULL, NULL), TS_AUTHN_OK);
        ts_authn_principal_free(p);
        ts_free(t);
    }
    char typ_hdr[256];
    snprintf(typ_hdr, sizeof typ_hdr,
             "{\"alg\":\"RS256\",\"kid\":\"%s\",\"typ\":\"application/AT+JWT\"}", ts_jwk_kid(rsa));
    char *t = tk_mint(rsa, TS_JWS_RS256, typ_hdr, claims(NULL));
    ts_authn_principal *p = NULL;
    assert_int_equal(ts_authn_verify(v[0], t, strlen(t), &p, NULL, NULL), TS_AUTHN_OK);
    ts_authn_principal_free(p);
    ts_free(t);

    build_corpus();
    assert_true(ncases >= 50);
    size_t failures = 0;
    for (size_t i = 0; i < ncases; i++) {
        ts_error err;
        ts_error_clear(&err);
        ts_authn_detail d;
        p = (ts_authn_principal *)&err; /* must be reset to NULL */
        ts_authn_reason r =
            ts_authn_verify(v[cases[i].verifier], cases[i].tok, cases[i].len, &p, &d, &err);
        if (r != cases[i].want || p != NULL || strlen(err.msg) == 0) {
            print_error("case %zu \"%s\": got %s (%s: %s), want %s\n", i, cases[i].name,
                        ts_authn_reason_str(r), err.where, err.msg,
                        ts_authn_reason_str(cases[i].want));
            failures++;
        }
        /* Details for logs never carry raw control or quote characters. */
        assert_null(strpbrk(d.kid, "\"\\\n"));
    }
    print_message("hostile corpus: %zu tokens\n", ncases);
    assert_int_equal(failures, 0);
    for (int i = 0; i < 3; i++)
        ts_authn_verifier_free(v[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_corpus)};
    return cmocka_run_group_tests(tests, setup, teardown);
}
