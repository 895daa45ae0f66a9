/* Commit statistics: how long the store's write transactions take and how many callers' writes
 * each carries (ts_store_commit_stats_get(), store.h). The backends note one sample per COMMIT;
 * the counters are relaxed atomics so that timing never adds a lock to the write path. */
#define _POSIX_C_SOURCE 200809L

#include "store_internal.h"

#include <string.h>
#include <time.h>

/* A single-row commit on a local disk takes tens to hundreds of microseconds (an fsync), a
 * PostgreSQL round trip about a millisecond; a commit near the statement timeout is trouble. */
static const uint64_t latency_le_us[TS_STORE_COMMIT_LATENCY_BUCKETS] = {
    100, 250, 500, 1000, 2500, 5000, 10000, 25000, 50000, 100000, 250000, 1000000};

/* SQLite's group commit takes at most TS_SQ_WRITE_BATCH_MAX (256) writes; the service's worker
 * threads bound it lower. */
static const uint64_t batch_le[TS_STORE_COMMIT_BATCH_BUCKETS] = {1, 2, 4, 8, 16, 32, 64, 128, 256};

static unsigned bucket(const uint64_t *le, unsigned n, uint64_t v)
{
    unsigned b = 0;
    while (b < n && v > le[b])
        b++;
    return b;
}

void ts_store__commit_note(ts_store__commit_meter *m, size_t writes, uint64_t elapsed_us)
{
    if (!m)
        return;
    unsigned lb = bucket(latency_le_us, TS_STORE_COMMIT_LATENCY_BUCKETS, elapsed_us);
    unsigned bb = bucket(batch_le, TS_STORE_COMMIT_BATCH_BUCKETS, (uint64_t)writes);
    atomic_fetch_add_explicit(&m->latency[lb], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->latency_sum_us, elapsed_us, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batch[bb], 1, memory_order_relaxed);
    atomic_fetch_add_explicit(&m->batch_sum, (uint64_t)writes, memory_order_relaxed);
}

uint64_t ts_store__mono_us(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000000u + (uint64_t)t.tv_nsec / 1000u;
}

void ts_store_commit_stats_get(const ts_store *s, ts_store_commit_stats *out)
{
    if (!out)
        return;
    memset(out, 0, sizeof *out);
    memcpy(out->latency_le_us, latency_le_us, sizeof latency_le_us);
    memcpy(out->batch_le, batch_le, sizeof batch_le);
    const ts_store__commit_meter *m = s ? s->meter : NULL;
    if (!m)
        return;
    /* commits is derived from the batch buckets, so that it always equals their total. */
    for (unsigned b = 0; b <= TS_STORE_COMMIT_BATCH_BUCKETS; b++) {
        out->batch[b] = atomic_load_explicit(&m->batch[b], memory_order_relaxed);
        out->commits += out->batch[b];
    }
    for (unsigned b = 0; b <= TS_STORE_COMMIT_LATENCY_BUCKETS; b++)
        out->latency[b] = atomic_load_explicit(&m->latency[b], memory_order_relaxed);
    out->latency_sum_us = atomic_load_explicit(&m->latency_sum_us, memory_order_relaxed);
    out->batch_sum = atomic_load_explicit(&m->batch_sum, memory_order_relaxed);
}
