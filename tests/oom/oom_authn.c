/* oom.authn: the JOSE core (base64url, JWK, JWKS, PEM, JWS signing and verification), key
   sources from files, the verifier and its principals. The libmicrohttpd hook
   (authn/src/mhd.c) and remote key sources (network) are left out. */
#include "oom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authn.h>
#include <tokensmith/jose.h>

#define KEYS "authn/tests/data/keys/"

/* Where OpenSSL reports a failed allocation as bad input (TS_EPARSE), a known limitation: its
   PEM decoders try each format in turn and drop the errors of those that failed, so a PEM that
   could not be decoded for lack of memory reads as "not a PEM key"; EVP_PKEY_fromdata() for an
   EC key does not report some of its allocation failures, so the point reads as invalid. */
#define DECODE_OPENSSL_ALSO OOM_ALSO(TS_EPARSE)

/* ---- helpers (run without failures) ------------------------------------------------------- */

static char *slurp(const char *rel)
{
    const char *path = oom_source_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        oom_wrong("setup: cannot open %s", path);
    char *buf = malloc(1 << 16);
    size_t n = buf ? fread(buf, 1, (1 << 16) - 1, f) : 0;
    fclose(f);
    if (!buf || n == 0)
        oom_wrong("setup: cannot read %s", path);
    buf[n] = '\0';
    return buf;
}

static ts_jwk *must_pem(const char *rel)
{
    char *pem = slurp(rel);
    ts_error err;
    ts_jwk *k = ts_jwk_from_pem(pem, strlen(pem), &err);
    free(pem);
    if (!k)
        oom_wrong("setup: %s: %s", rel, err.msg);
    return k;
}

static char *must_jwks_json(void)
{
    ts_jwk *keys[2] = {must_pem(KEYS "rsa_spki.pem"), must_pem(KEYS "ec_p256_spki.pem")};
    ts_error err;
    ts_jwks *set = ts_jwks_new(keys, 2, &err);
    char *json = set ? ts_jwks_to_json(set, &err) : NULL;
    if (!json)
        oom_wrong("setup: jwks: %s", err.msg);
    ts_jwks_free(set);
    ts_jwk_free(keys[0]);
    ts_jwk_free(keys[1]);
    return json;
}

static char *write_scratch(const char *name, const char *text)
{
    static char path[2][4096];
    static int next;
    char *p = path[next++ % 2];
    snprintf(p, sizeof path[0], "%s/%s", oom_scratch_dir(), name);
    FILE *f = fopen(p, "wb");
    if (!f || fputs(text, f) < 0 || fclose(f) != 0)
        oom_wrong("setup: cannot write %s", p);
    return p;
}

static void teardown_free(void *ctx, oom_result r)
{
    (void)r;
    free(ctx);
}

/* ---- base64url ------------------------------------------------------------------------------ */

static oom_result run_b64url(void *ctx)
{
    (void)ctx;
    static const char text[] = "any carnal pleasure.\xff\xfe";
    ts_error err;
    ts_error_clear(&err);
    char *enc = NULL;
    size_t elen = 0;
    OOM_TRY(ts_b64url_encode(text, sizeof text - 1, &enc, &elen, &err), &err);
    uint8_t *dec = NULL;
    size_t dlen = 0;
    ts_status st = ts_b64url_decode(enc, elen, &dec, &dlen, &err);
    ts_free(enc);
    OOM_TRY(st, &err);
    OOM_EXPECT(dlen == sizeof text - 1 && memcmp(dec, text, dlen) == 0);
    ts_free(dec);
    return OOM_SUCCEEDED;
}

/* ---- keys ------------------------------------------------------------------------------------ */

static const char *const pem_files[] = {KEYS "rsa_pkcs8_private.pem", KEYS "rsa_pkcs1_private.pem",
                                        KEYS "rsa_spki.pem",          KEYS "rsa_pkcs1_public.pem",
                                        KEYS "rsa_cert.pem",          KEYS "ec_p256_sec1.pem",
                                        KEYS "ec_p256_pkcs8.pem",     KEYS "ec_p256_spki.pem"};
