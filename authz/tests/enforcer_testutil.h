/* The RBAC and RBAC-with-domains models of Casbin's examples and an enforcer built from a model
 * text and a CSV policy, for the authz tests that ask an enforcer questions. Include after
 * <cmocka.h>. */
#ifndef TS_ENFORCER_TESTUTIL_H
#define TS_ENFORCER_TESTUTIL_H

#include <string.h>

#include <tokensmith/authz.h>

static const char *const RBAC = "[request_definition]\nr = sub, obj, act\n"
                                "[policy_definition]\np = sub, obj, act\n"
                                "[role_definition]\ng = _, _\n"
                                "[policy_effect]\ne = some(where (p.eft == allow))\n"
                                "[matchers]\nm = g(r.sub, p.sub) && r.obj == p.obj && "
                                "r.act == p.act\n";

static const char *const DOMAINS =
    "[request_definition]\nr = sub, dom, obj, act\n"
    "[policy_definition]\np = sub, dom, obj, act\n"
    "[role_definition]\ng = _, _, _\n"
    "[policy_effect]\ne = some(where (p.eft == allow))\n"
    "[matchers]\nm = g(r.sub, p.sub, r.dom) && r.dom == p.dom && r.obj == p.obj && "
    "r.act == p.act\n";

/* An enforcer of @p model and the rules of @p csv; the test fails on any error. */
static inline ts_authz_enforcer *make(const char *model, const char *csv)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz_model *m = ts_authz_model_parse(model, strlen(model), "model.conf", &err);
    assert_non_null(m);
    ts_authz_policy *p = ts_authz_policy_new();
    assert_int_equal(ts_authz_policy_load_csv(p, csv, strlen(csv), "policy.csv", &err), TS_OK);
    ts_authz_enforcer *e = ts_authz_enforcer_new(m, p, &err);
    if (!e)
        fail_msg("enforcer: %s", err.msg);
    ts_authz_policy_free(p);
    ts_authz_model_free(m);
    return e;
}

#endif
