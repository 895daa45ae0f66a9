/* Private declarations shared by the store's front end (store_open.c, store_calls.c and the
 * calls beside them) and its backends. */
#ifndef TS_STORE_INTERNAL_H
#define TS_STORE_INTERNAL_H

#include <tokensmith/store.h>

#include <stdatomic.h>

#include "common/str.h" /* ts_common__copyz for the records' fixed-size members */

/* Bounds applied to the caller-supplied clock: positive and far below int64 overflow once
 * lifetimes are added. */
#define TS_STORE__NOW_MAX (INT64_C(1) << 40)
#define TS_STORE__GC_BATCH 500u
#define TS_STORE__AUDIT_LIST_MAX 10000u
#define TS_STORE__AUDIT_TYPE_MAX 63u

/* Random record id: @p prefix followed by 32 lowercase hex characters. */
ts_status ts_store__new_id(const char *prefix, char out[TS_STORE_ID_MAX + 1], ts_error *err);

/* Wipe memory that held a token. */
void ts_store__wipe(void *p, size_t n);

/* Input checks; each names @p field in the error. */
ts_status ts_store__check_name(const char *s, const char *field, bool required, ts_error *err);
ts_status ts_store__check_hash(const char *s, const char *field, ts_error *err);
ts_status ts_store__check_peer(const char *s, ts_error *err);
ts_status ts_store__check_now(int64_t now, ts_error *err);
ts_status ts_store__check_id(const char *s, const char *field, ts_error *err);
/* Scope lists: ts_store_scopes_normalize() (store.h). */
/* Validate a caller-built audit entry (field sizes, type syntax, no secret-looking values). */
ts_status ts_store__check_audit_entry(const ts_store_audit_entry *e, ts_error *err);

/* Replays of old tokens of already revoked refresh families, counted in memory and audited as
 * one row per family per interval (replay_audit.c). Thread-safe. */
#define TS_STORE__REPLAY_FAMILIES_MAX 4096u
#define TS_STORE__REPLAY_AUDIT_TYPE "refresh_token_family_already_revoked"
typedef struct ts_store__replay_row {
    char family_id[TS_STORE_ID_MAX + 1];
    char subject[TS_STORE_MAX_NAME_LEN + 1];
    char hash_prefix[TS_STORE_PREFIX_LEN + 1]; /* of the last replayed token */
    char peer[TS_STORE_MAX_PEER_LEN + 1];      /* of the last replay */
    int64_t replays;                           /* replays since the family's previous row */
    int64_t first_at, last_at;                 /* first and last of those replays */
    int64_t prev_row_at;                       /* for ts_store__replays_restore() */
} ts_store__replay_row;
typedef struct ts_store__replays ts_store__replays;
ts_store__replays *ts_store__replays_new(int64_t interval_s, size_t max_families);
void ts_store__replays_free(ts_store__replays *r);
/* Count one replay of @p fam at @p now. @return true when a row is due: @p row then holds it
 * (the count is taken out of the table) and the caller writes it, calling
 * ts_store__replays_restore() if that fails. */
bool ts_store__replays_note(ts_store__replays *r, const ts_store_family *fam,
                            const char *hash_prefix, const char *peer, int64_t now,
                            ts_store__replay_row *row);
void ts_store__replays_restore(ts_store__replays *r, const ts_store__replay_row *row);
/* Take up to @p cap rows with pending replays whose interval has passed (or all of them, with
 * @p all) into @p rows, and forget families quiet for a whole interval. Call until it gives 0. */
size_t ts_store__replays_take_due(ts_store__replays *r, int64_t now, bool all,
                                  ts_store__replay_row *rows, size_t cap);
/* Write @p row as an audit record through the backend. */
ts_status ts_store__replays_write(const ts_store_backend_ops *ops, void *impl,
                                  const ts_store__replay_row *row, int64_t now, ts_error *err);
/* Write every due row (every pending one, with @p all); a row that fails stays pending. */
ts_status ts_store__replays_flush(ts_store__replays *r, const ts_store_backend_ops *ops, void *impl,
                                  int64_t now, bool all, ts_error *err);

