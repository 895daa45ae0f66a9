/* Who a verified caller is: the authz principal of a trust entry's token, and the Kubernetes
 * service-account rules (docs/gateway.md, "Kubernetes identity"). A projected service-account
 * token names its account twice, in `sub` and in the nested `kubernetes.io` claims; both must
 * agree, so that a token whose sub says one account and whose claims say another (or a legacy
 * flat Secret token without the nested claims) is refused rather than read either way. The
 * account is the caller's whole identity: its roles come from policy bindings only. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

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

static bool copy_str(char *dst, size_t cap, const json_t *v)
{
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n == 0 || n >= cap || memchr(s, '\0', n))
        return false;
    memcpy(dst, s, n + 1);
    return true;
}

static ts_authn_reason kubernetes(const ts_gateway_trust *t, const ts_authn_principal *p,
                                  int64_t now, ts_gateway__identity *out, ts_error *err)
{
    json_error_t je;
    const char *claims = ts_authn_principal_claims_json(p);
    json_t *root = json_loads(claims ? claims : "", JSON_REJECT_DUPLICATES, &je);
    if (!root) {
        ts_error_set(err, TS_ENOMEM, "claims", "cannot read the verified claims");
        return TS_AUTHN_INTERNAL;
    }
    ts_authn_reason r = TS_AUTHN_OK;
    json_t *k8s = json_object_get(root, "kubernetes.io");
    json_t *sa = json_object_get(k8s, "serviceaccount");
    json_t *iat = json_object_get(root, "iat");
    if (!json_is_object(k8s) || !json_is_object(sa) || !json_object_get(k8s, "namespace") ||
        !json_object_get(sa, "name")) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io",
                     "no kubernetes.io.namespace and serviceaccount.name");
        r = TS_AUTHN_MISSING_CLAIM;
        goto done;
    }
    if (!copy_str(out->k8s_namespace, sizeof out->k8s_namespace,
                  json_object_get(k8s, "namespace")) ||
        !copy_str(out->k8s_sa_name, sizeof out->k8s_sa_name, json_object_get(sa, "name"))) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io", "namespace or name not a short string");
        r = TS_AUTHN_INVALID_CLAIM;
        goto done;
    }
    json_t *uid = json_object_get(sa, "uid");
    if (uid && !copy_str(out->k8s_sa_uid, sizeof out->k8s_sa_uid, uid)) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io", "serviceaccount.uid not a short string");
        r = TS_AUTHN_INVALID_CLAIM;
        goto done;
    }
    char want[600];
    snprintf(want, sizeof want, "system:serviceaccount:%s:%s", out->k8s_namespace,
             out->k8s_sa_name);
    if (strcmp(want, ts_authn_principal_id(p)) != 0) {
        ts_error_set(err, TS_EINVAL, "sub", "sub does not name the kubernetes.io account");
        r = TS_AUTHN_INVALID_CLAIM;
        goto done;
    }
    if (t->max_token_age_s > 0) {
        if (!json_is_integer(iat)) {
            ts_error_set(err, TS_EINVAL, "iat", "max_token_age needs an integer iat");
            r = TS_AUTHN_MISSING_CLAIM;
        } else if (now - (int64_t)json_integer_value(iat) > t->max_token_age_s) {
            ts_error_set(err, TS_EINVAL, "iat", "token older than max_token_age");
            r = TS_AUTHN_INVALID_CLAIM;
        }
    }
done:
    json_decref(root);
    return r;
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
         * service:system:serviceaccount:<ns>:<name> are what it may do. */
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
