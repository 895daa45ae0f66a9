/* The upstream provider configuration shared through the store (oidc_shared.c): every replica on
 * one database applies the newest stored version within TS_SVC_OIDC_POLL_S seconds. */
#ifndef TS_SVC_OIDC_SHARED_H
#define TS_SVC_OIDC_SHARED_H

#include <stdint.h>

#include <tokensmith/error.h>

#define TS_SVC_OIDC_POLL_S 2        /* how often a replica looks for a newer version */
#define TS_SVC_OIDC_WARN_EVERY_S 60 /* failures of the poll are logged at most this often */

struct ts_svc;

/**
 * At start, once the store is open: a configuration in the store (version > 0) replaces the one
 * loaded from the state file or the configuration file; without one, an existing state file
 * (written by an older tokensmith) is copied into the store, once. Then starts the poll thread.
 * Fails (nothing started) when the store cannot be read or its document is invalid.
 */
TS_NODISCARD ts_status ts_svc__oidc_shared_start(struct ts_svc *s, ts_error *err);

/** Stop the poll thread (NULL-safe, idempotent). Call before the store is freed. */
void ts_svc__oidc_shared_stop(struct ts_svc *s);

/**
 * Apply a stored version newer than the one applied, if any (the poll, and the admin API before
 * it merges a change). Call with s->admin_mu held. @return TS_OK (also when nothing is newer),
 * or the store's or the document's error (the current configuration stays).
 */
TS_NODISCARD ts_status ts_svc__oidc_shared_refresh_locked(struct ts_svc *s, ts_error *err);

#endif