/* Commit statistics (commit_stats.c): a fixed histogram of relaxed atomics, one sample per
 * committed transaction, written by the backends without a lock. Zeroed memory is empty. */
typedef struct ts_store__commit_meter {
    _Atomic uint64_t latency[TS_STORE_COMMIT_LATENCY_BUCKETS + 1];
    _Atomic uint64_t latency_sum_us;
    _Atomic uint64_t batch[TS_STORE_COMMIT_BATCH_BUCKETS + 1];
    _Atomic uint64_t batch_sum;
} ts_store__commit_meter;
/* One committed transaction of @p writes callers' writes that took @p elapsed_us. */
void ts_store__commit_note(ts_store__commit_meter *m, size_t writes, uint64_t elapsed_us);
/* Microseconds of the monotonic clock, for the backends' timing. */
uint64_t ts_store__mono_us(void);
/* The meters of the built-in backends' objects. */
ts_store__commit_meter *ts_store__sq_meter(void *impl);
ts_store__commit_meter *ts_store__pg_meter(void *impl);

/* The store handle. Only the front end that opens it and forwards its calls (store_open.c,
 * store_calls.c) reads its members; other files go through ts_store__impl() and
 * ts_store__ops(). */
struct ts_store {
    const ts_store_backend_ops *ops; /* points at ops_copy */
    ts_store_backend_ops ops_copy;   /* the caller's table, widened to this version */
    void *impl;
    ts_store_options opt;
    ts_store__replays *replays;    /* already-revoked replays waiting for their audit row */
    ts_store__commit_meter *meter; /* the built-in backend's, NULL for a caller's backend */
};

/* The first check of a public call on a handle: a NULL @p s returns TS_EINVAL, naming the
 * function @p fn, from the calling function (whose error parameter is `err`). */
#define TS_STORE__NEED_STORE(s, fn)                                                                \
    do {                                                                                           \
        if (!(s))                                                                                  \
            return ts_error_set(err, TS_EINVAL, fn, "store is NULL");                              \
    } while (0)

/* The SQLite backend: opens @p opt->path and returns its implementation object. */
void *ts_store__sqlite_open(const ts_store_options *opt, ts_error *err);
extern const ts_store_backend_ops ts_store__sqlite_ops;
/* The schema version of the SQLite file at @p path without changing it (0 when the file is
 * absent or empty). */
ts_status ts_store__sqlite_version(const char *path, unsigned *out, ts_error *err);

/* The PostgreSQL backend: connects to the connection string @p opt->path, migrates the schema
 * (@p from and @p to, may be NULL, receive the versions before and after) and returns its
 * implementation object. */
void *ts_store__pg_open(const ts_store_options *opt, unsigned *from, unsigned *to, ts_error *err);
extern const ts_store_backend_ops ts_store__pg_ops;

/* Append @p v as a JSON string literal (quotes included) to @p buf of capacity @p cap holding
 * *@p len bytes. @return false when it does not fit (buf is left NUL-terminated). Both
 * backends write their audit details with it (sqlite_audit.c). */
bool ts_store__sq_json_str(char *buf, size_t cap, size_t *len, const char *v);

/* The backend object of @p s (for the backend's own tests and diagnostics). */
void *ts_store__impl(ts_store *s);
/* The family a redemption of @p r creates (id, names and lifetime from @p a and @p r). */
void ts_store__family_from_record(const ts_store_bootstrap_record *r, const ts_store_redeem_args *a,
                                  ts_store_family *f);
/* Whether a presentation of an already consumed @p r is a lost-response retry that may be
 * answered with a new family (see ts_store_bootstrap_redeem() for the conditions). */
bool ts_store__reissue_allowed(const ts_store_bootstrap_record *r, const ts_store_redeem_args *a);

/* The backend's function table, widened to TS_STORE_BACKEND_OPS_VERSION (the key functions
 * are NULL for a version-2 backend). */
const ts_store_backend_ops *ts_store__ops(const ts_store *s);

#endif
