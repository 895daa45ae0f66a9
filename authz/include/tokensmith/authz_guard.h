/*
 * authz, the guard (part of <tokensmith/authz_http.h>, which includes this header): the
 * middleware algorithm over the authorizer and a request mapper (modes off/shadow/enforce,
 * public paths, deny bodies, decision records, metrics, the libmicrohttpd hook), and its live
 * policy (the policy files watched, rules changed at run time, diagnostics); docs/policy.md.
 */
#ifndef TOKENSMITH_AUTHZ_GUARD_H
#define TOKENSMITH_AUTHZ_GUARD_H

#include <tokensmith/authz_http.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Guard: modes, deny bodies, decision records, metrics, libmicrohttpd hook                   */

typedef enum ts_authz_mode {
    TS_AUTHZ_MODE_OFF = 0, /**< no checks, no records */
    TS_AUTHZ_MODE_SHADOW,  /**< decide and record, never block */
    TS_AUTHZ_MODE_ENFORCE, /**< decide, record, refuse */
} ts_authz_mode;

/** @return "off", "shadow" or "enforce"; "unknown" for any other value. Static string. */
TS_API const char *ts_authz_mode_name(ts_authz_mode m);

/** Parse "off", "shadow" or "enforce" (exact, lowercase). */
TS_API TS_NODISCARD ts_status ts_authz_mode_parse(const char *s, ts_authz_mode *out, ts_error *err);

/** Result of the principal callback. */
typedef enum ts_authz_principal_status {
    TS_AUTHZ_PRINCIPAL_FOUND = 0,
    TS_AUTHZ_PRINCIPAL_NONE,  /**< not authenticated */
    TS_AUTHZ_PRINCIPAL_ERROR, /**< the lookup failed: 500 */
} ts_authz_principal_status;

/**
 * The libmicrohttpd hook's way to obtain the principal (e.g. from authn). Strings written into
 * @p out must stay valid until @c principal_release is called (or the hook returns, when
 * no release function is set).
 */
typedef ts_authz_principal_status (*ts_authz_principal_fn)(struct MHD_Connection *conn,
                                                           const ts_authz_request *req,
                                                           ts_authz_principal *out, void *ud);
typedef void (*ts_authz_principal_release_fn)(ts_authz_principal *p, void *ud);

/** 2 since 0.5.0 (watch, watch_debounce_ms, runtime_fragment); 1 is still accepted. */
#define TS_AUTHZ_GUARD_OPTIONS_VERSION 2u

typedef struct ts_authz_guard_options {
    unsigned version;                      /**< TS_AUTHZ_GUARD_OPTIONS_VERSION */
    ts_authz_mode mode;                    /**< default enforce */
    const ts_authz_authorizer *authorizer; /**< required; borrowed, must outlive the guard */
    const ts_authz_mapper *mapper;         /**< borrowed; NULL: every route is unmapped */
    bool require_authn;                    /**< no principal: 401 (enforce); default true */
    bool allow_unmapped;                   /**< unmapped routes pass; default false */
    bool options_public;                   /**< OPTIONS requests pass unchecked; default true */
    const char *const *public_prefixes;    /**< path prefixes that pass unchecked (copied) */
    size_t npublic_prefixes;
    bool include_roles; /**< put roles into log lines and deny bodies */
    /** libmicrohttpd hook only: the daemon runs with ts_authz_mhd_keep_escapes() as
     *  MHD_OPTION_UNESCAPE_CALLBACK, so `url` is percent-encoded as on the wire. */
    bool raw_paths;
    ts_authz_log_fn log; /**< decision and start-up lines; NULL: none */
    void *log_ud;
    unsigned log_allow_sample;       /**< log 1 in N allow decisions (others always); 0 = 1 */
    ts_authz_principal_fn principal; /**< libmicrohttpd hook only */
    ts_authz_principal_release_fn principal_release;
    void *principal_ud;
    /* Since version 2 (0.5.0). */
    /** Follow the authorizer's policy files (inotify): see ts_authz_guard_watch(). */
    bool watch;
    unsigned watch_debounce_ms; /**< quiet time before a change is applied; 0: 200 */
    /** File name (`*.csv`, no '/') in the authorizer's policy directory where rules changed
     *  with ts_authz_guard_add_rules() are written; NULL: they live in memory only. */
    const char *runtime_fragment;
} ts_authz_guard_options;

