/* Bump allocator: many small allocations, one release. Used for snapshot data (rule strings,
 * index nodes) and for per-decision scratch (concatenated strings, captured keys). */
#ifndef TS_AUTHZ_UTIL_ARENA_H
#define TS_AUTHZ_UTIL_ARENA_H

#include <stddef.h>

typedef struct ts_arena_chunk ts_arena_chunk;

typedef struct ts_arena {
    ts_arena_chunk *head;
    size_t chunk_size; /* size of the next chunk to allocate */
    size_t total;      /* bytes obtained from malloc, for accounting */
} ts_arena;

/** Initialise an empty arena. @p first_chunk may be 0 for the default (4 KiB). */
void ts_authz__arena_init(ts_arena *a, size_t first_chunk);
/** Release every chunk. The arena may be reused after ts_authz__arena_init(). */
void ts_authz__arena_cleanup(ts_arena *a);
/** Allocate @p n bytes aligned to 16; NULL when out of memory. Never freed individually. */
void *ts_authz__arena_alloc(ts_arena *a, size_t n);
/** Allocate @p n bytes aligned to @p align (a power of two, at most 16). */
void *ts_authz__arena_alloc_aligned(ts_arena *a, size_t n, size_t align);
/** Copy @p n bytes and append a NUL (no alignment: strings are packed); NULL when out of
 *  memory. */
char *ts_authz__arena_strndup(ts_arena *a, const char *s, size_t n);

/** Move every chunk of @p src into @p dst (which then frees them); @p src is left empty. */
void ts_authz__arena_adopt(ts_arena *dst, ts_arena *src);

#endif
