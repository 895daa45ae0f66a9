/* The keyBackend pkcs11 settings, the pkcs11: URI they become in keyFile and its parser, and
 * ts_jws_sign_external()'s refusals: what needs no token (service_test_keys_pkcs11 signs in
 * SoftHSM2). */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>

#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "config.h"
#include "keys.h"
#include "keys_pkcs11.h"

#define MODULE "/usr/lib/softhsm/libsofthsm2.so" /* only a name here: never loaded */
#define TOKEN "ts-test"

/* keyBackend pkcs11 and its settings become the keyFile URI; the rules between them. */
static void test_config(void **state)
{
    (void)state;
    ts_svc_config c;
    ts_error err;
    ts_svc_config_defaults(&c);
    ts_error_clear(&err);
    assert_int_equal(ts_svc_config_set(&c, "keyBackend", "pkcs11", "test", &err), TS_OK);
    assert_int_equal(ts_svc_config_set(&c, "pkcs11Module", MODULE, "test", &err), TS_OK);
    assert_int_equal(ts_svc_config_set(&c, "pkcs11TokenLabel", TOKEN, "test", &err), TS_OK);
    assert_int_equal(ts_svc_config_set(&c, "pkcs11KeyLabel", "key;1 ?&%", "test", &err), TS_OK);
    /* Neither PIN source: the configuration reads back, the keys do not open, naming it. */
    assert_int_equal(ts_svc_config_finish(&c, &err), TS_OK);
    assert_null(ts_svc_keyring_open(c.key_file, c.key_dir, TS_JWS_ALG_UNKNOWN, false, &err));
    assert_string_equal(err.where, "pkcs11PinFile");
    assert_int_equal(ts_svc_config_set(&c, "pkcs11PinFile", "/x", "test", &err), TS_OK);
    assert_int_equal(ts_svc_config_set(&c, "pkcs11PinEnv", "HSM_PIN", "test", &err), TS_OK);
    assert_int_not_equal(ts_svc_config_finish(&c, &err), TS_OK); /* both */
    assert_string_equal(err.where, "pkcs11PinFile");
    assert_int_equal(ts_svc_config_set(&c, "pkcs11PinFile", "", "test", &err), TS_OK);
    assert_int_equal(ts_svc_config_finish(&c, &err), TS_OK);
    assert_true(ts_svc_p11_is_uri(c.key_file));
    /* No '/' (escaped): nothing that handles keyFile as a file name makes a directory for it. */
    assert_null(strchr(c.key_file, '/'));
    assert_string_equal(c.key_dir, "");
    ts_svc_p11_options o;
    assert_int_equal(ts_svc_p11_uri_parse(c.key_file, &o, &err), TS_OK);
    assert_string_equal(o.module, MODULE);
    assert_string_equal(o.token_label, TOKEN);
    assert_string_equal(o.key_label, "key;1 ?&%");
    assert_string_equal(o.pin_env, "HSM_PIN");
    assert_string_equal(o.pin_file, "");
    assert_int_equal(ts_svc_config_finish(&c, &err), TS_OK); /* a second finish: the same */
    /* Read as a key file, the URI is refused: never a key file generated under its name. */
    assert_null(ts_svc_keyset_open(c.key_file, "", TS_JWS_ALG_UNKNOWN, false, &err));
    assert_string_equal(err.where, "keyFile");
    assert_int_not_equal(access(c.key_file, F_OK), 0);

    /* keyBackend pkcs11 alone: each missing setting is named when the keys open. */
    static const char *const order[][2] = {{"pkcs11Module", "/nonexistent/p11.so"},
                                           {"pkcs11TokenLabel", TOKEN},
                                           {"pkcs11KeyLabel", "k"},
                                           {"pkcs11PinFile", "/nonexistent/pin"}};
    ts_svc_config_defaults(&c);
    assert_int_equal(ts_svc_config_set(&c, "keyBackend", "pkcs11", "test", &err), TS_OK);
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(ts_svc_config_finish(&c, &err), TS_OK);
        assert_null(ts_svc_keyring_open(c.key_file, c.key_dir, TS_JWS_ALG_UNKNOWN, false, &err));
        assert_string_equal(err.where, order[i][0]);
        assert_int_equal(ts_svc_config_set(&c, order[i][0], order[i][1], "test", &err), TS_OK);
    }
    assert_int_equal(ts_svc_config_finish(&c, &err), TS_OK);
    assert_null(ts_svc_keyring_open(c.key_file, c.key_dir, TS_JWS_ALG_UNKNOWN, false, &err));
    assert_string_equal(err.where, "pkcs11Module"); /* now: cannot load it */
    assert_non_null(strstr(err.msg, "/nonexistent/p11.so"));
    /* With keyBackend files, pkcs11 settings are not used: key files are. */
    ts_svc_config_defaults(&c);
    assert_int_equal(ts_svc_config_set(&c, "pkcs11KeyLabel", "k", "test", &err), TS_OK);
    assert_int_equal(ts_svc_config_finish(&c, &err), TS_OK);
    assert_false(ts_svc_p11_is_uri(c.key_file));
    /* keyDir does not apply to a token. */
    ts_svc_config_defaults(&c);
    assert_int_equal(ts_svc_config_set(&c, "keyBackend", "pkcs11", "test", &err), TS_OK);
    assert_int_equal(ts_svc_config_set(&c, "keyDir", "/tmp/k", "test", &err), TS_OK);
    assert_int_not_equal(ts_svc_config_finish(&c, &err), TS_OK);
    assert_string_equal(err.where, "keyDir");

    /* The URI never carries a PIN value. */
    assert_int_not_equal(ts_svc_p11_uri_parse("pkcs11:token=a;object=b?module-path=/m.so&"
                                              "pin-value=1234",
                                              &o, &err),
                         TS_OK);
    assert_non_null(strstr(err.msg, "pin-value is refused"));
    assert_int_not_equal(ts_svc_p11_uri_parse("pkcs11:token=a;object=b%zz?module-path=/m.so&"
                                              "pin-source=env:X",
                                              &o, &err),
                         TS_OK);
    assert_int_not_equal(ts_svc_p11_uri_parse("pkcs11:token=a?module-path=/m.so&"
                                              "pin-source=env:X",
                                              &o, &err),
                         TS_OK);
    assert_string_equal(err.where, "pkcs11KeyLabel");
    assert_non_null(strstr(err.msg, "no object"));
}

