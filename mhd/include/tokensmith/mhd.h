/**
 * @file mhd.h
 * @brief tokensmith-mhd: what a libmicrohttpd service needs around its own handlers: the gate
 *        that protects it with authn and authz in one call per request, and the bounds that
 *        keep any client from holding its connections, smuggling a second request past it, or
 *        starving it.
 *
 * Objects:
 *  - ::ts_mhd_gate: authn's verifier and hook, authz's authorizer, route mapper and guard (and
 *    optionally a ::ts_mhd_limits), built from one ::ts_mhd_gate_options or one JSON file;
 *    ts_mhd_gate_check() on the access handler's first call answers 401/403 itself or hands
 *    the handler the verified caller. Immutable once built, shared by every thread; owns what
 *    it built (borrowed through accessors) and frees it in ts_mhd_gate_free(). The section
 *    "The gate" below has the details.
 *  - ::ts_mhd_limits: the bounds of one daemon (MHD_start_daemon() call). It counts the
 *    connections per client address (IPv6 aggregated by prefix, /64 by default) and in total,
 *    refuses (closes) a connection over either limit, gives each request a deadline for its
 *    whole head and another for its body, and checks the framing of each request before the
 *    server's handler sees it. It wraps the server's access handler and completion callback:
 *    the server keeps both, unchanged.
 *  - ts_mhd_check_framing(): the request-smuggling checks on their own, in one call.
 *
 * Use (a thread pool or an internal polling thread; one ::ts_mhd_limits per daemon):
 * @code
 *   ts_mhd_limits_options lo = TS_MHD_LIMITS_OPTIONS_INIT;
 *   lo.handler = on_request;     lo.handler_cls = app;
 *   lo.completed = on_completed; lo.completed_cls = app;
 *   ts_mhd_limits *lim = ts_mhd_limits_new(&lo, &err);
 *   d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO, 0,
 *                        ts_mhd_limits_accept, lim, ts_mhd_limits_handler, lim,
 *                        MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(lim),
 *                        ... the server's other options ..., MHD_OPTION_END);
 *   ...
 *   MHD_stop_daemon(d);
 *   ts_mhd_limits_free(lim);
 * @endcode
 * The option array holds MHD_OPTION_NOTIFY_CONNECTION, MHD_OPTION_NOTIFY_COMPLETED and
 * MHD_OPTION_CONNECTION_TIMEOUT: the server must not pass those three (nor
 * MHD_OPTION_URI_LOG_CALLBACK) itself. docs/mhd.md has the details, and which answers come from
 * libmicrohttpd itself.
 *
 * Ownership: ts_mhd_limits_new() returns an object the caller frees with ts_mhd_limits_free(),
 * after MHD_stop_daemon() of the daemon that uses it. The handler's and callbacks' `cls`
 * pointers are borrowed and must outlive the daemon.
 * Thread-safety: the callbacks may run in any number of libmicrohttpd threads at once;
 * ts_mhd_limits_get_stats() may be called from any thread. One watchdog thread per object
 * enforces the deadlines; it is stopped and joined by ts_mhd_limits_free().
 * @since 0.1.0
 */
#ifndef TOKENSMITH_MHD_H
#define TOKENSMITH_MHD_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include <tokensmith/authn.h>
#include <tokensmith/authz_http.h>
#include <tokensmith/error.h>
#include <tokensmith/export.h>
#include <tokensmith/hook.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* Framing checks                                                                             */

/**
 * Refuse a request whose framing two HTTP parsers could read differently (request smuggling),
 * in one call. Call it on the access handler's first call for a request (headers only). Refused:
 *  - two or more `Content-Length` headers;
 *  - `Transfer-Encoding` together with `Content-Length`;
 *  - a `Transfer-Encoding` other than exactly `chunked`, more than one, or any in HTTP/1.0;
 *  - HTTP/1.1 without `Host`, or more than one `Host`;
 *  - white space in a header field name (`Content-Length : 5`), which libmicrohttpd 0.9.75
 *    keeps as a different header while a proxy may read it as the real one.
 * A refused request gets `400` with `{"error":"invalid_request","error_description":"..."}`,
 * `Cache-Control: no-store` and `Connection: close`; libmicrohttpd then reads no body and
 * closes the connection after the answer.
 * @param version the handler's `version` argument ("HTTP/1.1").
 * @return TS_HOOK_CONTINUE (the framing is sound), TS_HOOK_RESPONDED (the 400 is queued: return
 * MHD_YES) or TS_HOOK_ERROR (it could not be queued: return MHD_NO). (0.1.0 returned an
 * enum of its own with the same three values.)
 * @since 0.1.0
 */
