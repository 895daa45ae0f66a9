/* Upstream claims to internal claims: `sub` becomes the internal subject (subject.c), groups
   become scopes through the provider's table, and the request's scope, audience and resource
   parameters can only narrow that grant. Strings carried into the internal token are refused
   when they hold a control character: a newline in a `sub` or `name` would otherwise reach
   logs, audit records and policy decisions of every service that reads the token. */
#define _POSIX_C_SOURCE 200809L
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/json_load.h"
#include "oidc_internal.h"

typedef struct vec {
    char **v;
    size_t n;
} vec;

static bool vec_has(const vec *a, const char *s, size_t len)
{
    for (size_t i = 0; i < a->n; i++)
        if (strlen(a->v[i]) == len && memcmp(a->v[i], s, len) == 0)
            return true;
    return false;
}

/* Append a copy unless present. */
static bool vec_add(vec *a, const char *s, size_t len)
{
    if (vec_has(a, s, len))
        return true;
    if (a->n >= TS_OIDC_MAX_LIST * 4)
        return false;
    char **nv = realloc(a->v, (a->n + 1) * sizeof *nv);
    if (!nv)
        return false;
    a->v = nv;
    if (!(a->v[a->n] = malloc(len + 1)))
        return false;
    memcpy(a->v[a->n], s, len);
    a->v[a->n][len] = '\0';
    a->n++;
    return true;
}

static void vec_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

void ts_oidc_claims_free(ts_oidc_claims *c)
{
    if (!c)
        return;
    free(c->issuer);
    free(c->client_id);
    free(c->sub);
    free(c->upstream_sub);
    free(c->name);
    free(c->email);
    vec_free(c->groups, c->n_groups);
    vec_free(c->scopes, c->n_scopes);
    vec_free(c->audiences, c->n_audiences);
    vec_free(c->resources, c->n_resources);
    vec_free(c->amr, c->n_amr);
    free(c->acr);
    free(c->principal_type);
    vec_free(c->roles, c->n_roles);
    free(c->k8s_namespace);
    free(c->k8s_service_account);
    free(c->k8s_uid);
    free(c);
}

static ts_oidc_reason bad(ts_error *err, ts_oidc_reason r, const char *where, const char *msg)
{
    ts_error_set(err, r == TS_OIDC_INTERNAL ? TS_ENOMEM : TS_EINVAL, where, "%s", msg);
    return r;
}

/* No C0 control, DEL or C1 control (U+0080..U+009F, UTF-8 C2 80..C2 9F), and no NUL inside. */
static bool no_controls(const json_t *v)
{
    const unsigned char *s = (const unsigned char *)json_string_value(v);
    size_t n = json_string_length(v);
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] == 0x7f || (s[i] == 0xc2 && i + 1 < n && s[i + 1] < 0xa0))
            return false;
    return true;
}

static ts_oidc_reason control_refused(ts_error *err, const char *name)
{
    return bad(err, TS_OIDC_INVALID_CLAIM, name, "claim holds a control character");
}

/* Optional string claim: absent is fine, another type is not. */
static ts_oidc_reason opt_string(const json_t *claims, const char *name, char **out, ts_error *err)
{
    const json_t *v = json_object_get(claims, name);
    if (!v || json_is_null(v))
        return TS_OIDC_OK;
    if (!json_is_string(v))
        return bad(err, TS_OIDC_INVALID_CLAIM, name, "claim must be a string");
    if (!no_controls(v))
        return control_refused(err, name);
    if (!(*out = strdup(json_string_value(v))))
        return bad(err, TS_OIDC_INTERNAL, name, "out of memory");
    return TS_OIDC_OK;
}

static ts_oidc_reason string_list(const json_t *claims, const char *name, vec *out, ts_error *err)
{
    const json_t *v = json_object_get(claims, name);
    if (!v || json_is_null(v))
        return TS_OIDC_OK;
    if (json_is_string(v) && !no_controls(v))
        return control_refused(err, name);
    if (json_is_string(v))
        return vec_add(out, json_string_value(v), json_string_length(v))
                   ? TS_OIDC_OK
                   : bad(err, TS_OIDC_INTERNAL, name, "out of memory or too many values");
    if (!json_is_array(v))
        return bad(err, TS_OIDC_INVALID_CLAIM, name, "claim must be a string or an array");
    size_t i;
    const json_t *e;
    json_array_foreach(v, i, e)
    {
        if (!json_is_string(e))
            return bad(err, TS_OIDC_INVALID_CLAIM, name, "claim must hold strings only");
        if (!no_controls(e))
            return control_refused(err, name);
        if (!vec_add(out, json_string_value(e), json_string_length(e)))
            return bad(err, TS_OIDC_INTERNAL, name, "out of memory or too many values");
    }
    return TS_OIDC_OK;
}

