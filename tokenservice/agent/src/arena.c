/* The agent configuration's arena: blocks of 16 KiB (a larger request gets a block of its own),
 * wiped when freed. */
#include "arena.h"

#include <stdalign.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

#define BLOCK_SIZE 16384u

typedef struct block {
    struct block *next;
    size_t cap, used;
    alignas(max_align_t) unsigned char data[];
} block;

typedef struct cleanup {
    struct cleanup *next;
    void (*fn)(void *);
    void *p;
} cleanup;

struct ts_agent__arena {
    block *head;
    size_t total;
    cleanup *cleanups;
};

ts_agent__arena *ts_agent__arena_new(void)
{
    return calloc(1, sizeof(ts_agent__arena));
}

void ts_agent__arena_free(ts_agent__arena *a)
{
    if (!a)
        return;
    for (cleanup *c = a->cleanups; c; c = c->next)
        c->fn(c->p);
    for (block *b = a->head, *next; b; b = next) {
        next = b->next;
        ts_common__memzero(b->data, b->used);
        free(b);
    }
    free(a);
}

static block *new_block(ts_agent__arena *a, size_t cap)
{
    if (cap > SIZE_MAX - sizeof(block))
        return NULL;
    block *b = malloc(sizeof(block) + cap);
    if (!b)
        return NULL;
    b->cap = cap;
    b->used = 0;
    a->total += sizeof(block) + cap;
    return b;
}

void *ts_agent__arena_alloc(ts_agent__arena *a, size_t n)
{
    const size_t align = alignof(max_align_t);
    if (!a || n > SIZE_MAX - align)
        return NULL;
    n = (n + align - 1) & ~(align - 1);
    if (n == 0)
        n = align;
    block *b = a->head;
    if (!b || b->cap - b->used < n) {
        if (n > BLOCK_SIZE / 4) {
            /* A large request gets a block of its own behind the current one, so that the
             * free space of the current block is not given up. */
            block *big = new_block(a, n);
            if (!big)
                return NULL;
            big->used = n;
            if (b) {
                big->next = b->next;
                b->next = big;
            } else {
                big->next = NULL;
                a->head = big;
            }
            memset(big->data, 0, n);
            return big->data;
        }
        b = new_block(a, BLOCK_SIZE);
        if (!b)
            return NULL;
        b->next = a->head;
        a->head = b;
    }
    void *p = b->data + b->used;
    b->used += n;
    memset(p, 0, n);
    return p;
}

void *ts_agent__arena_array(ts_agent__arena *a, size_t n, size_t size)
{
    if (size && n > SIZE_MAX / size)
        return NULL;
    return ts_agent__arena_alloc(a, n * size);
}

char *ts_agent__arena_strndup(ts_agent__arena *a, const char *s, size_t n)
{
    if (n == SIZE_MAX)
        return NULL;
    char *p = ts_agent__arena_alloc(a, n + 1);
    if (p && n)
        memcpy(p, s, n);
    return p;
}

bool ts_agent__arena_on_free(ts_agent__arena *a, void (*fn)(void *), void *p)
{
    cleanup *c = ts_agent__arena_alloc(a, sizeof *c);
    if (!c)
        return false;
    c->fn = fn;
    c->p = p;
    c->next = a->cleanups;
    a->cleanups = c;
    return true;
}

size_t ts_agent__arena_size(const ts_agent__arena *a)
{
    return a ? a->total : 0;
}