TS_API ts_hook_result ts_mhd_check_framing(struct MHD_Connection *conn, const char *version);

/**
 * Queue `status` with the JSON body `{"error":"invalid_request","error_description":D}`,
 * `Cache-Control: no-store` and `Connection: close`. @p description must be JSON-safe text (no
 * quote, backslash or control character); it is copied.
 * @return the result of MHD_queue_response().
 * @since 0.1.0
 */
TS_API enum MHD_Result ts_mhd_queue_invalid_request(struct MHD_Connection *conn, unsigned status,
                                                    const char *description);

/* ------------------------------------------------------------------------------------------ */
/* Connection limits and request deadlines                                                    */

typedef struct ts_mhd_limits ts_mhd_limits;

/** Receives one JSON line (no newline), e.g. the periodic summary of refusals. */
typedef void (*ts_mhd_log_fn)(const char *line, size_t len, void *ud);

#define TS_MHD_LIMITS_OPTIONS_VERSION 1u
#define TS_MHD_DEFAULT_MAX_PER_ADDRESS 32u   /**< connections per client address */
#define TS_MHD_DEFAULT_IPV6_PREFIX 64u       /**< IPv6 clients share a /64 */
#define TS_MHD_DEFAULT_MAX_CONNECTIONS 1000u /**< connections in total */
#define TS_MHD_DEFAULT_HEAD_TIMEOUT_MS 10000u
#define TS_MHD_DEFAULT_BODY_TIMEOUT_MS 30000u
#define TS_MHD_DEFAULT_IDLE_TIMEOUT_S 30u
#define TS_MHD_DEFAULT_LOG_INTERVAL_MS 10000u

typedef struct ts_mhd_limits_options {
    unsigned version; /**< TS_MHD_LIMITS_OPTIONS_VERSION */
    /** The server's own access handler (required) and its `cls`. It is called exactly as
     *  libmicrohttpd would call it, with its own per-request `void **req_cls`. */
    MHD_AccessHandlerCallback handler;
    void *handler_cls;
    /** The server's completion callback (may be NULL), called once for each request its
     *  handler saw, with the same `req_cls`; never for a request refused here. */
    MHD_RequestCompletedCallback completed;
    void *completed_cls;
    /** Open connections per client address; over it a new one is closed at once. 0: none.
     *  IPv4 (and IPv4-mapped IPv6) by address, IPv6 by `ipv6_prefix`, Unix sockets as one. */
    unsigned max_per_address;
    unsigned ipv6_prefix; /**< 1..128 */
    /** Open connections in total; over it a new one is closed at once. 0: no limit here.
     *  Keep libmicrohttpd's MHD_OPTION_CONNECTION_LIMIT above it (docs/mhd.md). */
    unsigned max_connections;
    /** The whole request head (request line and headers) must arrive within this time: from
     *  the connection's start for its first request, from the first byte after the previous
     *  answer for a later one. 0: no deadline (not recommended). */
    unsigned head_timeout_ms;
    /** The whole body must arrive within this time from the end of the head. 0: none. */
    unsigned body_timeout_ms;
    /** Idle time after which libmicrohttpd closes a connection (MHD_OPTION_CONNECTION_TIMEOUT,
     *  given through ts_mhd_limits_mhd_options()); a keep-alive connection between requests is
     *  governed by it, not by the head deadline. At least 1. */
    unsigned idle_timeout_s;
    /** Run ts_mhd_check_framing() on every request before the handler sees it. */
    bool check_framing;
    /** Optional sink for a summary line, at most once per `log_interval_ms` and only when
     *  something was refused or closed since the last one. No request content is logged. */
    ts_mhd_log_fn log;
    void *log_ud;
    unsigned log_interval_ms;
} ts_mhd_limits_options;

