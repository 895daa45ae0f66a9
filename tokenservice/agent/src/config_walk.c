/* The typed readers of the configuration walk: every field is read through one of these, so
 * that every error names the field's path and position the same way. */
#include "config_internal.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

static ts_status failv(ts_agent__ctx *c, unsigned line, unsigned col, const char *path,
                       ts_status code, const char *fmt, va_list ap) TS_PRINTF(6, 0);

static ts_status failv(ts_agent__ctx *c, unsigned line, unsigned col, const char *path,
                       ts_status code, const char *fmt, va_list ap)
{
    char text[sizeof c->err->msg];
    vsnprintf(text, sizeof text, fmt, ap);
    char where[sizeof c->err->where];
    if (line)
        snprintf(where, sizeof where, "%s:%u:%u", c->name, line, col);
    else
        snprintf(where, sizeof where, "%s", c->name);
    if (path && path[0])
        return ts_error_set(c->err, code, where, "%s: %s", path, text);
    return ts_error_set(c->err, code, where, "%s", text);
}

ts_status ts_agent__fail(ts_agent__ctx *c, const ts_agent__node *at, const char *path,
                         ts_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_status s = failv(c, at ? at->line : 0, at ? at->col : 0, path, code, fmt, ap);
    va_end(ap);
    return s;
}

ts_status ts_agent__fail_at(ts_agent__ctx *c, unsigned line, unsigned col, const char *path,
                            ts_status code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    ts_status s = failv(c, line, col, path, code, fmt, ap);
    va_end(ap);
    return s;
}

/* A path longer than its buffer (a deep or long-keyed document) is cut, and ends in "..." so
 * that the message does not name a field that does not exist. */
static void mark_cut(char *out, size_t cap, int n)
{
    if (n >= 0 && (size_t)n < cap)
        return;
    if (cap >= 4)
        memcpy(out + cap - 4, "...", 4);
}

void ts_agent__path_key(char *out, size_t cap, const char *parent, const char *key)
{
    int n;
    if (parent && parent[0])
        n = snprintf(out, cap, "%s.%s", parent, key);
    else
        n = snprintf(out, cap, "%s", key);
    mark_cut(out, cap, n);
}

void ts_agent__path_index(char *out, size_t cap, const char *parent, size_t i)
{
    mark_cut(out, cap, snprintf(out, cap, "%s[%zu]", parent, i));
}

void ts_agent__quote(char *out, size_t cap, const ts_agent__node *n)
{
    const size_t show = 40;
    size_t o = 0;
    if (cap == 0)
        return;
    if (!n || n->kind != TS_AGENT__SCALAR) {
        snprintf(out, cap, "%s", n && n->kind == TS_AGENT__MAP ? "a mapping" : "a list");
        return;
    }
    for (size_t i = 0; i < n->len && i < show && o + 1 < cap; i++) {
        unsigned char ch = (unsigned char)n->str[i];
        out[o++] = ch >= 0x20 && ch < 0x7f ? (char)ch : '?';
    }
    if (n->len > show && o + 4 < cap) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
}

ts_status ts_agent__want_map(ts_agent__ctx *c, const ts_agent__node *n, const char *path)
{
    if (n && n->kind == TS_AGENT__MAP)
        return TS_OK;
    return ts_agent__fail(c, n, path, TS_EINVAL, "must be a mapping");
}

ts_status ts_agent__entries(ts_agent__ctx *c, const ts_agent__node *parent, const char *path,
                            const char *key, char *p, const ts_agent__node **m, size_t size,
                            void **list)
{
    *m = ts_agent__opt(parent, key);
    *list = NULL;
    ts_agent__path_key(p, TS_AGENT__PATH_MAX, path, key);
    if (!*m)
        return TS_OK;
    ts_status s = ts_agent__want_map(c, *m, p);
    if (s != TS_OK)
        return s;
    if ((*m)->n > TS_AGENT_MAX_FIELDS)
        return ts_agent__fail(c, *m, p, TS_ELIMIT, "more than %u entries", TS_AGENT_MAX_FIELDS);
    *list = ts_agent__arena_array(c->arena, (*m)->n ? (*m)->n : 1, size);
    if (!*list)
        return ts_agent__fail(c, *m, p, TS_ENOMEM, "out of memory");
    return TS_OK;
}

ts_status ts_agent__fields(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                           const char *const *allowed)
{
    for (size_t i = 0; i < map->n; i++) {
        const ts_agent__node *k = map->items[2 * i];
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strlen(*a) == k->len && memcmp(*a, k->str, k->len) == 0;
        if (!known) {
            char p[TS_AGENT__PATH_MAX];
            ts_agent__path_key(p, sizeof p, path, k->str);
            return ts_agent__fail(c, k, p, TS_EINVAL, "unknown field");
        }
    }
    return TS_OK;
}

const ts_agent__node *ts_agent__opt(const ts_agent__node *map, const char *key)
{
    const ts_agent__node *v = ts_agent__map_get(map, key);
    return v && !ts_agent__is_null(v) ? v : NULL;
}

ts_status ts_agent__missing(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                            const char *key)
{
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    return ts_agent__fail(c, map, p, TS_EINVAL, "required field missing");
}

ts_status ts_agent__scalar(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                           const char **out)
{
    if (n->kind != TS_AGENT__SCALAR || ts_agent__is_null(n))
        return ts_agent__fail(c, n, path, TS_EINVAL, "must be a string");
    if (n->len == 0)
        return ts_agent__fail(c, n, path, TS_EINVAL, "must not be empty");
    char *s = ts_agent__arena_strndup(c->arena, n->str, n->len);
    if (!s)
        return ts_agent__fail(c, n, path, TS_ENOMEM, "out of memory");
    *out = s;
    return TS_OK;
}

