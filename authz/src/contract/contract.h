/* Private declarations shared by the authorization-contract files (authz_http.h). */
#ifndef TS_AUTHZ_CONTRACT_H
#define TS_AUTHZ_CONTRACT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdatomic.h>
#include <stdint.h>
#include <string.h>

#include <tokensmith/authz_http.h>

#include "common/json_writer.h"
#include "common/str.h"

/* ---- fragments.c ------------------------------------------------------------------------ */

/** One policy file as read: its path (for messages) and its bytes, BOM already stripped. */
typedef struct ts_fragment {
    char *path;
    char *data;
    size_t len;
} ts_fragment;

typedef struct ts_fragment_list {
    ts_fragment *items;
    size_t n;
} ts_fragment_list;

/** Read the `*.csv` files of @p dir (sorted by name, symlinks contained in the directory). */
ts_status ts_authz__fragments_read_dir(const char *dir, ts_fragment_list *out, ts_error *err);
/** Read one file (a symlink is followed: the operator named it). */
ts_status ts_authz__fragments_read_file(const char *path, ts_fragment_list *out, ts_error *err);
void ts_authz__fragments_free(ts_fragment_list *l);
/** @return @p len without a leading UTF-8 BOM, advancing *data. */
size_t ts_authz__strip_bom(const char **data, size_t len);

/* ---- bundle.c --------------------------------------------------------------------------- */