/* Narrow @p granted to the requested items; every requested item must be granted. */
static ts_oidc_reason narrow_list(const char *const *req, size_t n_req,
                                  const ts_oidc__strv *allowed, const char *what, vec *out,
                                  ts_error *err)
{
    if (n_req == 0) {
        for (size_t i = 0; i < allowed->n; i++)
            if (!vec_add(out, allowed->v[i], strlen(allowed->v[i])))
                return bad(err, TS_OIDC_INTERNAL, what, "out of memory");
        return TS_OIDC_OK;
    }
    for (size_t i = 0; i < n_req; i++) {
        if (!req[i] || !*req[i])
            continue; /* RFC 6749 §3.2: an empty parameter is an omitted one */
        if (!ts_oidc__strv_has(allowed, req[i])) {
            ts_error_set(err, TS_EINVAL, what, "%s \"%.100s\" is not allowed for this provider",
                         what, req[i]);
            return TS_OIDC_TARGET_NOT_ALLOWED;
        }
        if (!vec_add(out, req[i], strlen(req[i])))
            return bad(err, TS_OIDC_INTERNAL, what, "out of memory");
    }
    return TS_OIDC_OK;
}

/* The authentication context (amr, acr, auth_time) into @p o, as the provider says: not at all
   (carry_auth_context false: nothing of it is read, so nothing of it can refuse the exchange),
   or checked and carried, the acr renamed through acr_map when there is one. A map names the
   values this deployment knows: an acr it does not name is not carried, so that a route that
   requires an internal level never matches a provider's unrelated value by accident. */
static ts_oidc_reason auth_context(const ts_oidc__provider *p, const json_t *claims,
                                   ts_oidc_claims *o, ts_error *err)
{
    if (!p->carry_auth_context)
        return TS_OIDC_OK;
    ts_oidc_reason r;
    char *acr = NULL;
    if ((r = opt_string(claims, "acr", &acr, err)))
        return r;
    if (acr && p->n_acr_map) {
        size_t i = 0;
        while (i < p->n_acr_map && strcmp(p->acr_from[i], acr) != 0)
            i++;
        free(acr);
        acr = NULL;
        if (i < p->n_acr_map && !(acr = strdup(p->acr_to[i])))
            return bad(err, TS_OIDC_INTERNAL, "acr", "out of memory");
    }
    o->acr = acr;
    const json_t *at = json_object_get(claims, "auth_time");
    if (at && !json_is_integer(at))
        return bad(err, TS_OIDC_INVALID_CLAIM, "auth_time", "claim must be an integer");
    o->auth_time = at ? (int64_t)json_integer_value(at) : 0;
    vec amr = {0};
    r = string_list(claims, "amr", &amr, err);
    o->amr = amr.v;
    o->n_amr = amr.n;
    return r;
}

