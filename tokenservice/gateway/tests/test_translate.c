/* gateway.test_translate: the translated token (translate.c): its claims exactly, exp never
 * beyond the presented token's, the gateway's own key directory (ES256 for a new key, PS256
 * when configured, no key created read-only), and the cache: hit, miss, another audience,
 * the reuse margin before expiry, the bound; a reload empties the cache only when the key its
 * tokens were signed with is no longer published. */
#include "core_fixture.h"

#include <dirent.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include <tokensmith/authn.h>

#include "core_internal.h"

static fixture fx;
static int64_t clock_now;

static int64_t test_clock(void *ud)
{
    (void)ud;
    return clock_now;
}

static int setup(void **state)
{
    (void)state;
    fx_setup(&fx);
    clock_now = (int64_t)time(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    fx_teardown(&fx);
    return 0;
}

static ts_gateway__translator *translator(const char *alg, unsigned entries, bool read_only)
{
    ts_gateway__translator_options o = {
        .issuer = FX_GATEWAY_ISSUER,
        .key_dir = fx.keys,
        .algorithm = alg,
        .token_type = "JWT",
        .ttl_s = 300,
        .cache_entries = entries,
        .read_only_keys = read_only,
        .now = test_clock,
    };
    ts_error err;
    ts_gateway__translator *t = ts_gateway__translator_new(&o, &err);
    if (!read_only && !t)
        fail_msg("translator: %s: %s", err.where, err.msg);
    return t;
}

/* Verify @p token with issuer A's or B's entry and map it. */
static ts_authn_principal *verified(const char *token, ts_gateway__identity *id)
{
    ts_error err;
    ts_gateway__trustset *t = ts_gateway__trust_new(&fx.cfg, NULL, 0, &err);
    assert_non_null(t);
    const ts_gateway_trust *entry = NULL;
    ts_authn_principal *p = NULL;
    assert_int_equal(ts_gateway__trust_verify(t, token, strlen(token), &entry, &p, NULL, &err),
                     TS_AUTHN_OK);
    assert_int_equal(ts_gateway__identity_map(entry, p, clock_now, id, &err), TS_AUTHN_OK);
    ts_gateway__trust_free(t);
    return p;
}

/* The claims of a compact JWS (not verified: the tests verify elsewhere). */
static json_t *payload_of(const char *jwt, json_t **header)
{
    const char *d1 = strchr(jwt, '.');
    assert_non_null(d1);
    const char *d2 = strchr(d1 + 1, '.');
    assert_non_null(d2);
    uint8_t *raw = NULL;
    size_t n = 0;
    ts_error err;
    assert_int_equal(ts_b64url_decode(jwt, (size_t)(d1 - jwt), &raw, &n, &err), TS_OK);
    *header = json_loadb((const char *)raw, n, 0, NULL);
    ts_free(raw);
    assert_int_equal(ts_b64url_decode(d1 + 1, (size_t)(d2 - d1 - 1), &raw, &n, &err), TS_OK);
    json_t *j = json_loadb((const char *)raw, n, 0, NULL);
    ts_free(raw);
    assert_non_null(j);
    assert_non_null(*header);
    return j;
}

static void assert_keys(json_t *o, const char *const *keys, size_t n)
{
    assert_int_equal(json_object_size(o), n);
    for (size_t i = 0; i < n; i++)
        if (!json_object_get(o, keys[i]))
            fail_msg("claim %s missing", keys[i]);
}

static void test_claims_exact(void **state)
{
    (void)state;
    ts_gateway__translator *t = translator("", 10, false);
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    static const char *const roles[] = {"reader", "auditor"};
    assert_int_equal(ts_testutil_token_set_roles(b, roles, 2, &err), TS_OK);
    assert_int_equal(ts_testutil_token_set_scope(b, "things:read orders", &err), TS_OK);
    ts_testutil_token_set_expires_at(b, clock_now + 120); /* sooner than now + ttl */
    char *tok = fx_mint(b);
    ts_gateway__identity id;
    ts_authn_principal *p = verified(tok, &id);
    char jwt[TS_GATEWAY__MAX_JWT + 1];
    size_t len = 0;
    bool hit = true;
    assert_int_equal(
        ts_gateway__translate(t, tok, strlen(tok), p, &id, "backend", NULL, jwt, &len, &hit, &err),
        TS_OK);
    assert_false(hit);
    assert_int_equal(strlen(jwt), len);
    json_t *h = NULL;
    json_t *c = payload_of(jwt, &h);
    static const char *const keys[] = {
        "iss", "sub", "aud", "exp", "nbf", "iat", "jti", "idp", "principal_type", "roles", "scope"};
    assert_keys(c, keys, sizeof keys / sizeof *keys);
    assert_string_equal(json_string_value(json_object_get(c, "iss")), FX_GATEWAY_ISSUER);
    assert_string_equal(json_string_value(json_object_get(c, "sub")), TS_TESTUTIL_SUBJECT);
    json_t *aud = json_object_get(c, "aud");
    assert_int_equal(json_array_size(aud), 1);
    assert_string_equal(json_string_value(json_array_get(aud, 0)), "backend");
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), clock_now + 120);
    assert_int_equal(json_integer_value(json_object_get(c, "iat")), clock_now);
    assert_int_equal(json_integer_value(json_object_get(c, "nbf")), clock_now);
    assert_int_equal(strlen(json_string_value(json_object_get(c, "jti"))), 36);
    assert_string_equal(json_string_value(json_object_get(c, "idp")), TS_TESTUTIL_ISSUER);
    assert_string_equal(json_string_value(json_object_get(c, "principal_type")), "user");
    json_t *r = json_object_get(c, "roles");
    assert_int_equal(json_array_size(r), 2); /* the token's (scope_roles: test_identity) */
    assert_string_equal(json_string_value(json_array_get(r, 0)), "reader");
    assert_string_equal(json_string_value(json_array_get(r, 1)), "auditor");
    assert_string_equal(json_string_value(json_object_get(c, "scope")), "things:read orders");
    /* The header: the gateway's ES256 key (new key directory), typ from the configuration. */
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "ES256");
    assert_string_equal(json_string_value(json_object_get(h, "typ")), "JWT");
    const char *kid = json_string_value(json_object_get(h, "kid"));
    assert_non_null(kid);
    assert_non_null(strstr(ts_gateway__translator_jwks(t), kid));
    json_decref(c);
    json_decref(h);

    /* A presented token that lives long: exp = now + ttl. */
    ts_authn_principal_free(p);
    ts_free(tok);
    ts_testutil_token_set_expires_at(b, clock_now + 3600);
    tok = fx_mint(b);
    p = verified(tok, &id);
    assert_int_equal(
        ts_gateway__translate(t, tok, strlen(tok), p, &id, "backend", NULL, jwt, &len, NULL, &err),
        TS_OK);
    c = payload_of(jwt, &h);
    assert_int_equal(json_integer_value(json_object_get(c, "exp")), clock_now + 300);
    json_decref(c);
    json_decref(h);
    ts_authn_principal_free(p);
    ts_free(tok);
    ts_testutil_token_free(b);
    ts_gateway__translator_free(t);
}

