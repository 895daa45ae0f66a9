/* Role manager scratch containers: an id set and an id vector that start in inline buffers on
 * the caller's stack and move to the heap only when a search grows past them, so that queries
 * allocate nothing in the common case and never write to the shared manager. */
#include "rolemgr_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void ts_authz__rm_idset_init(ts_rm_idset *s)
{
    memset(s->inline_slots, 0, sizeof s->inline_slots);
    s->slots = s->inline_slots;
    s->cap = TS_RM_INLINE_SET;
    s->count = 0;
}

void ts_authz__rm_idset_cleanup(ts_rm_idset *s)
{
    if (s->slots != s->inline_slots)
        free(s->slots);
    s->slots = s->inline_slots;
    s->cap = 0;
    s->count = 0;
}

static size_t id_hash(uint32_t id)
{
    uint32_t h = id * 2654435761u;
    return (size_t)(h ^ (h >> 15));
}

static void idset_insert(uint32_t *slots, size_t cap, uint32_t key)
{
    size_t mask = cap - 1;
    for (size_t i = id_hash(key) & mask;; i = (i + 1) & mask) {
        if (slots[i] == 0) {
            slots[i] = key;
            return;
        }
    }
}

int ts_authz__rm_idset_add(ts_rm_idset *s, uint32_t id)
{
    uint32_t key = id + 1;
    size_t mask = s->cap - 1;
    for (size_t i = id_hash(key) & mask;; i = (i + 1) & mask) {
        if (s->slots[i] == key)
            return 0;
        if (s->slots[i] == 0)
            break;
    }
    if ((s->count + 1) * 2 > s->cap) {
        size_t ncap = s->cap * 2;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i])
                idset_insert(ns, ncap, s->slots[i]);
        }
        if (s->slots != s->inline_slots)
            free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    idset_insert(s->slots, s->cap, key);
    s->count++;
    return 1;
}

void ts_authz__rm_idvec_init(ts_rm_idvec *v)
{
    v->v = v->inline_v;
    v->len = 0;
    v->cap = TS_RM_INLINE_VEC;
}

void ts_authz__rm_idvec_cleanup(ts_rm_idvec *v)
{
    if (v->v != v->inline_v)
        free(v->v);
    ts_authz__rm_idvec_init(v);
}

int ts_authz__rm_idvec_push(ts_rm_idvec *v, uint32_t id)
{
    if (v->len == v->cap) {
        size_t ncap = v->cap * 2;
        uint32_t *nv;
        if (v->v == v->inline_v) {
            nv = malloc(ncap * sizeof *nv);
            if (nv)
                memcpy(nv, v->v, v->len * sizeof *nv);
        } else {
            nv = realloc(v->v, ncap * sizeof *nv);
        }
        if (!nv)
            return -1;
        v->v = nv;
        v->cap = ncap;
    }
    v->v[v->len++] = id;
    return 0;
}