ts_status ts_agent__string(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                           const char *key, const char *def, const char **out)
{
    const ts_agent__node *v = ts_agent__opt(map, key);
    if (!v) {
        if (!def)
            return ts_agent__missing(c, map, path, key);
        *out = def;
        return TS_OK;
    }
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    return ts_agent__scalar(c, v, p, out);
}

ts_status ts_agent__bool(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                         const char *key, bool def, bool *out)
{
    const ts_agent__node *v = ts_agent__opt(map, key);
    if (!v) {
        *out = def;
        return TS_OK;
    }
    if (v->kind == TS_AGENT__SCALAR) {
        static const char *const yes[] = {"true", "True", "TRUE"};
        static const char *const no[] = {"false", "False", "FALSE"};
        for (size_t i = 0; i < 3; i++) {
            if (strcmp(v->str, yes[i]) == 0) {
                *out = true;
                return TS_OK;
            }
            if (strcmp(v->str, no[i]) == 0) {
                *out = false;
                return TS_OK;
            }
        }
    }
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    return ts_agent__fail(c, v, p, TS_EINVAL, "must be true or false");
}

bool ts_agent__parse_int(const ts_agent__node *n, int64_t lo, int64_t hi, int64_t *out)
{
    if (!n || n->kind != TS_AGENT__SCALAR || n->len == 0)
        return false;
    size_t i = n->str[0] == '-' ? 1 : 0;
    if (i == n->len)
        return false;
    int64_t v = 0;
    for (; i < n->len; i++) {
        char ch = n->str[i];
        if (ch < '0' || ch > '9' || v > (INT64_MAX - 9) / 10)
            return false;
        v = v * 10 + (ch - '0');
    }
    if (n->str[0] == '-')
        v = -v;
    if (v < lo || v > hi)
        return false;
    *out = v;
    return true;
}

ts_status ts_agent__int(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                        const char *key, int64_t lo, int64_t hi, int64_t def, int64_t *out)
{
    const ts_agent__node *v = ts_agent__opt(map, key);
    if (!v) {
        *out = def;
        return TS_OK;
    }
    if (ts_agent__parse_int(v, lo, hi, out))
        return TS_OK;
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    return ts_agent__fail(c, v, p, TS_EINVAL, "must be an integer in %lld..%lld", (long long)lo,
                          (long long)hi);
}

ts_status ts_agent__enum(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                         const char *key, const char *const *names, int def, int *out)
{
    const ts_agent__node *v = ts_agent__opt(map, key);
    if (!v) {
        if (def < 0)
            return ts_agent__missing(c, map, path, key);
        *out = def;
        return TS_OK;
    }
    if (v->kind == TS_AGENT__SCALAR)
        for (int i = 0; names[i]; i++)
            if (strcmp(v->str, names[i]) == 0) {
                *out = i;
                return TS_OK;
            }
    char list[160] = "", shown[64], p[TS_AGENT__PATH_MAX];
    size_t o = 0;
    for (int i = 0; names[i] && o < sizeof list; i++)
        o += (size_t)snprintf(list + o, sizeof list - o, "%s%s", i ? ", " : "", names[i]);
    ts_agent__quote(shown, sizeof shown, v);
    ts_agent__path_key(p, sizeof p, path, key);
    return ts_agent__fail(c, v, p, TS_EINVAL, "'%s' is not one of %s", shown, list);
}

ts_status ts_agent__strings(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                            const char *key, size_t max, const char *const **out, size_t *n)
{
    const ts_agent__node *v = ts_agent__opt(map, key);
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, key);
    *out = NULL;
    *n = 0;
    if (!v)
        return TS_OK;
    size_t count = v->kind == TS_AGENT__SEQ ? v->n : 1;
    if (v->kind == TS_AGENT__MAP)
        return ts_agent__fail(c, v, p, TS_EINVAL, "must be a string or a list of strings");
    if (count > max)
        return ts_agent__fail(c, v, p, TS_ELIMIT, "more than %zu entries", max);
    const char **list = ts_agent__arena_array(c->arena, count ? count : 1, sizeof *list);
    if (!list)
        return ts_agent__fail(c, v, p, TS_ENOMEM, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const ts_agent__node *item = v->kind == TS_AGENT__SEQ ? v->items[i] : v;
        char ip[TS_AGENT__PATH_MAX];
        if (v->kind == TS_AGENT__SEQ)
            ts_agent__path_index(ip, sizeof ip, p, i);
        else
            snprintf(ip, sizeof ip, "%s", p);
        ts_status s = ts_agent__scalar(c, item, ip, &list[i]);
        if (s != TS_OK)
            return s;
    }
    *out = list;
    *n = count;
    return TS_OK;
}

bool ts_agent__id_ok(const char *s, size_t len)
{
    if (len == 0 || len > TS_AGENT_MAX_ID)
        return false;
    for (size_t i = 0; i < len; i++) {
        char ch = s[i];
        if (!((ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') || (ch >= '0' && ch <= '9') ||
              ch == '_' || ch == '-'))
            return false;
    }
    return true;
}

bool ts_agent__header_name_ok(const char *s, size_t len)
{
    if (len == 0 || len > 256)
        return false;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch <= 0x20 || ch >= 0x7f || strchr("\"(),/:;<=>?@[\\]{}", ch))
            return false;
    }
    return true;
}
