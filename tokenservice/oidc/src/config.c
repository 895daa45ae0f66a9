/* Provider configuration: strict JSON parsing with errors naming the field, validation, and the
   canonical JSON form (secrets redacted) for the admin API. */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <tokensmith/jose.h>

#include "common/http_client.h"
#include "common/json_load.h"
#include "oidc_internal.h"

#define SECRET_MASK "********"

bool ts_oidc__strv_has(const ts_oidc__strv *s, const char *v)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->v[i], v) == 0)
            return true;
    return false;
}

static void provider_free(ts_oidc__provider *p)
{
    free(p->issuer);
    free(p->client_id);
    free(p->name);
    free(p->subject_template);
    free(p->subject_prefix);
    free(p->subject_suffix);
    if (p->client_secret) {
        /* The secret should not linger in freed heap memory. */
        volatile char *s = p->client_secret;
        for (size_t i = 0; s[i]; i++)
            s[i] = 0;
        free(p->client_secret);
    }
    ts_oidc__strv_free(&p->group_claims);
    for (size_t i = 0; i < p->n_group_scopes; i++) {
        free(p->group_scopes[i].group);
        ts_oidc__strv_free(&p->group_scopes[i].scopes);
    }
    free(p->group_scopes);
    ts_oidc__strv_free(&p->audiences);
    ts_oidc__strv_free(&p->resources);
    ts_oidc__strv_free(&p->introspection_client_ids);
    for (size_t i = 0; i < p->n_acr_map; i++) {
        free(p->acr_from[i]);
        free(p->acr_to[i]);
    }
    free(p->acr_from);
    free(p->acr_to);
    ts_oidc__k8s_free(p);
}

bool ts_oidc__url_allowed(const char *u)
{
    return ts_common__http_url_allowed(u, false);
}

/* An acr value as the internal token carries it, and as a route's requirement and the RFC 9470
   challenge name it: printable ASCII without space, quote or backslash. */
static bool acr_value_ok(const char *s)
{
    if (!*s || strlen(s) > 256)
        return false;
    for (; *s; s++)
        if (*s <= 0x20 || *s >= 0x7f || *s == '"' || *s == '\\')
            return false;
    return true;
}

/* "acr_map": {"<upstream acr>": "<internal acr>", ...}. */
static bool parse_acr_map(ts_oidc__pctx *c, const json_t *v, ts_oidc__provider *p)
{
    if (!json_is_object(v))
        return ts_oidc__cfg_fail(c, TS_ETYPE, "must be an object mapping acr values to acr values");
    size_t n = json_object_size(v);
    if (n > TS_OIDC_MAX_LIST)
        return ts_oidc__cfg_fail(c, TS_ELIMIT, "has more than 256 entries");
    p->acr_from = calloc(n + 1, sizeof *p->acr_from);
    p->acr_to = calloc(n + 1, sizeof *p->acr_to);
    if (!p->acr_from || !p->acr_to)
        return ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
    size_t base = strlen(c->where);
    const char *k;
    json_t *to;
    json_object_foreach((json_t *)(uintptr_t)v, k, to)
    {
        snprintf(c->where + base, sizeof c->where - base, ".%s", k);
        /* Upstream values are often URIs: any printable ASCII but space. */
        if (!*k || strlen(k) > TS_OIDC_MAX_STRING || !ts_oidc__cfg_printable(k, false))
            return ts_oidc__cfg_fail(c, TS_EINVAL, "upstream acr must be printable ASCII");
        if (!json_is_string(to) || !acr_value_ok(json_string_value(to)) ||
            strlen(json_string_value(to)) != json_string_length(to))
            return ts_oidc__cfg_fail(c, TS_EINVAL,
                                     "must be a string of 1 to 256 printable ASCII characters "
                                     "without space, quote or backslash");
        if (!(p->acr_from[p->n_acr_map] = strdup(k)) ||
            !(p->acr_to[p->n_acr_map] = strdup(json_string_value(to))))
            return ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
        p->n_acr_map++;
    }
    c->where[base] = '\0';
    return true;
}

