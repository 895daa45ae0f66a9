/**
 * @file authz_http.h
 * @brief The TokenSmith authorization contract: what a C web service links to put the policy
 * engine (authz.h) in front of its routes.
 *
 * Layers, each usable on its own:
 *  - **Baseline and sources**: the embedded baseline (`policy/model.conf`, `policy.csv`,
 *    `grouping.csv`), policy fragments from a directory, and ::ts_authz_bundle, a loaded
 *    model + rules + `policy_version`.
 *  - **Authorizer** (::ts_authz_authorizer): a principal (id, type, roles, domain) and an
 *    (object, action) in, a decision with a reason out. Holds the current policy as an
 *    immutable snapshot; ts_authz_reload() swaps in a new one atomically. Optional LRU cache.
 *  - **Mappers** (::ts_authz_mapper): an HTTP method and path to (object, action, domain).
 *  - **Guard** (::ts_authz_guard): the middleware algorithm (modes off/shadow/enforce, public
 *    routes, `authz.deny.v1` bodies, decision log lines, Prometheus metrics, diagnostics), plus
 *    a libmicrohttpd hook.
 *
 * authz knows nothing about tokens: the service supplies the authenticated principal as plain
 * data (directly, or through a callback for the libmicrohttpd hook).
 *
 * Ownership: every `_new`/`_load` result is freed with the matching `_free` (NULL-safe).
 * Strings passed in are copied unless a field's comment says "borrowed".
 *
 * Thread-safety: functions taking a `const` handle may be called from any number of threads at
 * once. ts_authz_reload() may run while other threads decide; a decision sees either the old or
 * the new policy, never a mix. Handles must not be freed while another thread uses them.
 *
 * Errors: any error in a decision path is a refusal (fail closed).
 * @since 0.1.0
 */
#ifndef TOKENSMITH_AUTHZ_HTTP_H
#define TOKENSMITH_AUTHZ_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/authz.h>
#include <tokensmith/error.h>
#include <tokensmith/export.h>
#include <tokensmith/hook.h>

