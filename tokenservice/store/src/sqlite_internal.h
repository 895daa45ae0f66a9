/* Private declarations of the SQLite backend: the connection pool, the per-connection cache
 * of prepared statements, transaction helpers and row readers. */
#ifndef TS_STORE_SQLITE_INTERNAL_H
#define TS_STORE_SQLITE_INTERNAL_H

#include "store_internal.h"

#include "common/pool.h"

#include <pthread.h>
#include <sqlite3.h>

/* One slot per cached statement; the SQL lives next to the code that uses it. */
typedef enum ts_sq_stmt_id {
    TS_SQ_BT_INSERT,
    TS_SQ_BT_GET,
    TS_SQ_BT_CONSUME,
    TS_SQ_BT_COUNT_REPLAY,
    TS_SQ_BT_REISSUE,
    TS_SQ_FAM_INSERT,
    TS_SQ_FAM_GET,
    TS_SQ_FAM_BY_CURRENT,
    TS_SQ_FAM_BY_ROTATED,
    TS_SQ_FAM_ROTATE,
    TS_SQ_FAM_REVOKE,
    TS_SQ_ROTATED_INSERT,
    TS_SQ_AUDIT_INSERT,
    TS_SQ_AUDIT_LIST,
    TS_SQ_SP_BEGIN,
    TS_SQ_SP_RELEASE,
    TS_SQ_SP_ROLLBACK,
    TS_SQ_GC_BOOTSTRAP,
    TS_SQ_GC_ROTATED,
    TS_SQ_GC_FAMILIES,
    TS_SQ_GC_AUDIT,
    TS_SQ_GC_AUDIT_NEWEST,
    TS_SQ_GC_AUDIT_ROWS,
    TS_SQ_KEY_PUBLISH,
    TS_SQ_KEY_LIST,
    TS_SQ_KEY_GC,
    TS_SQ_OIDC_INSERT,
    TS_SQ_OIDC_UPDATE,
    TS_SQ_OIDC_VERSION,
    TS_SQ_OIDC_GET,
    TS_SQ_MAP_INSERT,
    TS_SQ_MAP_UPDATE,
    TS_SQ_MAP_VERSION,
    TS_SQ_MAP_GET,
    TS_SQ_ISSUED_INSERT,
    TS_SQ_ISSUED_FAMILY_STATE,
    TS_SQ_ISSUED_GET,
    TS_SQ_REV_INSERT_JTI,
    TS_SQ_REV_MARK_JTI,
    TS_SQ_REV_INSERT_FAMILY,
    TS_SQ_REV_MARK_FAMILY,
    TS_SQ_REV_FAMILIES_SUBJECT,
    TS_SQ_REV_INSERT_SUBJECT,
    TS_SQ_REV_MARK_SUBJECT,
    TS_SQ_REV_CHECK,
    TS_SQ_REV_LIST,
    TS_SQ_GC_ISSUED,
    TS_SQ_GC_REVOCATIONS,
    TS_SQ_STMT_COUNT
} ts_sq_stmt_id;

typedef struct ts_sq_conn {
    sqlite3 *db;
    sqlite3_stmt *stmt[TS_SQ_STMT_COUNT];
} ts_sq_conn;

/* Most requests one group-commit transaction carries, so that no transaction (and no caller
 * waiting for it) grows without limit. */
#define TS_SQ_WRITE_BATCH_MAX 256u

typedef struct ts_sq_req ts_sq_req;

/* The group-commit queue (sqlite_write.c). Guarded by its own mutex, never held during SQL. */
typedef struct ts_sq_writer {
    pthread_mutex_t mu;
    ts_sq_req *head, *tail; /* requests waiting for a batch, oldest first */
    size_t queued;
    bool leading; /* a caller is running a batch */
    uint64_t batches, commits, requests, max_batch;
} ts_sq_writer;

typedef struct ts_sq_store {
    char *path;
    unsigned busy_timeout_ms;
    unsigned page_cache_kib;
    ts_store_sync synchronous;
    ts_common__pool pool; /* of ts_sq_conn, handed out in arrival order */
    ts_sq_writer w;
    ts_store__commit_meter meter; /* one sample per committed batch */
} ts_sq_store;

/* Map the connection's last SQLite error to TS_EIO (TS_EINVAL for constraint failures). */
ts_status ts_store__sq_fail(ts_sq_conn *c, const char *where, ts_error *err);

