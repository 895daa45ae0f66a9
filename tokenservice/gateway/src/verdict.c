/* A check's verdict (gw_internal.h): caller storage that owns copies of what the checker puts
 * in, checked on the way in so that no front has to re-validate what it writes to the wire, and
 * wiped on the way out because an allow carries the translated token. */
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "gw_internal.h"

/* RFC 9110 §5.6.2 tchar. */
static bool is_tchar(unsigned char c)
{
    if ((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'))
        return true;
    return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool valid_name(const char *s, size_t n)
{
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++)
        if (!is_tchar((unsigned char)s[i]))
            return false;
    return true;
}

/* RFC 9110 field-value restricted to ASCII: visible characters, space and tab. */
static bool valid_value(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(c == '\t' || (c >= 0x20 && c < 0x7f)))
            return false;
    }
    return true;
}

static bool in_store(const ts_gateway__verdict *v, const char *p)
{
    return p >= v->store && p < v->store + sizeof v->store;
}

/* A NUL-terminated copy of @p n bytes: from the verdict's store while it has room (@p v may be
   NULL: always the heap). */
static char *dup_n(ts_gateway__verdict *v, const char *s, size_t n)
{
    char *p;
    if (v && n < sizeof v->store - v->store_used) {
        p = v->store + v->store_used;
        v->store_used += n + 1;
    } else {
        p = malloc(n + 1);
    }
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

/* Wipe and free a copy of @p n bytes; one in the store is wiped with the store. */
static void free_wiped(const ts_gateway__verdict *v, char *p, size_t n)
{
    if (p && !in_store(v, p)) {
        ts_common__memzero(p, n);
        free(p);
    }
}

void ts_gateway__verdict_init(ts_gateway__verdict *v)
{
    memset(v, 0, offsetof(ts_gateway__verdict, store));
    v->decision = TS_GATEWAY__CANNOT_DECIDE;
    v->http_status = 503;
    snprintf(v->reason, sizeof v->reason, "no decision");
}

void ts_gateway__verdict_cleanup(ts_gateway__verdict *v)
{
    if (!v)
        return;
    for (size_t i = 0; i < v->n_headers; i++) {
        free_wiped(v, v->headers[i].name, v->headers[i].name_len);
        free_wiped(v, v->headers[i].value, v->headers[i].value_len);
    }
    for (size_t i = 0; i < v->n_remove; i++)
        free_wiped(v, v->remove[i], strlen(v->remove[i]));
    free(v->remove);
    free_wiped(v, v->body, v->body_len);
    ts_common__memzero(v->store, v->store_used);
    ts_gateway__verdict_init(v);
}

ts_status ts_gateway__verdict_add_header(ts_gateway__verdict *v, const char *name, size_t name_len,
                                         const char *value, size_t value_len, ts_error *err)
{
    if (v->n_headers >= TS_GATEWAY__VERDICT_MAX_HEADERS)
        return ts_error_set(err, TS_ELIMIT, "verdict", "more than %u headers",
                            TS_GATEWAY__VERDICT_MAX_HEADERS);
    if (name_len > TS_GATEWAY__VERDICT_MAX_NAME || value_len > TS_GATEWAY__VERDICT_MAX_VALUE)
        return ts_error_set(err, TS_ELIMIT, "verdict", "header name or value too long");
    if (!valid_name(name, name_len) || !valid_value(value, value_len))
        return ts_error_set(err, TS_EINVAL, "verdict", "header name or value not allowed");
    ts_gateway__vheader *h = &v->headers[v->n_headers];
    h->name = dup_n(v, name, name_len);
    h->value = dup_n(v, value, value_len);
    if (!h->name || !h->value) {
        free_wiped(v, h->name, name_len);
        free_wiped(v, h->value, value_len);
        memset(h, 0, sizeof *h);
        return ts_error_set(err, TS_ENOMEM, "verdict", "out of memory");
    }
    h->name_len = name_len;
    h->value_len = value_len;
    v->n_headers++;
    return TS_OK;
}

ts_status ts_gateway__verdict_add_remove(ts_gateway__verdict *v, const char *name, size_t name_len,
                                         ts_error *err)
{
    if (v->n_remove >= TS_GATEWAY__VERDICT_MAX_REMOVE)
        return ts_error_set(err, TS_ELIMIT, "verdict", "more than %u headers to remove",
                            TS_GATEWAY__VERDICT_MAX_REMOVE);
    if (name_len > TS_GATEWAY__VERDICT_MAX_NAME)
        return ts_error_set(err, TS_ELIMIT, "verdict", "header name too long");
    if (!valid_name(name, name_len))
        return ts_error_set(err, TS_EINVAL, "verdict", "header name not allowed");
    char **grown = realloc(v->remove, (v->n_remove + 1) * sizeof *grown);
    if (!grown)
        return ts_error_set(err, TS_ENOMEM, "verdict", "out of memory");
    v->remove = grown;
    char *copy = dup_n(v, name, name_len);
    if (!copy)
        return ts_error_set(err, TS_ENOMEM, "verdict", "out of memory");
    v->remove[v->n_remove++] = copy;
    return TS_OK;
}

ts_status ts_gateway__verdict_set_body(ts_gateway__verdict *v, const char *body, size_t body_len,
                                       ts_error *err)
{
    if (body_len > TS_GATEWAY__VERDICT_MAX_BODY)
        return ts_error_set(err, TS_ELIMIT, "verdict", "deny body over %u bytes",
                            TS_GATEWAY__VERDICT_MAX_BODY);
    if (body_len && memchr(body, '\0', body_len))
        return ts_error_set(err, TS_EINVAL, "verdict", "deny body holds a NUL byte");
    char *copy = dup_n(v, body, body_len);
    if (!copy)
        return ts_error_set(err, TS_ENOMEM, "verdict", "out of memory");
    free_wiped(v, v->body, v->body_len);
    v->body = copy;
    v->body_len = body_len;
    return TS_OK;
}

void ts_gateway__verdict_decide(ts_gateway__verdict *v, ts_gateway__decision d,
                                unsigned http_status, const char *reason)
{
    v->decision = d;
    switch (d) {
    case TS_GATEWAY__ALLOW:
        v->http_status = 200;
        break;
    case TS_GATEWAY__DENY:
        v->http_status = http_status;
        break;
    case TS_GATEWAY__CANNOT_DECIDE:
    default:
        v->http_status = 503;
        break;
    }
    snprintf(v->reason, sizeof v->reason, "%s", reason ? reason : "");
}
