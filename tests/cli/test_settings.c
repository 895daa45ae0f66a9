/* The flag table against the serve configuration: every serve setting has a flag, a variable
 * and a config-file field, each of the three sets it, and flag > variable > file > default. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "cli.h"

static char file_path[] = "/tmp/ts-cli-settings-XXXXXX";

/* A valid value of row @p id that differs from its default (variant 0 or 1 differ too). */
static void test_value(ts_cli_flag_id id, int variant, char *buf, size_t cap)
{
    const ts_cli_flag *f = &ts_cli_flags[id];
    const ts_svc_value_spec *s = &f->spec;
    switch (s->kind) {
    case TS_SVC_K_STR:
    case TS_SVC_K_PATH:
    case TS_SVC_K_STORE:
        snprintf(buf, cap, "/tmp/v%d-%s", variant, f->name);
        break;
    case TS_SVC_K_LISTEN:
    case TS_SVC_K_LOCAL_LISTEN:
        snprintf(buf, cap, "127.0.0.1:%d", 4000 + variant);
        break;
    case TS_SVC_K_PORT:
        snprintf(buf, cap, "%d", 5000 + variant);
        break;
    case TS_SVC_K_DUR:
    case TS_SVC_K_UINT:
    case TS_SVC_K_INT:
        snprintf(buf, cap, "%lld", (long long)(variant ? s->max - 1 : s->max));
        break;
    case TS_SVC_K_BOOL:
        snprintf(buf, cap, "%s", (strcmp(f->def, "true") == 0) == !variant ? "false" : "true");
        break;
    case TS_SVC_K_ENUM: {
        /* The last choices differ from every default of the table. */
        const char *bar = strrchr(s->choices, '|');
        if (variant && bar && bar != s->choices) {
            const char *prev = bar - 1;
            while (prev > s->choices && *prev != '|')
                prev--;
            prev += *prev == '|';
            snprintf(buf, cap, "%.*s", (int)(bar - prev), prev);
        } else {
            snprintf(buf, cap, "%s", bar ? bar + 1 : s->choices);
        }
        break;
    }
    }
}

/* What ts_svc_config_get() gives for a value of @p id (a port shows in the default listen
 * address, 127.0.0.1:8080). */
static void expected(ts_cli_flag_id id, const char *value, char *buf, size_t cap)
{
    if (id == F_PORT)
        snprintf(buf, cap, "127.0.0.1:%s", value);
    else
        snprintf(buf, cap, "%s", value);
}

static void clear_env(void)
{
    for (int id = 0; id < F_COUNT; id++)
        if (ts_cli_flags[id].env)
            unsetenv(ts_cli_flags[id].env);
}

/* A config file setting @p key (nested for "claims.x") to @p value as a JSON string. */
static void write_file(const char *key, const char *value)
{
    FILE *f = fopen(file_path, "w");
    assert_non_null(f);
    const char *dot = strchr(key, '.');
    if (dot)
        fprintf(f, "{\"%.*s\": {\"%s\": \"%s\"}}", (int)(dot - key), key, dot + 1, value);
    else
        fprintf(f, "{\"%s\": \"%s\"}", key, value);
    fclose(f);
}

/* Resolve the serve configuration of `serve ARGS` and return @p key's value. */
static int resolve(char **argv, int argc, const char *key, char *out, size_t cap)
{
    ts_cli_args a;
    ts_svc_config *c = malloc(sizeof *c);
    assert_non_null(c);
    int rc = ts_cli_parse(&ts_cli_cmd_serve, argc, argv, &a);
    if (rc == TS_CLI_OK)
        rc = ts_cli_serve_config(&a, c);
    if (rc == TS_CLI_OK)
        assert_int_equal(ts_svc_config_get(c, strcmp(key, "port") ? key : "listen", out, cap, NULL),
                         TS_OK);
    ts_cli_args_free(&a);
    free(c);
    return rc;
}

static void test_every_setting_has_flag_variable_field(void **state)
{
    (void)state;
    for (int id = 0; id < F_SERVE_END; id++) {
        const ts_cli_flag *f = &ts_cli_flags[id];
        assert_non_null(f->name);
        assert_non_null(f->env);
        assert_non_null(f->key);
        assert_true(strncmp(f->env, "TOKENSMITH_", 11) == 0);
        assert_true(f->help && f->help[0]);
        /* serve accepts it */
        bool used = false;
        for (const ts_cli_use *u = ts_cli_cmd_serve.uses; u->id != F_COUNT; u++)
            used = used || (int)u->id == id;
        assert_true(used);
    }
}

static void test_each_source_sets_each_setting(void **state)
{
    (void)state;
    for (int i = 0; i < F_SERVE_END; i++) {
        ts_cli_flag_id id = (ts_cli_flag_id)i;
        const ts_cli_flag *f = &ts_cli_flags[id];
        char v0[256], v1[256], want[300], got[TS_SVC_PATH], flag[300], cfg[300];
        test_value(id, 0, v0, sizeof v0);
        test_value(id, 1, v1, sizeof v1);
        snprintf(cfg, sizeof cfg, "--config=%s", file_path);
        char *base[] = {NULL, NULL, NULL, NULL};
        print_message("%s\n", f->key);

        /* the variable */
        clear_env();
        setenv(f->env, v0, 1);
        assert_int_equal(resolve(base + 1, 0, f->key, got, sizeof got), TS_CLI_OK);
        expected(id, v0, want, sizeof want);
        assert_string_equal(got, want);

        /* the config file */
        clear_env();
        write_file(f->key, v0);
        base[1] = cfg;
        assert_int_equal(resolve(base + 1, 1, f->key, got, sizeof got), TS_CLI_OK);
        expected(id, v0, want, sizeof want);
        assert_string_equal(got, want);

        /* the flag beats the variable, which beats the file */
        setenv(f->env, v1, 1);
        assert_int_equal(resolve(base + 1, 1, f->key, got, sizeof got), TS_CLI_OK);
        expected(id, v1, want, sizeof want);
        assert_string_equal(got, want);
        snprintf(flag, sizeof flag, "--%s=%s", f->name, v0);
        base[2] = flag;
        assert_int_equal(resolve(base + 1, 2, f->key, got, sizeof got), TS_CLI_OK);
        expected(id, v0, want, sizeof want);
        assert_string_equal(got, want);
        base[2] = NULL;
    }
    clear_env();
}

static void test_bad_values_are_usage_errors(void **state)
{
    (void)state;
    clear_env();
    char got[64];
    char bad[] = "--threads=0";
    char *bad_flag[] = {bad};
    assert_int_equal(resolve(bad_flag, 1, "threads", got, sizeof got), TS_CLI_USAGE);
    setenv("TOKENSMITH_REDEEM_RETRY_GRACE", "2h", 1);
    assert_int_equal(resolve(NULL, 0, "redeemRetryGrace", got, sizeof got), TS_CLI_USAGE);
    clear_env();
    write_file("threads", "0");
    char cfg[300];
    snprintf(cfg, sizeof cfg, "--config=%s", file_path);
    char *file_arg[] = {cfg};
    assert_int_equal(resolve(file_arg, 1, "threads", got, sizeof got), TS_CLI_FAIL);
}

int main(void)
{
    int fd = mkstemp(file_path);
    if (fd < 0)
        return 1;
    close(fd);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_every_setting_has_flag_variable_field),
        cmocka_unit_test(test_each_source_sets_each_setting),
        cmocka_unit_test(test_bad_values_are_usage_errors),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    unlink(file_path);
    return rc;
}
