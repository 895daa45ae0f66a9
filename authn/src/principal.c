#define _POSIX_C_SOURCE 200809L
/* Principals: the verified identity (sub, type, roles, scopes, domain) and all verified claims. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authn_internal.h"

const char *ts_authn_principal_type_str(ts_authn_principal_type t)
{
    switch (t) {
    case TS_AUTHN_PRINCIPAL_USER:
        return "user";
    case TS_AUTHN_PRINCIPAL_SERVICE:
        return "service";
    default:
        return "unknown";
    }
}

typedef struct strlist {
    char **v;
    size_t n, cap;
} strlist;

static bool list_has(const strlist *l, const char *s, size_t len)
{
    for (size_t i = 0; i < l->n; i++)
        if (strlen(l->v[i]) == len && memcmp(l->v[i], s, len) == 0)
            return true;
    return false;
}

/* Append a copy unless present (roles and scopes are sets with first-seen order). */
static bool list_add(strlist *l, const char *s, size_t len)
{
    if (len == 0 || list_has(l, s, len))
        return true;
    if (l->n == l->cap) {
        size_t nc = l->cap ? l->cap * 2 : 8;
        char **nv = realloc(l->v, nc * sizeof *nv);
        if (!nv)
            return false;
        l->v = nv;
        l->cap = nc;
    }
    char *c = malloc(len + 1);
    if (!c)
        return false;
    memcpy(c, s, len);
    c[len] = 0;
    l->v[l->n++] = c;
    return true;
}

/* Bytes below 0x20 and DEL. Names from a token end up joined with separators (the authz
   decision cache joins roles with 0x1f), in logs and in policy subjects: a control character
   in one could make it pass for two names, or forge a line. */
static bool has_control(const char *s, size_t len)
{
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] == 0x7f)
            return true;
    return false;
}

typedef enum addres { ADD_OK, ADD_CONTROL, ADD_NOMEM } addres;

/* A claim holding a list: an array of strings, or one space-separated string (OAuth scope).
   A value with a control character refuses the whole claim. */
static addres add_claim_values(strlist *l, const json_t *v)
{
    if (json_is_string(v)) {
        if (has_control(json_string_value(v), json_string_length(v)))
            return ADD_CONTROL;
        const char *s = json_string_value(v);
        size_t len = json_string_length(v);
        size_t i = 0;
        while (i < len) {
            while (i < len && s[i] == ' ')
                i++;
            size_t st = i;
            while (i < len && s[i] != ' ')
                i++;
            if (i > st && !list_add(l, s + st, i - st))
                return ADD_NOMEM;
        }
        return ADD_OK;
    }
    if (json_is_array(v)) {
        size_t i;
        json_t *e;
        json_array_foreach(v, i, e)
        {
            if (!json_is_string(e))
                continue;
            if (has_control(json_string_value(e), json_string_length(e)))
                return ADD_CONTROL;
            if (!list_add(l, json_string_value(e), json_string_length(e)))
                return ADD_NOMEM;
        }
    }
    return ADD_OK;
}

static void list_free(char **v, size_t n)
{
    for (size_t i = 0; i < n; i++)
        free(v[i]);
    free(v);
}

static const char *str_claim(const json_t *claims, const char *name)
{
    return json_string_value(json_object_get(claims, name));
}

