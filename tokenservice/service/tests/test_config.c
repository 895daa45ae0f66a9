/* The serve configuration: the parser (bounds, NUL bytes, duplicate members, file errors, port
 * after listen, refused store values) and the derived values of ts_svc_config_finish(). */
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

/* `clients` is kept as compact JSON for the registry (clients.c), which checks its members. */
static void test_clients(void **state)
{
    (void)state;
    ts_error err;
    static const char ok[] = "{\"clients\": [{\"client_id\": \"rs1\", \"introspect\": true}]}";
    assert_int_equal(load(ok, sizeof ok - 1, &err), TS_OK);
    assert_string_equal(cfg.clients, "[{\"client_id\":\"rs1\",\"introspect\":true}]");
    static const char obj[] = "{\"clients\": {\"client_id\": \"rs1\"}}";
    assert_int_equal(load(obj, sizeof obj - 1, &err), TS_EINVAL);
    assert_non_null(strstr(err.msg, "must be an array"));
    assert_non_null(strstr(err.where, "clients"));
}

static void test_port_after_listen(void **state)
{
    (void)state;
    ts_error err;
    /* `port` replaces the port of `listen` wherever it stands in the file. */
    static const char before[] = "{\"port\": 9443, \"listen\": \"0.0.0.0:8080\"}";
    assert_int_equal(load(before, sizeof before - 1, &err), TS_OK);
    assert_string_equal(cfg.listen, "0.0.0.0:9443");
    static const char after[] = "{\"listen\": \"[::1]:8080\", \"port\": \"9000\"}";
    assert_int_equal(load(after, sizeof after - 1, &err), TS_OK);
    assert_string_equal(cfg.listen, "[::1]:9000");
    static const char bad[] = "{\"port\": 70000}";
    assert_int_equal(load(bad, sizeof bad - 1, &err), TS_EINVAL);
    assert_non_null(strstr(err.where, "port"));
}

static void test_store_is_a_file_name(void **state)
{
    (void)state;
    ts_error err;
    /* A URI other than PostgreSQL's never becomes a file name; paths refuse every URI. */
    static const char *const refused[] = {
        "{\"store\": \"sqlite:///var/lib/x.db\"}",
        "{\"store\": \"mysql://u:hunter2@db/tokens\"}",
        "{\"keyDir\": \"file:///etc/keys\"}",
        "{\"keyDir\": \"postgres://u:hunter2@db/tokens\"}",
    };
    for (size_t i = 0; i < sizeof refused / sizeof refused[0]; i++) {
        assert_int_equal(load(refused[i], strlen(refused[i]), &err), TS_EINVAL);
        assert_null(strstr(err.msg, "hunter2")); /* a password is never repeated */
    }
    /* A PostgreSQL URI or conninfo selects the PostgreSQL store; a path with '=' is a file. */
    static const char *const accepted[][2] = {
        {"{\"store\": \"postgres://u:hunter2@db/tokens\"}", "postgres://u:hunter2@db/tokens"},
        {"{\"store\": \"postgresql://db/tokens\"}", "postgresql://db/tokens"},
        {"{\"store\": \"host=db dbname=tokens password=hunter2\"}",
         "host=db dbname=tokens password=hunter2"},
        {"{\"store\": \"/var/lib/tokensmith/host=x.db\"}", "/var/lib/tokensmith/host=x.db"},
    };
    for (size_t i = 0; i < sizeof accepted / sizeof accepted[0]; i++) {
        assert_int_equal(load(accepted[i][0], strlen(accepted[i][0]), &err), TS_OK);
        assert_string_equal(cfg.store, accepted[i][1]);
    }
}

static void test_finish(void **state)
{
    (void)state;
    ts_error err;
    ts_error_clear(&err);
    /* The issuer follows listen when it is not set. */
    ts_svc_config_defaults(&cfg);
    snprintf(cfg.listen, sizeof cfg.listen, "127.0.0.1:9555");
    assert_int_equal(ts_svc_config_finish(&cfg, &err), TS_OK);
    assert_string_equal(cfg.issuer, "http://127.0.0.1:9555");
    assert_true(cfg.issuer_follows_listen);
    assert_string_equal(cfg.key_dir, "./tokensmith-data/keys");
    assert_string_equal(cfg.store, "./tokensmith-data/tokensmith.db");
    ts_svc_config_defaults(&cfg);
    snprintf(cfg.issuer, sizeof cfg.issuer, "https://ts.example");
    assert_int_equal(ts_svc_config_finish(&cfg, &err), TS_OK);
    assert_string_equal(cfg.issuer, "https://ts.example");
    assert_false(cfg.issuer_follows_listen);
    /* A key file and a key directory together leave one unused: refused. */
    ts_svc_config_defaults(&cfg);
    snprintf(cfg.key_file, sizeof cfg.key_file, "/k.pem");
    snprintf(cfg.key_dir, sizeof cfg.key_dir, "/keys");
    assert_int_equal(ts_svc_config_finish(&cfg, &err), TS_EINVAL);
    /* Fields set directly are checked again. */
    ts_svc_config_defaults(&cfg);
    ts_error_clear(&err);
    cfg.threads = 0;
    assert_int_equal(ts_svc_config_finish(&cfg, &err), TS_EINVAL);
    assert_string_equal(err.where, "threads");
    ts_svc_config_defaults(&cfg);
    ts_error_clear(&err);
    snprintf(cfg.log_format, sizeof cfg.log_format, "xml");
    assert_int_equal(ts_svc_config_finish(&cfg, &err), TS_EINVAL);
    assert_string_equal(err.where, "logFormat");
}

static void test_set_and_get(void **state)
{
    (void)state;
    ts_error err;
    char buf[64];
    ts_svc_config_defaults(&cfg);
    assert_int_equal(ts_svc_config_set(&cfg, "redeemRetryGrace", "1m30s", "--x", &err), TS_OK);
    assert_int_equal(ts_svc_config_get(&cfg, "redeemRetryGrace", buf, sizeof buf, &err), TS_OK);
    assert_string_equal(buf, "90");
    assert_int_equal(ts_svc_config_set(&cfg, "claims.nist", "false", NULL, &err), TS_OK);
    assert_int_equal(ts_svc_config_get(&cfg, "claims.nist", buf, sizeof buf, &err), TS_OK);
    assert_string_equal(buf, "false");
    ts_error_clear(&err);
    assert_int_equal(ts_svc_config_set(&cfg, "threads", "257", "TOKENSMITH_THREADS", &err),
                     TS_EINVAL);
    assert_string_equal(err.where, "TOKENSMITH_THREADS");
    assert_int_equal(ts_svc_config_set(&cfg, "nope", "1", NULL, &err), TS_ENOTFOUND);
    assert_int_equal(ts_svc_config_get(&cfg, "port", buf, sizeof buf, &err), TS_ENOTFOUND);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid),
        cmocka_unit_test(test_refusals),
        cmocka_unit_test(test_file),
        cmocka_unit_test(test_clients),
        cmocka_unit_test(test_port_after_listen),
        cmocka_unit_test(test_store_is_a_file_name),
        cmocka_unit_test(test_finish),
        cmocka_unit_test(test_set_and_get),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