/* A cached statement, reset and with its bindings cleared; NULL with @p err set on failure. */
sqlite3_stmt *ts_store__sq_stmt(ts_sq_conn *c, ts_sq_stmt_id id, const char *sql, ts_error *err);
/* Run SQL without results (BEGIN, COMMIT, pragmas, DDL). */
ts_status ts_store__sq_exec(ts_sq_conn *c, const char *sql, const char *where, ts_error *err);

/* Take a connection from the pool (waiting when all are busy) and give it back. */
ts_status ts_store__sq_acquire(ts_sq_store *s, ts_sq_conn **out, ts_error *err);
void ts_store__sq_release(ts_sq_store *s, ts_sq_conn *c);

/* Work done inside an open write transaction on @p c. It runs within its own savepoint: on
 * failure its changes are undone and the rest of its batch is unaffected. It may be run more
 * than once for one request (when another request's failure made SQLite abandon the whole
 * transaction and the batch is replayed), so it must compute its results afresh each time,
 * never accumulate them. It must not begin, commit or roll back the transaction itself, nor
 * call ts_store__sq_write() (its batch would wait for itself). */
typedef ts_status (*ts_sq_txn_fn)(ts_sq_conn *c, void *arg, ts_error *err);

/* The only way to write: run @p fn in a write transaction shared with the requests of other
 * threads that arrived meanwhile (group commit), and return once that transaction is
 * committed with the store's synchronous level, so that TS_OK means durable.
 *
 * Any error status means nothing @p fn did was committed; whatever @p fn wrote into memory
 * reachable from @p arg must then not be trusted (it may describe a change that was rolled
 * back). A failure to begin or commit the batch gives every request in it that error.
 *
 * Must not be called while holding a pooled connection (the batch needs one). */
ts_status ts_store__sq_write(ts_sq_store *s, ts_sq_txn_fn fn, void *arg, ts_error *err);

/* Set up and tear down the group-commit queue. */
void ts_store__sq_writer_init(ts_sq_writer *w);
void ts_store__sq_writer_destroy(ts_sq_writer *w);

/* Counters for tests and diagnostics. */
typedef struct ts_sq_write_stats {
    uint64_t batches;   /* transactions begun for batches (including failed ones) */
    uint64_t commits;   /* batches committed */
    uint64_t requests;  /* requests that went through ts_store__sq_write */
    uint64_t max_batch; /* most requests seen in one batch */
    uint64_t queued;    /* requests waiting for a batch right now */
} ts_sq_write_stats;
void ts_store__sq_write_stats(ts_sq_store *s, ts_sq_write_stats *out);

/* Reset every cached statement so that none keeps a read snapshot open. */
void ts_store__sq_reset_all(ts_sq_conn *c);

/* BEGIN IMMEDIATE: take the write lock up front so that read-modify-write sequences never
 * have to upgrade a read lock (which would fail with SQLITE_BUSY instead of waiting). */
ts_status ts_store__sq_begin(ts_sq_conn *c, ts_error *err);
ts_status ts_store__sq_commit(ts_sq_conn *c, ts_error *err);
void ts_store__sq_rollback(ts_sq_conn *c);

/* Bind helpers: a NULL string binds "". */
int ts_store__sq_bind_text(sqlite3_stmt *st, int i, const char *v);
/* Copy column @p col as text into @p dst of capacity @p cap ("" for NULL). */
void ts_store__sq_col_text(sqlite3_stmt *st, int col, char *dst, size_t cap);

/* Append an audit record inside the caller's transaction. @p hash is a full hash (only its
 * prefix is written) or NULL. */
ts_status ts_store__sq_audit(ts_sq_conn *c, int64_t at, const char *type, const char *subject,
                             const char *ref_id, const char *hash, const char *peer,
                             const char *detail, ts_error *err);

/* Append the caller-built (validated) audit record @p e inside the caller's transaction. */
ts_status ts_store__sq_audit_entry(ts_sq_conn *c, const ts_store_audit_entry *e, ts_error *err);

/* Bring the schema up to TS_STORE_SCHEMA_VERSION (creating it in an empty database); a
 * ts_sq_txn_fn (@p arg unused). */
ts_status ts_store__sq_schema_migrate(ts_sq_conn *c, void *arg, ts_error *err);

/* Column lists and readers shared by the bootstrap and family code. */
#define TS_SQ_BT_COLUMNS                                                                           \
    "id, token_hash, subject, audience, scope, binding_id, ttl_s, refresh_ttl_s, created_at, "     \
    "expires_at, consumed_at, consumed_by, replay_attempts, reissue_count, family_id"
void ts_store__sq_read_bootstrap(sqlite3_stmt *st, ts_store_bootstrap_record *out);
#define TS_SQ_FAM_COLUMNS                                                                          \
    "family_id, subject, audience, scope, issued_at, expires_at, last_used_at, usage_count, "      \
    "revoked_at, revoke_reason, client_id"
