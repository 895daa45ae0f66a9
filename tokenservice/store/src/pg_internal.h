/* Private declarations of the PostgreSQL backend: the connection pool, statements prepared
 * once per connection, the transaction and single-statement runners with their bounded
 * retries, and row readers. */
#ifndef TS_STORE_PG_INTERNAL_H
#define TS_STORE_PG_INTERNAL_H

#include "store_internal.h"

#include "common/pool.h"

#include <libpq-fe.h>
#include <pthread.h>

/* One slot per prepared statement; the SQL lives next to the code that uses it. */
typedef enum ts_pg_stmt_id {
    TS_PG_BT_INSERT,
    TS_PG_BT_GET,
    TS_PG_BT_REDEEM,
    TS_PG_BT_COUNT_REPLAY,
    TS_PG_BT_REISSUE,
    TS_PG_FAM_INSERT,
    TS_PG_FAM_GET,
    TS_PG_FAM_BY_CURRENT,
    TS_PG_FAM_BY_ROTATED,
    TS_PG_FAM_ROTATE,
    TS_PG_FAM_REVOKE,
    TS_PG_FAM_REVOKE_FOR_REISSUE,
    TS_PG_AUDIT_INSERT,
    TS_PG_AUDIT_LIST,
    TS_PG_GC_BOOTSTRAP,
    TS_PG_GC_ROTATED,
    TS_PG_GC_FAMILIES,
    TS_PG_GC_AUDIT,
    TS_PG_GC_AUDIT_NEWEST,
    TS_PG_GC_AUDIT_ROWS,
    TS_PG_KEY_PUBLISH,
    TS_PG_KEY_LIST,
    TS_PG_KEY_GC,
    TS_PG_OIDC_INSERT,
    TS_PG_OIDC_UPDATE,
    TS_PG_OIDC_VERSION,
    TS_PG_OIDC_GET,
    TS_PG_MAP_INSERT,
    TS_PG_MAP_UPDATE,
    TS_PG_MAP_VERSION,
    TS_PG_MAP_GET,
    TS_PG_REV_LOCK,
    TS_PG_ISSUED_FAMILY_STATE,
    TS_PG_ISSUED_INSERT,
    TS_PG_ISSUED_GET,
    TS_PG_REV_INSERT_JTI,
    TS_PG_REV_MARK_JTI,
    TS_PG_REV_FAMILY_TOKENS,
    TS_PG_REV_FAMILIES_SUBJECT,
    TS_PG_REV_SUBJECT_TOKENS,
    TS_PG_REV_CHECK,
    TS_PG_REV_LIST,
    TS_PG_GC_ISSUED,
    TS_PG_GC_REVOCATIONS,
    TS_PG_FAM_BY_HASH,
    TS_PG_STMT_COUNT
} ts_pg_stmt_id;

typedef struct ts_pg_conn {
    PGconn *pg;
    bool prepared[TS_PG_STMT_COUNT];
    unsigned gen;     /* the pool's generation when it was opened */
    bool broken;      /* the connection was lost: close it, never reuse it */
    char sqlstate[6]; /* of the last failed statement, "" otherwise */
} ts_pg_conn;

typedef struct ts_pg_store {
    char *conninfo; /* as given (may hold a password: never print it) */
    char *shown;    /* redacted, for messages */
    unsigned connect_timeout_s, statement_timeout_ms;
    ts_common__pool pool; /* of ts_pg_conn, handed out in arrival order */
    /* Bumped whenever a connection is found lost: idle connections of an older generation
     * were probably cut by the same restart or failover, and are closed instead of reused. */
    pthread_mutex_t mu; /* guards gen */
    unsigned gen;
    ts_store__commit_meter meter; /* one sample per committed transaction */
} ts_pg_store;

/* Bounded retries of a transaction that failed with a serialization failure or a deadlock
 * (SQLSTATE 40001, 40P01). */
#define TS_PG_RETRY_MAX 5u

/* Decimal text of an integer parameter. */
typedef struct ts_pg_int {
    char s[24];
} ts_pg_int;
ts_pg_int ts_store__pg_i64(int64_t v);
int64_t ts_store__pg_get_i64(const PGresult *r, int row, int col);
void ts_store__pg_get_text(const PGresult *r, int row, int col, char *dst, size_t cap);

/* Run prepared statement @p id (prepared from @p sql on first use on this connection) with
 * @p n text parameters. @return the result (PQclear it) or NULL with @p err set. */
