/**
 * @file store_limiter.h
 * @brief The token service's in-memory limiter of failed attempts per client address (a
 *        sliding window per key, bounded memory). It needs no ::ts_store; store.h includes
 *        this header.
 *
 * Thread-safety: a ts_store_limiter may be used from any number of threads at once.
 * @since 0.1.0
 */
#ifndef TOKENSMITH_STORE_LIMITER_H
#define TOKENSMITH_STORE_LIMITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Failed-attempt limiter                                                                     */

#define TS_STORE_LIMITER_OPTIONS_VERSION 1u

typedef struct ts_store_limiter_options {
    unsigned version;      /**< TS_STORE_LIMITER_OPTIONS_VERSION */
    unsigned max_failures; /**< a key is blocked while it has this many failures in the window
                                (default 10, 1..1000) */
    uint64_t window_ms;    /**< sliding window (default 60000, 1 ms..1 day) */
    /** Keys tracked at most (default 65536, 1..16777216). A new key beyond the cap evicts the
     *  unblocked key that failed least recently; a blocked key is evicted (the least recently
     *  failing one) only when every tracked key is blocked. */
    size_t max_keys;
} ts_store_limiter_options;

#define TS_STORE_LIMITER_OPTIONS_INIT                                                              \
    {                                                                                              \
        .version = TS_STORE_LIMITER_OPTIONS_VERSION, .max_failures = 10u, .window_ms = 60000u,     \
        .max_keys = 65536u                                                                         \
    }

typedef struct ts_store_limiter ts_store_limiter;

/**
 * In-memory sliding-window counter of failed attempts per client address. Keys whose failures
 * have all left the window are pruned; memory is bounded by max_keys.
 *
 * Keys: every call first maps its key with ts_store_limiter_key(), so an IPv6 address counts
 * for its /64 prefix (one host usually owns a whole /64) and an IPv4-mapped IPv6 address
 * counts as the IPv4 address. Anything else is used as given.
 *
 * One limiter is one namespace; a caller may keep one per kind of attempt, each with its own
 * options, so that failures of one kind never block the other. The token service keeps one
 * for all its grants, per process.
 *
 * Ownership: caller frees with ts_store_limiter_free(). Thread-safety: all calls may run
 * concurrently.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_store_limiter *ts_store_limiter_new(const ts_store_limiter_options *opt,
                                                           ts_error *err);

/** NULL-safe. @since 0.1.0 */
TS_API void ts_store_limiter_free(ts_store_limiter *l);

/** Longest key the limiter keeps (longer keys are cut). */
#define TS_STORE_LIMITER_KEY_MAX 127 /* = TS_STORE_MAX_PEER_LEN */

/**
 * The key the limiter counts @p addr under: for an IPv6 address (optionally in brackets, a
 * zone after '%' ignored) its /64 prefix as "2001:db8:1:2::/64"; for an IPv4 address or an
 * IPv4-mapped IPv6 address the dotted IPv4 address; anything else unchanged, cut to
 * TS_STORE_LIMITER_KEY_MAX bytes. Useful for logs, so that they name what was counted.
 * @p addr need not be NUL-terminated; NULL counts as "".
 * @return the length written to @p out (NUL-terminated).
 * @since 0.1.0
 */
TS_API size_t ts_store_limiter_key(const char *addr, size_t len,
                                   char out[TS_STORE_LIMITER_KEY_MAX + 1]);

/**
 * @return true when @p key has max_failures or more failures within the window ending at
 * @p now_ms (a monotonic clock in milliseconds).
 * @since 0.1.0
 */
TS_API bool ts_store_limiter_blocked(ts_store_limiter *l, const char *key, size_t key_len,
                                     uint64_t now_ms);

/**
 * @return 0 when @p key is not blocked at @p now_ms; otherwise the milliseconds until it is
 * not (its oldest counted failure leaves the window), for a Retry-After header.
 * @since 0.1.0
 */
TS_API uint64_t ts_store_limiter_retry_after_ms(ts_store_limiter *l, const char *key,
                                                size_t key_len, uint64_t now_ms);

/**
 * Count one failure for @p key at @p now_ms.
 * @return the number of failures of @p key within the window, including this one; 0 only when
 * memory ran out (nothing was counted).
 * @since 0.1.0
 */
TS_API unsigned ts_store_limiter_fail(ts_store_limiter *l, const char *key, size_t key_len,
                                      uint64_t now_ms);

/** Forget @p key (for example after a success). @since 0.1.0 */
TS_API void ts_store_limiter_reset(ts_store_limiter *l, const char *key, size_t key_len);

/** @return the number of keys currently tracked. @since 0.1.0 */
TS_API size_t ts_store_limiter_size(ts_store_limiter *l);

#ifdef __cplusplus
}
#endif
#endif
