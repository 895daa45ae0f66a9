/* The store front end, opening and closing: the options (a version-2 caller's copied and
 * completed, all of them bounded), the backend that a path selects, the handle built around a
 * backend's function table (an older version's widened), migration, and the handle's end. The
 * calls made on an open store are in store_calls.c. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "common/conninfo.h"

#define MAX_TTL_S (INT64_C(10) * 366 * 86400)

/* The options of a caller built against version 2 end before the PostgreSQL ones: copy what
 * it has and take the defaults for the rest. */
static ts_status read_options(const ts_store_options *in, ts_store_options *out, ts_error *err)
{
    static const ts_store_options defaults = TS_STORE_OPTIONS_INIT;
    if (!in)
        return ts_error_set(err, TS_EINVAL, "options", "options are NULL");
    if (in->version == TS_STORE_OPTIONS_VERSION) {
        *out = *in;
        return TS_OK;
    }
    if (in->version == 2u) {
        *out = defaults;
        memcpy(out, in, offsetof(ts_store_options, pg_connect_timeout_s));
        out->version = TS_STORE_OPTIONS_VERSION;
        return TS_OK;
    }
    return ts_error_set(err, TS_EINVAL, "options.version",
                        "options version %u is not supported (expected %u)", in->version,
                        TS_STORE_OPTIONS_VERSION);
}

static ts_status check_options(const ts_store_options *o, ts_error *err)
{
    if (!o)
        return ts_error_set(err, TS_EINVAL, "options", "options are NULL");
    if (o->version != TS_STORE_OPTIONS_VERSION)
        return ts_error_set(err, TS_EINVAL, "options.version",
                            "options version %u is not supported (expected %u)", o->version,
                            TS_STORE_OPTIONS_VERSION);
    if (o->pg_connect_timeout_s < 1 || o->pg_connect_timeout_s > 300)
        return ts_error_set(err, TS_EINVAL, "options.pg_connect_timeout_s",
                            "pg_connect_timeout_s must be 1..300");
    if (o->pg_statement_timeout_ms < 100 || o->pg_statement_timeout_ms > 600000u)
        return ts_error_set(err, TS_EINVAL, "options.pg_statement_timeout_ms",
                            "pg_statement_timeout_ms must be 100..600000");
    if (o->busy_timeout_ms > 600000u)
        return ts_error_set(err, TS_EINVAL, "options.busy_timeout_ms",
                            "busy_timeout_ms must be at most 600000");
    if (o->page_cache_kib < 64 || o->page_cache_kib > 1048576u)
        return ts_error_set(err, TS_EINVAL, "options.page_cache_kib",
                            "page_cache_kib must be 64..1048576");
    if (o->max_connections < 1 || o->max_connections > 64)
        return ts_error_set(err, TS_EINVAL, "options.max_connections",
                            "max_connections must be 1..64");
    if (o->synchronous != TS_STORE_SYNC_FULL && o->synchronous != TS_STORE_SYNC_NORMAL)
        return ts_error_set(err, TS_EINVAL, "options.synchronous", "unknown synchronous level");
    if (o->bootstrap_ttl_min_s < 1 || o->bootstrap_ttl_min_s > o->bootstrap_ttl_max_s ||
        o->bootstrap_ttl_max_s > MAX_TTL_S)
        return ts_error_set(err, TS_EINVAL, "options.bootstrap_ttl",
                            "bootstrap TTL bounds must satisfy 1 <= min <= max <= 10 years");
    if (o->refresh_ttl_min_s < 1 || o->refresh_ttl_min_s > o->refresh_ttl_max_s ||
        o->refresh_ttl_max_s > MAX_TTL_S)
        return ts_error_set(err, TS_EINVAL, "options.refresh_ttl",
                            "refresh TTL bounds must satisfy 1 <= min <= max <= 10 years");
    if (o->redeem_retry_grace_s < 0 || o->redeem_retry_grace_s > 3600)
        return ts_error_set(err, TS_EINVAL, "options.redeem_retry_grace_s",
                            "redeem_retry_grace_s must be 0..3600");
    if (o->redeem_retry_max > 100)
        return ts_error_set(err, TS_EINVAL, "options.redeem_retry_max",
                            "redeem_retry_max must be 0..100");
    if (o->gc_retention_s < 0 || o->gc_retention_s > MAX_TTL_S)
        return ts_error_set(err, TS_EINVAL, "options.gc_retention_s",
                            "gc_retention_s must be 0..10 years");
    if (o->gc_retention_s < o->redeem_retry_grace_s)
        return ts_error_set(err, TS_EINVAL, "options.gc_retention_s",
                            "gc_retention_s must not be shorter than redeem_retry_grace_s");
    if (o->audit_retention_s < 0 || o->audit_retention_s > MAX_TTL_S)
        return ts_error_set(err, TS_EINVAL, "options.audit_retention_s",
                            "audit_retention_s must be 0..10 years");
    if (o->audit_max_rows != 0 &&
        (o->audit_max_rows < 1000 || o->audit_max_rows > INT64_C(1000000000)))
        return ts_error_set(err, TS_EINVAL, "options.audit_max_rows",
                            "audit_max_rows must be 0 (no limit) or 1000..1000000000");
    if (o->replay_audit_interval_s < 1 || o->replay_audit_interval_s > 86400)
        return ts_error_set(err, TS_EINVAL, "options.replay_audit_interval_s",
                            "replay_audit_interval_s must be 1..86400");
    return TS_OK;
}

