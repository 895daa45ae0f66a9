#include "idlut.h"

#include <stddef.h>
#include <stdlib.h>

int ts_authz__idlut_build(ts_idlut *t, const uint32_t *keys, uint32_t n)
{
    t->slots = NULL;
    t->bits = 1;
    uint32_t count = 0;
    for (uint32_t k = 0; k < n; k++)
        count += keys[k] != TS_IDLUT_NONE;
    if (count == 0)
        return 0;
    /* At most 4/5 full, so that a probe meets an empty slot after a few steps. */
    while (((size_t)1 << t->bits) * 4 < (size_t)count * 5) {
        if (++t->bits > 31)
            return -1;
    }
    t->slots = calloc((size_t)1 << t->bits, sizeof *t->slots);
    if (!t->slots)
        return -1;
    uint32_t mask = (1u << t->bits) - 1;
    for (uint32_t k = 0; k < n; k++) {
        if (keys[k] == TS_IDLUT_NONE)
            continue;
        uint32_t i = ts_authz__idlut_home(t, keys[k]);
        while (t->slots[i])
            i = (i + 1) & mask;
        t->slots[i] = k + 1;
    }
    return 0;
}

void ts_authz__idlut_free(ts_idlut *t)
{
    free(t->slots);
    t->slots = NULL;
    t->bits = 1;
}