#define TS_MHD_LIMITS_OPTIONS_INIT                                                                 \
    {                                                                                              \
        .version = TS_MHD_LIMITS_OPTIONS_VERSION, .handler = NULL, .handler_cls = NULL,            \
        .completed = NULL, .completed_cls = NULL,                                                  \
        .max_per_address = TS_MHD_DEFAULT_MAX_PER_ADDRESS,                                         \
        .ipv6_prefix = TS_MHD_DEFAULT_IPV6_PREFIX,                                                 \
        .max_connections = TS_MHD_DEFAULT_MAX_CONNECTIONS,                                         \
        .head_timeout_ms = TS_MHD_DEFAULT_HEAD_TIMEOUT_MS,                                         \
        .body_timeout_ms = TS_MHD_DEFAULT_BODY_TIMEOUT_MS,                                         \
        .idle_timeout_s = TS_MHD_DEFAULT_IDLE_TIMEOUT_S, .check_framing = true, .log = NULL,       \
        .log_ud = NULL, .log_interval_ms = TS_MHD_DEFAULT_LOG_INTERVAL_MS                          \
    }

/**
 * Build the bounds for one daemon and start its watchdog thread.
 * Fails (TS_EINVAL) without a handler, with an `ipv6_prefix` outside 1..128, an
 * `idle_timeout_s` of 0, or an unknown options version.
 * Ownership: free with ts_mhd_limits_free() after MHD_stop_daemon().
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_mhd_limits *ts_mhd_limits_new(const ts_mhd_limits_options *opt,
                                                     ts_error *err);

/** Stop and join the watchdog and free @p l. Call after MHD_stop_daemon(). NULL-safe. */
TS_API void ts_mhd_limits_free(ts_mhd_limits *l);

/**
 * The options to give MHD_start_daemon() as `MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(l)`:
 * MHD_OPTION_NOTIFY_CONNECTION, MHD_OPTION_NOTIFY_COMPLETED and MHD_OPTION_CONNECTION_TIMEOUT
 * (`idle_timeout_s`), ending in MHD_OPTION_END. Borrowed, valid until @p l is freed.
 */
TS_API const struct MHD_OptionItem *ts_mhd_limits_mhd_options(const ts_mhd_limits *l);

/**
 * Called twice for each connection the bounds admitted: with MHD_CONNECTION_NOTIFY_STARTED
 * before any of its bytes is read, and with MHD_CONNECTION_NOTIFY_CLOSED when it closes. A
 * connection the bounds refused gives neither call. @p conn_cls is one word per connection
 * for the hook (NULL at STARTED, the same address at both calls, valid until CLOSED returns).
 * At CLOSED, libmicrohttpd (0.9.75) has already freed the connection's TLS session: what the
 * hook wants to know of it (how its handshake ended), it records into @p conn_cls while the
 * session lives, e.g. from a GnuTLS handshake hook set at STARTED.
 */
typedef void (*ts_mhd_connection_fn)(void *cls, struct MHD_Connection *conn, void **conn_cls,
                                     enum MHD_ConnectionNotificationCode code);

/**
 * Have @p fn called, with @p cls, for every connection @p l admits, on libmicrohttpd's thread:
 * at its start, before the first byte is read, the place to set up what must be in place
 * before a TLS handshake starts (e.g. session tickets on the connection's GnuTLS session, which
 * MHD_get_connection_info() gives at that point); at its close, the place to count how it
 * ended. libmicrohttpd has one connection-notification callback per daemon and the bounds hold
 * it; this shares it. NULL @p fn: none. Call before the daemon starts; @p fn must not block.
 * @since 0.5.0
 */
TS_API void ts_mhd_limits_set_on_connection(ts_mhd_limits *l, ts_mhd_connection_fn fn, void *cls);

/** MHD_start_daemon()'s accept policy (`apc`), with `apc_cls` = the ::ts_mhd_limits. */
TS_API enum MHD_Result ts_mhd_limits_accept(void *cls, const struct sockaddr *addr,
                                            socklen_t addrlen);

