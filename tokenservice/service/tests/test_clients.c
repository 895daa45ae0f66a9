/* Unit tests of the client registry (clients.c): the `clients` setting, Basic credentials
 * (RFC 6749 §2.3.1: form-urlencoded before base64) and authentication outcomes. */
#define _GNU_SOURCE
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "clients.h"

#define SECRET "s3cret-s3cret-s3cret"
#define REG                                                                                        \
    "[{\"client_id\":\"rs1\",\"client_secret\":\"" SECRET "\",\"introspect\":true},"               \
    "{\"client_id\":\"ops\",\"client_secret\":\"another secret 0123\",\"revoke_any\":true}]"

static ts_svc_clients *reg(const char *json)
{
    ts_svc_clients *c = NULL;
    ts_error e;
    ts_error_clear(&e);
    assert_int_equal(ts_svc_clients_parse(json, strlen(json), false, &c, &e), TS_OK);
    assert_non_null(c);
    return c;
}

static void bad(const char *json, const char *what)
{
    ts_svc_clients *c = NULL;
    ts_error e;
    ts_error_clear(&e);
    assert_int_not_equal(ts_svc_clients_parse(json, strlen(json), false, &c, &e), TS_OK);
    assert_null(c);
    if (!strstr(e.msg, what) && !strstr(e.where, what))
        fail_msg("'%s': error '%s: %s' lacks '%s'", json, e.where, e.msg, what);
}

static void test_parse(void **state)
{
    (void)state;
    ts_svc_clients *c = reg(REG);
    assert_int_equal(ts_svc_clients_count(c), 2);
    ts_svc_clients_free(c);
    c = reg("");
    assert_int_equal(ts_svc_clients_count(c), 0);
    ts_svc_clients_free(c);
    bad("{}", "array");
    bad("[{\"client_id\":\"a\"}]", "exactly one");
    bad("[{\"client_id\":\"a\",\"client_secret\":\"short\"}]", "client_secret");
    bad("[{\"client_id\":\"a:b\",\"client_secret\":\"" SECRET "\"}]", "client_id");
    bad("[{\"client_id\":\"\",\"client_secret\":\"" SECRET "\"}]", "client_id");
    bad("[{\"client_id\":\"a\",\"client_secret\":\"" SECRET "\",\"x\":1}]", "unknown member");
    bad("[{\"client_id\":\"a\",\"client_secret\":\"" SECRET "\",\"introspect\":\"yes\"}]",
        "boolean");
    bad("[{\"client_id\":\"a\",\"client_secret\":\"" SECRET "\"},"
        "{\"client_id\":\"a\",\"client_secret\":\"" SECRET "\"}]",
        "twice");
    bad("[{\"client_id\":\"a\",\"client_secret\":\"" SECRET "\",\"client_secret_file\":\"/x\"}]",
        "exactly one");
}

static void test_secret_file(void **state)
{
    (void)state;
    char path[] = "/tmp/ts_test_clients_XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, SECRET "\n", sizeof SECRET), (ssize_t)sizeof SECRET);
    close(fd);
    char json[256];
    snprintf(json, sizeof json, "[{\"client_id\":\"f\",\"client_secret_file\":\"%s\"}]", path);
    assert_int_equal(chmod(path, 0600), 0);
    ts_svc_clients *c = reg(json);
    ts_svc_client who;
    /* the trailing newline is not part of the secret */
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, "f", SECRET, &who, NULL), TS_SVC_AUTH_OK);
    ts_svc_clients_free(c);
    assert_int_equal(chmod(path, 0640), 0);
    bad(json, "chmod 600");
    ts_error e;
    ts_error_clear(&e);
    c = NULL;
    assert_int_equal(ts_svc_clients_parse(json, strlen(json), true, &c, &e), TS_OK);
    ts_svc_clients_free(c);
    unlink(path);
    bad(json, "cannot read");
}

static void basic_ok(const char *hdr, const char *id, const char *secret)
{
    char i[TS_SVC_CLIENT_ID_MAX + 1], s[TS_SVC_CLIENT_SECRET_MAX + 1];
    assert_int_equal(ts_svc_basic_decode(hdr, strlen(hdr), i, s), TS_OK);
    assert_string_equal(i, id);
    assert_string_equal(s, secret);
}

static void basic_bad(const char *hdr, ts_status want)
{
    char i[TS_SVC_CLIENT_ID_MAX + 1], s[TS_SVC_CLIENT_SECRET_MAX + 1];
    assert_int_equal(ts_svc_basic_decode(hdr, strlen(hdr), i, s), want);
    assert_string_equal(i, "");
}

