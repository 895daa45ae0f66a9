/* Kubernetes service-account tokens as subject tokens: verified with the provider's keys and
   rules (discovery.c builds the verifier: issuer, accepted_audiences, opaque kid), the account
   read by authn's one reading of these tokens, then the provider's identity rules, and after
   them the caller's (ts_oidc_exchange_request.rules), decide what the account gets. Nothing of the
   token beyond its account is carried: a cluster never signs roles, scopes, `act` or `may_act` into
   a service-account token, and one that carries them is not trusted for them. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authn.h>

#include "oidc_internal.h"

static ts_oidc_reason oom(ts_error *err)
{
    ts_error_set(err, TS_ENOMEM, "claims", "out of memory");
    return TS_OIDC_INTERNAL;
}

static bool copy_list(const char *const *from, size_t n_from, char ***to, size_t *n)
{
    *to = calloc(n_from ? n_from : 1, sizeof **to);
    if (!*to)
        return false;
    for (size_t i = 0; i < n_from; i++) {
        if (!((*to)[i] = strdup(from[i])))
            return false;
        *n = i + 1;
    }
    return true;
}

/* The grant of a configured rule in the shape of a caller's (the lists are only read). */
static ts_oidc_rule_grant grant_of(const ts_oidc__identity_rule *r)
{
    ts_oidc_rule_grant g = {(const char *const *)r->scopes.v, r->scopes.n,
                            (const char *const *)r->roles.v, r->roles.n};
    return g;
}

/* The caller's rules (ts_oidc_rule_fn) may only grant what a configured rule could: a scope
   or role that would not pass the configuration's check is refused, not carried. */
static bool grant_valid(const ts_oidc_rule_grant *g)
{
    if ((g->n_scopes && !g->scopes) || (g->n_roles && !g->roles) ||
        g->n_scopes > TS_OIDC_MAX_LIST || g->n_roles > TS_OIDC_MAX_LIST)
        return false;
    for (size_t i = 0; i < g->n_scopes; i++)
        if (!g->scopes[i] || !ts_oidc__scope_token(g->scopes[i]))
            return false;
    for (size_t i = 0; i < g->n_roles; i++)
        if (!g->roles[i] || !ts_oidc__cfg_printable(g->roles[i], false) || strchr(g->roles[i], ','))
            return false;
    return true;
}

/* The claims of the account @p a under the grant @p g, narrowed by @p nr. */
static ts_oidc_reason build(const ts_oidc__provider *c, const ts_authn_k8s_account *a,
                            const char *upstream_sub, int64_t exp, const ts_oidc_rule_grant *g,
                            const ts_oidc_narrow *nr, ts_oidc_claims *o, ts_error *err)
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
    if (!copy_list(g->roles, g->n_roles, &o->roles, &o->n_roles))
        return oom(err);
    /* Only read (mapping.c's narrowing takes the configuration's char ** lists). */
    char *const *granted = (char *const *)(uintptr_t)g->scopes;
    ts_oidc_reason r = ts_oidc__narrow_scope(granted, g->n_scopes, nr ? nr->scope : NULL, o, err);
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
    if (r == TS_OIDC_OK && strstr(c->subject_template, "{uid}") && !a.uid[0]) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io.serviceaccount.uid",
                     "the subject_template needs the service account's uid");
        r = TS_OIDC_MISSING_CLAIM;
    }
    /* The configuration's rules first, then the caller's (the stored token mappings). */
    ts_oidc_rule_grant g = {NULL, 0, NULL, 0};
    bool found = false;
    if (r == TS_OIDC_OK) {
        const char *iss = ts_authn_principal_issuer(pr);
        const ts_oidc__identity_rule *rule = ts_oidc__rule_find(c, iss, a.namespace_name, a.name);
        if (rule) {
            g = grant_of(rule);
            found = true;
        } else if (req->rules && req->rules(iss, a.namespace_name, a.name, &g, req->rules_ud)) {
            found = true;
            if (!grant_valid(&g)) {
                ts_error_set(err, TS_EINVAL, "identity_rules",
                             "an identity rule grants a scope or role that is not valid");
                r = TS_OIDC_INTERNAL;
            }
        }
    }
    if (r == TS_OIDC_OK && !found) {
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
        r = build(c, &a, ts_authn_principal_id(pr), ts_authn_principal_exp(pr), &g, &req->narrow, o,
                  err);
    ts_authn_principal_free(pr);
    if (r != TS_OIDC_OK) {
        ts_oidc_claims_free(o);
        return r;
    }
    *out = o;
    return TS_OIDC_OK;
}
