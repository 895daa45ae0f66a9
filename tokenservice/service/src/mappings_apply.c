/* The token mappings applied to one exchange (mappings_apply.h): identity rules for Kubernetes
 * service accounts, resource mappings for the requested target, scope mappings for the issued
 * scopes. The set is compiled once per stored version; an exchange only reads it. */
#include "mappings_apply.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mappings.h"

#define LOG_LIST_MAX 8u /* names per list: the audit detail holds at most 4 KiB */

/* Claims a mapping never sets: those the store's model refuses already (mappings.c), those
 * ts_svc_mint() writes, and those the exchange carries from the upstream identity. A mapping
 * that could set one would let an operator's item forge an identity, a lifetime, a proof of
 * possession or an authentication event, even where this exchange happens not to set it. */
static const char *const RESERVED[] = {"iss",
                                       "sub",
                                       "aud",
                                       "exp",
                                       "nbf",
                                       "iat",
                                       "jti",
                                       "act",
                                       "may_act",
                                       "scope",
                                       "cnf",
                                       "principal_type",
                                       "break_glass",
                                       "cluster_id",
                                       "openchami_id",
                                       "auth_level",
                                       "auth_factors",
                                       "auth_methods",
                                       "session_id",
                                       "session_exp",
                                       "auth_events",
                                       "idp",
                                       "name",
                                       "email",
                                       "email_verified",
                                       "amr",
                                       "acr",
                                       "auth_time",
                                       "roles",
                                       "kubernetes.io",
                                       "groups",
                                       "azp",
                                       "client_id",
                                       "sid",
                                       "nonce",
                                       "resource",
                                       "upstream_sub",
                                       "upstream_iss"};

bool ts_svc_map_claim_reserved(const char *name)
{
    for (size_t i = 0; i < sizeof RESERVED / sizeof RESERVED[0]; i++)
        if (strcmp(RESERVED[i], name) == 0)
            return true;
    return false;
}

static void set_destroy(ts_svc_map_set *m)
{
    for (size_t i = 0; i < m->n_rules; i++) {
        free(m->rules[i].scopes);
        free(m->rules[i].roles);
    }
    free(m->rules);
    json_decref(m->order);
    json_decref(m->doc);
    free(m);
}

void ts_svc_map_set_free(ts_svc_map_set *m)
{
    if (m && atomic_fetch_sub(&m->refs, 1) == 1)
        set_destroy(m);
}

ts_svc_map_set *ts_svc_map_set_ref(ts_svc_map_set *m)
{
    atomic_fetch_add(&m->refs, 1);
    return m;
}

/* The strings of a checked array (borrowed from it). */
static bool strings(const json_t *a, const char ***out, size_t *n)
{
    *n = json_array_size(a);
    *out = calloc(*n ? *n : 1, sizeof **out);
    if (!*out)
        return false;
    for (size_t i = 0; i < *n; i++)
        (*out)[i] = json_string_value(json_array_get(a, i));
    return true;
}