static bool parse_provider(ts_oidc__pctx *c, json_t *o, ts_oidc__provider *p)
{
    if (!json_is_object(o))
        return ts_oidc__cfg_fail(c, TS_ETYPE, "must be an object");
    /* "kind" first, wherever it stands: it decides which members exist. */
    const json_t *kind = json_object_get(o, "kind");
    if (kind) {
        size_t kb = strlen(c->where);
        snprintf(c->where + kb, sizeof c->where - kb, ".kind");
        if (json_is_string(kind) && strcmp(json_string_value(kind), "kubernetes") == 0) {
            c->where[kb] = '\0';
            return ts_oidc__k8s_parse(c, o, p);
        }
        if (!json_is_string(kind) || strcmp(json_string_value(kind), "oidc") != 0)
            return ts_oidc__cfg_fail(c, TS_EINVAL, "must be \"oidc\" or \"kubernetes\"");
        c->where[kb] = '\0';
    }
    p->algorithms = TS_JWS_ALGS_ALL;
    p->timeout_ms = 5000;
    p->leeway_s = 60;
    p->discovery_ttl_s = 3600;
    p->jwks_ttl_s = 600;
    p->jwks_max_stale_s = 86400;
    p->jwks_refetch_cooldown_s = 30;
    p->carry_auth_context = true;
    size_t base = strlen(c->where);
    const char *key;
    json_t *v;
    bool have_groups = false, have_icids = false;
    json_object_foreach(o, key, v)
    {
        snprintf(c->where + base, sizeof c->where - base, ".%s", key);
        bool ok;
        if (strcmp(key, "kind") == 0) {
            ok = true; /* "oidc", checked above */
        } else if (strcmp(key, "issuer") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &p->issuer);
            if (ok && (!ts_oidc__url_allowed(p->issuer) || strchr(p->issuer, '?') ||
                       strchr(p->issuer, '#')))
                ok = ts_oidc__cfg_fail(
                    c, TS_EINVAL,
                    "must be an https:// URL (http:// only on loopback) without query or "
                    "fragment");
        } else if (strcmp(key, "client_id") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &p->client_id);
        } else if (strcmp(key, "name") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &p->name);
            if (ok && !ts_oidc__name_valid(p->name))
                ok = ts_oidc__cfg_fail(
                    c, TS_EINVAL,
                    "must be 1 to 64 of a-z, 0-9, '.', '_' and '-', starting with a letter "
                    "or digit");
        } else if (strcmp(key, "subject_template") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &p->subject_template);
        } else if (strcmp(key, "client_secret") == 0) {
            ok = ts_oidc__cfg_string(c, v, false, &p->client_secret);
        } else if (strcmp(key, "algorithms") == 0) {
            ts_oidc__strv a = {0};
            ok = ts_oidc__cfg_strv(c, v, ts_oidc__alg_name,
                                   "JWS algorithm (RS256, PS256, ES256, ...)", &a);
            if (ok && a.n == 0)
                ok = ts_oidc__cfg_fail(c, TS_EINVAL, "must name at least one algorithm");
            p->algorithms = 0;
            for (size_t i = 0; ok && i < a.n; i++)
                p->algorithms |= TS_JWS_ALG_BIT(ts_jws_alg_parse(a.v[i], strlen(a.v[i])));
            ts_oidc__strv_free(&a);
        } else if (strcmp(key, "group_claims") == 0) {
            ok = ts_oidc__cfg_strv(c, v, NULL, NULL, &p->group_claims);
            if (ok && p->group_claims.n == 0)
                ok = ts_oidc__cfg_fail(c, TS_EINVAL, "must name at least one claim");
            have_groups = true;
        } else if (strcmp(key, "group_scopes") == 0) {
            if (!json_is_object(v)) {
                ok = ts_oidc__cfg_fail(c, TS_ETYPE,
                                       "must be an object mapping groups to scope arrays");
            } else if (json_object_size(v) > TS_OIDC_MAX_LIST) {
                ok = ts_oidc__cfg_fail(c, TS_ELIMIT, "has more than 256 groups");
            } else {
                p->group_scopes = calloc(json_object_size(v) + 1, sizeof *p->group_scopes);
                ok = p->group_scopes != NULL;
                if (!ok)
                    ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
                const char *g;
                json_t *sv;
                size_t gb = strlen(c->where);
                json_object_foreach(v, g, sv)
                {
                    if (!ok)
                        break;
                    snprintf(c->where + gb, sizeof c->where - gb, ".%s", g);
                    ts_oidc__group_scopes *gs = &p->group_scopes[p->n_group_scopes];
                    if (!*g || strlen(g) > TS_OIDC_MAX_STRING || !ts_oidc__cfg_printable(g, true)) {
                        ok = ts_oidc__cfg_fail(c, TS_EINVAL, "group name must be printable ASCII");
                        break;
                    }
                    if (!(gs->group = strdup(g))) {
                        ok = ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
                        break;
                    }
                    p->n_group_scopes++;
                    ok = ts_oidc__cfg_strv(c, sv, ts_oidc__scope_token, "scope token", &gs->scopes);
                }
            }
        } else if (strcmp(key, "audiences") == 0) {
            ok = ts_oidc__cfg_strv(c, v, NULL, NULL, &p->audiences);
        } else if (strcmp(key, "resources") == 0) {
            ok = ts_oidc__cfg_strv(c, v, ts_oidc__absolute_uri, "absolute URI without fragment",
                                   &p->resources);
        } else if (strcmp(key, "introspection") == 0) {
            ok = json_is_boolean(v) || ts_oidc__cfg_fail(c, TS_ETYPE, "must be true or false");
            p->introspection = json_is_true(v);
        } else if (strcmp(key, "introspection_client_ids") == 0) {
            ok = ts_oidc__cfg_strv(c, v, NULL, NULL, &p->introspection_client_ids);
            have_icids = true;
        } else if (strcmp(key, "timeout_ms") == 0) {
            ok = ts_oidc__cfg_uint(c, v, 100, TS_OIDC_MAX_TIMEOUT_MS, &p->timeout_ms);
        } else if (strcmp(key, "leeway_s") == 0) {
            unsigned l = 0;
            ok = ts_oidc__cfg_uint(c, v, 0, 600, &l);
            p->leeway_s = (int)l;
        } else if (strcmp(key, "discovery_ttl_s") == 0) {
            ok = ts_oidc__cfg_uint(c, v, 60, 86400, &p->discovery_ttl_s);
        } else if (strcmp(key, "jwks_ttl_s") == 0) {
            ok = ts_oidc__cfg_uint(c, v, 1, 86400, &p->jwks_ttl_s);
        } else if (strcmp(key, "jwks_max_stale_s") == 0) {
            ok = ts_oidc__cfg_uint(c, v, 1, 7 * 86400, &p->jwks_max_stale_s);
        } else if (strcmp(key, "jwks_refetch_cooldown_s") == 0) {
            ok = ts_oidc__cfg_uint(c, v, 1, 3600, &p->jwks_refetch_cooldown_s);
        } else if (strcmp(key, "carry_auth_context") == 0) {
            ok = json_is_boolean(v) || ts_oidc__cfg_fail(c, TS_ETYPE, "must be true or false");
            p->carry_auth_context = json_is_true(v);
        } else if (strcmp(key, "acr_map") == 0) {
            ok = parse_acr_map(c, v, p);
        } else {
            ok = ts_oidc__cfg_fail(c, TS_EINVAL, "unknown field");
        }
        if (!ok)
            return false;
    }
    c->where[base] = '\0';
    size_t wl = strlen(c->where);
    if (!p->issuer) {
        snprintf(c->where + wl, sizeof c->where - wl, ".issuer");
        return ts_oidc__cfg_fail(c, TS_EINVAL, "is required");
    }
    if (!p->client_id) {
        snprintf(c->where + wl, sizeof c->where - wl, ".client_id");
        return ts_oidc__cfg_fail(c, TS_EINVAL, "is required");
    }
    if (p->introspection && !p->client_secret) {
        snprintf(c->where + wl, sizeof c->where - wl, ".client_secret");
        return ts_oidc__cfg_fail(c, TS_EINVAL, "is required when introspection is true");
    }
    if (p->jwks_max_stale_s < p->jwks_ttl_s) {
        snprintf(c->where + wl, sizeof c->where - wl, ".jwks_max_stale_s");
        return ts_oidc__cfg_fail(c, TS_EINVAL, "must not be shorter than jwks_ttl_s");
    }
    char why[160];
    ts_status st = ts_oidc__subject_prepare(p, why, sizeof why);
    if (st != TS_OK) {
        snprintf(c->where + wl, sizeof c->where - wl, ".subject_template");
        return ts_oidc__cfg_fail(c, st, "%s", why);
    }
    if (!have_groups) {
        p->group_claims.v = calloc(1, sizeof *p->group_claims.v);
        if (!p->group_claims.v || !(p->group_claims.v[0] = strdup("groups")))
            return ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
        p->group_claims.n = 1;
    }
    if (!have_icids) {
        p->introspection_client_ids.v = calloc(1, sizeof *p->introspection_client_ids.v);
        if (!p->introspection_client_ids.v ||
            !(p->introspection_client_ids.v[0] = strdup(p->client_id)))
            return ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
        p->introspection_client_ids.n = 1;
    }
    return true;
}