static void test_kubernetes_claims(void **state)
{
    (void)state;
    ts_gateway__translator *t = translator("", 0, false);
    ts_testutil_token *b = fx_k8s_builder(&fx);
    char *tok = fx_mint(b);
    ts_gateway__identity id;
    ts_authn_principal *p = verified(tok, &id);
    size_t n = 0;
    char *claims = ts_gateway__translate_claims(t, p, &id, "backend", clock_now, &n);
    assert_non_null(claims);
    json_t *c = json_loadb(claims, n, JSON_REJECT_DUPLICATES, NULL);
    assert_non_null(c);
    static const char *const keys[] = {
        "iss",   "sub",          "aud", "exp", "nbf", "iat", "jti", "idp", "principal_type",
        "roles", "kubernetes.io"};
    assert_keys(c, keys, sizeof keys / sizeof *keys); /* no scope: none presented */
    assert_string_equal(json_string_value(json_object_get(c, "sub")), FX_K8S_SUB);
    assert_string_equal(json_string_value(json_object_get(c, "idp")), FX_K8S_ISSUER);
    assert_string_equal(json_string_value(json_object_get(c, "principal_type")), "service");
    assert_int_equal(json_array_size(json_object_get(c, "roles")), 0);
    json_t *want = json_loads(FX_K8S_CLAIMS, 0, NULL);
    assert_true(json_equal(json_object_get(c, "kubernetes.io"), want));
    json_decref(want);
    json_decref(c);
    free(claims);
    ts_authn_principal_free(p);
    ts_free(tok);
    ts_testutil_token_free(b);
    ts_gateway__translator_free(t);
}