/** MHD_start_daemon()'s access handler (`dh`), with `dh_cls` = the ::ts_mhd_limits. */
TS_API enum MHD_Result ts_mhd_limits_handler(void *cls, struct MHD_Connection *conn,
                                             const char *url, const char *method,
                                             const char *version, const char *upload_data,
                                             size_t *upload_data_size, void **req_cls);

/** Counters since ts_mhd_limits_new() (`connections`: open now). */
typedef struct ts_mhd_limits_stats {
    uint64_t connections;         /**< open now, as counted here */
    uint64_t accepted;            /**< connections admitted */
    uint64_t refused_per_address; /**< closed at once: their address had max_per_address */
    uint64_t refused_total;       /**< closed at once: max_connections were open */
    uint64_t head_timeouts;       /**< closed: the request head missed its deadline */
    uint64_t body_timeouts;       /**< closed: the request body missed its deadline */
    uint64_t rejected_requests;   /**< answered 400 by the framing checks */
} ts_mhd_limits_stats;

/** Copy the counters into @p out. Any thread. */
TS_API void ts_mhd_limits_get_stats(const ts_mhd_limits *l, ts_mhd_limits_stats *out);

/* ------------------------------------------------------------------------------------------ */
/* The gate: authn and authz for a libmicrohttpd service, from one set of options             */

/**
 * A service's whole protection, built from one ::ts_mhd_gate_options (or one JSON file):
 * the key source (JWKS URLs and files), the token verifier (issuers, audiences, scope-to-role
 * table, verified-token cache), authn's hook (public paths, 401s), the authorizer (embedded
 * baseline policy plus fragments, decision cache), the route-table mapper and the guard
 * (mode, 403s, decision log lines, metrics), and optionally the connection bounds
 * (::ts_mhd_limits). One call per request, ts_mhd_gate_check(), runs both gates.
 *
 * For a service that wants only one of the two, or a mapper, verifier or key option the gate
 * does not offer, the separate hooks stay: ts_authn_mhd_check() and ts_authz_mhd_check().
 */
typedef struct ts_mhd_gate ts_mhd_gate;

#define TS_MHD_GATE_OPTIONS_VERSION 1u

/**
 * One step-up rule of the gate (RFC 9470): requests to @c path (and @c method) need a token
 * whose authentication context meets the requirement, else 401 with
 * `WWW-Authenticate: Bearer error="insufficient_user_authentication", acr_values="..."` (and
 * `max_age="..."` when auth_time is at fault) and an `authz.deny.v1` body (code
 * `AUTHN_STEP_UP`). Checked after the token is verified and before the policy decides, on
 * authn-only paths too; the first rule that matches the request applies. @since 0.4.0
 */
typedef struct ts_mhd_step_up {
    /** authn's public-path rule: "/admin" exactly that path, "/admin/\*" it and every path
     *  below it, on the normalised path. */
    const char *path;
    const char *method; /**< exact method ("DELETE"), or NULL: every method */
    /** As ts_authn_requirement: `acr` one of these; NULL/0: any. */
    const char *const *acr_values;
    size_t n_acr_values;
    int64_t max_age_s; /**< > 0: auth_time at most this old (plus 60 s leeway); 0: any */
} ts_mhd_step_up;
#define TS_MHD_GATE_DEFAULT_CACHE 4096u /**< verified tokens, and decisions, kept */
/** Allowed decisions logged: 1 in this many (refusals, shadow mode's would-be refusals and
 *  authentication failures always are; every decision is counted in the metrics). */
#define TS_MHD_GATE_DEFAULT_LOG_ALLOW_SAMPLE 100u