#define TS_AUTHZ_GUARD_OPTIONS_INIT                                                                \
    {                                                                                              \
        .version = TS_AUTHZ_GUARD_OPTIONS_VERSION, .mode = TS_AUTHZ_MODE_ENFORCE,                  \
        .authorizer = NULL, .mapper = NULL, .require_authn = true, .allow_unmapped = false,        \
        .options_public = true, .public_prefixes = NULL, .npublic_prefixes = 0,                    \
        .include_roles = false, .raw_paths = false, .log = NULL, .log_ud = NULL,                   \
        .log_allow_sample = 1, .principal = NULL, .principal_release = NULL, .principal_ud = NULL, \
        .watch = false, .watch_debounce_ms = 0, .runtime_fragment = NULL                           \
    }

typedef struct ts_authz_guard ts_authz_guard;

/**
 * Create a guard and log one "authz.start" line (mode, policy_version, policy_source).
 * The guard decides with its authorizer's policy, and every policy it builds (the watcher,
 * rules changed at run time) is the authorizer's too, with the functions registered in
 * ts_authz_authorizer_options.functions.
 * Ownership: free with ts_authz_guard_free().
 */
TS_API TS_NODISCARD ts_authz_guard *ts_authz_guard_new(const ts_authz_guard_options *opts,
                                                       ts_error *err);

/** NULL-safe. */
TS_API void ts_authz_guard_free(ts_authz_guard *g);

/** What the guard decided for one request. Caller storage: ts_authz_outcome_cleanup(). */
typedef struct ts_authz_outcome {
    bool proceed;              /**< run the handler */
    bool decided;              /**< a decision was made and recorded (not off, not public) */
    unsigned status;           /**< HTTP status when !proceed (400, 401, 403, 500) */
    const char *code;          /**< deny code ("AUTHZ_DENIED"), static; NULL when none */
    ts_authz_verdict decision; /**< what enforce mode does (also in shadow mode) */
    const char *reason;        /**< static reason, identical in log line and deny body */
    const char *stage;         /**< failing stage ("principal", "mapper", "engine") or NULL */
    char message[256];         /**< deny body message ("access denied") */
    ts_authz_result result;    /**< the authorizer's answer, when it was asked */
    const char *object, *action, *domain; /**< point into @c mapping or are NULL */
    ts_authz_mapping mapping;
    char *body; /**< authz.deny.v1 JSON (with a final newline) when !proceed */
    size_t body_len;
} ts_authz_outcome;

/** Release what an outcome owns. NULL-safe, idempotent. */
TS_API void ts_authz_outcome_cleanup(ts_authz_outcome *o);

/**
 * The guard algorithm for one request, without any HTTP server:
 *  1. off: proceed. 2. OPTIONS (when public) or a public prefix of the normalised path: proceed.
 *  3. no principal: with require_authn, deny `no_principal` (401); otherwise an empty one.
 *  4. mapper: bad request (400, `bad_request`) or error (500, `engine_error`); unmapped: deny
 *     `unmapped_route` (403) unless allow_unmapped.
 *  5. authorize: allow; deny `policy_denied` (403); indeterminate `incomplete_request` (403);
 *     error `invalid_principal` (403, stage "principal"); error `engine_error` (500).
 * Shadow mode records the same decision and reason but always proceeds. One log line per
 * decision; metrics updated. @p p may be NULL.
 * @return TS_OK, or TS_ENOMEM (then the request must be refused with 500).
 */
TS_API TS_NODISCARD ts_status ts_authz_guard_check(const ts_authz_guard *g,
                                                   const ts_authz_request *req,
                                                   const ts_authz_principal *p,
                                                   ts_authz_outcome *out);

/**
 * Prometheus text exposition of `authz_decisions_total{decision,mode,policy_version}` and
 * `authz_errors_total{stage,mode,policy_version}` (the last 4 policy versions are kept).
 * @param len out: bytes written, or needed when @p cap is too small (then TS_ELIMIT).
 */
TS_API TS_NODISCARD ts_status ts_authz_guard_metrics(const ts_authz_guard *g, char *buf, size_t cap,
                                                     size_t *len, ts_error *err);

/**
 * Diagnostics JSON: mode, policy_version, policy_source, rule counts, fragments, reloads,
 * loaded_at (RFC 3339, UTC: when the policy_version in force came into force; since 0.5.0),
 * runtime (rules changed at run time) and watch (the watcher's state; since 0.5.0).
 * Buffer contract as ts_authz_guard_metrics(). ts_authz_mhd_diagnostics() serves it.
 */