/* Providers @p j < @p i must differ in issuer and name, and no user of one may get the subject
   of a user of the other (subject.c). */
static bool distinct(ts_oidc__pctx *c, const ts_oidc__provider *p, size_t j, size_t i)
{
    if (strcmp(p[j].issuer, p[i].issuer) == 0) {
        snprintf(c->where, sizeof c->where, "providers[%zu].issuer", i);
        return ts_oidc__cfg_fail(c, TS_EINVAL, "duplicates providers[%zu].issuer", j);
    }
    if (p[j].name && p[i].name && strcmp(p[j].name, p[i].name) == 0) {
        snprintf(c->where, sizeof c->where, "providers[%zu].name", i);
        return ts_oidc__cfg_fail(c, TS_EINVAL, "duplicates providers[%zu].name", j);
    }
    if (!ts_oidc__subjects_disjoint(&p[j], &p[i])) {
        snprintf(c->where, sizeof c->where, "providers[%zu].subject_template", i);
        return ts_oidc__cfg_fail(
            c, TS_EINVAL,
            "\"%.40s\" can give a user the subject of a user of providers[%zu] "
            "(\"%.40s\"): give each provider a name (subjects become <name>:<sub>) or "
            "its own prefix",
            p[i].subject_template, j, p[j].subject_template);
    }
    return true;
}