struct ts_authz_bundle {
    ts_authz_model *model;
    ts_authz_policy *policy;
    char version[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    const char *source; /* static */
    char *location;
    size_t nfragments;
    bool baseline_model; /* the domain matching of the baseline applies */
};

/** How error messages name the rules changed at run time that live in memory only. */
#define TS_AUTHZ__RUNTIME_NAME "<runtime>"

/** ts_authz_bundle_load() plus @p extra (policy CSV, @p extra_len bytes, may be 0) loaded after
 *  every fragment and hashed as one more fragment. */
ts_authz_bundle *ts_authz__bundle_load_extra(const ts_authz_source_options *o, const char *extra,
                                             size_t extra_len, ts_error *err);

/** ts_authz_bundle_enforcer() with @p nfns functions registered before the matcher is
 *  compiled (@p fns may be NULL when @p nfns is 0). */
ts_authz_enforcer *ts_authz__bundle_enforcer_fns(const ts_authz_bundle *b,
                                                 const ts_authz_function_reg *fns, size_t nfns,
                                                 ts_error *err);

/* ---- authorizer.c: what the guard's live policy (watch.c, runtime.c) needs ------------------ */

/** The source the authorizer loads from (paths are the authorizer's copies). */
const ts_authz_source_options *ts_authz__authorizer_source(const ts_authz_authorizer *a);

/** Unix time in milliseconds when the policy_version in force was first loaded. */
int64_t ts_authz__authorizer_loaded_at(const ts_authz_authorizer *a);

/** What ts_authz__authorizer_rebuild() did. */
typedef struct ts_authz__rebuild {
    bool changed; /* a new policy_version is in force */
    char previous[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    char current[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    size_t p_rules, g_rules;
} ts_authz__rebuild;

/**
 * Load the source again, with @p runtime as the in-memory runtime fragment when @p set_runtime
 * (kept for every later reload), else with the one kept. A policy_version equal to the one in
 * force changes nothing; a new one is swapped in as one snapshot. With @p dry_run the policy is
 * only built and checked. Serialised with ts_authz_reload(). Logs nothing: the caller does.
 * On failure the policy in force stays and reload_failures counts it (unless @p dry_run).
 */
ts_status ts_authz__authorizer_rebuild(ts_authz_authorizer *a, bool set_runtime,
                                       const char *runtime, size_t runtime_len, bool dry_run,
                                       ts_authz__rebuild *out, ts_error *err);

/** "where: message" of @p e, or the message when it already names the place. */
void ts_authz__error_text(const ts_error *e, char *buf, size_t cap);

/* ---- records.c: the log sink the authorizer and the guard share ---------------------------- */

/** Send the log line {"event":name,<fields>} to the sink, printable ASCII only. @p fields are
 *  object members without braces (JSON text, may be empty). */
void ts_authz__log_event(ts_authz_log_fn log, void *ud, const char *event, const char *fields,
                         size_t fields_len);

/* ---- records.c -------------------------------------------------------------------------- */

typedef struct ts_guard_metrics ts_guard_metrics;

ts_guard_metrics *ts_authz__metrics_new(void);
void ts_authz__metrics_free(ts_guard_metrics *m);
void ts_authz__metrics_decision(ts_guard_metrics *m, const char *policy_version,
                                ts_authz_verdict v);
/** stage: "principal", "mapper", "engine". */
void ts_authz__metrics_error(ts_guard_metrics *m, const char *policy_version, const char *stage);
void ts_authz__metrics_render(ts_guard_metrics *m, ts_authz_mode mode,
                              const ts_authz_policy_stats *st, ts_common__json *b);

/* ---- mapper.c -------------------------------------------------------------------------- */

/** ts_authz_mapper_map() for a path the guard has already normalised (@p plen bytes). */
ts_authz_map_status ts_authz__mapper_map_normalized(const ts_authz_mapper *m,
                                                    const ts_authz_request *req,
                                                    const ts_authz_principal *p, const char *path,
                                                    size_t plen, ts_authz_mapping *out,
                                                    ts_error *err);

/* ---- guard.c / deny.c ------------------------------------------------------------------- */

/** A cache line (x86-64, most arm64 cores). */
#define TS_AUTHZ__CACHE_LINE 64u

/** The guard's private state needed by deny.c, records.c and mhd.c. */
struct ts_authz_guard {
    ts_authz_guard_options o;
    char **prefixes; /* copies */
    size_t nprefixes;
    struct ts_authz__live *live; /* watcher and runtime rules (live.h) */
    ts_guard_metrics *metrics;
    /* allow_seen is written by every worker thread on every allowed decision that may be
       logged, while the members above are read on every decision: on one cache line, each
       write would take that line from every other core (false sharing). A line's worth of
       padding on each side keeps whichever line holds it free of anything else. Padding, not
       _Alignas(64): the guard comes from calloc(), which promises 16-byte alignment, and a
       64-byte-aligned type in such memory is undefined behaviour (UBSan's alignment check
       stops there). */
    char pad_before_[TS_AUTHZ__CACHE_LINE];
    _Atomic unsigned long long allow_seen; /* for sampling */
    char pad_after_[TS_AUTHZ__CACHE_LINE - sizeof(unsigned long long)];
};

/* Checked here so that a member added after allow_seen, or the padding removed, fails the
   build rather than quietly sharing the line again. */
_Static_assert(offsetof(struct ts_authz_guard, allow_seen) >=
                       offsetof(struct ts_authz_guard, metrics) + sizeof(ts_guard_metrics *) +
                           TS_AUTHZ__CACHE_LINE - sizeof(unsigned long long) &&
                   sizeof(struct ts_authz_guard) >=
                       offsetof(struct ts_authz_guard, allow_seen) + TS_AUTHZ__CACHE_LINE,
               "the guard's allow_seen shares a cache line with another member");

/** Render the authz.deny.v1 body for @p out into @p b (with the final newline). */
void ts_authz__deny_body(const ts_authz_guard *g, const ts_authz_request *req,
                         const ts_authz_principal *p, const ts_authz_outcome *out, const char *path,
                         ts_common__json *b);

/** Render the decision log line for @p out into @p b (no newline). */
void ts_authz__decision_line(const ts_authz_guard *g, const ts_authz_request *req,
                             const ts_authz_principal *p, const ts_authz_outcome *out,
                             const char *path, ts_common__json *b);

/** "user", "service" or "unknown". */
const char *ts_authz__principal_type(const ts_authz_principal *p);

#endif
