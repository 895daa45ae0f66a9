/* Non-owning string slices used across the engine. */
#ifndef TS_AUTHZ_UTIL_STR_H
#define TS_AUTHZ_UTIL_STR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/** A (pointer, length) view; not NUL-terminated in general. */
typedef struct ts_str {
    const char *ptr;
    size_t len;
} ts_str;

static inline ts_str ts_str_make(const char *p, size_t n)
{
    ts_str s = {p, n};
    return s;
}

static inline ts_str ts_str_c(const char *z)
{
    ts_str s = {z, z ? strlen(z) : 0};
    return s;
}

static inline bool ts_str_eq(ts_str a, ts_str b)
{
    return a.len == b.len && (a.len == 0 || memcmp(a.ptr, b.ptr, a.len) == 0);
}

static inline bool ts_str_eqz(ts_str a, const char *z)
{
    return ts_str_eq(a, ts_str_c(z));
}

/** FNV-1a; adequate for the engine's interned names and rule fields. */
static inline uint64_t ts_str_hash(const char *p, size_t n)
{
    uint64_t h = 1469598103934665603ull;
    for (size_t i = 0; i < n; i++) {
        h ^= (unsigned char)p[i];
        h *= 1099511628211ull;
    }
    return h;
}

#endif