ts_svc_map_set *ts_svc_map_set_new(json_t *doc, int64_t version, ts_error *err)
{
    ts_svc_map_set *m = calloc(1, sizeof *m);
    if (!m) {
        ts_error_set(err, TS_ENOMEM, "mappings", "out of memory");
        return NULL;
    }
    atomic_init(&m->refs, 1);
    m->version = version;
    m->doc = json_incref(doc);
    m->order = ts_svc_map_rules_in_order(doc);
    size_t n = json_array_size(m->order);
    if (!m->order || !(m->rules = calloc(n ? n : 1, sizeof *m->rules))) {
        set_destroy(m);
        ts_error_set(err, TS_ENOMEM, "mappings", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++) {
        const json_t *it = json_array_get(m->order, i);
        ts_svc_map_rule *r = &m->rules[i];
        m->n_rules = i + 1;
        r->name = json_string_value(json_object_get(it, "name"));
        r->issuer = json_string_value(json_object_get(it, "issuer")); /* NULL when absent */
        r->namespace_glob = json_string_value(json_object_get(it, "namespace"));
        r->account_glob = json_string_value(json_object_get(it, "service_account"));
        if (!strings(json_object_get(it, "scopes"), &r->scopes, &r->n_scopes) ||
            !strings(json_object_get(it, "roles"), &r->roles, &r->n_roles)) {
            set_destroy(m);
            ts_error_set(err, TS_ENOMEM, "mappings", "out of memory");
            return NULL;
        }
    }
    return m;
}

ts_svc_map_set *ts_svc_map_set_empty(int64_t version)
{
    json_t *doc = ts_svc_map_doc_new();
    ts_svc_map_set *m = doc ? ts_svc_map_set_new(doc, version, NULL) : NULL;
    json_decref(doc);
    return m;
}

const ts_svc_map_rule *ts_svc_map_rule_find(const ts_svc_map_set *m, const char *iss,
                                            const char *ns, const char *name)
{
    if (!m || !ns || !name)
        return NULL;
    for (size_t i = 0; i < m->n_rules; i++) {
        const ts_svc_map_rule *r = &m->rules[i];
        if (r->issuer && (!iss || strcmp(r->issuer, iss) != 0))
            continue;
        if (ts_oidc_glob_match(r->namespace_glob, ns) && ts_oidc_glob_match(r->account_glob, name))
            return r;
    }
    return NULL;
}

bool ts_svc_map_rule_cb(const char *issuer, const char *ns, const char *name,
                        ts_oidc_rule_grant *out, void *ud)
{
    ts_svc_map_use *u = ud;
    const ts_svc_map_rule *r = ts_svc_map_rule_find(u->set, issuer, ns, name);
    u->rule = r;
    if (!r)
        return false;
    out->scopes = r->scopes;
    out->n_scopes = r->n_scopes;
    out->roles = r->roles;
    out->n_roles = r->n_roles;
    return true;
}

static const json_t *find_target(const ts_svc_map_set *m, const char *member, const char *v)
{
    const json_t *a = ts_svc_map_doc_items(m->doc, TS_SVC_MAP_RESOURCE);
    for (size_t i = 0; i < json_array_size(a); i++) {
        const json_t *it = json_array_get(a, i);
        const char *t = json_string_value(json_object_get(it, member));
        if (t && strcmp(t, v) == 0)
            return it;
    }
    return NULL;
}

ts_svc_map_target_rc ts_svc_map_target(const ts_svc_map_set *m, const char *resource,
                                       const char *audience, const json_t **out)
{
    *out = NULL;
    bool has_res = resource && *resource, has_aud = audience && *audience;
    if (!m)
        return TS_SVC_MAP_TARGET_NONE;
    const json_t *it = has_res ? find_target(m, "resource", resource) : NULL;
    if (!it && has_aud)
        it = find_target(m, "audience", audience);
    if (!it)
        return TS_SVC_MAP_TARGET_NONE;
    *out = it;
    return has_res && has_aud ? TS_SVC_MAP_TARGET_CONFLICT : TS_SVC_MAP_TARGET_MAPPED;
}

/* Append @p s to the list @p key of @p applied, up to LOG_LIST_MAX (then count the rest). */
static int note(json_t *applied, const char *key, const char *s)
{
    json_t *a = json_object_get(applied, key);
    if (!a) {
        if (json_object_set_new(applied, key, json_array()) != 0)
            return -1;
        a = json_object_get(applied, key);
    }
    if (json_array_size(a) < LOG_LIST_MAX)
        return json_array_append_new(a, json_string(s));
    char more[64];
    snprintf(more, sizeof more, "%s_more", key);
    json_t *c = json_object_get(applied, more);
    return json_object_set_new(applied, more, json_integer(c ? json_integer_value(c) + 1 : 1));
}

static int add_claims(const json_t *item, json_t *claims, json_t *applied)
{
    const char *k;
    json_t *v;
    int rc = 0;
    const json_t *cl = json_object_get(item, "claims");
    json_object_foreach((json_t *)(uintptr_t)cl, k, v)
    {
        if (ts_svc_map_claim_reserved(k) || json_object_get(claims, k)) {
            rc |= note(applied, "claims_skipped", k);
            continue;
        }
        /* A deep copy: the issued token's claims never share a tree with the set. */
        rc |= json_object_set_new(claims, k, json_deep_copy(v));
        rc |= note(applied, "claims", k);
    }
    return rc;
}

ts_status ts_svc_map_claims(const ts_svc_map_set *m, const json_t *target, char *const *scopes,
                            size_t n_scopes, json_t *claims, json_t *applied, ts_error *err)
{
    int rc = 0;
    if (target) {
        rc |= json_object_set_new(applied, "resource_mapping",
                                  json_string(json_string_value(json_object_get(target, "name"))));
        rc |= add_claims(target, claims, applied);
    }
    const json_t *sm = m ? ts_svc_map_doc_items(m->doc, TS_SVC_MAP_SCOPE) : NULL;
    for (size_t i = 0; sm && i < n_scopes; i++) {
        long at = ts_svc_map_doc_find(m->doc, TS_SVC_MAP_SCOPE, scopes[i]);
        if (at < 0)
            continue;
        rc |= note(applied, "scope_mappings", scopes[i]);
        rc |= add_claims(json_array_get(sm, (size_t)at), claims, applied);
    }
    return rc ? ts_error_set(err, TS_ENOMEM, "mappings", "out of memory") : TS_OK;
}
