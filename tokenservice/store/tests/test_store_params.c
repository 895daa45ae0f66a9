/* The public checks of bootstrap parameters and scope lists: ts_store_bootstrap_params_check()
 * refuses exactly what ts_store_bootstrap_create() refuses, naming the same field, so that a
 * program can answer a bad request before it opens the store (tokensmith bootstrap-token create
 * does); ts_store_scopes_normalize() is the store's one scope rule. */
#include "store_test_util.h"

static ts_store_bootstrap_params good(void)
{
    ts_store_bootstrap_params p = {.subject = "boot-service",
                                   .audience = "smd",
                                   .scopes = "node:read, node:write node:read",
                                   .binding_id = "",
                                   .ttl_s = 600,
                                   .refresh_ttl_s = 86400,
                                   .now = T0};
    return p;
}

static void test_valid_params(void **state)
{
    (void)state;
    ts_store_bootstrap_params p = good();
    char scope[TS_STORE_MAX_SCOPE_LEN + 1] = "x";
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_bootstrap_params_check(NULL, &p, scope, &err), TS_OK);
    assert_string_equal(scope, "node:read node:write");
    assert_int_equal(err.code, TS_OK);
    assert_int_equal(ts_store_bootstrap_params_check(NULL, &p, NULL, NULL), TS_OK);
    /* The bounds are those of the options given; NULL means TS_STORE_OPTIONS_INIT's. */
    p.ttl_s = 5000;
    assert_int_equal(ts_store_bootstrap_params_check(NULL, &p, NULL, NULL), TS_EINVAL);
    ts_store_options o = TS_STORE_OPTIONS_INIT;
    o.bootstrap_ttl_max_s = 7200;
    assert_int_equal(ts_store_bootstrap_params_check(&o, &p, NULL, NULL), TS_OK);
    assert_int_equal(ts_store_bootstrap_params_check(NULL, NULL, scope, NULL), TS_EINVAL);
    assert_string_equal(scope, "");
}

typedef struct bad_case {
    const char *name;
    const char *where;
    void (*spoil)(ts_store_bootstrap_params *p);
} bad_case;

static void no_subject(ts_store_bootstrap_params *p)
{
    p->subject = NULL;
}
static void blank_audience(ts_store_bootstrap_params *p)
{
    p->audience = "   ";
}
static void control_binding(ts_store_bootstrap_params *p)
{
    p->binding_id = "x\033y";
}
static void bad_utf8_subject(ts_store_bootstrap_params *p)
{
    p->subject = "a\xff"
                 "b";
}
static void quote_scope(ts_store_bootstrap_params *p)
{
    p->scopes = "read,wr\"ite";
}
static void short_ttl(ts_store_bootstrap_params *p)
{
    p->ttl_s = 30;
}
static void long_refresh(ts_store_bootstrap_params *p)
{
    p->refresh_ttl_s = 2592001;
}
static void zero_now(ts_store_bootstrap_params *p)
{
    p->now = 0;
}

static const bad_case bad_cases[] = {
    {"missing subject", "subject", no_subject},
    {"blank audience", "audience", blank_audience},
    {"binding id with a control character", "binding_id", control_binding},
    {"subject not UTF-8", "subject", bad_utf8_subject},
    {"scope with a quote", "scopes", quote_scope},
    {"ttl below the bound", "ttl", short_ttl},
    {"refresh ttl above the bound", "refresh_ttl", long_refresh},
    {"implausible now", "now", zero_now},
};

static int count_entry(const ts_store_audit_entry *e, void *ud)
{
    (void)e;
    (*(size_t *)ud)++;
    return 0;
}

static void test_refusals_match_create(void **state)
{
    (void)state;
    tdir t;
    tdir_make(&t);
    ts_store *s = open_store(t.db, NULL);
    for (size_t i = 0; i < sizeof bad_cases / sizeof bad_cases[0]; i++) {
        ts_store_bootstrap_params p = good();
        bad_cases[i].spoil(&p);
        ts_error check_err, create_err;
        ts_error_clear(&check_err);
        ts_error_clear(&create_err);
        char token[TS_STORE_TOKEN_LEN + 1];
        assert_int_equal(ts_store_bootstrap_params_check(NULL, &p, NULL, &check_err), TS_EINVAL);
        assert_int_equal(ts_store_bootstrap_create(s, &p, token, NULL, &create_err), TS_EINVAL);
        if (strcmp(check_err.where, bad_cases[i].where) != 0)
            fail_msg("%s: where is '%s', expected '%s'", bad_cases[i].name, check_err.where,
                     bad_cases[i].where);
        assert_string_equal(check_err.where, create_err.where);
        assert_string_equal(check_err.msg, create_err.msg);
    }
    /* Nothing was written by the refused creations. */
    size_t n = 0;
    assert_int_equal(ts_store_audit_list(s, 0, 0, count_entry, &n, NULL), TS_OK);
    assert_int_equal(n, 0);
    ts_store_free(s);
    tdir_remove(&t);
}

static void test_scopes_normalize(void **state)
{
    (void)state;
    char out[TS_STORE_MAX_SCOPE_LEN + 1];
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_store_scopes_normalize("read, write\tread\n,admin", out, &err), TS_OK);
    assert_string_equal(out, "read write admin");
    assert_int_equal(ts_store_scopes_normalize(NULL, out, NULL), TS_OK);
    assert_string_equal(out, "");
    assert_int_equal(ts_store_scopes_normalize(" , ", out, NULL), TS_OK);
    assert_string_equal(out, "");
    assert_int_equal(ts_store_scopes_normalize("a\\b", out, &err), TS_EINVAL);
    assert_string_equal(err.where, "scopes");
    /* At most TS_STORE_MAX_SCOPES distinct scopes; duplicates do not count. */
    char many[TS_STORE_MAX_SCOPES * 10 + 16] = "";
    for (int i = 0; i < TS_STORE_MAX_SCOPES; i++)
        snprintf(many + strlen(many), sizeof many - strlen(many), "s%d,s%d,", i, i);
    assert_int_equal(ts_store_scopes_normalize(many, out, NULL), TS_OK);
    strcat(many, "extra");
    assert_int_equal(ts_store_scopes_normalize(many, out, NULL), TS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_valid_params),
        cmocka_unit_test(test_refusals_match_create),
        cmocka_unit_test(test_scopes_normalize),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