#ifdef __cplusplus
extern "C" {
#endif

struct MHD_Connection;

/** Bounds on request data the contract handles. */
#define TS_AUTHZ_HTTP_MAX_PATH 4096u            /**< request path bytes (longer: 400) */
#define TS_AUTHZ_HTTP_MAX_NAME 256u             /**< method, action, domain, id, type, one role */
#define TS_AUTHZ_HTTP_MAX_ROLES 64u             /**< roles per principal (more: indeterminate) */
#define TS_AUTHZ_MAX_FRAGMENTS 1024u            /**< fragment files per directory */
#define TS_AUTHZ_MAX_FRAGMENT_BYTES (16u << 20) /**< one fragment or grouping file */
#define TS_AUTHZ_POLICY_VERSION_LEN 64u         /**< hex characters of a policy_version */

/* ------------------------------------------------------------------------------------------ */
/* Baseline and policy sources                                                                */

/** The files of the embedded baseline. */
typedef enum ts_authz_baseline_file {
    TS_AUTHZ_BASELINE_MODEL = 0, /**< policy/model.conf */
    TS_AUTHZ_BASELINE_POLICY,    /**< policy/policy.csv */
    TS_AUTHZ_BASELINE_GROUPING,  /**< policy/grouping.csv */
} ts_authz_baseline_file;

/**
 * @return the bytes of a baseline file as compiled into the library (NUL-terminated; @p len,
 * which may be NULL, gets the length without the NUL). Static: never freed. NULL for an
 * unknown @p which.
 */
TS_API const char *ts_authz_baseline(ts_authz_baseline_file which, size_t *len);

#define TS_AUTHZ_SOURCE_OPTIONS_VERSION 1u

/**
 * Where the policy comes from. The baseline policy and grouping are always loaded first;
 * fragments add to them (see docs/policy.md).
 */
typedef struct ts_authz_source_options {
    unsigned version;        /**< TS_AUTHZ_SOURCE_OPTIONS_VERSION */
    const char *model_path;  /**< model.conf to use instead of the baseline model; NULL: baseline */
    const char *policy_dir;  /**< directory of `*.csv` fragments; NULL: none */
    const char *policy_file; /**< a single fragment file (exclusive with policy_dir) */
    const char *grouping_file; /**< an extra grouping file, loaded after the baseline grouping */
    /** When policy_dir and policy_file are NULL: use $TOKENSMITH_POLICY_DIR, else
     *  $AUTHZ_POLICY_DIR (the first non-empty one), read once when loading. */
    bool from_env;
} ts_authz_source_options;

#define TS_AUTHZ_SOURCE_OPTIONS_INIT                                                               \
    {                                                                                              \
        .version = TS_AUTHZ_SOURCE_OPTIONS_VERSION, .model_path = NULL, .policy_dir = NULL,        \
        .policy_file = NULL, .grouping_file = NULL, .from_env = false                              \
    }

/** A loaded policy: model, rules (baseline + fragments) and their policy_version. Immutable. */
typedef struct ts_authz_bundle ts_authz_bundle;

/**
 * Read and parse the model and every policy file, and compute the policy_version.
 * Fragments: regular files named `*.csv` directly in the directory (no recursion, names
 * starting with '.' skipped), in byte order of name. A symbolic link is followed only when its
 * target resolves inside the directory (Kubernetes ConfigMap volumes); otherwise it is an
 * error. Errors name the file (and line). Rules are checked against the model only when an
 * enforcer or authorizer is built from the bundle (ts_authz_bundle_enforcer(),
 * ts_authz_authorizer_new()).
 * @return a bundle or NULL with @p err set. Ownership: free with ts_authz_bundle_free().
 */
TS_API TS_NODISCARD ts_authz_bundle *ts_authz_bundle_load(const ts_authz_source_options *opts,
                                                          ts_error *err);

/** NULL-safe. */
TS_API void ts_authz_bundle_free(ts_authz_bundle *b);

/**
 * Build an enforcer from the bundle exactly as the authorizer does (baseline domain matching
 * included), which checks every rule against the model. No functions are registered: a
 * matcher that calls one (ts_authz_authorizer_options.functions) fails here.
 * @return the enforcer (free with ts_authz_enforcer_free()) or NULL with @p err naming the
 * file and line of the first bad rule.
 */
TS_API TS_NODISCARD ts_authz_enforcer *ts_authz_bundle_enforcer(const ts_authz_bundle *b,
                                                                ts_error *err);

/** @return the 64-character lowercase hex policy_version. Borrowed: valid until freed. */
TS_API const char *ts_authz_bundle_policy_version(const ts_authz_bundle *b);

/** @return "baseline-only" or "baseline+fragments". Static string. */
TS_API const char *ts_authz_bundle_source(const ts_authz_bundle *b);

/** @return the fragment directory or file actually used ("" when none). Borrowed. */
TS_API const char *ts_authz_bundle_location(const ts_authz_bundle *b);

/** @return number of fragment files loaded (an explicit grouping file counts as one). */
TS_API size_t ts_authz_bundle_fragment_count(const ts_authz_bundle *b);

/** Borrowed views, valid until the bundle is freed. */
TS_API const ts_authz_model *ts_authz_bundle_model(const ts_authz_bundle *b);
TS_API const ts_authz_policy *ts_authz_bundle_policy(const ts_authz_bundle *b);

/**
 * Compute a policy_version from raw bytes (the one definition; see docs/policy.md):
 * lowercase hex SHA-256 of `normalized_model || "\n--policy--\n" || policy || "\n--grouping--\n"
 * || grouping`, the model normalised as CRLF->LF, white space trimmed, one "\n" appended.
 * @param out receives 64 hex characters and a NUL.
 */
TS_API void ts_authz_policy_version_compute(const char *model, size_t model_len, const char *policy,
                                            size_t policy_len, const char *grouping,
                                            size_t grouping_len,
                                            char out[TS_AUTHZ_POLICY_VERSION_LEN + 1]);

/* ------------------------------------------------------------------------------------------ */
/* Principal, decisions, log sink                                                             */

/** The authenticated caller, as plain data. Every pointer is borrowed for the call. */
typedef struct ts_authz_principal {
    const char *id;           /**< subject identifier; empty or NULL: indeterminate */
    const char *type;         /**< "user" or "service"; anything else is "unknown" */
    const char *const *roles; /**< role names, with or without a "role:" prefix */
    size_t nroles;
    const char *domain; /**< tenant or domain; NULL or "" for none */
} ts_authz_principal;

/** The four decisions. */
typedef enum ts_authz_verdict {
    TS_AUTHZ_ALLOW = 0,
    TS_AUTHZ_DENY,
    TS_AUTHZ_INDETERMINATE, /**< the request lacks what a decision needs */
    TS_AUTHZ_ERROR,         /**< the engine or a mapper failed */
} ts_authz_verdict;

/** @return "allow", "deny", "indeterminate" or "error". */
TS_API const char *ts_authz_verdict_name(ts_authz_verdict v);

/** Outcome of ts_authz_authorize(). Caller storage; owns nothing. */
typedef struct ts_authz_result {
    ts_authz_verdict decision;
    /** Machine reason (static string): "policy_allowed", "policy_denied", "incomplete_request",
     *  "invalid_principal" or "engine_error". */
    const char *reason;
    char detail[256]; /**< human text for indeterminate/error ("principal missing id"), or "" */
    char rule[256];   /**< the deciding rule when one decided ("p, role:viewer, x, read"), or "" */
    char subject[TS_AUTHZ_HTTP_MAX_NAME + 16]; /**< the engine subject that was allowed, or "" */
    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1]; /**< the policy that decided */
    bool cached;                                          /**< answered by the decision cache */
} ts_authz_result;

