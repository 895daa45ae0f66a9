#define _POSIX_C_SOURCE 200809L
/* Building a token verifier: its options checked and copied into an immutable rule set; the
   reason names; the cache's counters. */
#include <stdlib.h>
#include <string.h>

#include "verifier_internal.h"

static const char *const reason_names[] = {
#define TS_AUTHN_REASON_STR_(name, text) text,
    TS_AUTHN_REASON_MAP(TS_AUTHN_REASON_STR_)
#undef TS_AUTHN_REASON_STR_
};

const char *ts_authn_reason_str(ts_authn_reason r)
{
    if ((unsigned)r < sizeof reason_names / sizeof reason_names[0])
        return reason_names[r];
    return "unknown";
}

static void strv_free(strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

static bool strv_copy(strv *dst, const char *const *src, size_t n)
{
    dst->n = 0;
    dst->v = calloc(n ? n : 1, sizeof *dst->v);
    if (!dst->v)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (!src[i] || !(dst->v[i] = strdup(src[i])))
            return false;
        dst->n = i + 1;
    }
    return true;
}

void ts_authn_verifier_free(ts_authn_verifier *v)
{
    if (!v)
        return;
    strv_free(&v->issuers);
    strv_free(&v->audiences);
    strv_free(&v->typs);
    strv_free(&v->required);
    strv_free(&v->acr_values);
    strv rc = {v->map.role_claims, v->map.n_role_claims};
    strv sf = {v->map.scope_from, v->map.n_scope_roles},
         st = {v->map.scope_to, v->map.n_scope_roles};
    strv_free(&rc);
    strv_free(&sf);
    strv_free(&st);
    free(v->map.domain_claim);
    free(v->map.type_claim);
    ts_jwks_free(v->keys);
    free(v->legacy_k8s_iss);
    ts_authn__cache_free(v->cache);
    free(v);
}

/* An empty issuer or audience would be a value of its own: it would accept a token with
   "iss":"" or "aud":"", never what a configuration means. Refused, naming the entry. */
static bool names_present(const char *field, const char *const *v, size_t n, ts_error *err)
{
    for (size_t i = 0; i < n; i++) {
        if (!v[i] || !v[i][0]) {
            char where[32];
            snprintf(where, sizeof where, "%s[%zu]", field, i);
            ts_error_set(err, TS_EINVAL, where, "%s is %s", where, v[i] ? "empty" : "NULL");
            return false;
        }
    }
    return true;
}