ts_oidc_config *ts_oidc_config_parse(const char *json, size_t len, ts_error *err)
{
    if (!json)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_config_parse", "NULL input"), NULL;
    if (len > TS_OIDC_MAX_CONFIG_BYTES) {
        ts_error_set(err, TS_ELIMIT, "config", "configuration larger than %u bytes",
                     TS_OIDC_MAX_CONFIG_BYTES);
        return NULL;
    }
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    if (!root && ts_common__json_load_oom(&je)) {
        ts_error_set(err, TS_ENOMEM, "config", "out of memory");
        return NULL;
    }
    if (!root) {
        char w[64];
        snprintf(w, sizeof w, "config:%d:%d", je.line, je.column);
        ts_error_set(err, TS_EPARSE, w, "%s", je.text);
        return NULL;
    }
    ts_oidc__pctx c = {.err = err};
    ts_oidc_config *cfg = calloc(1, sizeof *cfg);
    if (!cfg) {
        json_decref(root);
        ts_error_set(err, TS_ENOMEM, "config", "out of memory");
        return NULL;
    }
    atomic_init(&cfg->refs, 1);
    bool ok = true;
    const char *key;
    json_t *v;
    json_t *providers = NULL;
    if (!json_is_object(root)) {
        snprintf(c.where, sizeof c.where, "config");
        ok = ts_oidc__cfg_fail(&c, TS_ETYPE, "must be a JSON object");
    } else {
        json_object_foreach(root, key, v)
        {
            if (strcmp(key, "providers") == 0) {
                providers = v;
            } else {
                snprintf(c.where, sizeof c.where, "%s", key);
                ok = ts_oidc__cfg_fail(&c, TS_EINVAL, "unknown field");
                break;
            }
        }
    }
    if (ok && !json_is_array(providers)) {
        snprintf(c.where, sizeof c.where, "providers");
        ok = ts_oidc__cfg_fail(&c, providers ? TS_ETYPE : TS_EINVAL,
                               providers ? "must be an array" : "is required");
    }
    size_t n = ok ? json_array_size(providers) : 0;
    if (ok && n > TS_OIDC_MAX_PROVIDERS) {
        snprintf(c.where, sizeof c.where, "providers");
        ok = ts_oidc__cfg_fail(&c, TS_ELIMIT, "has more than 32 providers");
    }
    if (ok && !(cfg->p = calloc(n ? n : 1, sizeof *cfg->p))) {
        snprintf(c.where, sizeof c.where, "providers");
        ok = ts_oidc__cfg_fail(&c, TS_ENOMEM, "out of memory");
    }
    for (size_t i = 0; ok && i < n; i++) {
        snprintf(c.where, sizeof c.where, "providers[%zu]", i);
        cfg->n = i + 1;
        ok = parse_provider(&c, json_array_get(providers, i), &cfg->p[i]);
        for (size_t j = 0; ok && j < i; j++)
            ok = distinct(&c, cfg->p, j, i);
    }
    json_decref(root);
    if (!ok) {
        ts_oidc_config_free(cfg);
        return NULL;
    }
    return cfg;
}