TS_API TS_NODISCARD ts_status ts_authz_guard_diagnostics(const ts_authz_guard *g, char *buf,
                                                         size_t cap, size_t *len, ts_error *err);

/**
 * ts_authz_authorizer_roles() on the guard's authorizer, as the guard's mode has it: in mode
 * off no policy applies and @p p has no roles (TS_OK, an empty list); shadow and enforce read
 * the current policy. For services that pass the policy's roles on (tokensmith gateway puts
 * them in its translated tokens). Arguments, errors and ownership as
 * ts_authz_authorizer_roles(); @p policy_version is filled in mode off too.
 * Thread-safety: any number of threads at once, also during a reload.
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status
ts_authz_guard_roles(const ts_authz_guard *g, const ts_authz_principal *p, const char *domain,
                     size_t max, char ***roles, size_t *nroles,
                     char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1], ts_error *err);

/** @return the guard's mode. */
TS_API ts_authz_mode ts_authz_guard_mode(const ts_authz_guard *g);

/**
 * libmicrohttpd hook: call from the access handler on its first call for a request (headers
 * only). The arguments come in the order of every tokensmith hook (hook.h): the guard, the
 * connection, the handler's `method` and `url`. Obtains the principal through the guard's
 * `principal` callback (none set: no principal), runs ts_authz_guard_check() and, when the
 * request is refused, queues the deny response (no body for HEAD; 401 carries
 * `WWW-Authenticate: Bearer`). In shadow and off mode it never refuses.
 * @return TS_HOOK_CONTINUE (serve the request), TS_HOOK_RESPONDED (a refusal is queued:
 * return MHD_YES) or TS_HOOK_ERROR (nothing could be queued, or an argument is NULL: return
 * MHD_NO).
 * Thread-safety: any number of threads at once on one guard. Stack: the decision is made on
 * the calling thread's stack (about 12 KiB, for the normalised path and the mapping), with no
 * allocation unless the request is refused.
 * @since 0.1.0; since 0.2.0 in this argument order (0.1.0 took `url` before `method` and a
 * `bool *proceed`; such a call no longer compiles) and returning ::ts_hook_result.
 */
TS_API ts_hook_result ts_authz_mhd_check(const ts_authz_guard *g, struct MHD_Connection *conn,
                                         const char *method, const char *url);

/**
 * ts_authz_mhd_check() for a caller that already holds the principal (e.g. from authn's hook,
 * as tokensmith-mhd's gate does): @p principal is used as given, borrowed for the call, and
 * the guard's `principal` callback is not called. NULL: the request has no principal (401 with
 * `require_authn`). Same results as ts_authz_mhd_check().
 * @since 0.2.0
 */
TS_API ts_hook_result ts_authz_mhd_check_principal(const ts_authz_guard *g,
                                                   struct MHD_Connection *conn, const char *method,
                                                   const char *url,
                                                   const ts_authz_principal *principal);

/**
 * For MHD_OPTION_UNESCAPE_CALLBACK: leaves the URL percent-encoded, so that the guard (with
 * raw_paths) can tell "%2F" from "/". Query argument values stay encoded too.
 */
TS_API size_t ts_authz_mhd_keep_escapes(void *cls, struct MHD_Connection *conn, char *uri);

/**
 * For MHD_OPTION_UNESCAPE_CALLBACK, when the service works on decoded paths: decodes %XX
 * escapes like libmicrohttpd's default, but only when every escape in the string is well formed
 * and none encodes a NUL byte; otherwise the string is left exactly as received. libmicrohttpd's
 * own decoder would cut "/health%00/../admin" to "/health" and pass "%zz" through half-decoded;
 * with this callback such a path reaches the service (and the guard) undecoded, where
 * ts_authz_url_has_bad_escape() recognises it.
 * @since 0.1.0
 */
TS_API size_t ts_authz_mhd_strict_unescape(void *cls, struct MHD_Connection *conn, char *uri);

/** @return true when @p s holds a '%' that is not a valid escape of a non-NUL byte. */
TS_API bool ts_authz_url_has_bad_escape(const char *s);

/* ------------------------------------------------------------------------------------------ */
/* Live policy: watching the policy files, rules changed at run time, diagnostics over HTTP    */

/** Default quiet time of the watcher: a change is applied once its files stopped changing. */
#define TS_AUTHZ_WATCH_DEBOUNCE_MS 200u
/** Most rules one ts_authz_guard_add_rules() or ts_authz_guard_remove_rules() call takes. */
#define TS_AUTHZ_MAX_RULE_CHANGE 1024u