static void translate_pv(ts_gateway__translator *t, const char *tok, const char *aud,
                         const char *pv, char *jwt, bool *hit)
{
    ts_gateway__identity id;
    ts_authn_principal *p = verified(tok, &id);
    size_t len = 0;
    ts_error err;
    assert_int_equal(
        ts_gateway__translate(t, tok, strlen(tok), p, &id, aud, pv, jwt, &len, hit, &err), TS_OK);
    ts_authn_principal_free(p);
}

static void translate_ok(ts_gateway__translator *t, const char *tok, const char *aud, char *jwt,
                         bool *hit)
{
    translate_pv(t, tok, aud, NULL, jwt, hit);
}

static void test_cache(void **state)
{
    (void)state;
    ts_gateway__translator *t = translator("", 2, false);
    ts_error err;
    ts_testutil_token *b = ts_testutil_token_new(fx.key_a, &err);
    ts_testutil_token_set_expires_at(b, clock_now + 3600);
    char *tok = fx_mint(b);
    char first[TS_GATEWAY__MAX_JWT + 1], again[TS_GATEWAY__MAX_JWT + 1];
    bool hit = true;
    translate_ok(t, tok, "backend", first, &hit);
    assert_false(hit);
    translate_ok(t, tok, "backend", again, &hit);
    assert_true(hit);
    assert_string_equal(first, again);
    /* Another audience is another token. */
    translate_ok(t, tok, "orders-api", again, &hit);
    assert_false(hit);
    assert_string_not_equal(first, again);

    /* The reuse margin: max(10 s, ttl/10) = 30 s before the translated exp (now + 300). */
    clock_now += 300 - 30 - 1;
    translate_ok(t, tok, "backend", again, &hit);
    assert_true(hit);
    clock_now += 1;
    translate_ok(t, tok, "backend", again, &hit);
    assert_false(hit);
    assert_string_not_equal(first, again);
    uint64_t hits, misses, signed_tokens;
    ts_gateway__translator_counts(t, &hits, &misses, &signed_tokens);
    assert_int_equal(hits, 2);
    assert_int_equal(misses, 3);
    assert_int_equal(signed_tokens, 3);

    /* The margin also applies to the presented token's exp. */
    ts_testutil_token_set_expires_at(b, clock_now + 100);
    char *short_lived = fx_mint(b);
    translate_ok(t, short_lived, "backend", first, &hit);
    assert_false(hit);
    clock_now += 100 - 30;
    translate_ok(t, short_lived, "backend", again, &hit);
    assert_false(hit); /* within 30 s of the presented exp: signed again */

    /* The bound: two entries; a third key evicts the least recently used. */
    ts_testutil_token_set_expires_at(b, clock_now + 3600);
    char *t1 = fx_mint(b), *t2 = fx_mint(b), *t3 = fx_mint(b);
    translate_ok(t, t1, "backend", first, &hit);
    translate_ok(t, t2, "backend", first, &hit);
    translate_ok(t, t3, "backend", first, &hit);
    translate_ok(t, t1, "backend", first, &hit);
    assert_false(hit); /* evicted */
    translate_ok(t, t1, "backend", first, &hit);
    assert_true(hit);
    /* Claims shaped by the policy (a Kubernetes caller's roles) are keyed by its version too:
     * a reload to another version is never answered with the old roles. */
    char v1[TS_GATEWAY__MAX_JWT + 1];
    translate_pv(t, t1, "backend", "aaaa", v1, &hit);
    assert_false(hit);
    translate_pv(t, t1, "backend", "aaaa", again, &hit);
    assert_true(hit);
    assert_string_equal(v1, again);
    translate_pv(t, t1, "backend", "bbbb", again, &hit);
    assert_false(hit);
    assert_string_not_equal(v1, again);
    ts_free(t1);
    ts_free(t2);
    ts_free(t3);
    ts_free(short_lived);
    ts_free(tok);
    ts_testutil_token_free(b);
    ts_gateway__translator_free(t); /* the map wipes what it frees: common.test_lru */
}

static void test_no_cache(void **state)
{
    (void)state;
    ts_gateway__translator *t = translator("", 0, false);
    char *tok = fx_token_a(&fx, NULL, NULL);
    char a[TS_GATEWAY__MAX_JWT + 1], b2[TS_GATEWAY__MAX_JWT + 1];
    bool hit = true;
    translate_ok(t, tok, "backend", a, &hit);
    assert_false(hit);
    translate_ok(t, tok, "backend", b2, &hit);
    assert_false(hit);
    assert_string_not_equal(a, b2);
    ts_free(tok);
    ts_gateway__translator_free(t);
}

