/* Signing keys in a PKCS#11 token (keys_pkcs11*.c, keys_p11uri.c, the keyring's pkcs11 path)
 * against SoftHSM2: a token of the test's own (its own softhsm2.conf and token directory), keys
 * generated inside it by tests/pkcs11/p11_keygen, signatures checked with the JOSE core and
 * kids recomputed from the published JWK members (RFC 7638) with OpenSSL.
 *
 * usage: service_test_keys_pkcs11 P11_KEYGEN [MODULE]
 * Exit 77 (skipped) when the module is absent, unless TS_REQUIRE_SOFTHSM=1. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <dlfcn.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <p11-kit/pkcs11.h>

#include "keys.h"
#include "keys_pkcs11.h"

static char g_dir[256];
static const char *g_module = "/usr/lib/softhsm/libsofthsm2.so";
static const char *g_keygen;
static char g_pin_file[300];

#define TOKEN "ts-test"
#define PIN "5678"

static int run(const char *cmd)
{
    int rc = system(cmd);
    return WIFEXITED(rc) ? WEXITSTATUS(rc) : -1;
}

static void write_file(const char *path, const char *text, mode_t mode)
{
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    fchmod(fd, mode);
    close(fd);
}

/* A token with EC P-256, EC P-384 and RSA-2048 keys made in it. */
static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "/tmp/ts-p11-unit-XXXXXX");
    if (!mkdtemp(g_dir))
        return -1;
    char path[400], cmd[1400];
    snprintf(path, sizeof path, "%s/tokens", g_dir);
    mkdir(path, 0700);
    snprintf(path, sizeof path, "%s/softhsm2.conf", g_dir);
    FILE *f = fopen(path, "w");
    if (!f)
        return -1;
    fprintf(f, "directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n",
            g_dir);
    fclose(f);
    setenv("SOFTHSM2_CONF", path, 1);
    snprintf(cmd, sizeof cmd,
             "softhsm2-util --init-token --free --label " TOKEN " --so-pin 1234 --pin " PIN
             " >/dev/null");
    if (run(cmd) != 0)
        return -1;
    static const char *const keys[][3] = {
        {"es256", "ec256", "01"}, {"es384", "ec384", "02"}, {"rsa", "rsa2048", "03"}};
    for (size_t i = 0; i < 3; i++) {
        snprintf(cmd, sizeof cmd, "%s %s " TOKEN " " PIN " %s %s %s", g_keygen, g_module,
                 keys[i][0], keys[i][1], keys[i][2]);
        if (run(cmd) != 0)
            return -1;
    }
    snprintf(g_pin_file, sizeof g_pin_file, "%s/pin", g_dir);
    write_file(g_pin_file, PIN "\n", 0600);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[400];
    snprintf(cmd, sizeof cmd, "rm -rf %s", g_dir);
    return run(cmd) == 0 ? 0 : -1;
}

static void options(ts_svc_p11_options *o, const char *key)
{
    memset(o, 0, sizeof *o);
    snprintf(o->module, sizeof o->module, "%s", g_module);
    snprintf(o->token_label, sizeof o->token_label, "%s", TOKEN);
    snprintf(o->key_label, sizeof o->key_label, "%s", key);
    snprintf(o->pin_file, sizeof o->pin_file, "%s", g_pin_file);
}

static ts_svc_keyring *open_ring(const char *key, ts_jws_alg want)
{
    ts_svc_p11_options o;
    options(&o, key);
    char uri[2048];
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_svc_p11_uri_format(&o, uri, sizeof uri, &err), TS_OK);
    ts_svc_keyring *kr = ts_svc_keyring_open(uri, "", want, false, &err);
    if (!kr)
        fail_msg("keyring: %s: %s", err.where, err.msg);
    return kr;
}

