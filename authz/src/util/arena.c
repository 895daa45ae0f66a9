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

/* @p align is a power of two up to 16 (the chunk data's alignment); 1 for strings, which need
 * none: packing them saves a third of a million-rule snapshot's string bytes. */
static void *arena_take(ts_arena *a, size_t n, size_t align)
{
    size_t need = (n + align - 1) & ~(align - 1);
    if (need < n)
        return NULL;
    ts_arena_chunk *c = a->head;
    size_t at = c ? (c->used + align - 1) & ~(align - 1) : 0;
    if (!c || at > c->cap || c->cap - at < need) {
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
        at = 0;
        /* Grow geometrically so that big snapshots need few chunks. */
        if (a->chunk_size < (1u << 20))
            a->chunk_size *= 2;
    }
    void *p = c->data + at;
    c->used = at + need;
    return p;
}

void *ts_authz__arena_alloc(ts_arena *a, size_t n)
{
    return arena_take(a, n, 16);
}

void *ts_authz__arena_alloc_aligned(ts_arena *a, size_t n, size_t align)
{
    if (align == 0 || align > 16 || (align & (align - 1)))
        return NULL;
    return arena_take(a, n, align);
}

char *ts_authz__arena_strndup(ts_arena *a, const char *s, size_t n)
{
    if (n == (size_t)-1)
        return NULL;
    char *p = arena_take(a, n + 1, 1);
    if (!p)
        return NULL;
    if (n)
        memcpy(p, s, n);
    p[n] = '\0';
    return p;
}

void ts_authz__arena_adopt(ts_arena *dst, ts_arena *src)
{
    ts_arena_chunk *c = src->head;
    if (!c)
        return;
    /* The adopted chunks go behind dst's head, which keeps serving small allocations. */
    ts_arena_chunk *tail = c;
    while (tail->next)
        tail = tail->next;
    if (dst->head) {
        tail->next = dst->head->next;
        dst->head->next = c;
    } else {
        dst->head = c;
    }
    dst->total += src->total;
    src->head = NULL;
    src->total = 0;
}