static ts_oidc_reason map(const ts_oidc__provider *p, const json_t *claims,
                          const ts_oidc_narrow *nr, ts_oidc_claims *o, ts_error *err)
{
    ts_oidc_reason r;
    const json_t *sub = json_object_get(claims, "sub");
    if (!json_is_string(sub))
        return bad(err, TS_OIDC_MISSING_CLAIM, "sub", "claim \"sub\" is required");
    if (json_string_length(sub) == 0)
        return bad(err, TS_OIDC_INVALID_CLAIM, "sub", "claim \"sub\" is empty");
    if (!no_controls(sub))
        return control_refused(err, "sub");
    if (!(o->issuer = strdup(p->issuer)) || !(o->client_id = strdup(p->client_id)) ||
        !(o->upstream_sub = strdup(json_string_value(sub))) ||
        !(o->sub = ts_oidc__subject_map(p, json_string_value(sub), json_string_length(sub))))
        return bad(err, TS_OIDC_INTERNAL, "claims", "out of memory");
    if ((r = opt_string(claims, "name", &o->name, err)) ||
        (r = opt_string(claims, "email", &o->email, err)))
        return r;
    /* OIDC Core §5.1: a boolean. A string "false" read as present-and-true, or dropped in
       silence, would misstate what the provider said; refuse it instead. */
    const json_t *ev = json_object_get(claims, "email_verified");
    if (ev && !json_is_null(ev) && !json_is_boolean(ev))
        return bad(err, TS_OIDC_INVALID_CLAIM, "email_verified", "claim must be true or false");
    o->email_verified = json_is_boolean(ev) ? json_is_true(ev) : -1;
    if ((r = auth_context(p, claims, o, err)))
        return r;
    const json_t *exp = json_object_get(claims, "exp");
    if (exp && !json_is_integer(exp))
        return bad(err, TS_OIDC_INVALID_CLAIM, "exp", "claim must be an integer");
    o->exp = exp ? (int64_t)json_integer_value(exp) : 0;
    vec groups = {0};
    for (size_t i = 0; i < p->group_claims.n && !r; i++)
        r = string_list(claims, p->group_claims.v[i], &groups, err);
    o->groups = groups.v;
    o->n_groups = groups.n;
    if (r)
        return r;

    /* What the mapping grants: the union of the scopes of every group the subject is in. */
    vec g = {0};
    for (size_t i = 0; i < groups.n; i++)
        for (size_t k = 0; k < p->n_group_scopes; k++)
            if (strcmp(p->group_scopes[k].group, groups.v[i]) == 0)
                for (size_t s = 0; s < p->group_scopes[k].scopes.n; s++)
                    if (!vec_add(&g, p->group_scopes[k].scopes.v[s],
                                 strlen(p->group_scopes[k].scopes.v[s])))
                        r = bad(err, TS_OIDC_INTERNAL, "scope", "out of memory");
    if (!r)
        r = ts_oidc__narrow_scope(g.v, g.n, nr ? nr->scope : NULL, o, err);
    vec_free(g.v, g.n);
    if (!r)
        r = ts_oidc__narrow_targets(p, nr, o, err);
    return r;
}

ts_oidc_reason ts_oidc__narrow_scope(char *const *granted, size_t n_granted, const char *sc,
                                     ts_oidc_claims *o, ts_error *err)
{
    vec g = {(char **)(uintptr_t)granted, n_granted}; /* read only */
    vec scopes = {0};
    ts_oidc_reason r = TS_OIDC_OK;
    if (sc && *sc) {
        for (const char *q = sc; *q && !r;) {
            while (*q == ' ')
                q++;
            size_t l = strcspn(q, " ");
            if (l == 0)
                break;
            if (!vec_has(&g, q, l)) {
                ts_error_set(err, TS_EINVAL, "scope",
                             "scope \"%.*s\" is not granted to this subject by the mapping",
                             (int)(l > 100 ? 100 : l), q);
                r = TS_OIDC_SCOPE_NOT_GRANTED;
            } else if (!vec_add(&scopes, q, l)) {
                r = bad(err, TS_OIDC_INTERNAL, "scope", "out of memory");
            }
            q += l;
        }
    } else {
        for (size_t i = 0; i < g.n && !r; i++)
            if (!vec_add(&scopes, g.v[i], strlen(g.v[i])))
                r = bad(err, TS_OIDC_INTERNAL, "scope", "out of memory");
    }
    o->scopes = scopes.v;
    o->n_scopes = scopes.n;
    return r;
}

ts_oidc_reason ts_oidc__narrow_targets(const ts_oidc__provider *p, const ts_oidc_narrow *nr,
                                       ts_oidc_claims *o, ts_error *err)
{
    vec aud = {0}, res = {0};
    ts_oidc_reason r = narrow_list(nr ? nr->audiences : NULL, nr ? nr->n_audiences : 0,
                                   &p->audiences, "audience", &aud, err);
    if (!r)
        r = narrow_list(nr ? nr->resources : NULL, nr ? nr->n_resources : 0, &p->resources,
                        "resource", &res, err);
    o->audiences = aud.v;
    o->n_audiences = aud.n;
    o->resources = res.v;
    o->n_resources = res.n;
    return r;
}