#define NPEM (sizeof pem_files / sizeof pem_files[0])

typedef struct texts {
    char *text[NPEM];
    char kid[NPEM][TS_JOSE_THUMBPRINT_LEN + 1];
} texts;

static void *setup_pems(void)
{
    texts *t = calloc(1, sizeof *t);
    if (!t)
        oom_wrong("setup: out of memory");
    for (size_t i = 0; i < NPEM; i++) {
        t->text[i] = slurp(pem_files[i]);
        ts_jwk *k = must_pem(pem_files[i]);
        snprintf(t->kid[i], sizeof t->kid[i], "%s", ts_jwk_thumbprint(k));
        ts_jwk_free(k);
    }
    return t;
}

static void *setup_jwk_texts(void)
{
    texts *t = setup_pems();
    for (size_t i = 0; i < NPEM; i++) {
        ts_error err;
        ts_jwk *k = ts_jwk_from_pem(t->text[i], strlen(t->text[i]), &err);
        free(t->text[i]);
        t->text[i] = k ? ts_jwk_to_json(k, &err) : NULL;
        ts_jwk_free(k);
        if (!t->text[i])
            oom_wrong("setup: jwk: %s", err.msg);
    }
    return t;
}

static void teardown_texts(void *ctx, oom_result r)
{
    (void)r;
    texts *t = ctx;
    for (size_t i = 0; i < NPEM; i++)
        free(t->text[i]);
    free(t);
}

static oom_result run_jwk_from_pem(void *ctx)
{
    texts *t = ctx;
    for (size_t i = 0; i < NPEM; i++) {
        ts_error err;
        ts_error_clear(&err);
        ts_jwk *k = ts_jwk_from_pem(t->text[i], strlen(t->text[i]), &err);
        if (!k)
            return oom_refused_openssl(err.code, &err, DECODE_OPENSSL_ALSO);
        bool same = strcmp(ts_jwk_thumbprint(k), t->kid[i]) == 0;
        bool priv = ts_jwk_is_private(k);
        ts_jwk_free(k);
        if (!same)
            oom_wrong("%s: another thumbprint", pem_files[i]);
        OOM_EXPECT(priv == (strstr(pem_files[i], "private") || strstr(pem_files[i], "sec1") ||
                            strstr(pem_files[i], "pkcs8")));
    }
    return OOM_SUCCEEDED;
}

static oom_result run_jwk_parse(void *ctx)
{
    texts *t = ctx;
    for (size_t i = 0; i < NPEM; i++) {
        ts_error err;
        ts_error_clear(&err);
        ts_jwk *k = ts_jwk_parse(t->text[i], strlen(t->text[i]), &err);
        if (!k)
            return oom_refused_openssl(err.code, &err, DECODE_OPENSSL_ALSO);
        bool same = strcmp(ts_jwk_kid(k), t->kid[i]) == 0;
        ts_jwk_free(k);
        if (!same)
            oom_wrong("%s as a JWK: another kid", pem_files[i]);
    }
    return OOM_SUCCEEDED;
}

typedef struct files {
    char pem[4096], jwk[4096], jwks[4096];
} files;

static void *setup_files(void)
{
    files *f = calloc(1, sizeof *f);
    if (!f)
        oom_wrong("setup: out of memory");
    snprintf(f->pem, sizeof f->pem, "%s", oom_source_path(KEYS "ec_p256_pkcs8.pem"));
    ts_jwk *k = must_pem(KEYS "rsa_spki.pem");
    ts_error err;
    char *json = ts_jwk_to_json(k, &err);
    ts_jwk_free(k);
    if (!json)
        oom_wrong("setup: jwk");
    snprintf(f->jwk, sizeof f->jwk, "%s", write_scratch("key.jwk", json));
    ts_free(json);
    json = must_jwks_json();
    snprintf(f->jwks, sizeof f->jwks, "%s", write_scratch("keys.jwks", json));
    ts_free(json);
    return f;
}

