/* A position index over an array of distinct uint32 keys kept by the caller: the table stores
 * position + 1 (0 = empty) in open addressing, and a probe compares keys[position], so the
 * table costs 4 bytes a slot and never stores a key twice. Read-only use from many threads is
 * safe. Used for "global name id -> local id" in role graphs and "name id -> index bucket" in
 * decisions. */
#ifndef TS_AUTHZ_UTIL_IDLUT_H
#define TS_AUTHZ_UTIL_IDLUT_H

#include <stdbool.h>
#include <stdint.h>

/* A key that is never indexed (positions whose key is this are skipped). */
#define TS_IDLUT_NONE UINT32_MAX

typedef struct ts_idlut {
    uint32_t *slots; /* 1 << bits entries of position + 1; NULL when empty */
    uint32_t bits;
} ts_idlut;

/** Index keys[0 .. n) (distinct, except any number of TS_IDLUT_NONE), at most 4/5 full.
 *  @return 0, or -1 out of memory. */
int ts_authz__idlut_build(ts_idlut *t, const uint32_t *keys, uint32_t n);
void ts_authz__idlut_free(ts_idlut *t);

static inline uint32_t ts_authz__idlut_home(const ts_idlut *t, uint32_t key)
{
    return (uint32_t)((key * 0x9E3779B1u) >> (32 - t->bits));
}

/** The position of @p key in the @p keys the table was built from. */
static inline bool ts_authz__idlut_find(const ts_idlut *t, const uint32_t *keys, uint32_t key,
                                        uint32_t *pos)
{
    if (!t->slots)
        return false;
    uint32_t mask = (1u << t->bits) - 1;
    for (uint32_t i = ts_authz__idlut_home(t, key);; i = (i + 1) & mask) {
        uint32_t v = t->slots[i];
        if (v == 0)
            return false;
        if (keys[v - 1] == key) {
            *pos = v - 1;
            return true;
        }
    }
}

#endif
