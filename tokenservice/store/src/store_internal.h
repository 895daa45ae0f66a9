/* Private declarations shared by the store's front end and its SQLite backend. */
#ifndef TS_STORE_INTERNAL_H
#define TS_STORE_INTERNAL_H

#include <tokensmith/store.h>

/* Bounds applied to the caller-supplied clock: positive and far below int64 overflow once
 * lifetimes are added. */
#define TS_STORE__NOW_MAX (INT64_C(1) << 40)
#define TS_STORE__GC_BATCH 500u
#define TS_STORE__AUDIT_LIST_MAX 10000u
#define TS_STORE__AUDIT_TYPE_MAX 63u

/* Copy @p src (NULL = "") into @p dst of capacity @p cap, truncating; always NUL-terminates. */
void ts_store__copy(char *dst, size_t cap, const char *src);

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
/* Split @p in on commas and whitespace, validate each scope, drop empties and duplicates,
 * and join with single spaces into @p out. */
ts_status ts_store__normalize_scopes(const char *in, char out[TS_STORE_MAX_SCOPE_LEN + 1],
                                     ts_error *err);
/* Validate a caller-built audit entry (field sizes, type syntax, no secret-looking values). */
ts_status ts_store__check_audit_entry(const ts_store_audit_entry *e, ts_error *err);

/* The SQLite backend: opens @p opt->path and returns its implementation object. */
void *ts_store__sqlite_open(const ts_store_options *opt, ts_error *err);
extern const ts_store_backend_ops ts_store__sqlite_ops;

/* The backend object of @p s (for the backend's own tests and diagnostics). */
void *ts_store__impl(ts_store *s);

#endif
