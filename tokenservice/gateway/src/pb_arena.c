/* A bounded arena for protobuf-c's unpack (grpc.h). protobuf-c allocates per field: a struct
 * per submessage, a copy per string, a pointer array per repeated field, scratch slabs of 32
 * bytes per scanned field. A 2-byte field on the wire can cost ~100 bytes, so the size of a
 * message does not bound the memory its unpack takes; this arena does (the caller sets the cap
 * from the message size). Freeing is one call, which also wipes: a CheckRequest holds the
 * caller's token.
 *
 * Each allocation is preceded by its requested size (one 8-byte word), which is how the decoder
 * learns a string's wire length (protobuf-c allocates L + 1 bytes for a string of L bytes and
 * ends it with a NUL, so an embedded NUL would otherwise shorten it silently). Under
 * AddressSanitizer the unused parts of a block are poisoned, so an overrun inside a block is
 * caught as it would be between two malloc()s. */
#include <stdalign.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "grpc.h"

#if defined(__SANITIZE_ADDRESS__)
#define PB_ARENA_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define PB_ARENA_ASAN 1
#endif
#endif
#ifdef PB_ARENA_ASAN
#include <sanitizer/asan_interface.h>
#define POISON(p, n) ASAN_POISON_MEMORY_REGION((p), (n))
#define UNPOISON(p, n) ASAN_UNPOISON_MEMORY_REGION((p), (n))
#else
#define POISON(p, n) ((void)(p), (void)(n))
#define UNPOISON(p, n) ((void)(p), (void)(n))
#endif

/* protobuf-c's structs hold pointers, size_t, 64-bit integers and doubles, nothing wider. */
#define ALIGN 8u
_Static_assert(alignof(double) <= ALIGN && alignof(uint64_t) <= ALIGN && alignof(void *) <= ALIGN,
               "protobuf-c members need more than 8-byte alignment here");

#define FIRST_BLOCK 2048u /* a small CheckRequest fits; later blocks double */

typedef struct block {
    struct block *next;
    size_t size; /* bytes of data[] */
    size_t used;
    alignas(ALIGN) unsigned char data[];
} block;

struct ts_gateway__pb_arena {
    ProtobufCAllocator allocator;
    block *blocks; /* newest first */
    size_t cap;
    size_t used; /* bytes malloc()ed: blocks with their headers */
    bool exhausted;
};

static void *arena_alloc_cb(void *ud, size_t n)
{
    return ts_gateway__pb_arena_alloc(ud, n);
}

static void arena_free_cb(void *ud, void *p)
{
    (void)ud;
    (void)p;
}

ts_gateway__pb_arena *ts_gateway__pb_arena_new(size_t cap)
{
    ts_gateway__pb_arena *a = calloc(1, sizeof *a);
    if (!a)
        return NULL;
    a->allocator.alloc = arena_alloc_cb;
    a->allocator.free = arena_free_cb;
    a->allocator.allocator_data = a;
    a->cap = cap;
    return a;
}

void ts_gateway__pb_arena_free(ts_gateway__pb_arena *a)
{
    if (!a)
        return;
    for (block *b = a->blocks; b;) {
        block *next = b->next;
        UNPOISON(b->data, b->size);
        ts_common__memzero(b->data, b->used);
        free(b);
        b = next;
    }
    free(a);
}

ProtobufCAllocator *ts_gateway__pb_arena_allocator(ts_gateway__pb_arena *a)
{
    return &a->allocator;
}

static block *new_block(ts_gateway__pb_arena *a, size_t need)
{
    size_t size = a->blocks ? a->blocks->size * 2 : FIRST_BLOCK;
    if (size < need)
        size = need;
    size_t left = a->cap > a->used ? a->cap - a->used : 0;
    if (left < sizeof(block) || left - sizeof(block) < need) {
        a->exhausted = true;
        return NULL;
    }
    if (size > left - sizeof(block))
        size = left - sizeof(block);
    block *b = malloc(sizeof(block) + size);
    if (!b)
        return NULL;
    b->size = size;
    b->used = 0;
    b->next = a->blocks;
    a->blocks = b;
    a->used += sizeof(block) + size;
    POISON(b->data, size);
    return b;
}

void *ts_gateway__pb_arena_alloc(ts_gateway__pb_arena *a, size_t n)
{
    if (n > SIZE_MAX / 2) {
        a->exhausted = true;
        return NULL;
    }
    size_t need = sizeof(size_t) + ((n + ALIGN - 1) & ~(size_t)(ALIGN - 1));
    block *b = a->blocks;
    if (!b || b->size - b->used < need) {
        b = new_block(a, need);
        if (!b)
            return NULL;
    }
    unsigned char *p = b->data + b->used;
    b->used += need;
    UNPOISON(p, sizeof(size_t) + n);
    memcpy(p, &n, sizeof n);
    return p + sizeof(size_t);
}

bool ts_gateway__pb_arena_exhausted(const ts_gateway__pb_arena *a)
{
    return a->exhausted;
}

size_t ts_gateway__pb_arena_used(const ts_gateway__pb_arena *a)
{
    return a->used;
}

bool ts_gateway__pb_arena_size_of(const ts_gateway__pb_arena *a, const void *p, size_t *n)
{
    uintptr_t x = (uintptr_t)p;
    for (const block *b = a->blocks; b; b = b->next) {
        uintptr_t lo = (uintptr_t)b->data, hi = lo + b->used;
        if (x >= lo + sizeof(size_t) && x < hi) {
            memcpy(n, (const unsigned char *)p - sizeof(size_t), sizeof *n);
            return true;
        }
    }
    return false;
}
