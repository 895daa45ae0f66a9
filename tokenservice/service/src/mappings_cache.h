/* The token mappings as this replica's exchanges see them: the store's document, re-read at
 * most every TS_SVC_MAPS_REFRESH_MS (an unchanged document costs one short query: the store
 * sends it only when its version moved), by one exchange at a time while the others go on with
 * the set they have. A failed read keeps the last good set. */
#ifndef TS_SVC_MAPPINGS_CACHE_H
#define TS_SVC_MAPPINGS_CACHE_H

#include <tokensmith/error.h>

#include "mappings_apply.h"

/** The bound docs/mappings.md ("Replicas") promises between a change and its use. */
#define TS_SVC_MAPS_REFRESH_MS 5000u

struct ts_svc;

/** Create the cache of @p s and read the document once (none stored, or the store failing:
 *  the empty set, read again at the next exchange after the interval). TS_ENOMEM only. */
TS_NODISCARD ts_status ts_svc__maps_start(struct ts_svc *s, ts_error *err);
/** Free the cache (no exchange may run). NULL-safe on a service without one. */
void ts_svc__maps_stop(struct ts_svc *s);

/**
 * The current set (a reference: release with ts_svc_map_set_free()), after re-reading the
 * store when the interval has passed. Only the exchange that re-reads waits for the store
 * (bounded by its connect and statement timeouts); the others get the current set at once.
 * Never NULL once started.
 */
ts_svc_map_set *ts_svc__maps_acquire(struct ts_svc *s);

/**
 * The document changed through this replica (the management API wrote it): the next exchange
 * re-reads it whatever the interval, so that the writing replica applies a change at once.
 */
void ts_svc__maps_changed(struct ts_svc *s);

#endif
