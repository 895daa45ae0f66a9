/* Configuration of Kubernetes providers ("kind": "kubernetes" in providers[]): strict, every
   error naming its field ("providers[0].identity_rules[1].namespace"), and the canonical JSON
   form. The members are in docs/oidc.md and docs/kubernetes.md. OpenID members that mean
   nothing for service-account tokens (client_id, client_secret, group_claims, introspection)
   are refused rather than ignored, so that a configuration never looks as if it checked
   something it does not; group_scopes alone is tolerated (an object, unused), because
   `tokensmith serve` adds the service's groupScopes table to every provider without one. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/jose.h>

#include "oidc_internal.h"

#define MAX_RULES 256u
#define MAX_TOKEN_AGE_S (7u * 86400u)

void ts_oidc__k8s_free(ts_oidc__provider *p)
{
    ts_oidc__strv_free(&p->accepted_audiences);
    free(p->jwks_file);
    for (size_t i = 0; i < p->n_rules; i++) {
        free(p->rules[i].issuer);
        free(p->rules[i].namespace_glob);
        free(p->rules[i].account_glob);
        ts_oidc__strv_free(&p->rules[i].scopes);
        ts_oidc__strv_free(&p->rules[i].roles);
    }
    free(p->rules);
    p->rules = NULL;
    p->n_rules = 0;
}

static bool glob_member(ts_oidc__pctx *c, const json_t *v, char **out)
{
    if (!ts_oidc__cfg_string(c, v, false, out))
        return false;
    if (!ts_oidc__glob_valid(*out))
        return ts_oidc__cfg_fail(c, TS_EINVAL,
                                 "must be 1 to 253 of a-z, 0-9, '-', '.' and the wildcards '*' "
                                 "and '?'");
    return true;
}

static bool role_name(const char *s)
{
    return ts_oidc__cfg_printable(s, false) && strchr(s, ',') == NULL;
}

static bool parse_rule(ts_oidc__pctx *c, json_t *o, const ts_oidc__provider *p,
                       ts_oidc__identity_rule *r)
{
    if (!json_is_object(o))
        return ts_oidc__cfg_fail(c, TS_ETYPE, "must be an object");
    size_t base = strlen(c->where);
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        snprintf(c->where + base, sizeof c->where - base, ".%s", key);
        bool ok;
        if (strcmp(key, "issuer") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &r->issuer);
            /* Rules belong to their provider: any other issuer could never match. */
            if (ok && p->issuer && strcmp(r->issuer, p->issuer) != 0)
                ok = ts_oidc__cfg_fail(c, TS_EINVAL, "must be the provider's issuer (or left out)");
        } else if (strcmp(key, "namespace") == 0) {
            ok = glob_member(c, v, &r->namespace_glob);
        } else if (strcmp(key, "service_account") == 0) {
            ok = glob_member(c, v, &r->account_glob);
        } else if (strcmp(key, "scopes") == 0) {
            ok = ts_oidc__cfg_strv(c, v, ts_oidc__scope_token, "scope token", &r->scopes);
        } else if (strcmp(key, "roles") == 0) {
            ok = ts_oidc__cfg_strv(c, v, role_name, "role name (printable, no ',')", &r->roles);
        } else {
            ok = ts_oidc__cfg_fail(c, TS_EINVAL, "unknown field");
        }
        if (!ok)
            return false;
    }
    c->where[base] = '\0';
    if (!r->namespace_glob) {
        snprintf(c->where + base, sizeof c->where - base, ".namespace");
        return ts_oidc__cfg_fail(c, TS_EINVAL, "is required (\"*\" for every namespace)");
    }
    if (!r->account_glob) {
        snprintf(c->where + base, sizeof c->where - base, ".service_account");
        return ts_oidc__cfg_fail(c, TS_EINVAL, "is required (\"*\" for every service account)");
    }
    return true;
}

