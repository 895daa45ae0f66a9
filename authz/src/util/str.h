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

static inline uint32_t ts_str_load32(const char *p)
{
    uint32_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

static inline uint64_t ts_str_load64(const char *p)
{
    uint64_t w;
    memcpy(&w, p, sizeof w);
    return w;
}

/* Names and rule fields are mostly short: up to 16 bytes are compared as two overlapping words
 * (fixed-size loads inside the string) instead of a call to memcmp. */
static inline bool ts_str_eq(ts_str a, ts_str b)
{
    if (a.len != b.len)
        return false;
    size_t n = a.len;
    if (n >= 8 && n <= 16)
        return ts_str_load64(a.ptr) == ts_str_load64(b.ptr) &&
               ts_str_load64(a.ptr + n - 8) == ts_str_load64(b.ptr + n - 8);
    if (n >= 4 && n < 8)
        return ts_str_load32(a.ptr) == ts_str_load32(b.ptr) &&
               ts_str_load32(a.ptr + n - 4) == ts_str_load32(b.ptr + n - 4);
    if (n < 4) {
        for (size_t i = 0; i < n; i++)
            if (a.ptr[i] != b.ptr[i])
                return false;
        return true;
    }
    return memcmp(a.ptr, b.ptr, n) == 0;
}

static inline bool ts_str_eqz(ts_str a, const char *z)
{
    return ts_str_eq(a, ts_str_c(z));
}

/** A word-at-a-time hash with a final avalanche (every output bit depends on every input bit,
 *  so both the low bits that pick a slot and a folded 32-bit tag spread well). For the
 *  engine's interned names and rule fields; not a defence against chosen collisions, which
 *  only the policy's author could arrange. Values are never stored outside a process. */
static inline uint64_t ts_str_hash(const char *p, size_t n)
{
    uint64_t h = 0x9E3779B97F4A7C15ull ^ ((uint64_t)n * 0xC2B2AE3D27D4EB4Full);
    size_t left = n;
    for (; left >= 8; left -= 8, p += 8) {
        h = (h ^ ts_str_load64(p)) * 0xBF58476D1CE4E5B9ull;
        h ^= h >> 29;
    }
    uint64_t w;
    if (left >= 4)
        w = (uint64_t)ts_str_load32(p) | (uint64_t)ts_str_load32(p + left - 4) << 32;
    else if (left > 0)
        w = (uint64_t)(unsigned char)p[0] | (uint64_t)(unsigned char)p[left / 2] << 8 |
            (uint64_t)(unsigned char)p[left - 1] << 16;
    else
        w = 0;
    h = (h ^ w) * 0x94D049BB133111EBull;
    h ^= h >> 32;
    h *= 0xFF51AFD7ED558CCDull;
    h ^= h >> 33;
    return h;
}

#endif