/** Options of ts_mhd_gate_new(). Strings and arrays are copied. */
typedef struct ts_mhd_gate_options {
    unsigned version; /**< TS_MHD_GATE_OPTIONS_VERSION */

    /* Who is calling (authn). */
    const char *const *issuers; /**< accepted `iss` values, exact match; at least one */
    size_t n_issuers;
    const char *const *audiences; /**< this service: `aud` must hold one of them; at least one */
    size_t n_audiences;
    /** The issuers' keys, at least one: each an `http://` or `https://` URL of a JWK Set
     *  (fetched when the first token arrives, then cached and refreshed in the background;
     *  plain http only on loopback) or the path of a JWK Set file (read now). */
    const char *const *jwks;
    size_t n_jwks;
    /** Scope-to-role table: tokens from `tokensmith serve` carry scopes, the policy speaks
     *  roles (docs/claims.md). Roles from a `roles` or `groups` claim count too. */
    const ts_authn_scope_role *scope_roles;
    size_t n_scope_roles;
    /** Paths that need no token and get no decision: "/health" is exactly that path,
     *  "/public/\*" that path and every path below it, on the normalised path (authn's
     *  ts_authn_mhd_options.public_paths rule). */
    const char *const *public_paths;
    size_t n_public_paths;
    /** Paths that need a valid token but get no policy decision (a "whoami" endpoint), by the
     *  same rule. A path in both lists is public. */
    const char *const *authn_only_paths;
    size_t n_authn_only_paths;
    const char *realm;  /**< WWW-Authenticate realm of the 401s; NULL: none */
    size_t token_cache; /**< verified tokens kept (TS_MHD_GATE_DEFAULT_CACHE); 0: no cache */

    /* What they may do (authz). */
    ts_authz_mode mode; /**< TS_AUTHZ_MODE_ENFORCE; shadow decides and logs, never refuses */
    /** Route table: the first row whose method and pattern (keyMatch2: "/nodes/:id") match the
     *  normalised path gives the policy object and action. A request no row maps is refused
     *  (403 AUTHZ_UNMAPPED) unless @c allow_unmapped. Rows are copied. */
    const ts_authz_route *routes;
    size_t n_routes;
    ts_authz_action_style action_style; /**< actions of rows without one (TS_AUTHZ_ACTION_REST) */
    bool allow_unmapped;                /**< unmapped requests pass (false) */
    /** Policy fragments (`*.csv`) added to the embedded baseline; NULL: the baseline alone,
     *  unless @c policy_from_env. */
    const char *policy_dir;
    bool policy_from_env;  /**< no policy_dir: $TOKENSMITH_POLICY_DIR, else $AUTHZ_POLICY_DIR */
    size_t decision_cache; /**< decisions kept (TS_MHD_GATE_DEFAULT_CACHE); 0: no cache */

    /* Both. */
    /** false (default): the daemon decodes URLs, with ts_authz_mhd_strict_unescape() as
     *  ts_mhd_gate_mhd_options() sets it; true: it keeps them percent-encoded
     *  (ts_authz_mhd_keep_escapes(), also set there) and the gate decodes them. */
    bool raw_paths;
    /** One JSON line per authentication failure, per logged decision and per start-up or
     *  reload event (never a token); NULL: standard error. Called from request threads. */
    ts_mhd_log_fn log;
    void *log_ud;
    /** Log 1 in N allowed decisions (TS_MHD_GATE_DEFAULT_LOG_ALLOW_SAMPLE); refusals always.
     *  1 (or 0): every decision, a line per request. */
    unsigned log_allow_sample;

    /** Connection bounds (optional): built when `limits.handler` is set, and then handed to
     *  the daemon through ts_mhd_gate_limits() and ts_mhd_gate_mhd_options(). `limits.log`
     *  NULL: the gate's log. */
    ts_mhd_limits_options limits;

    /** Step-up rules (copied), tried in order; a rule without acr values and age limit is
     *  refused, as is one whose path breaks authn's rule ("step_up[i].path"). @since 0.4.0 */
    const ts_mhd_step_up *step_up;
    size_t n_step_up;

    /** The issuer's revocation list (tokensmith/authn_revocations.h) for the gate's verifier
     *  (ts_authn_options.revocations): a listed jti is 401 invalid_token, reason revoked.
     *  Borrowed, must outlive the gate; NULL = none. @since 0.4.0 */
    ts_authn_revocations *revocations;

    /** Functions the policy's matcher may call (tokensmith/authz_functions.h, e.g.
     *  ts_authz_function_has_suffix() as "hasSuffix"), for the gate's authorizer
     *  (ts_authz_authorizer_options.functions): registered on every enforcer it builds, at
     *  start and on every reload. Copied (descriptors included); each user data is borrowed
     *  and must outlive the gate. A gate JSON file cannot hold them: they come from its base.
     *  A matcher that calls a function not registered here fails ts_mhd_gate_new().
     *  @since 0.5.0 */
    const ts_authz_function_reg *functions;
    size_t n_functions;
} ts_mhd_gate_options;