ts_oidc_config *ts_oidc_config_ref(ts_oidc_config *cfg)
{
    if (cfg)
        atomic_fetch_add(&cfg->refs, 1);
    return cfg;
}

void ts_oidc_config_free(ts_oidc_config *cfg)
{
    if (!cfg || atomic_fetch_sub(&cfg->refs, 1) != 1)
        return;
    for (size_t i = 0; i < cfg->n; i++)
        provider_free(&cfg->p[i]);
    free(cfg->p);
    free(cfg);
}

size_t ts_oidc_config_count(const ts_oidc_config *cfg)
{
    return cfg ? cfg->n : 0;
}

const char *ts_oidc_config_issuer(const ts_oidc_config *cfg, size_t i)
{
    return cfg && i < cfg->n ? cfg->p[i].issuer : NULL;
}

const char *ts_oidc_config_client_id(const ts_oidc_config *cfg, size_t i)
{
    return cfg && i < cfg->n ? cfg->p[i].client_id : NULL;
}

const char *ts_oidc_config_name(const ts_oidc_config *cfg, size_t i)
{
    return cfg && i < cfg->n ? cfg->p[i].name : NULL;
}

const char *ts_oidc_config_subject_template(const ts_oidc_config *cfg, size_t i)
{
    return cfg && i < cfg->n ? cfg->p[i].subject_template : NULL;
}

const ts_oidc__provider *ts_oidc__config_find(const ts_oidc_config *cfg, const char *iss,
                                              size_t len)
{
    for (size_t i = 0; cfg && iss && i < cfg->n; i++)
        if (strlen(cfg->p[i].issuer) == len && memcmp(cfg->p[i].issuer, iss, len) == 0)
            return &cfg->p[i];
    return NULL;
}

