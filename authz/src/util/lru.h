/* A bounded LRU map from opaque key bytes to a fixed-size value, safe to share between threads
 * (the authorizer's decision cache). */
#ifndef TS_AUTHZ_UTIL_LRU_H
#define TS_AUTHZ_UTIL_LRU_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ts_lru ts_lru;

/** At most @p capacity entries (0: every put is dropped) of @p value_size bytes each.
 *  @return NULL when out of memory. Free with ts_authz__lru_free(). */
ts_lru *ts_authz__lru_new(size_t capacity, size_t value_size);
void ts_authz__lru_free(ts_lru *c);
/** Copy the value stored for the key into @p value and make it the most recent entry.
 *  @return false on a miss (@p value untouched). */
bool ts_authz__lru_get(ts_lru *c, const void *key, size_t klen, void *value);
/** Store a copy of @p value for the key, evicting the least recently used entry when full. An
 *  existing entry is kept; a failed allocation just leaves the key out. */
void ts_authz__lru_put(ts_lru *c, const void *key, size_t klen, const void *value);
void ts_authz__lru_counts(ts_lru *c, uint64_t *hits, uint64_t *misses);

#endif