static oom_result run_load_files(void *ctx)
{
    files *f = ctx;
    ts_error err;
    ts_error_clear(&err);
    ts_jwk *a = ts_jwk_load_file(f->pem, &err);
    if (!a)
        return oom_refused_openssl(err.code, &err, DECODE_OPENSSL_ALSO);
    ts_jwk *b = ts_jwk_load_file(f->jwk, &err);
    if (!b) {
        ts_jwk_free(a);
        return oom_refused_openssl(err.code, &err, DECODE_OPENSSL_ALSO);
    }
    ts_jwks *s = ts_jwks_load_file(f->jwks, &err);
    bool ok = ts_jwk_kty(a) == TS_JWK_EC && ts_jwk_kty(b) == TS_JWK_RSA;
    ts_jwk_free(a);
    ts_jwk_free(b);
    if (!s)
        return oom_refused_openssl(err.code, &err, DECODE_OPENSSL_ALSO);
    ok = ok && ts_jwks_count(s) == 2;
    ts_jwks_free(s);
    OOM_EXPECT(ok);
    return OOM_SUCCEEDED;
}

static oom_result run_jwk_generate(void *ctx)
{
    (void)ctx;
    ts_error err;
    ts_error_clear(&err);
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, &err);
    OOM_TRY_PTR(k, &err);
    bool ok = ts_jwk_is_private(k) && ts_jwk_alg(k) == TS_JWS_ES256 &&
              strlen(ts_jwk_kid(k)) == TS_JOSE_THUMBPRINT_LEN;
    ts_jwk_free(k);
    OOM_EXPECT(ok);
    return OOM_SUCCEEDED;
}

static void *setup_rsa_private(void)
{
    return must_pem(KEYS "rsa_pkcs8_private.pem");
}

static void teardown_jwk(void *ctx, oom_result r)
{
    (void)r;
    ts_jwk_free(ctx);
}

static oom_result run_jwk_with_json(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    ts_jwk *k = ts_jwk_with(ctx, "my-kid", TS_JWS_PS256, &err);
    OOM_TRY_PTR(k, &err);
    char *json = ts_jwk_to_json(k, &err);
    ts_jwk_free(k);
    OOM_TRY_PTR(json, &err);
    bool ok = strstr(json, "\"kid\":\"my-kid\"") && strstr(json, "\"alg\":\"PS256\"") &&
              !strstr(json, "\"d\"");
    ts_free(json);
    OOM_EXPECT(ok);
    return OOM_SUCCEEDED;
}

/* ---- key sets ------------------------------------------------------------------------------ */

static void *setup_jwks_json(void)
{
    return must_jwks_json();
}

static oom_result run_jwks_parse(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    ts_jwks *s = ts_jwks_parse(ctx, strlen(ctx), &err);
    if (!s)
        return oom_refused_openssl(err.code, &err, DECODE_OPENSSL_ALSO);
    char *json = ts_jwks_to_json(s, &err);
    size_t n = ts_jwks_count(s);
    const ts_jwk *k = n ? ts_jwks_get(s, 0) : NULL;
    bool found = k && ts_jwks_find(s, ts_jwk_kid(k), strlen(ts_jwk_kid(k))) == k;
    ts_jwks_free(s);
    OOM_TRY_PTR(json, &err);
    bool same = strcmp(json, ctx) == 0;
    ts_free(json);
    OOM_EXPECT(n == 2 && found && same);
    return OOM_SUCCEEDED;
}

static void *setup_two_keys(void)
{
    ts_jwk **k = calloc(3, sizeof *k);
    if (!k)
        oom_wrong("setup: out of memory");
    k[0] = must_pem(KEYS "rsa_spki.pem");
    k[1] = must_pem(KEYS "ec_p256_spki.pem");
    k[2] = must_pem(KEYS "rsa_cert.pem"); /* the same key as k[0] */
    return k;
}

