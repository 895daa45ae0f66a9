/* Kubernetes service-account tokens as subject tokens: verified with the provider's keys and
   rules (discovery.c builds the verifier: issuer, accepted_audiences, opaque kid), the account
   read by authn's one reading of these tokens, then the provider's identity rules decide what
   the account gets. Nothing of the token beyond its account is carried: a cluster never signs
   roles, scopes, `act` or `may_act` into a service-account token, and one that carries them
   is not trusted for them. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authn.h>

#include "oidc_internal.h"

static ts_oidc_reason oom(ts_error *err)
{
    ts_error_set(err, TS_ENOMEM, "claims", "out of memory");
    return TS_OIDC_INTERNAL;
}

static bool copy_list(const ts_oidc__strv *from, char ***to, size_t *n)
{
    *to = calloc(from->n ? from->n : 1, sizeof **to);
    if (!*to)
        return false;
    for (size_t i = 0; i < from->n; i++) {
        if (!((*to)[i] = strdup(from->v[i])))
            return false;
        *n = i + 1;
    }
    return true;
}

/* The claims of the account @p a under rule @p rule, narrowed by @p nr. */
static ts_oidc_reason build(const ts_oidc__provider *c, const ts_authn_k8s_account *a,
                            const char *upstream_sub, int64_t exp,
                            const ts_oidc__identity_rule *rule, const ts_oidc_narrow *nr,
                            ts_oidc_claims *o, ts_error *err)
{
    o->email_verified = -1;
    o->exp = exp;
    if (!(o->issuer = strdup(c->issuer)) || !(o->upstream_sub = strdup(upstream_sub)) ||
        !(o->principal_type = strdup("service")) ||
        !(o->k8s_namespace = strdup(a->namespace_name)) ||
        !(o->k8s_service_account = strdup(a->name)) ||
        (a->uid[0] && !(o->k8s_uid = strdup(a->uid))))
        return oom(err);
    if (!(o->sub = ts_oidc__k8s_subject(c, a->namespace_name, a->name, a->uid)))
        return oom(err);
    if (!copy_list(&rule->roles, &o->roles, &o->n_roles))
        return oom(err);
    ts_oidc_reason r =
        ts_oidc__narrow_scope(rule->scopes.v, rule->scopes.n, nr ? nr->scope : NULL, o, err);
    if (!r)
        r = ts_oidc__narrow_targets(c, nr, o, err);
    return r;
}

ts_oidc_reason ts_oidc__k8s_exchange(ts_oidc *rp, ts_oidc__rp_provider *p,
                                     const ts_oidc_exchange_request *req, ts_oidc_claims **out,
                                     ts_error *err)
{
    const ts_oidc__provider *c = ts_oidc__rp_config(p);
    ts_oidc__live live;
    if (ts_oidc__live_get(rp, p, &live, err) != TS_OK)
        return TS_OIDC_DISCOVERY_FAILED;
    ts_authn_principal *pr = NULL;
    ts_oidc_reason r = ts_oidc__from_authn((int)ts_authn_verify(
        live.verifier, req->subject_token, req->subject_token_len, &pr, NULL, err));
    ts_oidc__live_release(&live);
    if (r != TS_OIDC_OK)
        return r;
    ts_authn_k8s_rules rules = TS_AUTHN_K8S_RULES_INIT;
    rules.allow_legacy = c->allow_legacy_tokens;
    rules.max_token_age_s = c->max_token_age_s;
    ts_authn_k8s_account a;
    r = ts_oidc__from_authn(
        (int)ts_authn_kubernetes_account(pr, &rules, ts_oidc__now(rp), &a, err));
    const ts_oidc__identity_rule *rule = NULL;
    if (r == TS_OIDC_OK && strstr(c->subject_template, "{uid}") && !a.uid[0]) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io.serviceaccount.uid",
                     "the subject_template needs the service account's uid");
        r = TS_OIDC_MISSING_CLAIM;
    }
    if (r == TS_OIDC_OK &&
        !(rule = ts_oidc__rule_find(c, ts_authn_principal_issuer(pr), a.namespace_name, a.name))) {
        /* Logged by the caller with this text: namespace and name are not secrets. */
        ts_error_set(err, TS_EINVAL, "identity_rules",
                     "no identity rule maps service account %.64s/%.100s", a.namespace_name,
                     a.name);
        r = TS_OIDC_NO_IDENTITY_RULE;
    }
    ts_oidc_claims *o = NULL;
    if (r == TS_OIDC_OK && !(o = calloc(1, sizeof *o)))
        r = oom(err);
    if (r == TS_OIDC_OK)
        r = build(c, &a, ts_authn_principal_id(pr), ts_authn_principal_exp(pr), rule, &req->narrow,
                  o, err);
    ts_authn_principal_free(pr);
    if (r != TS_OIDC_OK) {
        ts_oidc_claims_free(o);
        return r;
    }
    *out = o;
    return TS_OIDC_OK;
}