char *ts_oidc_config_to_json(const ts_oidc_config *cfg, bool include_secrets, ts_error *err)
{
    if (!cfg)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_config_to_json", "NULL config"), NULL;
    /* Every member counts: a set that failed (for lack of memory: the values are valid) fails
       the whole document, never leaves it without a member. */
    json_t *root = json_object(), *arr = json_array();
    int rc = json_object_set_new(root, "providers", arr);
    for (size_t i = 0; rc == 0 && i < cfg->n; i++) {
        const ts_oidc__provider *p = &cfg->p[i];
        json_t *o = json_object();
        rc |= json_array_append_new(arr, o);
        if (p->kind == TS_OIDC__KIND_KUBERNETES) {
            rc |= ts_oidc__k8s_to_json(p, o);
            continue;
        }
        json_t *algs = json_array(), *gs = json_object();
        rc |= json_object_set_new(o, "issuer", json_string(p->issuer));
        rc |= json_object_set_new(o, "client_id", json_string(p->client_id));
        if (p->name)
            rc |= json_object_set_new(o, "name", json_string(p->name));
        rc |= json_object_set_new(o, "subject_template", json_string(p->subject_template));
        if (p->client_secret)
            rc |= json_object_set_new(
                o, "client_secret", json_string(include_secrets ? p->client_secret : SECRET_MASK));
        for (unsigned a = TS_JWS_RS256; a <= TS_JWS_ES512; a++)
            if (p->algorithms & TS_JWS_ALG_BIT(a))
                rc |= json_array_append_new(algs, json_string(ts_jws_alg_name((ts_jws_alg)a)));
        rc |= json_object_set_new(o, "algorithms", algs);
        rc |= json_object_set_new(o, "group_claims", ts_oidc__strv_json(&p->group_claims));
        for (size_t g = 0; g < p->n_group_scopes; g++)
            rc |= json_object_set_new(gs, p->group_scopes[g].group,
                                      ts_oidc__strv_json(&p->group_scopes[g].scopes));
        rc |= json_object_set_new(o, "group_scopes", gs);
        rc |= json_object_set_new(o, "audiences", ts_oidc__strv_json(&p->audiences));
        rc |= json_object_set_new(o, "resources", ts_oidc__strv_json(&p->resources));
        rc |= json_object_set_new(o, "introspection", json_boolean(p->introspection));
        rc |= json_object_set_new(o, "introspection_client_ids",
                                  ts_oidc__strv_json(&p->introspection_client_ids));
        rc |= json_object_set_new(o, "timeout_ms", json_integer(p->timeout_ms));
        rc |= json_object_set_new(o, "leeway_s", json_integer(p->leeway_s));
        rc |= json_object_set_new(o, "discovery_ttl_s", json_integer(p->discovery_ttl_s));
        rc |= json_object_set_new(o, "jwks_ttl_s", json_integer(p->jwks_ttl_s));
        rc |= json_object_set_new(o, "jwks_max_stale_s", json_integer(p->jwks_max_stale_s));
        rc |= json_object_set_new(o, "jwks_refetch_cooldown_s",
                                  json_integer(p->jwks_refetch_cooldown_s));
        rc |= json_object_set_new(o, "carry_auth_context", json_boolean(p->carry_auth_context));
        json_t *am = json_object();
        for (size_t a = 0; a < p->n_acr_map; a++)
            rc |= json_object_set_new(am, p->acr_from[a], json_string(p->acr_to[a]));
        rc |= json_object_set_new(o, "acr_map", am);
    }
    if (rc) {
        json_decref(root);
        ts_error_set(err, TS_ENOMEM, "ts_oidc_config_to_json", "out of memory");
        return NULL;
    }
    char *s = json_dumps(root, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!s)
        ts_error_set(err, TS_ENOMEM, "ts_oidc_config_to_json", "out of memory");
    return s;
}