PGresult *ts_store__pg_run(ts_pg_conn *c, ts_pg_stmt_id id, const char *sql, int n,
                           const char *const *params, ts_error *err);
/* Run SQL without parameters and results (BEGIN, COMMIT, DDL). */
ts_status ts_store__pg_exec(ts_pg_conn *c, const char *sql, const char *where, ts_error *err);
/* Record the connection's last failure in @p err (and in c->sqlstate / c->broken). */
ts_status ts_store__pg_fail(ts_pg_conn *c, const PGresult *r, const char *where, ts_error *err);

/* Work done inside a transaction on @p c. It may run more than once for one call (after a
 * serialization failure or a deadlock the transaction is retried), so it must compute its
 * results afresh each time. It must not begin, commit or roll back itself. */
typedef ts_status (*ts_pg_txn_fn)(ts_pg_conn *c, void *arg, ts_error *err);

/* Run @p fn in one READ COMMITTED transaction on a pooled connection and commit it. A lost
 * connection gives TS_EIO with `where` "store.unavailable" (the service answers 503); the next
 * call opens a new connection. TS_OK means committed. */
ts_status ts_store__pg_txn(ts_pg_store *s, ts_pg_txn_fn fn, void *arg, ts_error *err);

/* Run @p fn on a pooled connection in autocommit, without BEGIN and COMMIT: for work that is
 * ONE statement, which PostgreSQL runs atomically as its own transaction, two round trips
 * fewer than ts_store__pg_txn. Same retries of 40001/40P01 and the same TS_EIO
 * "store.unavailable" on a lost connection; an idle connection the server has closed
 * meanwhile is noticed before anything is sent and replaced, once. TS_OK means committed. */
ts_status ts_store__pg_once(ts_pg_store *s, ts_pg_txn_fn fn, void *arg, ts_error *err);

/* Called for each row of a ts_store__pg_rows() read, in order; nonzero stops. It may wipe a
 * value it has read (a secret) in place before the result is freed. */
typedef int (*ts_pg_row_fn)(const PGresult *rows, int row, void *ud);

/* Read rows with the one prepared statement @p id (@p n text parameters) and hand each to
 * @p fn after the statement, with no connection held: a slow callback never keeps a
 * connection from the pool, and a retried read never shows a row twice. */
ts_status ts_store__pg_rows(ts_pg_store *s, ts_pg_stmt_id id, const char *sql, int n,
                            const char *const *params, ts_pg_row_fn fn, void *ud, ts_error *err);

/* The schema (pg_schema.c). Brings the database to TS_STORE_PG_SCHEMA_VERSION under an
 * advisory lock, so that replicas starting together migrate once. @p from and @p to (may be
 * NULL) receive the versions before and after. */
ts_status ts_store__pg_migrate(ts_pg_conn *c, unsigned *from, unsigned *to, ts_error *err);
/* Take a connection from the pool (opening one when none is idle) and give it back. */
ts_status ts_store__pg_acquire(ts_pg_store *s, ts_pg_conn **out, ts_error *err);
void ts_store__pg_release(ts_pg_store *s, ts_pg_conn *c);

/* The audit table and its written columns, in the order of ts_store__pg_audit's parameters
 * (the single-statement grants insert the same row from SQL). */
#define TS_PG_AUDIT_INTO "audit_log (at, type, subject, ref_id, hash_prefix, peer, detail)"

/* Append an audit record inside the caller's transaction; @p hash is a full hash (only its
 * prefix is written) or NULL. */
ts_status ts_store__pg_audit(ts_pg_conn *c, int64_t at, const char *type, const char *subject,
                             const char *ref_id, const char *hash, const char *peer,
                             const char *detail, ts_error *err);

/* Append the caller-built (validated) audit record @p e inside the caller's transaction. */
ts_status ts_store__pg_audit_entry(ts_pg_conn *c, const ts_store_audit_entry *e, ts_error *err);

#define TS_PG_BT_COLUMNS                                                                           \
    "id, token_hash, subject, audience, scope, binding_id, ttl_s, refresh_ttl_s, created_at, "     \
    "expires_at, coalesce(consumed_at, 0), coalesce(consumed_by, ''), replay_attempts, "           \
    "reissue_count, coalesce(family_id, '')"
void ts_store__pg_read_bootstrap(const PGresult *r, int row, ts_store_bootstrap_record *out);
#define TS_PG_FAM_COLUMNS                                                                          \
    "family_id, subject, audience, scope, issued_at, expires_at, last_used_at, usage_count, "      \
    "coalesce(revoked_at, 0), coalesce(revoke_reason, ''), client_id"
