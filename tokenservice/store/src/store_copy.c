/* ts_store_copy(): move an installation from its SQLite store to a PostgreSQL one. This file
 * checks the arguments, opens both stores the way ts_store_new() does (migrating each), and
 * runs the copy as one transaction of the target; store_copy_source.c reads, and
 * store_copy_target.c writes. */
#define _POSIX_C_SOURCE 200809L
#include "store_copy_internal.h"

#include <errno.h>
#include <string.h>
#include <sys/stat.h>

/* The same column lists in both schemas (sqlite_schema.c, pg_schema.c): every column of every
 * table, so that nothing of a row is lost, NULLs included (consumed_at NULL is "unused", not
 * time 0). */
const ts_store__copy_table ts_store__copy_tables[TS_COPY_TABLES] = {
    [TS_COPY_BOOTSTRAP] = {"bootstrap_tokens",
                           "token_hash, id, subject, audience, scope, binding_id, ttl_s, "
                           "refresh_ttl_s, created_at, expires_at, consumed_at, consumed_by, "
                           "family_id, replay_attempts, reissue_count",
                           15, "token_hash", false},
    [TS_COPY_FAMILIES] = {"refresh_families",
                          "family_id, subject, audience, scope, current_hash, issued_at, "
                          "expires_at, last_used_at, usage_count, revoked_at, revoke_reason, "
                          "client_id",
                          12, "family_id", false},
    [TS_COPY_ROTATED] = {"refresh_rotated", "token_hash, family_id, rotated_at", 3, "token_hash",
                         false},
    [TS_COPY_AUDIT] = {"audit_log", "id, at, type, subject, ref_id, hash_prefix, peer, detail", 8,
                       "id", false},
    [TS_COPY_KEYS] = {"published_keys", "kid, alg, jwk, published_at, last_seen, not_after", 6,
                      "kid", false},
    [TS_COPY_OIDC] = {"oidc_config", "id, version, document, updated_at, updated_by", 5, "id",
                      true},
    [TS_COPY_MAPPINGS] = {"mappings", "id, version, document, updated_at, updated_by", 5, "id",
                          false},
    [TS_COPY_ISSUED] = {"issued_tokens",
                        "jti, subject, family_id, client_id, issued_at, expires_at, revoked_at", 7,
                        "jti", false},
    [TS_COPY_REVOCATIONS] = {"revocations", "seq, jti, expires_at, revoked_at, reason", 5, "seq",
                             false},
};

/* The locations, checked before anything is opened: nothing is created or connected to for a
 * refused call. */
static ts_status check_args(const ts_store_options *from, const ts_store_options *to,
                            unsigned flags, ts_error *err)
{
    if (!from || !from->path || !*from->path)
        return ts_error_set(err, TS_EINVAL, "copy.from", "the source store is required");
    if (!to || !to->path || !*to->path)
        return ts_error_set(err, TS_EINVAL, "copy.to", "the target store is required");
    if (ts_store_path_is_postgres(from->path))
        return ts_error_set(err, TS_EINVAL, "copy.from",
                            "the source is a PostgreSQL connection string: only a SQLite store "
                            "can be copied (to PostgreSQL)");
    if (!ts_store_path_is_postgres(to->path))
        return ts_error_set(err, TS_EINVAL, "copy.to",
                            "the target is not a PostgreSQL connection string (postgres://... "
                            "or host=... dbname=...): a store can only be copied to PostgreSQL");
    if (flags & ~TS_STORE_COPY_FORCE)
        return ts_error_set(err, TS_EINVAL, "copy.flags", "unknown flags 0x%x",
                            flags & ~TS_STORE_COPY_FORCE);
    /* ts_store_new() would create a missing file: a mistyped source must not become an empty
     * store whose copy then empties the target. */
    struct stat sb;
    if (stat(from->path, &sb) != 0)
        return ts_error_set(err, errno == ENOENT ? TS_ENOTFOUND : TS_EIO, "copy.from",
                            "no SQLite store at %s: %s", from->path, strerror(errno));
    if (!S_ISREG(sb.st_mode))
        return ts_error_set(err, TS_EINVAL, "copy.from", "%s is not a regular file", from->path);
    return TS_OK;
}

/* Open @p opt's store, which must use backend @p backend. */
static ts_store *open_store(const ts_store_options *opt, const char *backend, const char *where,
                            ts_error *err)
{
    ts_store *s = ts_store_new(opt, err);
    if (s && strcmp(ts_store_backend_name(s), backend) != 0) {
        ts_error_set(err, TS_EINTERNAL, where, "the store did not open with the %s backend",
                     backend);
        ts_store_free(s);
        return NULL;
    }
    return s;
}

ts_status ts_store_copy(const ts_store_options *from, const ts_store_options *to, unsigned flags,
                        ts_store_copy_counts *out, ts_error *err)
{
    /* A local record, so that the status is known even when the caller passes no err. */
    ts_error e;
    ts_error_clear(&e);
    if (out)
        memset(out, 0, sizeof *out);
    ts_status st = check_args(from, to, flags, &e);
    ts_store *src_store = NULL, *dst_store = NULL;
    if (st == TS_OK && !(src_store = open_store(from, "sqlite", "copy.from", &e)))
        st = e.code != TS_OK ? e.code : TS_EINTERNAL;
    if (st == TS_OK && !(dst_store = open_store(to, "postgresql", "copy.to", &e)))
        st = e.code != TS_OK ? e.code : TS_EINTERNAL;
    ts_store__copy_src src = {0};
    ts_store__copy_job job = {&src, (flags & TS_STORE_COPY_FORCE) != 0, {0}};
    if (st == TS_OK)
        st = ts_store__copy_src_open(ts_store__impl(src_store), &src, &e);
    if (st == TS_OK)
        st = ts_store__pg_txn(ts_store__impl(dst_store), ts_store__copy_txn, &job, &e);
    ts_store__copy_src_close(&src);
    ts_store_free(dst_store);
    ts_store_free(src_store);
    if (st != TS_OK) {
        if (e.code == TS_OK)
            ts_error_set(&e, st, "copy", "the copy failed");
        if (err)
            *err = e;
        return st;
    }
    if (out)
        *out = job.counts;
    return TS_OK;
}