static void teardown_two_keys(void *ctx, oom_result r)
{
    (void)r;
    ts_jwk **k = ctx;
    for (int i = 0; i < 3; i++)
        ts_jwk_free(k[i]);
    free(k);
}

static oom_result run_jwks_new_merge(void *ctx)
{
    ts_jwk **k = ctx;
    ts_error err;
    ts_error_clear(&err);
    ts_jwks *a = ts_jwks_new(k, 2, &err);
    OOM_TRY_PTR(a, &err);
    ts_jwks *b = ts_jwks_new(k + 2, 1, &err);
    if (!b) {
        ts_jwks_free(a);
        return oom_refused(err.code, &err);
    }
    const ts_jwks *sets[] = {a, NULL, b};
    ts_jwks *m = ts_jwks_merge(sets, 3, &err);
    ts_jwks_free(a);
    ts_jwks_free(b);
    OOM_TRY_PTR(m, &err);
    size_t n = ts_jwks_count(m);
    ts_jwks_free(m);
    OOM_EXPECT(n == 2);
    return OOM_SUCCEEDED;
}

/* ---- JWS ------------------------------------------------------------------------------------ */

typedef struct signers {
    ts_jwk *rsa, *ec;
} signers;

static void *setup_signers(void)
{
    signers *s = calloc(1, sizeof *s);
    if (!s)
        oom_wrong("setup: out of memory");
    s->rsa = must_pem(KEYS "rsa_pkcs8_private.pem");
    s->ec = must_pem(KEYS "ec_p256_pkcs8.pem");
    return s;
}

static void teardown_signers(void *ctx, oom_result r)
{
    (void)r;
    signers *s = ctx;
    ts_jwk_free(s->rsa);
    ts_jwk_free(s->ec);
    free(s);
}

/* Sign, then check the signature with ts_jws_verify_raw(). */
static oom_result sign_verify(const ts_jwk *key, ts_jws_alg alg)
{
    static const char payload[] = "{\"sub\":\"alice\",\"n\":1}";
    ts_error err;
    ts_error_clear(&err);
    char *jws = NULL;
    size_t len = 0;
    OOM_TRY(ts_jws_sign(key, alg, "at+jwt", payload, sizeof payload - 1, &jws, &len, &err), &err);
    const char *dot = strrchr(jws, '.');
    uint8_t *sig = NULL;
    size_t slen = 0;
    ts_status st = ts_b64url_decode(dot + 1, len - (size_t)(dot + 1 - jws), &sig, &slen, &err);
    if (st == TS_OK) {
        st = ts_jws_verify_raw(key, alg, jws, (size_t)(dot - jws), sig, slen, &err);
        ts_free(sig);
    }
    ts_free(jws);
    /* OpenSSL's RSA-PSS verification hashes (MGF1) with digest contexts of its own and reports
       their allocation failure as a signature that does not verify: a known limitation. */
    bool pss_digest = alg >= TS_JWS_PS256 && alg <= TS_JWS_PS512 &&
                      oom_injected_kind() == OOM_KIND_OPENSSL &&
                      (strstr(oom_injected_site(), "crypto/evp/digest.c") ||
                       strstr(oom_injected_site(), "digests/"));
    if (st == TS_EINVAL && oom_injected() && !pss_digest)
        oom_wrong("a good signature judged invalid: %s", err.msg);
    if (st == TS_EINVAL && oom_injected())
        return OOM_REFUSED;
    OOM_TRY(st, &err);
    return OOM_SUCCEEDED;
}

static oom_result run_jws_rs256(void *ctx)
{
    return sign_verify(((signers *)ctx)->rsa, TS_JWS_RS256);
}

static oom_result run_jws_ps256(void *ctx)
{
    return sign_verify(((signers *)ctx)->rsa, TS_JWS_PS256);
}

static oom_result run_jws_es256(void *ctx)
{
    return sign_verify(((signers *)ctx)->ec, TS_JWS_ES256);
}

