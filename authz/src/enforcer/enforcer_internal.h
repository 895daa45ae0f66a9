/* Snapshot access for the enforcer's query and batch files: a reader announces itself, reads
 * the current snapshot for as long as it needs and leaves; a writer frees a replaced snapshot
 * only after every reader of it has left (enforcer.c). */
#ifndef TS_AUTHZ_ENFORCER_INTERNAL_H
#define TS_AUTHZ_ENFORCER_INTERNAL_H

#include <tokensmith/authz.h>

#include "snapshot.h"

/** A reader's announcement; caller storage, opaque outside enforcer.c. */
typedef struct ts_read_guard {
    void *slot;
    unsigned idx;
} ts_read_guard;

/**
 * Acquire the current snapshot of @p e. It stays valid, and the same, until
 * ts_authz__enforcer_read_end(); a reload meanwhile installs its snapshot for later readers.
 * Hold it only for the work of one call: writers wait for it.
 */
const ts_snapshot *ts_authz__enforcer_read_begin(const ts_authz_enforcer *e, ts_read_guard *g);
/** Release what ts_authz__enforcer_read_begin() acquired. */
void ts_authz__enforcer_read_end(ts_read_guard *g);

#endif