ts_authn_reason ts_authn__principal_new(json_t *claims, const char *payload, size_t payload_len,
                                        const ts_authn__mapping *m, const char *kid, int64_t exp,
                                        ts_authn_principal **out, const char **bad_claim)
{
    *out = NULL;
    *bad_claim = NULL;
    /* The verifier checked that sub is a non-empty string. */
    json_t *sub = json_object_get(claims, "sub");
    if (has_control(json_string_value(sub), json_string_length(sub))) {
        *bad_claim = "sub";
        return TS_AUTHN_INVALID_CLAIM;
    }
    ts_authn_principal *p = calloc(1, sizeof *p);
    if (!p)
        return TS_AUTHN_INTERNAL;
    atomic_init(&p->refs, 1);
    p->claims = json_incref(claims);
    p->exp = exp;
    snprintf(p->kid, sizeof p->kid, "%s", kid ? kid : "");
    p->id = json_string_value(sub);
    p->iss = str_claim(claims, "iss");
    p->jti = str_claim(claims, "jti");
    p->domain = str_claim(claims, m->domain_claim);

    strlist scopes = {0}, roles = {0};
    static const char *const scope_claims[] = {"scope", "scp"};
    addres res = ADD_OK;
    for (size_t i = 0; res == ADD_OK && i < 2; i++)
        if ((res = add_claim_values(&scopes, json_object_get(claims, scope_claims[i]))) ==
            ADD_CONTROL)
            *bad_claim = scope_claims[i];
    for (size_t i = 0; res == ADD_OK && i < m->n_role_claims; i++)
        if ((res = add_claim_values(&roles, json_object_get(claims, m->role_claims[i]))) ==
            ADD_CONTROL)
            *bad_claim = m->role_claims[i];
    bool ok = res == ADD_OK;
    for (size_t i = 0; ok && i < m->n_scope_roles; i++) {
        if (list_has(&scopes, m->scope_from[i], strlen(m->scope_from[i])))
            ok = list_add(&roles, m->scope_to[i], strlen(m->scope_to[i]));
    }
    p->roles = roles.v;
    p->n_roles = roles.n;
    p->scopes = scopes.v;
    p->n_scopes = scopes.n;

    /* Type: an explicit claim wins; a client-credentials token (RFC 9068 §2.2: sub equals
       client_id) or one naming a service_id is a service; anything else a user. */
    const char *t = str_claim(claims, m->type_claim);
    const char *client = str_claim(claims, "client_id");
    if (t && strcmp(t, "service") == 0)
        p->type = TS_AUTHN_PRINCIPAL_SERVICE;
    else if (t && strcmp(t, "user") == 0)
        p->type = TS_AUTHN_PRINCIPAL_USER;
    else if ((client && p->id && strcmp(client, p->id) == 0) ||
             json_object_get(claims, "service_id"))
        p->type = TS_AUTHN_PRINCIPAL_SERVICE;
    else
        p->type = TS_AUTHN_PRINCIPAL_USER;

    /* The exact signed bytes: re-serialising would cost as much as a quarter of a verify. */
    /* amr: the string members, borrowed from the claims (RFC 8176 values are short names). */
    json_t *amr = json_object_get(claims, "amr");
    if (ok && json_is_array(amr) && json_array_size(amr) > 0) {
        ok = (p->amr = calloc(json_array_size(amr), sizeof *p->amr)) != NULL;
        size_t i;
        json_t *e;
        json_array_foreach(amr, i, e)
        {
            if (ok && json_is_string(e))
                p->amr[p->n_amr++] = json_string_value(e);
        }
    }
    p->claims_json = ok ? malloc(payload_len + 1) : NULL;
    if (!p->claims_json) {
        ts_authn_principal_free(p);
        return res == ADD_CONTROL ? TS_AUTHN_INVALID_CLAIM : TS_AUTHN_INTERNAL;
    }
    memcpy(p->claims_json, payload, payload_len);
    p->claims_json[payload_len] = 0;
    *out = p;
    return TS_AUTHN_OK;
}

ts_authn_principal *ts_authn_principal_ref(ts_authn_principal *p)
{
    if (p)
        atomic_fetch_add_explicit(&p->refs, 1, memory_order_relaxed);
    return p;
}

void ts_authn_principal_free(ts_authn_principal *p)
{
    if (!p || atomic_fetch_sub_explicit(&p->refs, 1, memory_order_acq_rel) != 1)
        return;
    list_free(p->roles, p->n_roles);
    free(p->amr);
    list_free(p->scopes, p->n_scopes);
    free(p->claims_json);
    json_decref(p->claims);
    free(p);
}

const char *ts_authn_principal_id(const ts_authn_principal *p)
{
    return p ? p->id : NULL;
}

ts_authn_principal_type ts_authn_principal_type_of(const ts_authn_principal *p)
{
    return p ? p->type : TS_AUTHN_PRINCIPAL_UNKNOWN;
}

const char *const *ts_authn_principal_roles(const ts_authn_principal *p, size_t *n)
{
    if (n)
        *n = p ? p->n_roles : 0;
    return p ? (const char *const *)p->roles : NULL;
}

const char *const *ts_authn_principal_scopes(const ts_authn_principal *p, size_t *n)
{
    if (n)
        *n = p ? p->n_scopes : 0;
    return p ? (const char *const *)p->scopes : NULL;
}

bool ts_authn_principal_has_scope(const ts_authn_principal *p, const char *scope)
{
    for (size_t i = 0; p && scope && i < p->n_scopes; i++)
        if (strcmp(p->scopes[i], scope) == 0)
            return true;
    return false;
}

const char *ts_authn_principal_domain(const ts_authn_principal *p)
{
    return p ? p->domain : NULL;
}

const char *ts_authn_principal_issuer(const ts_authn_principal *p)
{
    return p ? p->iss : NULL;
}

const char *ts_authn_principal_kid(const ts_authn_principal *p)
{
    return p ? p->kid : NULL;
}

const char *ts_authn_principal_jti(const ts_authn_principal *p)
{
    return p ? p->jti : NULL;
}

int64_t ts_authn_principal_exp(const ts_authn_principal *p)
{
    return p ? p->exp : 0;
}

const char *ts_authn_principal_claim_string(const ts_authn_principal *p, const char *name)
{
    return p && name ? str_claim(p->claims, name) : NULL;
}

const char *ts_authn_principal_claims_json(const ts_authn_principal *p)
{
    return p ? p->claims_json : NULL;
}

const char *ts_authn_principal_acr(const ts_authn_principal *p)
{
    return p ? str_claim(p->claims, "acr") : NULL;
}

const char *const *ts_authn_principal_amr(const ts_authn_principal *p, size_t *n)
{
    if (n)
        *n = p ? p->n_amr : 0;
    return p ? (const char *const *)p->amr : NULL;
}

bool ts_authn_principal_auth_time(const ts_authn_principal *p, int64_t *t)
{
    json_t *j = p ? json_object_get(p->claims, "auth_time") : NULL;
    if (t)
        *t = json_is_integer(j) ? (int64_t)json_integer_value(j) : 0;
    return json_is_integer(j);
}