#define TS_MHD_GATE_OPTIONS_INIT                                                                   \
    {                                                                                              \
        .version = TS_MHD_GATE_OPTIONS_VERSION, .issuers = NULL, .n_issuers = 0,                   \
        .audiences = NULL, .n_audiences = 0, .jwks = NULL, .n_jwks = 0, .scope_roles = NULL,       \
        .n_scope_roles = 0, .public_paths = NULL, .n_public_paths = 0, .authn_only_paths = NULL,   \
        .n_authn_only_paths = 0, .realm = NULL, .token_cache = TS_MHD_GATE_DEFAULT_CACHE,          \
        .mode = TS_AUTHZ_MODE_ENFORCE, .routes = NULL, .n_routes = 0,                              \
        .action_style = TS_AUTHZ_ACTION_REST, .allow_unmapped = false, .policy_dir = NULL,         \
        .policy_from_env = false, .decision_cache = TS_MHD_GATE_DEFAULT_CACHE, .raw_paths = false, \
        .log = NULL, .log_ud = NULL, .log_allow_sample = TS_MHD_GATE_DEFAULT_LOG_ALLOW_SAMPLE,     \
        .limits = TS_MHD_LIMITS_OPTIONS_INIT, .step_up = NULL, .n_step_up = 0,                     \
        .revocations = NULL, .functions = NULL, .n_functions = 0                                   \
    }

/**
 * Build a gate: every object listed at ::ts_mhd_gate, in that order. JWK Set files and policy
 * files are read here; a JWKS URL is fetched when the first token arrives (that request waits
 * for it, at most 5 s per URL), so a service may start before its issuer. Every problem is an
 * error, with `err->where` naming the option ("jwks", "issuers", "routes", "public_paths",
 * "mode", a fragment file and line, ...); call ts_authn_keysource_refresh() on
 * ts_mhd_gate_keysource() to fetch the keys at start-up instead.
 * Start-up order: when the service reloads on SIGHUP, call ts_authz_sighup_block() before this
 * (a JWKS URL starts the key source's thread here, and it must inherit the signal mask).
 * Ownership: free with ts_mhd_gate_free(), after MHD_stop_daemon().
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_mhd_gate *ts_mhd_gate_new(const ts_mhd_gate_options *opt, ts_error *err);

/**
 * Build a gate from a JSON file (docs/mhd.md has the format). Its members have the names of
 * the option fields (`issuers`, `audiences`, `jwks`, `scope_roles`, `public_paths`,
 * `authn_only_paths`, `realm`,
 * `token_cache`, `mode`, `routes`, `action_style`, `allow_unmapped`, `policy_dir`,
 * `policy_from_env`, `decision_cache`, `raw_paths`, `log_allow_sample`, `limits`, `step_up`
 * (since 0.4.0: `[{"path": "/admin/\*", "method": "DELETE", "acr_values": ["mfa"],
 * "max_age_s": 300}]`)); each one
 * present replaces that field of @p base. What a file cannot hold (the log sink, the limits'
 * handler and callbacks) comes from @p base; NULL: TS_MHD_GATE_OPTIONS_INIT. A `limits` member
 * needs `base->limits.handler`.
 * Errors name the file and the member ("gate.json: routes[1].object: expected a string"); an
 * unknown member, a duplicate one, a wrong type, or a file over 1 MiB is refused.
 * Ownership: as ts_mhd_gate_new().
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_mhd_gate *
ts_mhd_gate_new_file(const char *path, const ts_mhd_gate_options *base, ts_error *err);

/** NULL-safe. After MHD_stop_daemon() and ts_authz_sighup_stop(): frees everything the gate
 *  built (stops the key source's and the limits' threads). */
