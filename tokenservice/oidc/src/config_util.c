/* Configuration parsing helpers: strict typed reads that name the field at fault (c->where),
   shared by the OIDC provider parser (config.c) and the Kubernetes one (kubernetes_config.c). */
#define _POSIX_C_SOURCE 200809L
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/jose.h>

#include "oidc_internal.h"

bool ts_oidc__cfg_fail(ts_oidc__pctx *c, ts_status code, const char *fmt, ...)
{
    char msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    ts_error_set(c->err, code, c->where, "%s", msg);
    return false;
}

void ts_oidc__strv_free(ts_oidc__strv *s)
{
    for (size_t i = 0; i < s->n; i++)
        free(s->v[i]);
    free(s->v);
    s->v = NULL;
    s->n = 0;
}

/* Printable ASCII without space: what issuers, client ids and group names may hold. */
bool ts_oidc__cfg_printable(const char *s, bool allow_space)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 || *p > 0x7e || (*p == ' ' && !allow_space))
            return false;
    return true;
}

/* RFC 6749 §3.3 scope-token: %x21 / %x23-5B / %x5D-7E. */
bool ts_oidc__scope_token(const char *s)
{
    if (!*s)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x21 || *p > 0x7e || *p == '"' || *p == '\\')
            return false;
    return true;
}

bool ts_oidc__cfg_string(ts_oidc__pctx *c, const json_t *v, bool allow_space, char **out)
{
    if (!json_is_string(v))
        return ts_oidc__cfg_fail(c, TS_ETYPE, "must be a string");
    size_t n = json_string_length(v);
    const char *s = json_string_value(v);
    if (n == 0 || n > TS_OIDC_MAX_STRING)
        return ts_oidc__cfg_fail(c, TS_EINVAL, "must hold 1 to 2048 bytes");
    if (strlen(s) != n || !ts_oidc__cfg_printable(s, allow_space))
        return ts_oidc__cfg_fail(c, TS_EINVAL, "must be printable ASCII%s",
                                 allow_space ? "" : " without spaces");
    if (!(*out = strdup(s)))
        return ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
    return true;
}

bool ts_oidc__cfg_strv(ts_oidc__pctx *c, const json_t *v, ts_oidc__item_check check,
                       const char *what, ts_oidc__strv *out)
{
    if (!json_is_array(v))
        return ts_oidc__cfg_fail(c, TS_ETYPE, "must be an array of strings");
    size_t n = json_array_size(v);
    if (n > TS_OIDC_MAX_LIST)
        return ts_oidc__cfg_fail(c, TS_ELIMIT, "has more than 256 entries");
    out->v = calloc(n ? n : 1, sizeof *out->v);
    if (!out->v)
        return ts_oidc__cfg_fail(c, TS_ENOMEM, "out of memory");
    size_t base = strlen(c->where);
    for (size_t i = 0; i < n; i++) {
        snprintf(c->where + base, sizeof c->where - base, "[%zu]", i);
        char *s = NULL;
        if (!ts_oidc__cfg_string(c, json_array_get(v, i), false, &s))
            return false;
        if ((check && !check(s)) || ts_oidc__strv_has(out, s)) {
            bool dup = ts_oidc__strv_has(out, s);
            free(s);
            return ts_oidc__cfg_fail(c, TS_EINVAL, dup ? "duplicate entry%s" : "is not a valid %s",
                                     dup ? "" : what);
        }
        out->v[out->n++] = s;
    }
    c->where[base] = '\0';
    return true;
}

bool ts_oidc__cfg_uint(ts_oidc__pctx *c, const json_t *v, unsigned lo, unsigned hi, unsigned *out)
{
    if (!json_is_integer(v))
        return ts_oidc__cfg_fail(c, TS_ETYPE, "must be an integer");
    json_int_t x = json_integer_value(v);
    if (x < (json_int_t)lo || x > (json_int_t)hi) {
        ts_error_set(c->err, TS_EINVAL, c->where, "must be between %u and %u", lo, hi);
        return false;
    }
    *out = (unsigned)x;
    return true;
}

bool ts_oidc__absolute_uri(const char *s)
{
    /* RFC 8693 §2.1: an absolute URI without a fragment. */
    const char *colon = strchr(s, ':');
    if (!colon || colon == s || strchr(s, '#'))
        return false;
    for (const char *p = s; p < colon; p++)
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
              (p > s && ((*p >= '0' && *p <= '9') || *p == '+' || *p == '-' || *p == '.'))))
            return false;
    return colon[1] != '\0';
}

bool ts_oidc__alg_name(const char *s)
{
    return ts_jws_alg_parse(s, strlen(s)) != TS_JWS_ALG_UNKNOWN;
}

json_t *ts_oidc__strv_json(const ts_oidc__strv *s)
{
    json_t *a = json_array();
    for (size_t i = 0; a && i < s->n; i++) {
        if (json_array_append_new(a, json_string(s->v[i]))) {
            json_decref(a);
            return NULL;
        }
    }
    return a;
}