/* The RFC 7638 thumbprint of a public JWK, from its members, with OpenSSL alone. */
static void thumbprint(const char *jwk_json, char out[44])
{
    json_t *j = json_loads(jwk_json, 0, NULL);
    assert_non_null(j);
    char canon[2048];
    const char *kty = json_string_value(json_object_get(j, "kty"));
    if (strcmp(kty, "EC") == 0)
        snprintf(canon, sizeof canon, "{\"crv\":\"%s\",\"kty\":\"EC\",\"x\":\"%s\",\"y\":\"%s\"}",
                 json_string_value(json_object_get(j, "crv")),
                 json_string_value(json_object_get(j, "x")),
                 json_string_value(json_object_get(j, "y")));
    else
        snprintf(canon, sizeof canon, "{\"e\":\"%s\",\"kty\":\"RSA\",\"n\":\"%s\"}",
                 json_string_value(json_object_get(j, "e")),
                 json_string_value(json_object_get(j, "n")));
    json_decref(j);
    unsigned char d[32];
    unsigned dl = 0;
    assert_true(EVP_Digest(canon, strlen(canon), d, &dl, EVP_sha256(), NULL));
    char b64[64];
    EVP_EncodeBlock((unsigned char *)b64, d, 32);
    size_t n = 0;
    for (const char *p = b64; *p && *p != '='; p++)
        out[n++] = *p == '+' ? '-' : *p == '/' ? '_' : *p;
    out[n] = '\0';
}

/* The JWS verifies with the published key, names its kid and alg. */
static void check_jws(const ts_jwk *pub, ts_jws_alg alg, const char *jws)
{
    const char *d1 = strchr(jws, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
    assert_non_null(d2);
    uint8_t *sig = NULL, *hdr = NULL;
    size_t sl = 0, hl = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl, &err), TS_OK);
    assert_int_equal(ts_b64url_decode(jws, (size_t)(d1 - jws), &hdr, &hl, &err), TS_OK);
    ts_status st = ts_jws_verify_raw(pub, alg, jws, (size_t)(d2 - jws), sig, sl, &err);
    if (st != TS_OK)
        fail_msg("verify %s: %s", ts_jws_alg_name(alg), err.msg);
    json_t *h = json_loadb((const char *)hdr, hl, 0, NULL);
    assert_non_null(h);
    assert_string_equal(json_string_value(json_object_get(h, "alg")), ts_jws_alg_name(alg));
    assert_string_equal(json_string_value(json_object_get(h, "kid")), ts_jwk_kid(pub));
    json_decref(h);
    ts_free(sig);
    ts_free(hdr);
}

static void sign_with(const char *label, ts_jws_alg want, ts_jws_alg expect)
{
    ts_svc_keyring *kr = open_ring(label, want);
    assert_int_equal(ts_svc_keyring_alg(kr), expect);
    const ts_jwk *pub = ts_svc_keyring_active(kr);
    assert_false(ts_jwk_is_private(pub)); /* only the public half left the token */
    /* The kid is the RFC 7638 thumbprint of the key the JWKS publishes. */
    json_t *jwks = json_loads(ts_svc_keyring_jwks_json(kr), 0, NULL);
    assert_non_null(jwks);
    assert_int_equal(json_array_size(json_object_get(jwks, "keys")), 1);
    char *member = json_dumps(json_array_get(json_object_get(jwks, "keys"), 0), 0);
    char tp[44];
    thumbprint(member, tp);
    assert_string_equal(tp, ts_jwk_kid(pub));
    assert_string_equal(
        json_string_value(json_object_get(json_array_get(json_object_get(jwks, "keys"), 0), "kid")),
        tp);
    free(member);
    json_decref(jwks);
    for (int i = 0; i < 3; i++) {
        char *jws = NULL;
        size_t jl = 0;
        ts_error err;
        ts_error_clear(&err);
        const char *payload = "{\"sub\":\"p11\"}";
        ts_status st = ts_svc_keyring_sign(kr, "JWT", payload, strlen(payload), &jws, &jl, &err);
        if (st != TS_OK)
            fail_msg("sign: %s: %s", err.where, err.msg);
        assert_int_equal(strlen(jws), jl);
        check_jws(pub, expect, jws);
        ts_free(jws);
    }
    ts_svc_keyring_free(kr);
}