/**
 * Log sink: one complete JSON object per call, without a trailing newline. Called from request
 * threads; must be thread-safe. @p line is valid only during the call.
 */
typedef void (*ts_authz_log_fn)(const char *line, size_t len, void *ud);

/* ------------------------------------------------------------------------------------------ */
/* Authorizer                                                                                 */

/** 2 since 0.5.0 (functions, n_functions); 1 is still accepted (no functions). */
#define TS_AUTHZ_AUTHORIZER_OPTIONS_VERSION 2u

typedef struct ts_authz_authorizer_options {
    unsigned version;               /**< TS_AUTHZ_AUTHORIZER_OPTIONS_VERSION */
    ts_authz_source_options source; /**< what to load now and on every reload */
    size_t cache_size;              /**< decision cache entries; 0 disables the cache */
    ts_authz_log_fn log;            /**< load and reload events; NULL: not logged */
    void *log_ud;
    /* Since version 2 (0.5.0). */
    /** Functions the model's matcher may call (authz_functions.h), registered on every
     *  enforcer the authorizer builds: at start, on each reload (SIGHUP, the guard's watcher)
     *  and when the guard changes rules at run time. The array and the descriptors (names
     *  included) are copied; each registration's user data is borrowed and must outlive the
     *  authorizer. A matcher that calls a function not registered here fails the load. */
    const ts_authz_function_reg *functions;
    size_t n_functions;
} ts_authz_authorizer_options;

#define TS_AUTHZ_AUTHORIZER_OPTIONS_INIT                                                           \
    {                                                                                              \
        .version = TS_AUTHZ_AUTHORIZER_OPTIONS_VERSION, .source = TS_AUTHZ_SOURCE_OPTIONS_INIT,    \
        .cache_size = 0, .log = NULL, .log_ud = NULL, .functions = NULL, .n_functions = 0          \
    }

typedef struct ts_authz_authorizer ts_authz_authorizer;

/**
 * Load the policy and build the first snapshot. Fails (NULL, @p err naming file and line) on
 * any bad file or rule: services should exit.
 * Ownership: free with ts_authz_authorizer_free().
 */
TS_API TS_NODISCARD ts_authz_authorizer *
ts_authz_authorizer_new(const ts_authz_authorizer_options *opts, ts_error *err);

/** NULL-safe. No other thread may use @p a any more. */
TS_API void ts_authz_authorizer_free(ts_authz_authorizer *a);

/**
 * Decide whether @p p may do @p action on @p object (in @p domain, NULL or "" for none).
 * The engine is asked with the subject `<type>:<id>` and then `role:<name>` for each role
 * (trimmed, "role:" prefix removed, empties dropped, duplicates removed): allow when any is
 * allowed. The request domain is @p domain, else the principal's domain.
 * Indeterminate when the id, object or action is empty, or there are too many roles. Error
 * with reason "invalid_principal" when the id or a role name contains a control character
 * (a byte below 0x20, or 0x7f); error with "engine_error" when the engine fails. Never blocks
 * on a reload.
 * @param out always filled.
 */
TS_API void ts_authz_authorize(const ts_authz_authorizer *a, const ts_authz_principal *p,
                               const char *object, const char *action, const char *domain,
                               ts_authz_result *out);

/**
 * Reload from the same source: load, validate, swap atomically. On failure the old policy
 * stays in force, the failure is logged ("authz.reload" event) and returned. A new
 * policy_version is logged. Reloads are serialised; safe while other threads decide.
 */
