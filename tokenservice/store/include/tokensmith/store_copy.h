/**
 * @file store_copy.h
 * @brief Moving an installation from SQLite to PostgreSQL: ts_store_copy() copies the whole
 *        state of a SQLite store, row for row, into a PostgreSQL store (`tokensmith store
 *        copy`). store.h includes this header, so including either gives the whole API.
 * @since 0.2.0
 */
#ifndef TOKENSMITH_STORE_COPY_H
#define TOKENSMITH_STORE_COPY_H

#include <stdint.h>

#include <tokensmith/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/** ts_store_copy() flag: replace the target's rows instead of refusing a non-empty target.
 *  @since 0.2.0 */
#define TS_STORE_COPY_FORCE 1u

/** Rows ts_store_copy() copied, per table. Caller storage; nothing to free. @since 0.2.0 */
typedef struct ts_store_copy_counts {
    uint64_t bootstrap_tokens; /**< bootstrap token records, in every state */
    uint64_t families;         /**< refresh families, live, expired and revoked */
    uint64_t rotated_hashes;   /**< hashes the families rotated away from */
    uint64_t audit_records;    /**< audit records, with their ids */
    uint64_t published_keys;   /**< published public signing keys */
    uint64_t oidc_config;      /**< the shared provider configuration: 0 or 1 */
    uint64_t replaced;         /**< rows of the target deleted first (TS_STORE_COPY_FORCE) */
    /** The id the target's next audit record gets: above every copied id and above every id
     *  the source or the target ever handed out (1 when neither ever held an audit record). */
    int64_t next_audit_id;
    uint64_t mappings;      /**< the shared token mappings document: 0 or 1 @since 0.3.0 */
    uint64_t issued_tokens; /**< recorded access tokens @since 0.4.0 */
    uint64_t revocations;   /**< revocations, with their seqs @since 0.4.0 */
} ts_store_copy_counts;

/**
 * Copy the whole state of the SQLite store at @p from->path into the PostgreSQL store at
 * @p to->path: every bootstrap token, refresh family with its rotated hashes, audit record,
 * published key, the provider configuration, the token mappings, the issued access tokens and
 * the revocations, row for row (hashes, times, states, counters, audit ids and revocation seqs
 * unchanged), so that a service started on the target continues where the one on the source
 * stopped: an unused bootstrap token redeems, a used one is refused as a replay, a family's
 * current refresh token rotates and a rotated one revokes its family, a revoked access token
 * stays revoked and a verifier's revocation cursor stays valid.
 *
 * Both stores are opened as ts_store_new() opens them, so each is first migrated to this
 * build's schema (an old SQLite file is upgraded in place; an empty PostgreSQL database gets
 * the tables). The source is read in one read transaction (a consistent snapshot); stop every
 * writer of both stores first all the same, since a change made on the source during the copy
 * is not in the target. All rows are written in ONE target transaction, in batches of bounded
 * size (memory stays bounded whatever the number of rows), holding a lock that keeps other
 * writers out of the target's tables: on any failure no row of the target changed (its schema
 * may have been migrated, as any ts_store_new() would). The target's audit id sequence is
 * moved past the copied ids (and past the highest id either store ever handed out), so new
 * records sort after the copied ones; the revocation seq likewise (@since 0.4.0).
 *
 * A target that already holds any bootstrap token, family, audit record, published key,
 * provider configuration, mappings document, issued token or revocation is refused, unless @p flags
 * has TS_STORE_COPY_FORCE: its rows are then deleted in the same transaction (counted in
 * ts_store_copy_counts.replaced; the tables are emptied with TRUNCATE, which also holds readers off
 * until the copy ends).
 *
 * Messages never contain a password (connection strings are shown through
 * ts_store_path_redact()) nor the provider configuration's document (it holds client secrets).
 *
 * @param from  options of the source: path a SQLite file that exists; the other fields as for
 *              ts_store_new().
 * @param to    options of the target: path a PostgreSQL connection string; its
 *              pg_statement_timeout_ms bounds each statement (rows go in batches of at most
 *              10000, each one statement) and the wait for the lock.
 * @param flags 0 or TS_STORE_COPY_FORCE.
 * @param out   receives the counts on success (zeroed on failure); may be NULL.
 * @return TS_OK (committed); TS_EINVAL with `where` "copy.from" (NULL options, or the source is
 *         a PostgreSQL connection string: copying from PostgreSQL is not supported), "copy.to"
 *         (NULL options, or the target is not a PostgreSQL connection string), "copy.flags"
 *         (unknown flags) or "copy.not_empty" (the target holds rows and TS_STORE_COPY_FORCE
 *         was not given; nothing was written); TS_ENOTFOUND with `where` "copy.from" when the
 *         source file does not exist (it is never created); otherwise what ts_store_new() or
 *         the database reports (TS_EIO, TS_EUNSUPPORTED, TS_EINVAL, TS_ENOMEM), no row of the
 *         target changed.
 * Ownership: nothing to free; the stores are opened and closed inside the call.
 * Thread-safety: opens its own connections; any thread.
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_store_copy(const ts_store_options *from,
                                            const ts_store_options *to, unsigned flags,
                                            ts_store_copy_counts *out, ts_error *err);

#ifdef __cplusplus
}
#endif

#endif