void ts_store__pg_read_family(const PGresult *r, int row, ts_store_family *out);

/* Family helpers usable inside an open transaction. */
ts_status ts_store__pg_family_insert_locked(ts_pg_conn *c, const ts_store_family *fam,
                                            const char *first_hash, ts_error *err);
ts_status ts_store__pg_family_get_locked(ts_pg_conn *c, const char *family_id, ts_store_family *out,
                                         bool *found, ts_error *err);
ts_status ts_store__pg_family_revoke_locked(ts_pg_conn *c, const char *family_id,
                                            const char *reason, int64_t now, bool *changed,
                                            ts_error *err);

/* The operations. */
ts_status ts_store__pg_bootstrap_insert(void *impl, const ts_store_bootstrap_record *rec,
                                        ts_error *err);
ts_status ts_store__pg_bootstrap_get(void *impl, const char *token_hash,
                                     ts_store_bootstrap_record *out, ts_error *err);
ts_status ts_store__pg_bootstrap_redeem(void *impl, const ts_store_redeem_args *a,
                                        ts_store_redeem_result *out, ts_error *err);
ts_status ts_store__pg_family_insert(void *impl, const ts_store_family *fam, const char *first_hash,
                                     const char *peer, ts_error *err);
ts_status ts_store__pg_family_get(void *impl, const char *family_id, ts_store_family *out,
                                  ts_error *err);
ts_status ts_store__pg_refresh_rotate(void *impl, const char *presented_hash, const char *new_hash,
                                      const char *peer, int64_t now, ts_store_rotate_result *out,
                                      ts_error *err);
ts_status ts_store__pg_family_revoke(void *impl, const char *family_id, const char *reason,
                                     int64_t now, bool *revoked, ts_error *err);
ts_status ts_store__pg_audit_append(void *impl, const ts_store_audit_entry *e, ts_error *err);
ts_status ts_store__pg_audit_list(void *impl, int64_t after_id, size_t limit, ts_store_audit_fn fn,
                                  void *ud, ts_error *err);
ts_status ts_store__pg_collect_expired(void *impl, const ts_store_gc_args *a,
                                       ts_store_gc_counts *out, ts_error *err);
ts_status ts_store__pg_key_publish(void *impl, const ts_store_published_key *k, ts_error *err);
ts_status ts_store__pg_key_list(void *impl, int64_t now, size_t max, ts_store_key_fn fn, void *ud,
                                ts_error *err);
ts_status ts_store__pg_key_collect(void *impl, int64_t now, unsigned batch, uint64_t *deleted,
                                   ts_error *err);
ts_status ts_store__pg_oidc_config_put(void *impl, const ts_store_oidc_config_put_args *a,
                                       int64_t *new_version, ts_error *err);
ts_status ts_store__pg_oidc_config_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                       void *ud, ts_error *err);
ts_status ts_store__pg_mappings_put(void *impl, const ts_store_oidc_config_put_args *a,
                                    int64_t *new_version, ts_error *err);
ts_status ts_store__pg_mappings_get(void *impl, int64_t have_version, ts_store_oidc_config_fn fn,
                                    void *ud, ts_error *err);
ts_status ts_store__pg_token_issued(void *impl, const ts_store_issued *t,
                                    const ts_store_audit_entry *audit, ts_error *err);
ts_status ts_store__pg_jti_revoke(void *impl, const char *jti, int64_t expires_at,
                                  const char *reason, const char *actor, int64_t now, bool *revoked,
                                  ts_error *err);
ts_status ts_store__pg_family_revoke_tokens(void *impl, const char *family_id, const char *reason,
                                            const char *actor, int64_t now, size_t *n_tokens,
                                            bool *revoked, ts_error *err);
ts_status ts_store__pg_subject_revoke(void *impl, const char *subject, const char *reason,
                                      const char *actor, int64_t now, size_t *n_families,
                                      size_t *n_tokens, ts_error *err);
ts_status ts_store__pg_jti_revoked(void *impl, const char *jti, int64_t now, bool *revoked,
                                   ts_error *err);
ts_status ts_store__pg_revocations_list(void *impl, int64_t after_seq, int64_t now,
                                        ts_store_revocation *out, size_t cap, size_t *n,
                                        ts_error *err);
ts_status ts_store__pg_issued_get(void *impl, const char *jti, ts_store_issued_record *out,
                                  ts_error *err);
ts_status ts_store__pg_refresh_get(void *impl, const char *token_hash, ts_store_family *out,
                                   bool *current, ts_error *err);

#endif
