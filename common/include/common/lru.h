/*
 * A bounded LRU map from opaque key bytes to a fixed-size value, safe to share between threads:
 * authz's decision cache, the gateway's translation cache. Private to tokensmith.
 *
 * Values are copied in and out (no pointer into the map is ever handed out), so an entry may be
 * evicted by another thread at any time without the reader noticing. A map of at least 1024
 * entries is split into shards by the key's hash, each exactly LRU within itself; a smaller map
 * is exactly LRU. Keys are hashed with a per-map seed, so a client that picks the keys (request
 * paths, names) cannot aim them at one chain.
 *
 * A map that caches secrets (tokens) is made with TS_COMMON__LRU_WIPE: then every copy of a
 * value the map held is wiped before its memory is freed. The copies handed out by
 * ts_common__lru_get() are the caller's to wipe.
 *
 * Ownership: ts_common__lru_new() => ts_common__lru_free().
 * Thread-safety: get, put, replace and counts may be called from any thread at once.
 */
#ifndef TS_COMMON_LRU_H
#define TS_COMMON_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ts_common__lru ts_common__lru;

/** Flags of ts_common__lru_new(). */
enum {
    /** Wipe an entry's bytes (value and key) before they are freed: when the entry is evicted,
     *  replaced or freed with the map, and the unused copy of a put that finds its key present. */
    TS_COMMON__LRU_WIPE = 1u << 0,
};

/**
 * A map of at most @p capacity entries (0: every put is dropped) of @p value_size bytes each.
 * @param flags TS_COMMON__LRU_* flags, or 0.
 * @return NULL when out of memory.
 */
ts_common__lru *ts_common__lru_new(size_t capacity, size_t value_size, unsigned flags);

/** Free the map and its entries (wiped with TS_COMMON__LRU_WIPE). NULL-safe. */
void ts_common__lru_free(ts_common__lru *c);

/** Copy the value stored for the key (@p klen bytes at @p key, never NULL) into @p value and
 *  make it the most recent entry.
 *  @return false on a miss (@p value untouched). */
bool ts_common__lru_get(ts_common__lru *c, const void *key, size_t klen, void *value);

/** Store a copy of @p value for the key, evicting the least recently used entry when full. An
 *  existing entry is kept (the first answer stored wins); a failed allocation just leaves the
 *  key out. */
void ts_common__lru_put(ts_common__lru *c, const void *key, size_t klen, const void *value);

/** Like ts_common__lru_put(), but an existing entry is replaced by the new value (for values that
 *  go stale, like a cached token close to its expiry). On a failed allocation the existing entry
 *  stays. */
void ts_common__lru_replace(ts_common__lru *c, const void *key, size_t klen, const void *value);

/** Drop every entry (wiped with TS_COMMON__LRU_WIPE), for values that all went stale at once,
 *  like tokens signed by a key that is no longer published. The counts are kept. */
void ts_common__lru_clear(ts_common__lru *c);

/** The hits and misses of ts_common__lru_get() so far. */
void ts_common__lru_counts(ts_common__lru *c, uint64_t *hits, uint64_t *misses);

#endif
