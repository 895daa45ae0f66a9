/* Kubernetes service-account tokens: the one reading of their claims (round2.md §2.2). A
   projected token names its account twice, in `sub` and in the nested `kubernetes.io` object;
   both must agree, so that a token whose sub says one account and whose claims another is
   refused rather than read either way. A legacy Secret-based token (flat
   `kubernetes.io/serviceaccount/...` claims, no exp, valid forever and bound to nothing) is
   read only when the caller explicitly allows it. */
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#include "authn_internal.h"

#define LEGACY_NS "kubernetes.io/serviceaccount/namespace"
#define LEGACY_NAME "kubernetes.io/serviceaccount/service-account.name"
#define LEGACY_UID "kubernetes.io/serviceaccount/service-account.uid"

/* Copy the string @p v (absent: true, left "" unless @p required) into @p dst. */
static ts_authn_reason take(const json_t *v, bool required, char *dst, size_t cap,
                            const char *where, ts_error *err)
{
    if (!v) {
        if (!required)
            return TS_AUTHN_OK;
        ts_error_set(err, TS_EINVAL, where, "claim is required");
        return TS_AUTHN_MISSING_CLAIM;
    }
    const char *s = json_string_value(v);
    size_t n = s ? json_string_length(v) : 0;
    if (!s || n == 0 || n >= cap || memchr(s, '\0', n)) {
        ts_error_set(err, TS_EINVAL, where, "must be a string of 1 to %zu bytes", cap - 1);
        return TS_AUTHN_INVALID_CLAIM;
    }
    memcpy(dst, s, n + 1);
    return TS_AUTHN_OK;
}

static ts_authn_reason projected(const json_t *k8s, ts_authn_k8s_account *a, ts_error *err)
{
    const json_t *sa = json_object_get(k8s, "serviceaccount");
    const json_t *pod = json_object_get(k8s, "pod");
    const json_t *node = json_object_get(k8s, "node");
    if (!json_is_object(sa) || !json_object_get(k8s, "namespace") || !json_object_get(sa, "name")) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io",
                     "no kubernetes.io.namespace and serviceaccount.name");
        return TS_AUTHN_MISSING_CLAIM;
    }
    if ((pod && !json_is_object(pod)) || (node && !json_is_object(node))) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io", "pod and node must be objects");
        return TS_AUTHN_INVALID_CLAIM;
    }
    ts_authn_reason r;
    if ((r = take(json_object_get(k8s, "namespace"), true, a->namespace_name,
                  sizeof a->namespace_name, "kubernetes.io.namespace", err)) ||
        (r = take(json_object_get(sa, "name"), true, a->name, sizeof a->name,
                  "kubernetes.io.serviceaccount.name", err)) ||
        (r = take(json_object_get(sa, "uid"), false, a->uid, sizeof a->uid,
                  "kubernetes.io.serviceaccount.uid", err)) ||
        (r = take(json_object_get(pod, "name"), false, a->pod_name, sizeof a->pod_name,
                  "kubernetes.io.pod.name", err)) ||
        (r = take(json_object_get(pod, "uid"), false, a->pod_uid, sizeof a->pod_uid,
                  "kubernetes.io.pod.uid", err)) ||
        (r = take(json_object_get(node, "name"), false, a->node_name, sizeof a->node_name,
                  "kubernetes.io.node.name", err)))
        return r;
    return TS_AUTHN_OK;
}

static ts_authn_reason legacy(const json_t *claims, ts_authn_k8s_account *a, ts_error *err)
{
    ts_authn_reason r;
    a->legacy = true;
    if ((r = take(json_object_get(claims, LEGACY_NS), true, a->namespace_name,
                  sizeof a->namespace_name, LEGACY_NS, err)) ||
        (r = take(json_object_get(claims, LEGACY_NAME), true, a->name, sizeof a->name, LEGACY_NAME,
                  err)) ||
        (r = take(json_object_get(claims, LEGACY_UID), false, a->uid, sizeof a->uid, LEGACY_UID,
                  err)))
        return r;
    return TS_AUTHN_OK;
}

ts_authn_reason ts_authn_kubernetes_account(const ts_authn_principal *p,
                                            const ts_authn_k8s_rules *rules, int64_t now,
                                            ts_authn_k8s_account *out, ts_error *err)
{
    static const ts_authn_k8s_rules defaults = TS_AUTHN_K8S_RULES_INIT;
    if (out)
        memset(out, 0, sizeof *out);
    if (!rules)
        rules = &defaults;
    if (!p || !out || !p->claims || rules->version != TS_AUTHN_K8S_RULES_VERSION) {
        ts_error_set(err, TS_EINVAL, "ts_authn_kubernetes_account",
                     "NULL argument or unknown rules version");
        return TS_AUTHN_INTERNAL;
    }
    const json_t *claims = p->claims;
    const json_t *k8s = json_object_get(claims, "kubernetes.io");
    ts_authn_reason r;
    if (json_is_object(k8s)) {
        r = projected(k8s, out, err);
    } else if (!k8s && rules->allow_legacy && json_object_get(claims, LEGACY_NS)) {
        r = legacy(claims, out, err);
    } else {
        ts_error_set(err, TS_EINVAL, "kubernetes.io",
                     "no kubernetes.io.namespace and serviceaccount.name");
        r = TS_AUTHN_MISSING_CLAIM;
    }
    if (r == TS_AUTHN_OK && !out->legacy && !json_is_integer(json_object_get(claims, "exp"))) {
        /* Only a legacy token may live forever, and only when allowed. */
        ts_error_set(err, TS_EINVAL, "exp", "a service-account token needs an exp");
        r = TS_AUTHN_MISSING_CLAIM;
    }
    if (r == TS_AUTHN_OK) {
        char want[sizeof out->namespace_name + sizeof out->name + 24];
        snprintf(want, sizeof want, "system:serviceaccount:%s:%s", out->namespace_name, out->name);
        if (!p->id || strcmp(want, p->id) != 0) {
            ts_error_set(err, TS_EINVAL, "sub", "sub does not name the kubernetes.io account");
            r = TS_AUTHN_INVALID_CLAIM;
        }
    }
    if (r == TS_AUTHN_OK && rules->max_token_age_s > 0 && !out->legacy) {
        const json_t *iat = json_object_get(claims, "iat");
        if (!json_is_integer(iat)) {
            ts_error_set(err, TS_EINVAL, "iat", "max_token_age needs an integer iat");
            r = TS_AUTHN_MISSING_CLAIM;
        } else if ((int64_t)json_integer_value(iat) < now - rules->max_token_age_s) {
            ts_error_set(err, TS_EINVAL, "iat", "token older than max_token_age (%lld s)",
                         (long long)rules->max_token_age_s);
            r = TS_AUTHN_INVALID_CLAIM;
        }
    }
    if (r != TS_AUTHN_OK) {
        bool was_legacy = out->legacy;
        memset(out, 0, sizeof *out);
        out->legacy = was_legacy;
    }
    return r;
}