TS_API TS_NODISCARD ts_status ts_authz_reload(ts_authz_authorizer *a, ts_error *err);

/**
 * The roles the current policy grants @p p: ts_authz_enforcer_implicit_roles() of the subject
 * `<type>:<id>` that ts_authz_authorize() asks about, over the role definition "g", in
 * @p domain (NULL or "": the principal's domain; none: the domain ""). The principal's own
 * @c roles are not expanded: this answers what the policy's bindings of the subject give.
 * Roles are listed as the policy names them (the baseline's "role:<name>").
 * @param max            most roles wanted; more is TS_ELIMIT.
 * @param policy_version out (may be NULL): the version of the policy the roles were read from.
 * @return TS_OK; TS_EINVAL (no id, a control character, a domain the model has no place
 *         for); TS_ELIMIT (id or domain longer than TS_AUTHZ_HTTP_MAX_NAME, too many roles);
 *         TS_EUNSUPPORTED (a role pattern function on "g"); TS_ENOMEM.
 * Ownership: free *roles with ts_authz_roles_free().
 * Thread-safety: one policy snapshot is held from start to end; safe during ts_authz_reload().
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status
ts_authz_authorizer_roles(const ts_authz_authorizer *a, const ts_authz_principal *p,
                          const char *domain, size_t max, char ***roles, size_t *nroles,
                          char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1], ts_error *err);

/** Copy the current policy_version into @p out (65 bytes). */
TS_API void ts_authz_authorizer_policy_version(const ts_authz_authorizer *a,
                                               char out[TS_AUTHZ_POLICY_VERSION_LEN + 1]);

/** Statistics of the current policy (consistent with one snapshot). */
typedef struct ts_authz_policy_stats {
    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    const char *source; /**< "baseline-only" or "baseline+fragments" (static) */
    size_t p_rules;     /**< rules of every p type */
    size_t g_rules;     /**< rules of every g type */
    size_t fragments;
    uint64_t reloads; /**< successful reloads since creation */
    uint64_t reload_failures;
    uint64_t cache_hits, cache_misses;
} ts_authz_policy_stats;

TS_API void ts_authz_authorizer_stats(const ts_authz_authorizer *a, ts_authz_policy_stats *out);

/**
 * SIGHUP reload helper. ts_authz_sighup_block() blocks SIGHUP in the calling thread; call it
 * in main() before any other thread starts, so that every thread inherits the mask. Then
 * ts_authz_sighup_start() runs a thread that waits for SIGHUP and calls ts_authz_reload().
 */
typedef struct ts_authz_sighup ts_authz_sighup;

TS_API TS_NODISCARD ts_status ts_authz_sighup_block(ts_error *err);

/** @p a is borrowed and must outlive the helper. Free with ts_authz_sighup_stop(). */
TS_API TS_NODISCARD ts_authz_sighup *ts_authz_sighup_start(ts_authz_authorizer *a, ts_error *err);

/** Stop the thread and free the helper. NULL-safe. */
TS_API void ts_authz_sighup_stop(ts_authz_sighup *h);

/** Number of reloads (successful or not) the helper has run. */
TS_API uint64_t ts_authz_sighup_count(const ts_authz_sighup *h);

/* ------------------------------------------------------------------------------------------ */
/* Requests and mappers                                                                       */

/** An HTTP request as the guard and the mappers see it. Pointers borrowed for the call. */
typedef struct ts_authz_request {
    const char *method; /**< as received ("GET") */
    const char *path;   /**< request path; a query ("?...") is ignored */
    size_t path_len;
    /** false: @p path is percent-encoded as on the wire (escapes are decoded, "%2F" kept);
     *  true: already decoded (libmicrohttpd's default), only cleaned. */
    bool path_decoded;
    /** For logs and deny bodies; may be NULL. Echoed only when it is 1-128 bytes of visible
     *  ASCII (0x21-0x7E), otherwise left out: it usually comes from the client. */
    const char *request_id;
} ts_authz_request;

/** Where a mapper puts its answer. Caller storage; strings point into @c buf or are static. */
typedef struct ts_authz_mapping {
    bool mapped; /**< false: no route matched (see the guard's allow_unmapped) */
    const char *object;
    const char *action;
    const char *domain; /**< NULL: the principal's domain */
    char buf[TS_AUTHZ_HTTP_MAX_PATH + 2u * TS_AUTHZ_HTTP_MAX_NAME + 8u];
} ts_authz_mapping;