static void test_es256(void **state)
{
    (void)state;
    sign_with("es256", TS_JWS_ALG_UNKNOWN, TS_JWS_ES256);
}

static void test_es384(void **state)
{
    (void)state;
    sign_with("es384", TS_JWS_ES384, TS_JWS_ES384);
}

static void test_rs256(void **state)
{
    (void)state;
    sign_with("rsa", TS_JWS_RS256, TS_JWS_RS256);
}

static void test_ps256(void **state)
{
    (void)state;
    sign_with("rsa", TS_JWS_ALG_UNKNOWN, TS_JWS_PS256);
}

/* Opening fails with @p where and a message holding @p needle (and never the PIN). */
static void open_fails(const ts_svc_p11_options *o, const char *where, const char *needle)
{
    ts_error err;
    ts_error_clear(&err);
    ts_svc_p11 *p = ts_svc_p11_open(o, &err);
    ts_svc_p11_key *k = NULL;
    if (p)
        k = ts_svc_p11_key_find(p, TS_JWS_ALG_UNKNOWN, &err);
    assert_null(k);
    ts_svc_p11_free(p);
    if (strcmp(err.where, where) != 0 || !strstr(err.msg, needle))
        fail_msg("expected %s \"%s\", got %s: %s", where, needle, err.where, err.msg);
    assert_null(strstr(err.msg, PIN));
    assert_null(strstr(err.msg, "0000"));
}

static void test_errors(void **state)
{
    (void)state;
    ts_svc_p11_options o;
    char path[400];

    options(&o, "es256");
    snprintf(o.module, sizeof o.module, "%s/no-such-module.so", g_dir);
    open_fails(&o, "pkcs11Module", "cannot load the PKCS#11 module");
    open_fails(&o, "pkcs11Module", o.module);

    options(&o, "es256");
    snprintf(o.token_label, sizeof o.token_label, "other");
    open_fails(&o, "pkcs11TokenLabel", "no token labelled \"other\"");

    options(&o, "es256");
    snprintf(path, sizeof path, "%s/wrong-pin", g_dir);
    write_file(path, "0000\n", 0600);
    snprintf(o.pin_file, sizeof o.pin_file, "%s", path);
    open_fails(&o, "pkcs11PinFile", "CKR_PIN_INCORRECT");

    options(&o, "es256");
    snprintf(path, sizeof path, "%s/open-pin", g_dir);
    write_file(path, PIN "\n", 0644);
    snprintf(o.pin_file, sizeof o.pin_file, "%s", path);
    open_fails(&o, "pkcs11PinFile", "chmod 600");

    options(&o, "es256");
    o.pin_file[0] = '\0';
    snprintf(o.pin_env, sizeof o.pin_env, "TS_TEST_P11_PIN_UNSET");
    unsetenv("TS_TEST_P11_PIN_UNSET");
    open_fails(&o, "pkcs11PinEnv", "TS_TEST_P11_PIN_UNSET");

    options(&o, "no-such-key");
    open_fails(&o, "pkcs11KeyLabel",
               "no private key labelled \"no-such-key\" in token \"ts-test\"");

    /* An EC key cannot be made to sign RS256. */
    options(&o, "es256");
    ts_error err;
    ts_error_clear(&err);
    ts_svc_p11 *p = ts_svc_p11_open(&o, &err);
    assert_non_null(p);
    assert_null(ts_svc_p11_key_find(p, TS_JWS_RS256, &err));
    assert_string_equal(err.where, "pkcs11KeyLabel");
    ts_svc_p11_free(p);
}