TS_API void ts_mhd_gate_free(ts_mhd_gate *g);

/**
 * Both gates for one request: call from the access handler on its first call for the request
 * (headers only), with the arguments in the order of every tokensmith hook (hook.h).
 *  1. A public path: TS_HOOK_CONTINUE, @p *principal NULL; no token read, no decision.
 *  2. authn: no token or a bad one: 401 with `WWW-Authenticate: Bearer` and an `authz.deny.v1`
 *     body is queued (in every mode: without a verified caller there is nothing to decide).
 *  3. Step-up (since 0.4.0): the first ::ts_mhd_step_up rule that matches the request and that
 *     the token's acr or auth_time does not meet: 401 with the RFC 9470 challenge.
 *  4. An authn-only path: TS_HOOK_CONTINUE with the verified caller, no decision.
 *  5. authz: the route table and the policy decide for the verified caller; in enforce mode a
 *     refusal queues 403 (or 400, 500) with an `authz.deny.v1` body; shadow mode logs it and
 *     lets the request through; off decides nothing.
 * On TS_HOOK_CONTINUE past a token, @p *principal is the verified caller: a reference the
 * handler owns (free with ts_authn_principal_free(), e.g. in its completion callback once the
 * request is served). Otherwise it is NULL and nothing is left to free.
 * @return TS_HOOK_CONTINUE (serve), TS_HOOK_RESPONDED (return MHD_YES) or TS_HOOK_ERROR
 * (return MHD_NO; also for a NULL argument).
 * Thread-safety: any number of threads at once, also during a policy reload.
 * @since 0.2.0
 */
TS_API ts_hook_result ts_mhd_gate_check(const ts_mhd_gate *g, struct MHD_Connection *conn,
                                        const char *method, const char *url,
                                        ts_authn_principal **principal);

/**
 * The options to give MHD_start_daemon() as `MHD_OPTION_ARRAY, ts_mhd_gate_mhd_options(g)`:
 * MHD_OPTION_UNESCAPE_CALLBACK (ts_authz_mhd_strict_unescape(), or ts_authz_mhd_keep_escapes()
 * with raw_paths), so that the gate and the handlers see the URL as the gate expects, and with
 * limits the three options of ts_mhd_limits_mhd_options(). Do not pass these options again.
 * Borrowed, valid until @p g is freed.
 * @since 0.2.0
 */
TS_API const struct MHD_OptionItem *ts_mhd_gate_mhd_options(const ts_mhd_gate *g);

/** The connection bounds, for MHD_start_daemon()'s `apc_cls` and `dh_cls` with
 *  ts_mhd_limits_accept() and ts_mhd_limits_handler(); NULL without `limits.handler`.
 *  Borrowed, valid until @p g is freed. @since 0.2.0 */
TS_API ts_mhd_limits *ts_mhd_gate_limits(ts_mhd_gate *g);

/** The authorizer, for ts_authz_reload(), ts_authz_sighup_start(), its policy_version and
 *  statistics. Borrowed, valid until @p g is freed. @since 0.2.0 */
TS_API ts_authz_authorizer *ts_mhd_gate_authorizer(ts_mhd_gate *g);

/** The guard, for ts_authz_guard_metrics() and ts_authz_guard_diagnostics(). Borrowed.
 *  @since 0.2.0 */
TS_API const ts_authz_guard *ts_mhd_gate_guard(const ts_mhd_gate *g);

/** The verifier, for ts_authn_verify() outside requests and ts_authn_verifier_cache_stats().
 *  Borrowed. @since 0.2.0 */
TS_API const ts_authn_verifier *ts_mhd_gate_verifier(const ts_mhd_gate *g);

/** The key source, for ts_authn_keysource_refresh() and its fetch count. Borrowed.
 *  @since 0.2.0 */
TS_API ts_authn_keysource *ts_mhd_gate_keysource(ts_mhd_gate *g);

#ifdef __cplusplus
}
#endif
#endif
