/*
 * The decision cache key. Every field is preceded by its length (4 bytes, big-endian), the
 * roles by their number: no choice of bytes inside a field can make two different requests
 * share a key. (A key of role names joined with a separator byte once served the decision for
 * roles ["viewer", "admin"] to a principal whose single role was "viewer\x1fadmin".)
 */
#include "contract/decision_key.h"

#include <stdint.h>
#include <string.h>

/* Fields are bounded far below 4 GiB (TS_AUTHZ_HTTP_MAX_PATH and _NAME). */
static char *put_len(char *w, size_t n)
{
    uint32_t v = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    w[0] = (char)(v >> 24);
    w[1] = (char)(v >> 16);
    w[2] = (char)(v >> 8);
    w[3] = (char)v;
    return w + 4;
}

static char *field(char *w, const char *s, size_t n)
{
    w = put_len(w, n);
    memcpy(w, s, n);
    return w + n;
}

/* A key longer than the buffer: its first @p cap bytes, for a caller that wants to see them. */
typedef struct bounded {
    char *buf;
    size_t cap, len;
} bounded;

static void bounded_put(bounded *o, const char *s, size_t n)
{
    if (o->len < o->cap)
        memcpy(o->buf + o->len, s, n < o->cap - o->len ? n : o->cap - o->len);
    o->len += n;
}

static void bounded_field(bounded *o, const char *s, size_t n)
{
    char b[4];
    put_len(b, n);
    bounded_put(o, b, sizeof b);
    bounded_put(o, s, n);
}

static size_t prefix(char *buf, size_t cap, const char *const f[6], const size_t len[6],
                     const ts_str *roles, size_t nroles)
{
    bounded o = {buf, cap, 0};
    bounded_field(&o, f[0], len[0]);
    bounded_field(&o, f[1], len[1]);
    char b[4];
    put_len(b, nroles);
    bounded_put(&o, b, sizeof b);
    for (size_t i = 0; i < nroles; i++)
        bounded_field(&o, roles[i].ptr, roles[i].len);
    for (size_t i = 2; i < 6; i++)
        bounded_field(&o, f[i], len[i]);
    return o.len;
}

size_t ts_authz__decision_key(char *buf, size_t cap, const char *policy_version, const char *type,
                              const char *id, const ts_str *roles, size_t nroles,
                              const char *object, const char *action, const char *domain)
{
    /* The length first, then the bytes in one pass when they fit (every request builds one). */
    const char *f[6] = {type, id, object, action, domain, policy_version};
    size_t len[6], total = 4 * (7 + nroles);
    for (size_t i = 0; i < 6; i++)
        total += len[i] = strlen(f[i]);
    for (size_t i = 0; i < nroles; i++)
        total += roles[i].len;
    if (total > cap)
        return prefix(buf, cap, f, len, roles, nroles);
    char *w = field(buf, type, len[0]);
    w = field(w, id, len[1]);
    w = put_len(w, nroles);
    for (size_t i = 0; i < nroles; i++)
        w = field(w, roles[i].ptr, roles[i].len);
    for (size_t i = 2; i < 6; i++)
        w = field(w, f[i], len[i]);
    return total;
}
