/* The serve configuration parser: bounds, NUL bytes, duplicate members, file errors. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "config.h"

static ts_svc_config cfg;

static ts_status load(const char *text, size_t len, ts_error *err)
{
    ts_svc_config_defaults(&cfg);
    ts_error_clear(err);
    return ts_svc_config_load_buffer(&cfg, text, len, "test.json", err);
}

static void test_valid(void **state)
{
    (void)state;
    ts_error err;
    static const char t[] = "{\"issuer\":\"https://ts.example\",\"threads\":8}";
    assert_int_equal(load(t, sizeof t - 1, &err), TS_OK);
    assert_string_equal(cfg.issuer, "https://ts.example");
    assert_int_equal(cfg.threads, 8);
}

static void test_refusals(void **state)
{
    (void)state;
    ts_error err;
    size_t big = TS_SVC_CONFIG_MAX_BYTES + 1;
    char *huge = malloc(big);
    assert_non_null(huge);
    memset(huge, ' ', big);
    huge[0] = '{';
    huge[big - 1] = '}';
    assert_int_equal(load(huge, big, &err), TS_ELIMIT);
    assert_string_equal(err.where, "test.json");
    free(huge);

    static const char nul[] = "{\"issuer\":\"a\0b\"}";
    assert_int_equal(load(nul, sizeof nul - 1, &err), TS_EPARSE);

    static const char dup[] = "{\"threads\":2,\n\"threads\":3}";
    assert_int_equal(load(dup, sizeof dup - 1, &err), TS_EPARSE);
    assert_string_equal(err.where, "test.json:2");

    static const char arr[] = "[1,2]";
    assert_int_equal(load(arr, sizeof arr - 1, &err), TS_EPARSE);

    static const char range[] = "{\"threads\":0}";
    assert_int_not_equal(load(range, sizeof range - 1, &err), TS_OK);
    assert_non_null(strstr(err.where, "threads"));
}

static void test_file(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    ts_svc_config_defaults(&cfg);
    assert_int_equal(ts_svc_config_load_file(&cfg, "/nonexistent/tokensmith.json", &err), TS_EIO);
    assert_string_equal(err.where, "/nonexistent/tokensmith.json");
    char path[] = "/tmp/ts-config-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    FILE *f = fdopen(fd, "w");
    fputs("{\"listen\":\"127.0.0.1:9999\"}", f);
    fclose(f);
    assert_int_equal(ts_svc_config_load_file(&cfg, path, &err), TS_OK);
    assert_string_equal(cfg.listen, "127.0.0.1:9999");
    remove(path);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_file),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
