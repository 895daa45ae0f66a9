#include "arena.h"

#include <stdlib.h>
#include <string.h>

struct ts_arena_chunk {
    ts_arena_chunk *next;
    size_t cap;
    size_t used;
    _Alignas(16) unsigned char data[];
};

void ts_authz__arena_init(ts_arena *a, size_t first_chunk)
{
    a->head = NULL;
    a->chunk_size = first_chunk ? first_chunk : 4096;
    a->total = 0;
}

void ts_authz__arena_cleanup(ts_arena *a)
{
    ts_arena_chunk *c = a->head;
    while (c) {
        ts_arena_chunk *next = c->next;
        free(c);
        c = next;
    }
    a->head = NULL;
    a->total = 0;
}

void *ts_authz__arena_alloc(ts_arena *a, size_t n)
{
    size_t need = (n + 15u) & ~(size_t)15u;
    if (need < n)
        return NULL;
    ts_arena_chunk *c = a->head;
    if (!c || c->cap - c->used < need) {
        size_t cap = a->chunk_size;
        while (cap < need) {
            if (cap > ((size_t)-1) / 2)
                return NULL;
            cap *= 2;
        }
        c = malloc(sizeof *c + cap);
        if (!c)
            return NULL;
        c->cap = cap;
        c->used = 0;
        c->next = a->head;
        a->head = c;
        a->total += cap;
        /* Grow geometrically so that big snapshots need few chunks. */
        if (a->chunk_size < (1u << 20))
            a->chunk_size *= 2;
    }
    void *p = c->data + c->used;
    c->used += need;
    return p;
}

char *ts_authz__arena_strndup(ts_arena *a, const char *s, size_t n)
{
    char *p = ts_authz__arena_alloc(a, n + 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}