/* The PIN from a variable works as from a file. */
static void test_pin_env(void **state)
{
    (void)state;
    ts_svc_p11_options o;
    options(&o, "es256");
    o.pin_file[0] = '\0';
    snprintf(o.pin_env, sizeof o.pin_env, "TS_TEST_P11_PIN");
    setenv("TS_TEST_P11_PIN", PIN, 1);
    ts_error err;
    ts_error_clear(&err);
    ts_svc_p11 *p = ts_svc_p11_open(&o, &err);
    if (!p)
        fail_msg("%s: %s", err.where, err.msg);
    ts_svc_p11_key *k = ts_svc_p11_key_find(p, TS_JWS_ALG_UNKNOWN, &err);
    assert_non_null(k);
    ts_svc_p11_key_free(k);
    ts_svc_p11_free(p);
    unsetenv("TS_TEST_P11_PIN");
}

/* Every session of the token closed behind the service's back (a token reset, an HSM
 * fail-over): the next signature reopens a session, logs in again and succeeds. */
static void test_session_lost(void **state)
{
    (void)state;
    ts_svc_keyring *kr = open_ring("es256", TS_JWS_ALG_UNKNOWN);
    ts_svc_p11 *tok = ts_svc_keyring_token(kr);
    assert_non_null(tok);
    const char *payload = "{\"n\":1}";
    char *jws = NULL;
    size_t jl = 0;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_svc_keyring_sign(kr, NULL, payload, 7, &jws, &jl, &err), TS_OK);
    ts_free(jws);
    assert_int_equal(ts_svc_p11_reopens(tok), 0);

    /* The same module instance: dlopen gives the loaded library's handle again. */
    void *dl = dlopen(g_module, RTLD_NOW | RTLD_NOLOAD);
    assert_non_null(dl);
    CK_C_GetFunctionList get = NULL;
    *(void **)&get = dlsym(dl, "C_GetFunctionList");
    CK_FUNCTION_LIST_PTR f = NULL;
    assert_int_equal(get(&f), CKR_OK);
    for (int round = 0; round < 2; round++) {
        assert_int_equal(f->C_CloseAllSessions((CK_SLOT_ID)ts_svc_p11_slot(tok)), CKR_OK);
        jws = NULL;
        ts_status st = ts_svc_keyring_sign(kr, NULL, payload, 7, &jws, &jl, &err);
        if (st != TS_OK)
            fail_msg("after C_CloseAllSessions: %s: %s", err.where, err.msg);
        check_jws(ts_svc_keyring_active(kr), TS_JWS_ES256, jws);
        ts_free(jws);
        assert_int_equal(ts_svc_p11_reopens(tok), (unsigned long)round + 1);
    }
    dlclose(dl);
    /* A reload finds the same key: nothing changed. */
    ts_svc_keys_report rep;
    assert_int_equal(ts_svc_keyring_reload(kr, &rep, &err), TS_OK);
    assert_false(rep.changed);
    ts_svc_keyring_free(kr);
}

/* A rotation in the token: the label moves to a new key, SIGHUP (reload) reads it; the old key
 * no longer signs, the new one does under its own kid. */
static void test_reload_rotated(void **state)
{
    (void)state;
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s %s " TOKEN " " PIN " rot ec256 10", g_keygen, g_module);
    assert_int_equal(run(cmd), 0);
    ts_svc_keyring *kr = open_ring("rot", TS_JWS_ALG_UNKNOWN);
    char old_kid[64];
    snprintf(old_kid, sizeof old_kid, "%s", ts_jwk_kid(ts_svc_keyring_active(kr)));
    ts_svc_keys_report rep;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_svc_keyring_reload(kr, &rep, &err), TS_OK);
    assert_false(rep.changed);
    snprintf(cmd, sizeof cmd, "%s %s " TOKEN " " PIN " rot relabel-to rot-old", g_keygen, g_module);
    assert_int_equal(run(cmd), 0);
    snprintf(cmd, sizeof cmd, "%s %s " TOKEN " " PIN " rot ec384 11", g_keygen, g_module);
    assert_int_equal(run(cmd), 0);
    if (ts_svc_keyring_reload(kr, &rep, &err) != TS_OK)
        fail_msg("reload: %s: %s", err.where, err.msg);
    assert_true(rep.changed);
    assert_string_not_equal(rep.active_kid, old_kid);
    assert_string_equal(rep.active_kid, ts_jwk_kid(ts_svc_keyring_active(kr)));
    assert_int_equal(ts_svc_keyring_alg(kr), TS_JWS_ES384);
    assert_non_null(strstr(ts_svc_keyring_jwks_json(kr), rep.active_kid));
    char *jws = NULL;
    size_t jl = 0;
    assert_int_equal(ts_svc_keyring_sign(kr, "JWT", "{}", 2, &jws, &jl, &err), TS_OK);
    check_jws(ts_svc_keyring_active(kr), TS_JWS_ES384, jws);
    ts_free(jws);
    ts_svc_keyring_free(kr);
}

