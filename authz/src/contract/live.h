/* The guard's live policy: the watcher of its policy files (watch.c) and the rules changed at
 * run time (runtime.c), both of which rebuild the authorizer's policy under its reload lock. */
#ifndef TS_AUTHZ_CONTRACT_LIVE_H
#define TS_AUTHZ_CONTRACT_LIVE_H

#include <pthread.h>
#include <stdint.h>

#include "common/json_writer.h"
#include "contract/contract.h"

typedef struct ts_authz__watcher ts_authz__watcher;

typedef struct ts_authz__live {
    pthread_mutex_t mu;         /* serialises runtime changes and the start of the watcher */
    ts_authz__watcher *watcher; /* NULL: not watching; set once under mu, freed with the guard */
    char *runtime_path;         /* the runtime fragment file, or NULL: rules in memory */
    char *runtime;              /* in memory: the rules' CSV text (the authorizer keeps a copy) */
    size_t runtime_len;
    size_t runtime_rules; /* rules in the runtime fragment, as last written */
} ts_authz__live;

/** Allocate the live state of @p g, with the runtime fragment file name (or NULL). */
ts_status ts_authz__live_new(ts_authz_guard *g, const char *runtime_fragment, ts_error *err);
/** Stop the watcher and free. NULL-safe. */
void ts_authz__live_free(ts_authz__live *l);

/** Stop and free a watcher (at once, whatever it is doing but a rebuild). NULL-safe. */
void ts_authz__watcher_stop(ts_authz__watcher *w);
/** The "watch" member of the diagnostics. */
void ts_authz__watcher_render(ts_authz__watcher *w, ts_common__json *b);
/** The "runtime" member of the diagnostics. */
void ts_authz__runtime_render(ts_authz__live *l, ts_common__json *b);

/** Unix ms as RFC 3339 UTC with milliseconds ("2026-12-07T11:14:43.123Z"). */
void ts_authz__rfc3339(int64_t ms, char out[32]);

/** Log one rebuild's outcome as @p event: applied (a new version), unchanged, or refused
 *  (@p err: the file and line when the message names them). @p fields: more members or NULL. */
void ts_authz__log_rebuild(const ts_authz_guard *g, const char *event, ts_status st,
                           const ts_authz__rebuild *r, const ts_error *err, const char *fields,
                           size_t fields_len);

#endif