ts_store *ts_store_new_with_backend(const ts_store_backend_ops *ops, void *impl,
                                    const ts_store_options *user_opt, ts_error *err)
{
    ts_store_options copy;
    const ts_store_options *opt = &copy;
    ts_status st = read_options(user_opt, &copy, err);
    if (st != TS_OK) {
        if (ops && ops->destroy && impl)
            ops->destroy(impl);
        return NULL;
    }
    /* A version-2 table ends before the key functions, a version-3 one before the provider
     * configuration functions, a version-4 one before the mappings, a version-5 one before
     * revocation: only that much of it may be read. */
    ts_store_backend_ops wide;
    memset(&wide, 0, sizeof wide);
    if (ops && ops->version == 2u)
        memcpy(&wide, ops, offsetof(ts_store_backend_ops, key_publish));
    else if (ops && ops->version == 3u)
        memcpy(&wide, ops, offsetof(ts_store_backend_ops, oidc_config_put));
    else if (ops && ops->version == 4u)
        memcpy(&wide, ops, offsetof(ts_store_backend_ops, mappings_put));
    else if (ops && ops->version == 5u)
        memcpy(&wide, ops, offsetof(ts_store_backend_ops, token_issued));
    else if (ops && ops->version == TS_STORE_BACKEND_OPS_VERSION)
        wide = *ops;
    if (ops && ops->version >= 3u && (!wide.key_publish || !wide.key_list || !wide.key_collect))
        wide.version = 0; /* incomplete: refused below */
    if (ops && ops->version >= 4u && (!wide.oidc_config_put || !wide.oidc_config_get))
        wide.version = 0;
    if (ops && ops->version >= 5u && (!wide.mappings_put || !wide.mappings_get))
        wide.version = 0;
    if (ops && ops->version == TS_STORE_BACKEND_OPS_VERSION &&
        (!wide.token_issued || !wide.jti_revoke || !wide.family_revoke_tokens ||
         !wide.subject_revoke || !wide.jti_revoked || !wide.revocations_list || !wide.issued_get))
        wide.version = 0;
    if (!ops ||
        (wide.version != 2u && wide.version != 3u && wide.version != 4u && wide.version != 5u &&
         wide.version != TS_STORE_BACKEND_OPS_VERSION) ||
        !ops->destroy || !ops->check || !ops->bootstrap_insert || !ops->bootstrap_get ||
        !ops->bootstrap_redeem || !ops->family_insert || !ops->family_get || !ops->refresh_rotate ||
        !ops->family_revoke || !ops->audit_append || !ops->audit_list || !ops->collect_expired)
        st = ts_error_set(err, TS_EINVAL, "ts_store_new_with_backend",
                          "backend function table is incomplete or of another version");
    if (st == TS_OK)
        st = check_options(opt, err);
    ts_store *s = NULL;
    if (st == TS_OK) {
        s = calloc(1, sizeof *s);
        if (s)
            s->replays =
                ts_store__replays_new(opt->replay_audit_interval_s, TS_STORE__REPLAY_FAMILIES_MAX);
        if (!s || !s->replays)
            st = ts_error_set(err, TS_ENOMEM, "ts_store_new_with_backend", "out of memory");
    }
    if (st != TS_OK) {
        if (s)
            free(s);
        if (ops && ops->destroy && impl)
            ops->destroy(impl);
        return NULL;
    }
    s->ops_copy = wide;
    s->ops = &s->ops_copy;
    s->impl = impl;
    s->opt = *opt;
    s->opt.path = NULL; /* not owned; the backend keeps its own copy */
    return s;
}