/* ---- key sources, verifiers, principals ----------------------------------------------------- */

static oom_result run_keysource(void *ctx)
{
    files *f = ctx;
    const char *const pems[] = {f->pem};
    const char *const sets[] = {f->jwks};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    o.pem_files = pems;
    o.n_pem_files = 1;
    o.jwks_files = sets;
    o.n_jwks_files = 1;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, &err);
    if (!ks)
        return oom_refused_openssl(err.code, &err, DECODE_OPENSSL_ALSO);
    ts_jwks *keys = ts_authn_keysource_keys(ks, &err);
    ts_authn_keysource_free(ks);
    OOM_TRY_PTR(keys, &err);
    size_t n = ts_jwks_count(keys);
    ts_jwks_free(keys);
    OOM_EXPECT(n == 2); /* the PEM key is also in the set */
    return OOM_SUCCEEDED;
}

static int64_t fixed_now(void *ud)
{
    (void)ud;
    return 1700000000;
}

typedef struct verify_ctx {
    ts_jwks *keys;
    ts_authn_verifier *v;
    char *token;
    char *bad; /* the same token with another signature */
} verify_ctx;

static const char *const issuers[] = {"https://issuer.test"};
static const char *const audiences[] = {"svc"};
static const ts_authn_scope_role scope_roles[] = {{"nodes:write", "operator"}};

static ts_authn_verifier *make_verifier(const ts_jwks *keys, ts_error *err)
{
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = 1;
    o.audiences = audiences;
    o.n_audiences = 1;
    o.keys = keys;
    o.scope_roles = scope_roles;
    o.n_scope_roles = 1;
    o.cache_entries = 16;
    o.now = fixed_now;
    return ts_authn_verifier_new(&o, err);
}

static void *setup_verify(void)
{
    verify_ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    ts_jwk *priv = must_pem(KEYS "ec_p256_pkcs8.pem");
    ts_error err;
    c->keys = ts_jwks_new(&priv, 1, &err);
    c->v = c->keys ? make_verifier(c->keys, &err) : NULL;
    if (!c->v)
        oom_wrong("setup: verifier: %s", err.msg);
    static const char claims[] =
        "{\"iss\":\"https://issuer.test\",\"sub\":\"alice\",\"aud\":[\"svc\",\"other\"],"
        "\"exp\":1700000600,\"iat\":1699999990,\"nbf\":1699999990,\"jti\":\"j-1\","
        "\"roles\":[\"viewer\",\"admin\",\"viewer\"],\"groups\":\"team\","
        "\"scope\":\"nodes:read nodes:write\",\"domain\":\"tenant-a\","
        "\"principal_type\":\"user\",\"email\":\"a@example.test\"}";
    size_t len = 0;
    if (ts_jws_sign(priv, TS_JWS_ES256, "at+jwt", claims, sizeof claims - 1, &c->token, &len,
                    &err) != TS_OK)
        oom_wrong("setup: sign: %s", err.msg);
    c->bad = strdup(c->token);
    char *last = c->bad ? c->bad + strlen(c->bad) - 2 : NULL;
    if (!last)
        oom_wrong("setup: out of memory");
    *last = *last == 'A' ? 'B' : 'A';
    ts_jwk_free(priv);
    return c;
}

static void teardown_verify(void *ctx, oom_result r)
{
    (void)r;
    verify_ctx *c = ctx;
    ts_authn_verifier_free(c->v);
    ts_jwks_free(c->keys);
    ts_free(c->token);
    free(c->bad);
    free(c);
}

static oom_result run_verifier_new(void *ctx)
{
    verify_ctx *c = ctx;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_verifier *v = make_verifier(c->keys, &err);
    OOM_TRY_PTR(v, &err);
    ts_authn_verifier_free(v);
    return OOM_SUCCEEDED;
}

