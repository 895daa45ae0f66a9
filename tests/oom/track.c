/* The blocks a run still holds: every block the hooks hand out is remembered until it is freed,
   so that the end of a run can tell in microseconds whether anything may have leaked; only then
   is LeakSanitizer (tens of milliseconds a call) asked to find and report it. */
#include "hooks.h"

#include <pthread.h>
#include <stdint.h>

void *__real_calloc(size_t n, size_t size);
void __real_free(void *p);

#define TOMBSTONE ((uintptr_t)1)

/* Slots hold each address inverted: the table must not make LeakSanitizer see the blocks it
   lists as reachable. */
static uintptr_t hide(const void *p)
{
    return ~(uintptr_t)p;
}

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static uintptr_t *slots;
static size_t cap, used, live; /* used counts tombstones too */
static bool enabled;

static size_t slot_of(uintptr_t p)
{
    uint64_t h = (uint64_t)p * 0x9E3779B97F4A7C15ull;
    return (size_t)(h >> 17) & (cap - 1);
}

/* Rehash into twice the live blocks' room; false when no memory (tracking then stops). */
static bool grow(void)
{
    size_t ncap = cap ? cap : 1024;
    while (ncap < 4 * (live + 1))
        ncap *= 2;
    uintptr_t *n = __real_calloc(ncap, sizeof *n);
    if (!n)
        return false;
    uintptr_t *old = slots;
    size_t ocap = cap;
    slots = n;
    cap = ncap;
    used = live;
    for (size_t i = 0; i < ocap; i++) {
        if (old[i] > TOMBSTONE) {
            size_t j = slot_of(old[i]);
            while (slots[j])
                j = (j + 1) & (cap - 1);
            slots[j] = old[i];
        }
    }
    __real_free(old);
    return true;
}

void oom_track_start(void)
{
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < cap; i++)
        slots[i] = 0;
    used = live = 0;
    enabled = true;
    pthread_mutex_unlock(&lock);
}

void oom_track_add(const void *ptr)
{
    if (!ptr)
        return;
    uintptr_t p = hide(ptr);
    pthread_mutex_lock(&lock);
    if (enabled && (2 * (used + 1) <= cap || grow())) {
        size_t j = slot_of(p), tomb = SIZE_MAX;
        for (; slots[j]; j = (j + 1) & (cap - 1)) {
            if (slots[j] == p)
                break; /* a block freed where the hooks could not see it, handed out again */
            if (slots[j] == TOMBSTONE && tomb == SIZE_MAX)
                tomb = j;
        }
        if (slots[j] != p) {
            if (tomb != SIZE_MAX) {
                j = tomb;
            } else {
                used++;
            }
            slots[j] = p;
            live++;
        }
    } else if (enabled) {
        enabled = false; /* out of room: the run falls back to LeakSanitizer */
        live = SIZE_MAX / 2;
    }
    pthread_mutex_unlock(&lock);
}

void oom_track_remove(const void *ptr)
{
    if (!ptr)
        return;
    uintptr_t p = hide(ptr);
    pthread_mutex_lock(&lock);
    if (enabled && cap) {
        for (size_t j = slot_of(p); slots[j]; j = (j + 1) & (cap - 1)) {
            if (slots[j] == p) {
                slots[j] = TOMBSTONE;
                live--;
                break;
            }
        }
    }
    pthread_mutex_unlock(&lock);
}

size_t oom_track_live(void)
{
    pthread_mutex_lock(&lock);
    size_t n = live;
    pthread_mutex_unlock(&lock);
    return n;
}