static void test_basic(void **state)
{
    (void)state;
    basic_ok("Basic cnMxOnNlY3JldA==", "rs1", "secret");    /* rs1:secret */
    basic_ok("basic  cnMxOnNlY3JldA== ", "rs1", "secret");  /* scheme any case */
    basic_ok("Basic YSUzQWI6cCUyNXcrcQ==", "a:b", "p%w q"); /* a%3Ab:p%25w+q */
    basic_ok("Basic cnMxOjp4", "rs1", ":x");                /* rs1::x */
    basic_ok("Basic cnMxOg==", "rs1", "");                  /* rs1: */
    basic_bad("Bearer abc", TS_ENOTFOUND);
    basic_bad("Basi", TS_ENOTFOUND);
    basic_bad("Basic ", TS_EINVAL);
    basic_bad("Basic cnMxOnNlY3JldA", TS_EINVAL);   /* no padding */
    basic_bad("Basic cnMx!nNlY3JldA==", TS_EINVAL); /* not base64 */
    basic_bad("Basic cnMxc2VjcmV0", TS_EINVAL);     /* rs1secret: no colon */
    basic_bad("Basic OnNlY3JldA==", TS_EINVAL);     /* :secret: empty id */
    basic_bad("Basic cnMxOiUyeg==", TS_EINVAL);     /* rs1:%2z bad escape */
    basic_bad("Basic cnMxOiUwMQ==", TS_EINVAL);     /* rs1:%01 control character */
    basic_bad("Basic cnMxOnNlY3JldA=a", TS_EINVAL); /* data after padding */
    char big[TS_SVC_BASIC_MAX + 16];
    memcpy(big, "Basic ", 6);
    memset(big + 6, 'A', sizeof big - 7);
    big[sizeof big - 1] = '\0';
    basic_bad(big, TS_EINVAL);
}

static void test_authenticate(void **state)
{
    (void)state;
    ts_svc_clients *c = reg(REG);
    ts_svc_client who;
    bool basic = true;
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, NULL, NULL, &who, &basic),
                     TS_SVC_AUTH_NONE);
    assert_false(basic);
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, "rs1", SECRET, &who, &basic),
                     TS_SVC_AUTH_OK);
    assert_string_equal(who.id, "rs1");
    assert_true(who.introspect);
    assert_false(who.revoke_any);
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, "rs1", SECRET "x", &who, NULL),
                     TS_SVC_AUTH_BAD);
    assert_string_equal(who.id, "");
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, "nobody", SECRET, &who, NULL),
                     TS_SVC_AUTH_BAD);
    /* a registered id without its secret is not a public caller */
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, "rs1", NULL, &who, NULL),
                     TS_SVC_AUTH_BAD);
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, "public", NULL, &who, NULL),
                     TS_SVC_AUTH_NONE);
    assert_int_equal(ts_svc_clients_authenticate(c, NULL, NULL, SECRET, &who, NULL),
                     TS_SVC_AUTH_MALFORMED);
    /* Basic: rs1:s3cret-s3cret-s3cret */
    const char *hdr = "Basic cnMxOnMzY3JldC1zM2NyZXQtczNjcmV0";
    assert_int_equal(ts_svc_clients_authenticate(c, hdr, NULL, NULL, &who, &basic), TS_SVC_AUTH_OK);
    assert_true(basic);
    assert_string_equal(who.id, "rs1");
    assert_int_equal(ts_svc_clients_authenticate(c, hdr, "rs1", NULL, &who, NULL), TS_SVC_AUTH_OK);
    assert_int_equal(ts_svc_clients_authenticate(c, hdr, "ops", NULL, &who, NULL),
                     TS_SVC_AUTH_MALFORMED);
    assert_int_equal(ts_svc_clients_authenticate(c, hdr, NULL, SECRET, &who, NULL),
                     TS_SVC_AUTH_MALFORMED);
    assert_int_equal(ts_svc_clients_authenticate(c, "Basic !!!!", NULL, NULL, &who, &basic),
                     TS_SVC_AUTH_MALFORMED);
    assert_true(basic);
    /* another scheme is not client authentication */
    assert_int_equal(ts_svc_clients_authenticate(c, "Bearer x", NULL, NULL, &who, NULL),
                     TS_SVC_AUTH_NONE);
    ts_svc_clients_free(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse),
        cmocka_unit_test(test_secret_file),
        cmocka_unit_test(test_basic),
        cmocka_unit_test(test_authenticate),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
