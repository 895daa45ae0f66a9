/**
 * @file store_stats.h
 * @brief What the store's write transactions cost, for a service's metrics: commit latency and
 *        the writes each commit carries, as fixed-bucket histograms. store.h includes this
 *        header, so including either gives the whole API.
 * @since 0.4.0
 */
#ifndef TOKENSMITH_STORE_H
/* Included on its own: store.h includes this header once the types it needs are declared. */
#include <tokensmith/store.h>
#elif !defined(TOKENSMITH_STORE_STATS_H)
#define TOKENSMITH_STORE_STATS_H

#ifdef __cplusplus
extern "C" {
#endif

/* Commit statistics ------------------------------------------------------------------------ */

/** Buckets of the commit latency histogram (bounds: ts_store_commit_stats.latency_le_us). */
#define TS_STORE_COMMIT_LATENCY_BUCKETS 12u
/** Buckets of the batch size histogram (upper bounds in ts_store_commit_stats.batch_le). */
#define TS_STORE_COMMIT_BATCH_BUCKETS 9u

/**
 * What the store's write transactions cost: one sample per committed transaction (with SQLite a
 * group commit of several callers' writes is one sample whose batch size is their number; a
 * PostgreSQL transaction carries one call's writes, batch size 1). Counts per bucket are not
 * cumulative; the last one counts samples above every bound. The bounds are fixed, so that
 * expositions of different processes can be added up.
 * @since 0.4.0
 */
typedef struct ts_store_commit_stats {
    uint64_t commits;                                        /**< transactions committed */
    uint64_t latency_le_us[TS_STORE_COMMIT_LATENCY_BUCKETS]; /**< bucket bounds, microseconds */
    uint64_t latency[TS_STORE_COMMIT_LATENCY_BUCKETS + 1];   /**< commits per latency bucket */
    uint64_t latency_sum_us;                                 /**< BEGIN to COMMIT, summed */
    uint64_t batch_le[TS_STORE_COMMIT_BATCH_BUCKETS];        /**< bucket bounds, writes */
    uint64_t batch[TS_STORE_COMMIT_BATCH_BUCKETS + 1];       /**< commits per batch-size bucket */
    uint64_t batch_sum;                                      /**< writes committed, summed */
} ts_store_commit_stats;

/**
 * The commit statistics of @p s since it was opened (all zero for NULL, and for a backend given
 * to ts_store_new_with_backend(), which the store cannot time; the bounds are filled in all the
 * same). Nothing happens when @p out is NULL. Lock-free: a snapshot taken while
 * writes commit may be a few samples behind in some buckets.
 * Thread-safety: any thread, any time while @p s lives.
 * @since 0.4.0
 */
TS_API void ts_store_commit_stats_get(const ts_store *s, ts_store_commit_stats *out);

#ifdef __cplusplus
}
#endif

#endif