void ts_store__sq_read_family(sqlite3_stmt *st, int first_col, ts_store_family *out);

/* The operations, one file per concern. */
ts_status ts_store__sq_bootstrap_insert(void *impl, const ts_store_bootstrap_record *rec,
                                        ts_error *err);
ts_status ts_store__sq_bootstrap_get(void *impl, const char *token_hash,
                                     ts_store_bootstrap_record *out, ts_error *err);
ts_status ts_store__sq_bootstrap_redeem(void *impl, const ts_store_redeem_args *a,
                                        ts_store_redeem_result *out, ts_error *err);
ts_status ts_store__sq_family_insert(void *impl, const ts_store_family *fam, const char *first_hash,
                                     const char *peer, ts_error *err);
ts_status ts_store__sq_family_get(void *impl, const char *family_id, ts_store_family *out,
                                  ts_error *err);
ts_status ts_store__sq_refresh_rotate(void *impl, const char *presented_hash, const char *new_hash,
                                      const char *peer, int64_t now, ts_store_rotate_result *out,
                                      ts_error *err);
ts_status ts_store__sq_family_revoke(void *impl, const char *family_id, const char *reason,
                                     int64_t now, bool *revoked, ts_error *err);
ts_status ts_store__sq_audit_append(void *impl, const ts_store_audit_entry *e, ts_error *err);
ts_status ts_store__sq_audit_list(void *impl, int64_t after_id, size_t limit, ts_store_audit_fn fn,
                                  void *ud, ts_error *err);
ts_status ts_store__sq_collect_expired(void *impl, const ts_store_gc_args *a,
                                       ts_store_gc_counts *out, ts_error *err);
ts_status ts_store__sq_key_publish(void *impl, const ts_store_published_key *k, ts_error *err);
ts_status ts_store__sq_key_list(void *impl, int64_t now, size_t max, ts_store_key_fn fn, void *ud,
                                ts_error *err);
ts_status ts_store__sq_key_collect(void *impl, int64_t now, unsigned batch, uint64_t *deleted,
                                   ts_error *err);
ts_status ts_store__sq_oidc_config_put(void *impl, const ts_store_oidc_config_put_args *a,
                                       int64_t *new_version, ts_error *err);
ts_status ts_store__sq_oidc_config_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                       void *ud, ts_error *err);
ts_status ts_store__sq_mappings_put(void *impl, const ts_store_oidc_config_put_args *a,
                                    int64_t *new_version, ts_error *err);
ts_status ts_store__sq_mappings_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                    void *ud, ts_error *err);

ts_status ts_store__sq_token_issued(void *impl, const ts_store_issued *t,
                                    const ts_store_audit_entry *audit, ts_error *err);
ts_status ts_store__sq_jti_revoke(void *impl, const char *jti, int64_t expires_at,
                                  const char *reason, const char *actor, int64_t now, bool *revoked,
                                  ts_error *err);
ts_status ts_store__sq_family_revoke_tokens(void *impl, const char *family_id, const char *reason,
                                            const char *actor, int64_t now, size_t *n_tokens,
                                            bool *revoked, ts_error *err);
ts_status ts_store__sq_subject_revoke(void *impl, const char *subject, const char *reason,
                                      const char *actor, int64_t now, size_t *n_families,
                                      size_t *n_tokens, ts_error *err);
ts_status ts_store__sq_jti_revoked(void *impl, const char *jti, int64_t now, bool *revoked,
                                   ts_error *err);
ts_status ts_store__sq_revocations_list(void *impl, int64_t after_seq, int64_t now,
                                        ts_store_revocation *out, size_t cap, size_t *n,
                                        ts_error *err);
ts_status ts_store__sq_issued_get(void *impl, const char *jti, ts_store_issued_record *out,
                                  ts_error *err);
ts_status ts_store__sq_refresh_get(void *impl, const char *token_hash, ts_store_family *out,
                                   bool *current, ts_error *err);

/* Family helpers usable inside an open transaction. */
ts_status ts_store__sq_family_insert_locked(ts_sq_conn *c, const ts_store_family *fam,
                                            const char *first_hash, ts_error *err);
ts_status ts_store__sq_family_get_locked(ts_sq_conn *c, const char *family_id, ts_store_family *out,
                                         bool *found, ts_error *err);
ts_status ts_store__sq_family_revoke_locked(ts_sq_conn *c, const char *family_id,
                                            const char *reason, int64_t now, bool *changed,
                                            ts_error *err);

#endif
