/*
 * The decision cache key. Every field is preceded by its length (4 bytes, big-endian), the
 * roles by their number: no choice of bytes inside a field can make two different requests
 * share a key. (A key of role names joined with a separator byte once served the decision for
 * roles ["viewer", "admin"] to a principal whose single role was "viewer\x1fadmin".)
 */
#include "contract/decision_key.h"

#include <stdint.h>
#include <string.h>

typedef struct out {
    char *buf;
    size_t cap, len;
} out;

static void put(out *o, const char *s, size_t n)
{
    if (o->len < o->cap)
        memcpy(o->buf + o->len, s, n < o->cap - o->len ? n : o->cap - o->len);
    o->len += n;
}

/* Fields are bounded far below 4 GiB (TS_AUTHZ_HTTP_MAX_PATH and _NAME). */
static void put_len(out *o, size_t n)
{
    uint32_t v = n > UINT32_MAX ? UINT32_MAX : (uint32_t)n;
    char b[4] = {(char)(v >> 24), (char)(v >> 16), (char)(v >> 8), (char)v};
    put(o, b, sizeof b);
}

static void field(out *o, const char *s, size_t n)
{
    put_len(o, n);
    put(o, s, n);
}

size_t ts_authz__decision_key(char *buf, size_t cap, const char *policy_version, const char *type,
                              const char *id, const ts_str *roles, size_t nroles,
                              const char *object, const char *action, const char *domain)
{
    out o = {buf, cap, 0};
    field(&o, type, strlen(type));
    field(&o, id, strlen(id));
    put_len(&o, nroles);
    for (size_t i = 0; i < nroles; i++)
        field(&o, roles[i].ptr, roles[i].len);
    field(&o, object, strlen(object));
    field(&o, action, strlen(action));
    field(&o, domain, strlen(domain));
    field(&o, policy_version, strlen(policy_version));
    return o.len;
}