bool ts_store_path_is_postgres(const char *path)
{
    return ts_common__conninfo_is_postgres(path);
}

size_t ts_store_path_redact(const char *path, char *out, size_t cap)
{
    return ts_common__conninfo_redact(path, out, cap);
}

/* Open the backend that @p opt->path selects; NULL with @p err set. */
static void *open_backend(const ts_store_options *opt, const ts_store_backend_ops **ops,
                          unsigned *from, unsigned *to, ts_error *err)
{
    if (opt->path && ts_common__conninfo_is_postgres(opt->path)) {
        *ops = &ts_store__pg_ops;
        return ts_store__pg_open(opt, from, to, err);
    }
    *ops = &ts_store__sqlite_ops;
    return ts_store__sqlite_open(opt, err);
}

ts_store *ts_store_new(const ts_store_options *user_opt, ts_error *err)
{
    ts_store_options opt;
    if (read_options(user_opt, &opt, err) != TS_OK || check_options(&opt, err) != TS_OK)
        return NULL;
    const ts_store_backend_ops *ops = NULL;
    void *impl = open_backend(&opt, &ops, NULL, NULL, err);
    if (!impl)
        return NULL;
    ts_store *s = ts_store_new_with_backend(ops, impl, &opt, err);
    if (s)
        s->meter = ops == &ts_store__pg_ops ? ts_store__pg_meter(impl) : ts_store__sq_meter(impl);
    return s;
}

ts_status ts_store_migrate(const ts_store_options *user_opt, unsigned *from, unsigned *to,
                           ts_error *err)
{
    ts_store_options opt;
    unsigned f = 0, t = 0;
    ts_status st = read_options(user_opt, &opt, err);
    if (st == TS_OK)
        st = check_options(&opt, err);
    if (st != TS_OK)
        return st;
    const ts_store_backend_ops *ops = NULL;
    void *impl = NULL;
    if (opt.path && ts_common__conninfo_is_postgres(opt.path)) {
        impl = open_backend(&opt, &ops, &f, &t, err);
    } else {
        /* SQLite migrates inside its open; the version before is read first. */
        st = ts_store__sqlite_version(opt.path, &f, err);
        if (st == TS_OK)
            impl = open_backend(&opt, &ops, NULL, NULL, err);
        t = TS_STORE_SCHEMA_VERSION;
    }
    if (!impl)
        return err && err->code != TS_OK ? err->code : TS_EIO;
    ops->destroy(impl);
    if (from)
        *from = f;
    if (to)
        *to = t;
    return TS_OK;
}

void ts_store_free(ts_store *s)
{
    if (!s)
        return;
    /* Replays counted since their family's last row are written now, or they would be lost.
     * Best effort: a failing store cannot be reported from here. */
    ts_error ignore;
    ts_error_clear(&ignore);
    (void)ts_store__replays_flush(s->replays, s->ops, s->impl, 0, true, &ignore);
    ts_store__replays_free(s->replays);
    s->ops->destroy(s->impl);
    free(s);
}

void *ts_store__impl(ts_store *s)
{
    return s ? s->impl : NULL;
}

const ts_store_backend_ops *ts_store__ops(const ts_store *s)
{
    return s ? s->ops : NULL;
}

const char *ts_store_backend_name(const ts_store *s)
{
    return s && s->ops->name ? s->ops->name : "";
}

ts_status ts_store_check(ts_store *s, bool full, ts_error *err)
{
    TS_STORE__NEED_STORE(s, "ts_store_check");
    return s->ops->check(s->impl, full, err);
}