typedef enum ts_authz_map_status {
    TS_AUTHZ_MAP_OK = 0,
    TS_AUTHZ_MAP_BAD_REQUEST, /**< the request itself is malformed: 400 */
    TS_AUTHZ_MAP_ERROR,       /**< the mapper failed: 500 */
} ts_authz_map_status;

/** A service-defined mapper. Set @p out->mapped; write strings into @p out->buf or use
 *  strings that outlive the request. On failure set @p err (its message is shown for 400). */
typedef ts_authz_map_status (*ts_authz_map_fn)(const ts_authz_request *req,
                                               const ts_authz_principal *p, ts_authz_mapping *out,
                                               ts_error *err, void *ud);

/** Domain for a mapped request; NULL: the principal's domain. The string must live until the
 *  guard call returns. */
typedef const char *(*ts_authz_domain_fn)(const ts_authz_request *req, const ts_authz_principal *p,
                                          void *ud);

/** How the path/method and route mappers name actions from methods. */
typedef enum ts_authz_action_style {
    TS_AUTHZ_ACTION_LITERAL = 0, /**< the method as received ("GET") */
    TS_AUTHZ_ACTION_REST,        /**< GET/HEAD read, POST create, PUT/PATCH update, DELETE delete */
} ts_authz_action_style;

/**
 * @return the REST action of @p method (case-insensitive): "read", "create", "update",
 * "delete", or NULL for any other method (the mappers then use the method itself).
 */
TS_API const char *ts_authz_rest_action(const char *method);

/**
 * Normalise a request path: cut the query; unless @p decoded, decode every %XX except %2F/%2f
 * (kept as is, so an encoded slash never becomes a separator); then clean it as Go's
 * path.Clean("/" + p) does ("." and ".." resolved, repeated slashes collapsed, no trailing
 * slash). A malformed escape, an encoded NUL or a result over TS_AUTHZ_HTTP_MAX_PATH is
 * TS_EPARSE ("malformed URL path").
 * @param out at least TS_AUTHZ_HTTP_MAX_PATH + 1 bytes; NUL-terminated on success.
 */
TS_API TS_NODISCARD ts_status ts_authz_path_normalize(const char *path, size_t len, bool decoded,
                                                      char *out, size_t cap, size_t *out_len,
                                                      ts_error *err);

typedef struct ts_authz_mapper ts_authz_mapper;

/** Path/method mapper: every request is mapped; object = normalised path, action from the
 *  method (@p style); domain from @p domain_fn (may be NULL). */
TS_API TS_NODISCARD ts_authz_mapper *ts_authz_mapper_path_new(ts_authz_action_style style,
                                                              ts_authz_domain_fn domain_fn,
                                                              void *domain_ud, ts_error *err);

/** One row of a route table. */
typedef struct ts_authz_route {
    const char *method;  /**< "GET", ... or "*" for any method */
    const char *pattern; /**< keyMatch2 pattern over the normalised path ("/nodes/:id") */
    const char *object;  /**< e.g. "metadata:nodes" */
    const char *action;  /**< NULL: derived from the method with @c style */
} ts_authz_route;

/**
 * Route-table mapper: the first row whose method and pattern match gives object and action.
 * No match: unmapped. Rows are copied; patterns are checked here (an empty pattern or object
 * is TS_EINVAL naming the row).
 */
TS_API TS_NODISCARD ts_authz_mapper *ts_authz_mapper_routes_new(const ts_authz_route *routes,
                                                                size_t nroutes,
                                                                ts_authz_action_style style,
                                                                ts_authz_domain_fn domain_fn,
                                                                void *domain_ud, ts_error *err);

/** Wrap a service-defined mapping function. */
TS_API TS_NODISCARD ts_authz_mapper *ts_authz_mapper_custom_new(ts_authz_map_fn fn, void *ud,
                                                                ts_error *err);

/** NULL-safe. */
TS_API void ts_authz_mapper_free(ts_authz_mapper *m);

/** Map one request. @p p may be NULL (no principal). */
TS_API ts_authz_map_status ts_authz_mapper_map(const ts_authz_mapper *m,
                                               const ts_authz_request *req,
                                               const ts_authz_principal *p, ts_authz_mapping *out,
                                               ts_error *err);

#ifdef __cplusplus
}
#endif
/* The guard: a header of its own, part of this API. */
#include <tokensmith/authz_guard.h>

#endif
