/* Sorting small arrays of ids and rule ordinals, the common case on the decision path. */
#ifndef TS_AUTHZ_UTIL_SORT_H
#define TS_AUTHZ_UTIL_SORT_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

static inline int ts_cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
    return (x > y) - (x < y);
}

/** Ascending sort; insertion sort below 32 elements, where qsort's setup dominates. */
static inline void ts_sort_u32(uint32_t *v, size_t n)
{
    if (n > 32) {
        qsort(v, n, sizeof *v, ts_cmp_u32);
        return;
    }
    for (size_t i = 1; i < n; i++) {
        uint32_t x = v[i];
        size_t j = i;
        for (; j > 0 && v[j - 1] > x; j--)
            v[j] = v[j - 1];
        v[j] = x;
    }
}

#endif