static bool parse_rules(ts_oidc__pctx *c, const json_t *v, ts_oidc__provider *p)
{
    if (!json_is_array(v))
        return ts_oidc__cfg_fail(c, TS_ETYPE, "must be an array of rules");
    /* [] is allowed: the stored identity rules (the token mappings) then decide alone, and an
     * account no rule maps is still refused. The member stays required, so that a provider
     * never maps accounts by omission. */
    size_t n = json_array_size(v);
    if (n > MAX_RULES)
        return ts_oidc__cfg_fail(c, TS_ELIMIT, "has more than %u rules", MAX_RULES);
    if (!(p->rules = calloc(n ? n : 1, sizeof *p->rules)))
        return ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
    size_t base = strlen(c->where);
    for (size_t i = 0; i < n; i++) {
        snprintf(c->where + base, sizeof c->where - base, "[%zu]", i);
        p->n_rules = i + 1;
        if (!parse_rule(c, json_array_get(v, i), p, &p->rules[i]))
            return false;
    }
    c->where[base] = '\0';
    return true;
}

/* Members parsed the same way as for OpenID providers. */
static bool common_member(ts_oidc__pctx *c, const char *key, const json_t *v, ts_oidc__provider *p,
                          bool *known)
{
    *known = true;
    if (strcmp(key, "audiences") == 0)
        return ts_oidc__cfg_strv(c, v, NULL, NULL, &p->audiences);
    if (strcmp(key, "resources") == 0)
        return ts_oidc__cfg_strv(c, v, ts_oidc__absolute_uri, "absolute URI without fragment",
                                 &p->resources);
    if (strcmp(key, "timeout_ms") == 0)
        return ts_oidc__cfg_uint(c, v, 100, TS_OIDC_MAX_TIMEOUT_MS, &p->timeout_ms);
    if (strcmp(key, "discovery_ttl_s") == 0)
        return ts_oidc__cfg_uint(c, v, 60, 86400, &p->discovery_ttl_s);
    if (strcmp(key, "jwks_ttl_s") == 0)
        return ts_oidc__cfg_uint(c, v, 1, 86400, &p->jwks_ttl_s);
    if (strcmp(key, "jwks_max_stale_s") == 0)
        return ts_oidc__cfg_uint(c, v, 1, 7 * 86400, &p->jwks_max_stale_s);
    if (strcmp(key, "jwks_refetch_cooldown_s") == 0)
        return ts_oidc__cfg_uint(c, v, 1, 3600, &p->jwks_refetch_cooldown_s);
    if (strcmp(key, "leeway_s") == 0) {
        unsigned l = 0;
        bool ok = ts_oidc__cfg_uint(c, v, 0, 600, &l);
        p->leeway_s = (int)l;
        return ok;
    }
    if (strcmp(key, "algorithms") == 0) {
        ts_oidc__strv a = {0};
        bool ok = ts_oidc__cfg_strv(c, v, ts_oidc__alg_name,
                                    "JWS algorithm (RS256, PS256, ES256, ...)", &a);
        if (ok && a.n == 0)
            ok = ts_oidc__cfg_fail(c, TS_EINVAL, "must name at least one algorithm");
        p->algorithms = 0;
        for (size_t i = 0; ok && i < a.n; i++)
            p->algorithms |= TS_JWS_ALG_BIT(ts_jws_alg_parse(a.v[i], strlen(a.v[i])));
        ts_oidc__strv_free(&a);
        return ok;
    }
    *known = false;
    return true;
}

static bool required(ts_oidc__pctx *c, size_t base, const char *member, bool present)
{
    if (present)
        return true;
    snprintf(c->where + base, sizeof c->where - base, ".%s", member);
    return ts_oidc__cfg_fail(c, TS_EINVAL, "is required for a kubernetes provider");
}