static ts_status short_signer(ts_jws_alg alg, const void *input, size_t input_len, uint8_t *sig,
                              size_t sig_cap, size_t *sig_len, void *ud, ts_error *err)
{
    (void)alg, (void)input, (void)input_len, (void)err;
    int *calls = ud;
    (*calls)++;
    memset(sig, 1, sig_cap < 10 ? sig_cap : 10);
    *sig_len = 10;
    return TS_OK;
}

static ts_status failing_signer(ts_jws_alg alg, const void *input, size_t input_len, uint8_t *sig,
                                size_t sig_cap, size_t *sig_len, void *ud, ts_error *err)
{
    (void)alg, (void)input, (void)input_len, (void)sig, (void)sig_cap, (void)sig_len, (void)ud;
    return ts_error_set(err, TS_EIO, "token", "device gone");
}

/* ts_jws_sign_external(): a signature of the wrong length is refused, a signer's error is the
 * call's, and no token comes out of either. */
static void test_external_signer(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    ts_jwk *key = ts_jwk_generate(TS_JWS_ES256, &err);
    assert_non_null(key);
    static char marker[] = "unchanged";
    char *out = marker;
    size_t ol = 0;
    int calls = 0;
    assert_int_equal(ts_jws_sign_external(key, TS_JWS_ES256, "JWT", "{}", 2, short_signer, &calls,
                                          &out, &ol, &err),
                     TS_EINTERNAL);
    assert_int_equal(calls, 1);
    assert_null(out);
    assert_non_null(strstr(err.msg, "returned 10 bytes"));
    out = marker;
    assert_int_equal(ts_jws_sign_external(key, TS_JWS_ES256, "JWT", "{}", 2, failing_signer, NULL,
                                          &out, &ol, &err),
                     TS_EIO);
    assert_null(out);
    assert_string_equal(err.msg, "device gone");
    assert_int_equal(ts_jws_sign_external(key, TS_JWS_RS256, "JWT", "{}", 2, short_signer, &calls,
                                          &out, &ol, &err),
                     TS_EUNSUPPORTED);
    assert_int_equal(calls, 1); /* an algorithm the key cannot do never reaches the signer */
    ts_jwk_free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_config),
        cmocka_unit_test(test_external_signer),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