ts_oidc_reason ts_oidc_map_claims(const ts_oidc_config *cfg, const char *claims_json, size_t len,
                                  const ts_oidc_narrow *narrow, ts_oidc_claims **out, ts_error *err)
{
    if (out)
        *out = NULL;
    if (!cfg || !claims_json || !out)
        return bad(err, TS_OIDC_INTERNAL, "ts_oidc_map_claims", "NULL argument");
    json_error_t je;
    json_t *claims = json_loadb(claims_json, len, JSON_REJECT_DUPLICATES, &je);
    if (!claims && ts_common__json_load_oom(&je)) /* the claims may be fine */
        return bad(err, TS_OIDC_INTERNAL, "claims", "out of memory");
    if (!json_is_object(claims)) {
        json_decref(claims);
        return bad(err, TS_OIDC_MALFORMED, "claims", "claims are not a JSON object");
    }
    const json_t *iss = json_object_get(claims, "iss");
    const ts_oidc__provider *p =
        json_is_string(iss)
            ? ts_oidc__config_find(cfg, json_string_value(iss), json_string_length(iss))
            : NULL;
    ts_oidc_reason r;
    ts_oidc_claims *o = NULL;
    if (!p) {
        r = bad(err, TS_OIDC_WRONG_ISSUER, "iss", "issuer is not a configured provider");
    } else if (p->kind != TS_OIDC__KIND_OIDC) {
        /* A Kubernetes provider's claims go through ts_oidc_exchange() (kubernetes.c): its
           identity rules, not a group mapping, decide what they get. */
        r = bad(err, TS_OIDC_WRONG_ISSUER, "iss",
                "issuer is a kubernetes provider: its tokens are mapped by identity rules");
    } else if (!(o = calloc(1, sizeof *o))) {
        r = bad(err, TS_OIDC_INTERNAL, "claims", "out of memory");
    } else {
        r = map(p, claims, narrow, o, err);
    }
    json_decref(claims);
    if (r != TS_OIDC_OK) {
        ts_oidc_claims_free(o);
        return r;
    }
    *out = o;
    return TS_OIDC_OK;
}

/* An array of the strings, or NULL when memory ran out. */
static json_t *arr(char *const *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < n; i++) {
        if (json_array_append_new(a, json_string(v[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}

char *ts_oidc_claims_to_json(const ts_oidc_claims *c, ts_error *err)
{
    if (!c)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_claims_to_json", "NULL claims"), NULL;
    /* A member that could not be set (for lack of memory) fails the document: claims without
       their scope or audience must never pass for the claims. */
    json_t *o = json_object();
    int rc = json_object_set_new(o, "sub", json_string(c->sub));
    if (c->upstream_sub)
        rc |= json_object_set_new(o, "upstream_sub", json_string(c->upstream_sub));
    rc |= json_object_set_new(o, "upstream_iss", json_string(c->issuer));
    if (c->name)
        rc |= json_object_set_new(o, "name", json_string(c->name));
    if (c->email)
        rc |= json_object_set_new(o, "email", json_string(c->email));
    if (c->email_verified >= 0)
        rc |= json_object_set_new(o, "email_verified", json_boolean(c->email_verified));
    if (c->n_groups)
        rc |= json_object_set_new(o, "groups", arr(c->groups, c->n_groups));
    size_t sl = 0;
    for (size_t i = 0; i < c->n_scopes; i++)
        sl += strlen(c->scopes[i]) + 1;
    char *scope = calloc(1, sl + 1);
    bool ok = scope != NULL;
    if (scope) {
        char *q = scope;
        for (size_t i = 0; i < c->n_scopes; i++) {
            size_t l = strlen(c->scopes[i]);
            if (i)
                *q++ = ' ';
            memcpy(q, c->scopes[i], l);
            q += l;
        }
        rc |= json_object_set_new(o, "scope", json_string(scope));
        free(scope);
    }
    rc |= json_object_set_new(o, "aud", arr(c->audiences, c->n_audiences));
    if (c->n_resources)
        rc |= json_object_set_new(o, "resource", arr(c->resources, c->n_resources));
    if (c->n_amr)
        rc |= json_object_set_new(o, "amr", arr(c->amr, c->n_amr));
    if (c->acr)
        rc |= json_object_set_new(o, "acr", json_string(c->acr));
    if (c->auth_time)
        rc |= json_object_set_new(o, "auth_time", json_integer(c->auth_time));
    if (c->exp)
        rc |= json_object_set_new(o, "upstream_exp", json_integer(c->exp));
    if (c->principal_type)
        rc |= json_object_set_new(o, "principal_type", json_string(c->principal_type));
    if (c->n_roles)
        rc |= json_object_set_new(o, "roles", arr(c->roles, c->n_roles));
    if (c->k8s_namespace)
        rc |= json_object_set_new(o, "k8s_namespace", json_string(c->k8s_namespace));
    if (c->k8s_service_account)
        rc |= json_object_set_new(o, "k8s_service_account", json_string(c->k8s_service_account));
    if (c->k8s_uid)
        rc |= json_object_set_new(o, "k8s_uid", json_string(c->k8s_uid));
    ok = ok && rc == 0;
    char *s = ok ? json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER) : NULL;
    json_decref(o);
    if (!s)
        ts_error_set(err, TS_ENOMEM, "ts_oidc_claims_to_json", "out of memory");
    return s;
}