bool ts_oidc__k8s_parse(ts_oidc__pctx *c, json_t *o, ts_oidc__provider *p)
{
    p->kind = TS_OIDC__KIND_KUBERNETES;
    /* Service-account keys are RSA or EC (kube-apiserver's openidmetadata.go). */
    p->algorithms = TS_JWS_ALGS_ALL;
    p->timeout_ms = 5000;
    p->leeway_s = 60;
    p->discovery_ttl_s = 3600;
    p->jwks_ttl_s = 600;
    p->jwks_max_stale_s = 86400;
    p->jwks_refetch_cooldown_s = 30;
    p->max_token_age_s = 3600;
    size_t base = strlen(c->where);
    /* The issuer first: the rules compare theirs with it. */
    const json_t *iss = json_object_get(o, "issuer");
    if (iss) {
        snprintf(c->where + base, sizeof c->where - base, ".issuer");
        if (!ts_oidc__cfg_string(c, iss, false, &p->issuer))
            return false;
        if (!ts_oidc__url_allowed(p->issuer) || strchr(p->issuer, '?') || strchr(p->issuer, '#'))
            return ts_oidc__cfg_fail(c, TS_EINVAL,
                                     "must be an https:// URL (http:// only on loopback) without "
                                     "query or fragment (kube-apiserver's "
                                     "--service-account-issuer)");
    }
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        snprintf(c->where + base, sizeof c->where - base, ".%s", key);
        bool ok, known;
        if (strcmp(key, "kind") == 0 || strcmp(key, "issuer") == 0) {
            ok = true;
        } else if (strcmp(key, "name") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &p->name);
            if (ok && !ts_oidc__name_valid(p->name))
                ok = ts_oidc__cfg_fail(c, TS_EINVAL,
                                       "must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting "
                                       "with a letter or digit");
        } else if (strcmp(key, "subject_template") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &p->subject_template);
        } else if (strcmp(key, "accepted_audiences") == 0) {
            ok = ts_oidc__cfg_strv(c, v, NULL, NULL, &p->accepted_audiences);
            if (ok && p->accepted_audiences.n == 0)
                ok = ts_oidc__cfg_fail(c, TS_EINVAL,
                                       "must name at least one audience (a dedicated one, e.g. "
                                       "\"tokensmith\")");
        } else if (strcmp(key, "max_token_age_s") == 0) {
            ok = ts_oidc__cfg_uint(c, v, 60, MAX_TOKEN_AGE_S, &p->max_token_age_s);
        } else if (strcmp(key, "allow_legacy_tokens") == 0) {
            ok = json_is_boolean(v) || ts_oidc__cfg_fail(c, TS_ETYPE, "must be true or false");
            p->allow_legacy_tokens = json_is_true(v);
        } else if (strcmp(key, "jwks_file") == 0) {
            ok = ts_oidc__cfg_string(c, v, true, &p->jwks_file);
        } else if (strcmp(key, "identity_rules") == 0) {
            ok = parse_rules(c, v, p);
        } else if (!common_member(c, key, v, p, &known)) {
            ok = false;
        } else if (known) {
            ok = true;
        } else if (strcmp(key, "group_scopes") == 0) {
            /* Tolerated and unused: `tokensmith serve` fills its groupScopes table into every
               provider without one. Nothing here reads groups; identity_rules grant. */
            ok = json_is_object(v) ||
                 ts_oidc__cfg_fail(c, TS_ETYPE, "must be an object (unused for kubernetes)");
        } else if (strcmp(key, "client_id") == 0 || strcmp(key, "client_secret") == 0 ||
                   strcmp(key, "group_claims") == 0 || strcmp(key, "introspection") == 0 ||
                   strcmp(key, "introspection_client_ids") == 0) {
            ok = ts_oidc__cfg_fail(c, TS_EINVAL,
                                   "is not a member of a kubernetes provider (identity_rules "
                                   "grant scopes and roles)");
        } else {
            ok = ts_oidc__cfg_fail(c, TS_EINVAL, "unknown field");
        }
        if (!ok)
            return false;
    }
    c->where[base] = '\0';
    if (!required(c, base, "issuer", p->issuer != NULL) ||
        !required(c, base, "accepted_audiences", p->accepted_audiences.v != NULL) ||
        !required(c, base, "identity_rules", p->rules != NULL))
        return false;
    if (p->jwks_max_stale_s < p->jwks_ttl_s) {
        snprintf(c->where + base, sizeof c->where - base, ".jwks_max_stale_s");
        return ts_oidc__cfg_fail(c, TS_EINVAL, "must not be shorter than jwks_ttl_s");
    }
    char why[160];
    ts_status st = ts_oidc__k8s_subject_prepare(p, why, sizeof why);
    if (st != TS_OK) {
        snprintf(c->where + base, sizeof c->where - base, ".subject_template");
        return ts_oidc__cfg_fail(c, st, "%s", why);
    }
    return true;
}