/* A verification: TS_AUTHN_OK with the right principal, or internal_error for the failure. */
static oom_result verify_once(const verify_ctx *c)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authn_principal *p = NULL;
    ts_authn_detail d;
    ts_authn_reason r = ts_authn_verify(c->v, c->token, strlen(c->token), &p, &d, &err);
    if (r != TS_AUTHN_OK) {
        OOM_EXPECT(p == NULL);
        if (r != TS_AUTHN_INTERNAL)
            oom_wrong("a good token rejected as %s: %s", ts_authn_reason_str(r), err.msg);
        return oom_refused(err.code, &err);
    }
    size_t nroles = 0, nscopes = 0;
    const char *const *roles = ts_authn_principal_roles(p, &nroles);
    ts_authn_principal_scopes(p, &nscopes);
    const char *email = ts_authn_principal_claim_string(p, "email");
    bool ok = strcmp(ts_authn_principal_id(p), "alice") == 0 &&
              ts_authn_principal_type_of(p) == TS_AUTHN_PRINCIPAL_USER && nscopes == 2 &&
              ts_authn_principal_has_scope(p, "nodes:write") &&
              strcmp(ts_authn_principal_domain(p), "tenant-a") == 0 &&
              strcmp(ts_authn_principal_jti(p), "j-1") == 0 && email &&
              strcmp(email, "a@example.test") == 0;
    /* roles: viewer, admin (deduplicated), team (groups), operator (from the scope) */
    bool roles_ok = nroles == 4 && strcmp(roles[0], "viewer") == 0 &&
                    strcmp(roles[1], "admin") == 0 && strcmp(roles[2], "team") == 0 &&
                    strcmp(roles[3], "operator") == 0;
    ts_authn_principal_free(p);
    if (!ok || !roles_ok)
        oom_wrong("a wrong principal (%zu roles)", nroles);
    return OOM_SUCCEEDED;
}

static oom_result run_verify(void *ctx)
{
    verify_ctx *c = ctx;
    /* Twice: the second is answered by the cache. */
    oom_result r = verify_once(c);
    if (r == OOM_SUCCEEDED)
        r = verify_once(c);
    if (r != OOM_SUCCEEDED)
        return r;
    /* A forged signature is refused whatever fails. */
    ts_error err;
    ts_error_clear(&err);
    ts_authn_principal *p = NULL;
    ts_authn_reason why = ts_authn_verify(c->v, c->bad, strlen(c->bad), &p, NULL, &err);
    OOM_EXPECT(p == NULL && why != TS_AUTHN_OK);
    if (why == TS_AUTHN_INTERNAL)
        return oom_refused(err.code, &err);
    OOM_EXPECT(why == TS_AUTHN_BAD_SIGNATURE);
    return OOM_SUCCEEDED;
}

static const oom_case cases[] = {
    {"b64url", NULL, run_b64url, NULL},
    {"jwk_from_pem", setup_pems, run_jwk_from_pem, teardown_texts},
    {"jwk_parse", setup_jwk_texts, run_jwk_parse, teardown_texts},
    {"load_files", setup_files, run_load_files, teardown_free},
    {"jwk_generate", NULL, run_jwk_generate, NULL},
    {"jwk_with_to_json", setup_rsa_private, run_jwk_with_json, teardown_jwk},
    {"jwks_parse", setup_jwks_json, run_jwks_parse, teardown_free},
    {"jwks_new_merge", setup_two_keys, run_jwks_new_merge, teardown_two_keys},
    {"jws_rs256", setup_signers, run_jws_rs256, teardown_signers},
    {"jws_ps256", setup_signers, run_jws_ps256, teardown_signers},
    {"jws_es256", setup_signers, run_jws_es256, teardown_signers},
    {"keysource_files", setup_files, run_keysource, teardown_free},
    {"verifier_new", setup_verify, run_verifier_new, teardown_verify},
    {"verify", setup_verify, run_verify, teardown_verify},
};

int main(int argc, char **argv)
{
    return oom_main("oom.authn", cases, sizeof cases / sizeof cases[0], argc, argv);
}