typedef struct worker {
    ts_svc_keyring *kr;
    int ok;
} worker;

static void *signer(void *arg)
{
    worker *w = arg;
    for (int i = 0; i < 40; i++) {
        char payload[64], *jws = NULL;
        int n = snprintf(payload, sizeof payload, "{\"i\":%d}", i);
        size_t jl = 0;
        ts_error err;
        ts_error_clear(&err);
        if (ts_svc_keyring_sign(w->kr, "JWT", payload, (size_t)n, &jws, &jl, &err) != TS_OK)
            continue;
        const char *d2 = strrchr(jws, '.');
        uint8_t *sig = NULL;
        size_t sl = 0;
        if (ts_b64url_decode(d2 + 1, strlen(d2 + 1), &sig, &sl, &err) == TS_OK &&
            ts_jws_verify_raw(ts_svc_keyring_active(w->kr), ts_svc_keyring_alg(w->kr), jws,
                              (size_t)(d2 - jws), sig, sl, &err) == TS_OK)
            w->ok++;
        ts_free(sig);
        ts_free(jws);
    }
    return NULL;
}

/* Threads sign at once through the session pool (run under TSan: label concurrency). */
static void test_concurrent(void **state)
{
    (void)state;
    const char *labels[] = {"es256", "rsa"};
    for (size_t l = 0; l < 2; l++) {
        ts_svc_keyring *kr = open_ring(labels[l], TS_JWS_ALG_UNKNOWN);
        enum { N = 6 };
        pthread_t t[N];
        worker w[N];
        for (int i = 0; i < N; i++) {
            w[i].kr = kr;
            w[i].ok = 0;
            assert_int_equal(pthread_create(&t[i], NULL, signer, &w[i]), 0);
        }
        for (int i = 0; i < N; i++) {
            pthread_join(t[i], NULL);
            assert_int_equal(w[i].ok, 40);
        }
        ts_svc_keyring_free(kr);
    }
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        fprintf(stderr, "usage: %s P11_KEYGEN [MODULE]\n", argv[0]);
        return 2;
    }
    g_keygen = argv[1];
    if (argc > 2)
        g_module = argv[2];
    const char *req = getenv("TS_REQUIRE_SOFTHSM");
    if (access(g_module, R_OK) != 0 || run("command -v softhsm2-util >/dev/null") != 0) {
        if (req && strcmp(req, "1") == 0) {
            fprintf(stderr, "SoftHSM2 is required (TS_REQUIRE_SOFTHSM=1) but %s is absent\n",
                    g_module);
            return 1;
        }
        fprintf(stderr, "skipped: SoftHSM2 (%s, softhsm2-util) is not installed\n", g_module);
        return 77;
    }
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_es256),        cmocka_unit_test(test_es384),
        cmocka_unit_test(test_rs256),        cmocka_unit_test(test_ps256),
        cmocka_unit_test(test_errors),       cmocka_unit_test(test_pin_env),
        cmocka_unit_test(test_session_lost), cmocka_unit_test(test_reload_rotated),
        cmocka_unit_test(test_concurrent),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
