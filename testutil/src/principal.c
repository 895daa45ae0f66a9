/* Principal fixtures matching the roles of the baseline policy (policy/policy.csv). */
#include "testutil_internal.h"

static const char *const admin_roles[] = {"admin"};
static const char *const operator_roles[] = {"operator"};
static const char *const viewer_roles[] = {"viewer"};
static const char *const service_roles[] = {"service"};

static const ts_testutil_principal fixtures[TS_TESTUTIL_ROLE_COUNT] = {
    {"admin", "admin@tokensmith.test", "user", admin_roles, 1, "admin write read"},
    {"operator", "operator@tokensmith.test", "user", operator_roles, 1, "write read"},
    {"viewer", "viewer@tokensmith.test", "user", viewer_roles, 1, "read"},
    {"service", "boot-agent", "service", service_roles, 1, "read"},
};

const ts_testutil_principal *ts_testutil_principal_get(ts_testutil_role role)
{
    size_t i = (size_t)role;
    return i < TS_TESTUTIL_ROLE_COUNT ? &fixtures[i] : NULL;
}

ts_authz_principal ts_testutil_principal_authz(const ts_testutil_principal *p)
{
    ts_authz_principal out = {NULL, NULL, NULL, 0, NULL};
    if (p) {
        out.id = p->id;
        out.type = p->type;
        out.roles = p->roles;
        out.nroles = p->nroles;
    }
    return out;
}