ts_authn_verifier *ts_authn_verifier_new(const ts_authn_options *opt, ts_error *err)
{
    static const char *const default_typs[] = {"JWT", "at+jwt"};
    static const char *const default_roles[] = {"roles", "groups"};
    if (!opt || opt->version != TS_AUTHN_OPTIONS_VERSION) {
        ts_error_set(err, TS_EINVAL, "ts_authn_options", "NULL options or unknown version");
        return NULL;
    }
    if (opt->n_issuers == 0 || !opt->issuers) {
        ts_error_set(err, TS_EINVAL, "issuers", "at least one issuer is required");
        return NULL;
    }
    if (opt->n_audiences == 0 || !opt->audiences) {
        ts_error_set(err, TS_EINVAL, "audiences", "at least one audience is required");
        return NULL;
    }
    if (opt->legacy_k8s_issuer && !opt->legacy_k8s_issuer[0]) {
        ts_error_set(err, TS_EINVAL, "legacy_k8s_issuer", "legacy_k8s_issuer is empty");
        return NULL;
    }
    if (!names_present("issuers", opt->issuers, opt->n_issuers, err) ||
        !names_present("audiences", opt->audiences, opt->n_audiences, err))
        return NULL;
    if (opt->leeway_s < 0 || opt->leeway_s > TS_AUTHN_MAX_LEEWAY_S) {
        ts_error_set(err, TS_EINVAL, "leeway_s", "leeway %d s is outside 0..%d", opt->leeway_s,
                     TS_AUTHN_MAX_LEEWAY_S);
        return NULL;
    }
    unsigned algs = opt->algorithms ? opt->algorithms : TS_JWS_ALGS_ALL;
    if ((algs & TS_JWS_ALGS_ALL) == 0 || (algs & ~TS_JWS_ALGS_ALL)) {
        ts_error_set(err, TS_EINVAL, "algorithms", "unknown algorithm bits 0x%x", algs);
        return NULL;
    }
    ts_authn_requirement req = {TS_AUTHN_REQUIREMENT_VERSION, opt->acr_values, opt->n_acr_values,
                                opt->max_auth_age_s};
    if (ts_authn_requirement_check(&req, err) != TS_OK) {
        if (err && strcmp(err->where, "max_age_s") == 0)
            snprintf(err->where, sizeof err->where, "max_auth_age_s");
        return NULL;
    }
    if (!opt->keys && !opt->keysource) {
        ts_error_set(err, TS_EINVAL, "keys", "no verification keys (static keys or key source)");
        return NULL;
    }
    ts_authn_verifier *v = calloc(1, sizeof *v);
    if (!v) {
        ts_error_set(err, TS_ENOMEM, "ts_authn_verifier_new", "out of memory");
        return NULL;
    }
    strv rc = {0}, sf = {0}, st = {0};
    bool ok = strv_copy(&v->issuers, opt->issuers, opt->n_issuers) &&
              strv_copy(&v->audiences, opt->audiences, opt->n_audiences) &&
              (opt->typs ? strv_copy(&v->typs, opt->typs, opt->n_typs)
                         : strv_copy(&v->typs, default_typs, 2)) &&
              strv_copy(&v->required, opt->required_claims, opt->n_required_claims) &&
              strv_copy(&v->acr_values, opt->acr_values, opt->n_acr_values) &&
              (opt->role_claims ? strv_copy(&rc, opt->role_claims, opt->n_role_claims)
                                : strv_copy(&rc, default_roles, 2));
    v->map.role_claims = rc.v;
    v->map.n_role_claims = rc.n;
    if (ok && opt->n_scope_roles) {
        sf.v = calloc(opt->n_scope_roles, sizeof *sf.v);
        st.v = calloc(opt->n_scope_roles, sizeof *st.v);
        ok = sf.v && st.v && opt->scope_roles;
        for (size_t i = 0; ok && i < opt->n_scope_roles; i++) {
            ok = opt->scope_roles[i].scope && opt->scope_roles[i].role &&
                 (sf.v[i] = strdup(opt->scope_roles[i].scope)) &&
                 (st.v[i] = strdup(opt->scope_roles[i].role));
            sf.n = st.n = i + 1;
        }
    }
    v->map.scope_from = sf.v;
    v->map.scope_to = st.v;
    v->map.n_scope_roles = sf.n;
    v->map.domain_claim = strdup(opt->domain_claim ? opt->domain_claim : "domain");
    v->map.type_claim = strdup(opt->type_claim ? opt->type_claim : "principal_type");
    ok = ok && v->map.domain_claim && v->map.type_claim;
    if (ok && opt->legacy_k8s_issuer)
        ok = (v->legacy_k8s_iss = strdup(opt->legacy_k8s_issuer)) != NULL;
    if (ok && !opt->disable_cache) {
        v->cache = ts_authn__cache_new(opt->cache_entries ? opt->cache_entries
                                                          : TS_AUTHN_DEFAULT_CACHE_ENTRIES);
        ok = v->cache != NULL;
    }
    if (!ok) {
        ts_authn_verifier_free(v);
        ts_error_set(err, TS_ENOMEM, "ts_authn_verifier_new", "out of memory or NULL string");
        return NULL;
    }
    v->keys = opt->keys ? ts_jwks_ref((ts_jwks *)(uintptr_t)opt->keys) : NULL;
    v->ks = opt->keysource;
    v->rev = opt->revocations;
    v->algs = algs;
    v->require_typ = opt->require_typ;
    v->rfc7638_kid = opt->require_rfc7638_kid;
    v->nist = opt->require_nist_claims;
    v->reject_local_mint = opt->reject_local_mint;
    v->leeway = opt->leeway_s;
    v->max_bytes = opt->max_token_bytes ? opt->max_token_bytes : TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES;
    v->now = opt->now;
    v->now_ud = opt->now_ud;
    v->req = req;
    v->req.acr_values = (const char *const *)v->acr_values.v;
    return v;
}

void ts_authn_verifier_cache_stats(const ts_authn_verifier *v, uint64_t *hits, uint64_t *misses,
                                   size_t *entries)
{
    ts_authn__cache_stats(v ? v->cache : NULL, hits, misses, entries);
}