int ts_oidc__k8s_to_json(const ts_oidc__provider *p, json_t *o)
{
    int rc = 0;
    rc |= json_object_set_new(o, "kind", json_string("kubernetes"));
    rc |= json_object_set_new(o, "issuer", json_string(p->issuer));
    if (p->name)
        rc |= json_object_set_new(o, "name", json_string(p->name));
    rc |= json_object_set_new(o, "subject_template", json_string(p->subject_template));
    rc |= json_object_set_new(o, "accepted_audiences", ts_oidc__strv_json(&p->accepted_audiences));
    rc |= json_object_set_new(o, "max_token_age_s", json_integer(p->max_token_age_s));
    rc |= json_object_set_new(o, "allow_legacy_tokens", json_boolean(p->allow_legacy_tokens));
    if (p->jwks_file)
        rc |= json_object_set_new(o, "jwks_file", json_string(p->jwks_file));
    json_t *algs = json_array();
    for (unsigned a = TS_JWS_RS256; a <= TS_JWS_ES512; a++)
        if (p->algorithms & TS_JWS_ALG_BIT(a))
            rc |= json_array_append_new(algs, json_string(ts_jws_alg_name((ts_jws_alg)a)));
    rc |= json_object_set_new(o, "algorithms", algs);
    json_t *rules = json_array();
    rc |= json_object_set_new(o, "identity_rules", rules);
    for (size_t i = 0; rc == 0 && i < p->n_rules; i++) {
        const ts_oidc__identity_rule *r = &p->rules[i];
        json_t *ro = json_object();
        rc |= json_array_append_new(rules, ro);
        if (r->issuer)
            rc |= json_object_set_new(ro, "issuer", json_string(r->issuer));
        rc |= json_object_set_new(ro, "namespace", json_string(r->namespace_glob));
        rc |= json_object_set_new(ro, "service_account", json_string(r->account_glob));
        rc |= json_object_set_new(ro, "scopes", ts_oidc__strv_json(&r->scopes));
        rc |= json_object_set_new(ro, "roles", ts_oidc__strv_json(&r->roles));
    }
    rc |= json_object_set_new(o, "audiences", ts_oidc__strv_json(&p->audiences));
    rc |= json_object_set_new(o, "resources", ts_oidc__strv_json(&p->resources));
    rc |= json_object_set_new(o, "timeout_ms", json_integer(p->timeout_ms));
    rc |= json_object_set_new(o, "leeway_s", json_integer(p->leeway_s));
    rc |= json_object_set_new(o, "discovery_ttl_s", json_integer(p->discovery_ttl_s));
    rc |= json_object_set_new(o, "jwks_ttl_s", json_integer(p->jwks_ttl_s));
    rc |= json_object_set_new(o, "jwks_max_stale_s", json_integer(p->jwks_max_stale_s));
    rc |=
        json_object_set_new(o, "jwks_refetch_cooldown_s", json_integer(p->jwks_refetch_cooldown_s));
    return rc ? -1 : 0;
}
