/* Who a verified caller is: the authz principal of a trust entry's token, and the Kubernetes
 * service-account rules (docs/gateway.md, "Kubernetes identity"). A projected service-account
 * token names its account twice, in `sub` and in the nested `kubernetes.io` claims; both must
 * agree, so that a token whose sub says one account and whose claims say another (or a legacy
 * flat Secret token without the nested claims) is refused rather than read either way. The
 * account is the caller's whole identity: its roles are what the policy binds to it, never
 * what its token claims. */
#include <stdio.h>
#include <string.h>

#include "core_internal.h"

static const char *type_of(const ts_gateway_trust *t, const ts_authn_principal *p)
{
    if (t->principal_type[0])
        return t->principal_type;
    if (t->kind == TS_GATEWAY_TRUST_KUBERNETES)
        return "service";
    /* A tokensmith token says what it is (`principal_type`); anything else is a user. */
    return ts_authn_principal_type_of(p) == TS_AUTHN_PRINCIPAL_SERVICE ? "service" : "user";
}

/* The account, read by authn's one reading of service-account tokens (legacy tokens never). */
static ts_authn_reason kubernetes(const ts_gateway_trust *t, const ts_authn_principal *p,
                                  int64_t now, ts_gateway__identity *out, ts_error *err)
{
    ts_authn_k8s_rules rules = TS_AUTHN_K8S_RULES_INIT;
    rules.max_token_age_s = t->max_token_age_s;
    ts_authn_k8s_account a;
    ts_authn_reason r = ts_authn_kubernetes_account(p, &rules, now, &a, err);
    if (r != TS_AUTHN_OK)
        return r;
    _Static_assert(sizeof out->k8s_namespace > TS_AUTHN_K8S_NAME_MAX &&
                       sizeof out->k8s_sa_name > TS_AUTHN_K8S_NAME_MAX &&
                       sizeof out->k8s_sa_uid > TS_AUTHN_K8S_UID_MAX,
                   "the identity holds every account field");
    snprintf(out->k8s_namespace, sizeof out->k8s_namespace, "%s", a.namespace_name);
    snprintf(out->k8s_sa_name, sizeof out->k8s_sa_name, "%s", a.name);
    snprintf(out->k8s_sa_uid, sizeof out->k8s_sa_uid, "%s", a.uid);
    return TS_AUTHN_OK;
}

ts_authn_reason ts_gateway__identity_map(const ts_gateway_trust *t, const ts_authn_principal *p,
                                         int64_t now, ts_gateway__identity *out, ts_error *err)
{
    memset(out, 0, sizeof *out);
    out->id = ts_authn_principal_id(p);
    out->type = type_of(t, p);
    if (!out->id || !*out->id) {
        ts_error_set(err, TS_EINVAL, "sub", "no subject");
        return TS_AUTHN_MISSING_CLAIM;
    }
    if (t->kind == TS_GATEWAY_TRUST_KUBERNETES) {
        /* The account is the whole identity: no roles (token `roles`, `groups` or a mapped
         * scope) and no domain from the token's claims. Kubernetes itself derives a service
         * account's groups from its namespace, never from claims; the policy's bindings of
         * service:system:serviceaccount:<ns>:<name> are what it may do, and its roles
         * (ts_gateway__identity_policy_roles(), read once it is authorized). */
        out->kubernetes = true;
        return kubernetes(t, p, now, out, err);
    }
    out->domain = ts_authn_principal_domain(p);
    size_t n = 0;
    const char *const *roles = ts_authn_principal_roles(p, &n);
    if (n > TS_GATEWAY__MAX_ROLES) {
        ts_error_set(err, TS_EINVAL, "roles", "more than %u roles", TS_GATEWAY__MAX_ROLES);
        return TS_AUTHN_INVALID_CLAIM;
    }
    for (size_t i = 0; i < n; i++)
        out->roles[i] = roles[i];
    out->n_roles = n;
    return TS_AUTHN_OK;
}

ts_authz_principal ts_gateway__identity_authz(const ts_gateway__identity *id)
{
    ts_authz_principal p = {id->id, id->type, id->roles, id->n_roles, id->domain};
    return p;
}

ts_status ts_gateway__identity_policy_roles(const ts_authz_guard *g, ts_gateway__identity *id,
                                            char ***held,
                                            char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1],
                                            ts_error *err)
{
    *held = NULL;
    policy_version[0] = '\0';
    if (!id->kubernetes)
        return TS_OK;
    /* The subject the guard decided with, so the roles are those its decision relied on. */
    ts_authz_principal p = ts_gateway__identity_authz(id);
    size_t n = 0;
    ts_status st =
        ts_authz_guard_roles(g, &p, NULL, TS_GATEWAY__MAX_ROLES, held, &n, policy_version, err);
    if (st != TS_OK)
        return st;
    for (size_t i = 0; i < n; i++)
        id->roles[i] = (*held)[i];
    id->n_roles = n;
    return TS_OK;
}