/**
 * Follow the policy files of the guard's authorizer with inotify: the policy directory (or the
 * directory of the policy file), and those of the model and grouping files. Any change there
 * (a file written, created, renamed, removed, its mode changed; a Kubernetes ConfigMap's
 * `..data` symlink swapped) starts a quiet period of @p debounce_ms (0:
 * TS_AUTHZ_WATCH_DEBOUNCE_MS), renewed by every further change; then everything is read again
 * and validated. The same policy_version changes nothing. A new one is swapped in as one
 * snapshot and logged (`authz.watch`, `ok` true, `policy_version`, `previous_policy_version`);
 * a broken change is logged (`ok` false, `error` with file and line, `file`, `line`) and the
 * policy in force stays. SIGHUP (ts_authz_sighup_start()) and ts_authz_reload() keep working.
 * The guard option `watch` calls this from ts_authz_guard_new(); ts_authz_guard_free() stops
 * the watcher (at once, also while a change is pending).
 * @return TS_OK (also when already watching); TS_EINVAL (no guard, a source without files:
 *         the baseline alone); TS_EIO (inotify or a directory cannot be watched); TS_ENOMEM.
 * Thread-safety: any thread; the guard's configuration does not change, its policy is live
 * state (as with ts_authz_reload()), so the guard may be const. The authorizer must be one the
 * guard may reload (any ts_authz_authorizer_new() result is).
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_guard_watch(const ts_authz_guard *g, unsigned debounce_ms,
                                                   ts_error *err);

/** One rule of a runtime change: a policy type ("p", "g", ...) and its fields. Borrowed. */
typedef struct ts_authz_rule_row {
    const char *ptype;
    const char *const *fields;
    size_t nfields;
} ts_authz_rule_row;

/**
 * Add rules to the guard's policy at run time, all of them in one new snapshot: a decision sees
 * either none or all of them. The rules are kept as one more fragment after every policy file:
 * in the file named by the guard option `runtime_fragment` in the policy directory (written
 * atomically, mode 0644, so that a restart, a reload and the watcher keep them), else in memory
 * (kept across reloads, gone with the process). The new policy is built and checked before
 * anything is written: a rule the model refuses changes nothing. Rules already added at run
 * time are skipped.
 * @param rules  @p n rules, 1..TS_AUTHZ_MAX_RULE_CHANGE; a field may not contain a control
 *               character.
 * @param changed        out (may be NULL): how many were new.
 * @param policy_version out (may be NULL): the policy_version in force afterwards.
 * @return TS_OK; TS_EINVAL (bad rule, refused by the model: @p err names the rule); TS_ELIMIT;
 *         TS_EIO (the fragment file); TS_ENOMEM. One `authz.rules` log line either way.
 * Thread-safety: any thread; changes are serialised, decisions go on meanwhile.
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_guard_add_rules(
    const ts_authz_guard *g, const ts_authz_rule_row *rules, size_t n, size_t *changed,
    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1], ts_error *err);

/**
 * Remove rules added at run time (ts_authz_guard_add_rules(), or lines of the runtime fragment
 * file), all in one new snapshot. A rule that a policy file or the baseline holds is not a
 * runtime rule: it stays (edit its file). Arguments and results as ts_authz_guard_add_rules();
 * @p changed counts the rules removed.
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_guard_remove_rules(
    const ts_authz_guard *g, const ts_authz_rule_row *rules, size_t n, size_t *changed,
    char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1], ts_error *err);

/**
 * Serve the guard's diagnostics (ts_authz_guard_diagnostics(): mode, policy_version,
 * policy_source, loaded_at in RFC 3339, rule counts, runtime rules, watch state) as
 * `GET /authz/diagnostics` does: 200 with the JSON for GET and HEAD (no body), 405 with
 * `Allow: GET, HEAD` for any other method, 500 when it cannot be rendered. Call it from the
 * access handler for the path the service chose.
 * @return TS_HOOK_RESPONDED (return MHD_YES) or TS_HOOK_ERROR (return MHD_NO).
 * Thread-safety: any number of threads at once.
 * @since 0.5.0
 */
TS_API ts_hook_result ts_authz_mhd_diagnostics(const ts_authz_guard *g, struct MHD_Connection *conn,
                                               const char *method);

#ifdef __cplusplus
}
#endif

#endif