static void test_keys(void **state)
{
    (void)state;
    /* Read-only (--check) with no key: refused, nothing created. */
    assert_null(translator("", 0, true));
    struct stat st;
    assert_int_not_equal(stat(fx.keys, &st) == 0 && st.st_nlink > 2, 1);

    /* PS256 when configured. */
    ts_gateway__translator *t = translator("PS256", 0, false);
    char *tok = fx_token_a(&fx, NULL, NULL);
    char jwt[TS_GATEWAY__MAX_JWT + 1];
    translate_ok(t, tok, "backend", jwt, NULL);
    json_t *h = NULL;
    json_t *c = payload_of(jwt, &h);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "PS256");
    json_decref(c);
    json_decref(h);
    ts_gateway__translator_free(t);

    /* The key is kept: read-only now works and signs with it. */
    t = translator("", 0, true);
    assert_non_null(t);
    translate_ok(t, tok, "backend", jwt, NULL);
    c = payload_of(jwt, &h);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), "PS256");
    json_decref(c);
    json_decref(h);
    ts_gateway__translator_free(t);
    ts_free(tok);
}

/* A new P-256 key written as @p dir/@p name (mode 0600), as an operator adds one. */
static void write_key(const char *dir, const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", dir, name);
    EVP_PKEY *k = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
    assert_non_null(k);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    assert_non_null(f);
    assert_int_equal(PEM_write_PrivateKey(f, k, NULL, NULL, 0, NULL, NULL), 1);
    fclose(f);
    EVP_PKEY_free(k);
}

/* The one *.pem of @p dir other than active.pem (the key made at first start). */
static void first_key(const char *dir, char *out, size_t cap)
{
    DIR *d = opendir(dir);
    assert_non_null(d);
    out[0] = '\0';
    for (struct dirent *de; (de = readdir(d));) {
        size_t n = strlen(de->d_name);
        if (n > 4 && strcmp(de->d_name + n - 4, ".pem") == 0 &&
            strcmp(de->d_name, "active.pem") != 0)
            snprintf(out, cap, "%s/%s", dir, de->d_name);
    }
    closedir(d);
    assert_true(out[0] != '\0');
}

static void test_reload_keeps_or_drops_the_cache(void **state)
{
    (void)state;
    ts_gateway__translator *t = translator("", 16, false);
    char *tok = fx_token_a(&fx, NULL, NULL);
    char first[TS_GATEWAY__MAX_JWT + 1], again[TS_GATEWAY__MAX_JWT + 1];
    bool hit = false;
    translate_ok(t, tok, "backend", first, &hit);
    translate_ok(t, tok, "backend", again, &hit);
    assert_true(hit);
    char old_key[1024];
    first_key(fx.keys, old_key, sizeof old_key);

    /* A new active key, the old one still published: cached tokens stay good and are kept. */
    write_key(fx.keys, "active.pem");
    ts_error err;
    assert_int_equal(ts_gateway__translator_reload(t, &err), TS_OK);
    translate_ok(t, tok, "backend", again, &hit);
    assert_true(hit);
    assert_string_equal(first, again);

    /* The old key removed: tokens it signed cannot be verified upstream any more, so the cache
     * is emptied and the next check gets a token of the new key. */
    assert_int_equal(unlink(old_key), 0);
    assert_int_equal(ts_gateway__translator_reload(t, &err), TS_OK);
    translate_ok(t, tok, "backend", again, &hit);
    assert_false(hit);
    json_t *h1 = NULL, *h2 = NULL;
    json_t *c1 = payload_of(first, &h1), *c2 = payload_of(again, &h2);
    assert_string_not_equal(json_string_value(json_object_get(h1, "kid")),
                            json_string_value(json_object_get(h2, "kid")));
    assert_non_null(
        strstr(ts_gateway__translator_jwks(t), json_string_value(json_object_get(h2, "kid"))));
    json_decref(c1);
    json_decref(c2);
    json_decref(h1);
    json_decref(h2);
    ts_free(tok);
    ts_gateway__translator_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_claims_exact, setup, teardown),
        cmocka_unit_test_setup_teardown(test_kubernetes_claims, setup, teardown),
        cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_no_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_reload_keeps_or_drops_the_cache, setup, teardown),
        cmocka_unit_test_setup_teardown(test_keys, setup, teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
