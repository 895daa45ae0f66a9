/* Registered functions through the authorizer and the guard: a model whose matcher calls
 * hasSuffix loads and decides with the function registered in the authorizer options, at start,
 * on reload and after rules change at run time; without it the load fails naming it. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <tokensmith/authz_http.h>

#include "contract_testutil.h"

/* The baseline's request, policy and role shapes (its rules load into this model too), with
 * objects matched by suffix. */
static const char model_text[] = "[request_definition]\n"
                                 "r = sub, dom, obj, act\n"
                                 "[policy_definition]\n"
                                 "p = sub, obj, act\n"
                                 "[role_definition]\n"
                                 "g = _, _, _\n"
                                 "[policy_effect]\n"
                                 "e = some(where (p.eft == allow))\n"
                                 "[matchers]\n"
                                 "m = g(r.sub, p.sub, r.dom) && hasSuffix(r.obj, p.obj) && "
                                 "r.act == p.act\n";

typedef struct ffx {
    char *dir, *policy_dir, *model;
} ffx;

static int fsetup(void **state)
{
    ffx *f = calloc(1, sizeof *f);
    assert_non_null(f);
    assert_non_null(f->dir = tu_mkdtemp());
    f->model = tu_path(f->dir, "model.conf");
    f->policy_dir = tu_path(f->dir, "policy");
    assert_int_equal(mkdir(f->policy_dir, 0755), 0);
    assert_int_equal(tu_writez(f->dir, "model.conf", model_text), 0);
    assert_int_equal(tu_writez(f->policy_dir, "10-reports.csv", "p, role:reader, .txt, read\n"), 0);
    *state = f;
    return 0;
}

static int fteardown(void **state)
{
    ffx *f = *state;
    tu_rmrf(f->dir);
    free(f->dir);
    free(f->policy_dir);
    free(f->model);
    free(f);
    return 0;
}

static ts_authz_authorizer_options options(const ffx *f, const ts_authz_function_reg *fns, size_t n)
{
    ts_authz_authorizer_options o = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    o.source.model_path = f->model;
    o.source.policy_dir = f->policy_dir;
    o.functions = fns;
    o.n_functions = n;
    return o;
}

static const char *const reader_roles[] = {"reader"};
static const ts_authz_principal alice = {"alice", "user", reader_roles, 1, NULL};

/* The guard's verdict for GET @p path. */
static ts_authz_verdict decide(const ts_authz_guard *g, const char *path)
{
    ts_authz_request rq = {"GET", path, strlen(path), true, NULL};
    ts_authz_outcome out;
    assert_int_equal(ts_authz_guard_check(g, &rq, &alice, &out), TS_OK);
    ts_authz_verdict v = out.decision;
    ts_authz_outcome_cleanup(&out);
    return v;
}

static void test_guard_decides_with_function(void **state)
{
    ffx *f = *state;
    /* A copy whose name lives in caller storage that is gone after ts_authz_authorizer_new():
     * the authorizer keeps its own, which reloads need. */
    ts_authz_function desc = *ts_authz_function_has_suffix();
    char name[16] = "hasSuffix";
    desc.name = name;
    ts_authz_function_reg reg = {&desc, NULL};
    ts_authz_authorizer_options o = options(f, &reg, 1);
    ts_error err;
    ts_error_clear(&err);
    ts_authz_authorizer *a = ts_authz_authorizer_new(&o, &err);
    assert_non_null(a);
    memset(name, 'x', sizeof name - 1);
    memset(&desc, 0, sizeof desc);

    static const ts_authz_route routes[] = {{"GET", "/reports/:id", "reports.txt", "read"},
                                            {"GET", "/images/:id", "images.png", "read"},
                                            {"GET", "/docs/:id", "docs.pdf", "read"}};
    ts_authz_mapper *m =
        ts_authz_mapper_routes_new(routes, 3, TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    assert_non_null(m);
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.authorizer = a;
    go.mapper = m;
    ts_authz_guard *g = ts_authz_guard_new(&go, &err);
    assert_non_null(g);

    assert_int_equal(decide(g, "/reports/1"), TS_AUTHZ_ALLOW);
    assert_int_equal(decide(g, "/images/1"), TS_AUTHZ_DENY);
    assert_int_equal(decide(g, "/docs/1"), TS_AUTHZ_DENY);

    /* A reload builds a new enforcer: the function is registered on it too. */
    assert_int_equal(ts_authz_reload(a, &err), TS_OK);
    assert_int_equal(decide(g, "/reports/1"), TS_AUTHZ_ALLOW);

    /* So is the one built for rules changed at run time. */
    const char *const rule[] = {"role:reader", ".pdf", "read"};
    ts_authz_rule_row row = {"p", rule, 3};
    size_t changed = 0;
    assert_int_equal(ts_authz_guard_add_rules(g, &row, 1, &changed, NULL, &err), TS_OK);
    assert_int_equal(changed, 1);
    assert_int_equal(decide(g, "/docs/1"), TS_AUTHZ_ALLOW);
    assert_int_equal(decide(g, "/images/1"), TS_AUTHZ_DENY);
    assert_int_equal(ts_authz_reload(a, &err), TS_OK);
    assert_int_equal(decide(g, "/docs/1"), TS_AUTHZ_ALLOW);

    ts_authz_guard_free(g);
    ts_authz_mapper_free(m);
    ts_authz_authorizer_free(a);
}

static void assert_load_fails_naming_function(const ts_authz_authorizer_options *o)
{
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_authz_authorizer_new(o, &err));
    assert_int_not_equal(err.code, TS_OK);
    char text[600];
    snprintf(text, sizeof text, "%s: %s", err.where, err.msg);
    assert_non_null(strstr(text, "hasSuffix"));
}

static void test_unregistered_function_fails(void **state)
{
    ffx *f = *state;
    ts_authz_authorizer_options o = options(f, NULL, 0);
    assert_load_fails_naming_function(&o);

    /* Version 1 options end before `functions`: still accepted, and those members unread. */
    ts_authz_function_reg reg = {ts_authz_function_has_suffix(), NULL};
    o = options(f, &reg, 1);
    o.version = 1u;
    assert_load_fails_naming_function(&o);
    o.version = 99u;
    ts_error err;
    ts_error_clear(&err);
    assert_null(ts_authz_authorizer_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);

    /* A count without an array, and a registration without a descriptor. */
    o = options(f, NULL, 1);
    assert_null(ts_authz_authorizer_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
    ts_authz_function_reg none = {NULL, NULL};
    o = options(f, &none, 1);
    assert_null(ts_authz_authorizer_new(&o, &err));
    assert_int_equal(err.code, TS_EINVAL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_guard_decides_with_function, fsetup, fteardown),
        cmocka_unit_test_setup_teardown(test_unregistered_function_fails, fsetup, fteardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
