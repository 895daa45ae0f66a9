/**
 * @file client.h
 * @brief Obtain and keep OAuth 2.0 tokens: one ::ts_client per token endpoint and grant, with a
 *        lock-free cache, single-flight renewal, refresh ahead of expiry, backoff, and a refresh
 *        family that survives restarts.
 *
 * Objects:
 *  - ::ts_client: an immutable configuration (::ts_client_options, copied at construction) and
 *    the token it holds. The grants: RFC 8693 token exchange, client_credentials, refresh_token,
 *    and tokensmith's bootstrap token -> refresh family. One client serves every thread.
 *
 * The one call a service makes is ts_client_token_get(): it returns a token that stays valid for
 * at least ts_client_options.min_valid_s. A cache hit takes no lock (the readers of one client
 * never write a shared cache line); a miss is single-flight: however many threads ask at once,
 * one request goes to the server and the others wait for its answer, or its error.
 *
 * A refresh family (grant TS_CLIENT_GRANT_TOKENSMITH or TS_CLIENT_GRANT_REFRESH_TOKEN with a
 * state file) is kept on disk so that a restarted process continues it. The rule that makes
 * this safe: a refresh token is removed from the state file before it is sent, and its
 * successor is written (temporary file, fsync, rename, mode 0600) before it is used. So a
 * crash at any moment can lose a refresh token, never make the client present one that the
 * server may already have rotated (which the server treats as theft and answers by revoking
 * the whole family). A lost family is replaced from an unused bootstrap token.
 *
 * Secrets: tokens, refresh tokens, bootstrap tokens and client secrets never reach the log
 * callback or an error message; they are named by the first 8 hex digits of their SHA-256.
 * Memory that held one is wiped before it is freed.
 *
 * Thread-safety: every function may be called from any number of threads at once on one
 * client, except ts_client_free(), which must be the last call. Callbacks run on the thread
 * that renews (a caller's, or the client's background thread) while that renewal is in
 * flight: they must not call ts_client_free(), ts_client_token_get() or ts_client_token_dup()
 * on their own client (a miss would wait for the renewal that is calling them).
 * @since 0.2.0
 */
#ifndef TOKENSMITH_CLIENT_H
#define TOKENSMITH_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The opaque client. @since 0.2.0 */
typedef struct ts_client ts_client;

/* ------------------------------------------------------------------------------------------ */
/* Registered names                                                                           */

/** RFC 8693 §3 token type identifiers, for subject_token_type and friends. @since 0.2.0 */
#define TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN "urn:ietf:params:oauth:token-type:access_token"
#define TS_CLIENT_TOKEN_TYPE_REFRESH_TOKEN "urn:ietf:params:oauth:token-type:refresh_token"
#define TS_CLIENT_TOKEN_TYPE_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"
#define TS_CLIENT_TOKEN_TYPE_JWT "urn:ietf:params:oauth:token-type:jwt"
/** tokensmith's bootstrap token type (docs/service.md). */
#define TS_CLIENT_TOKEN_TYPE_BOOTSTRAP "urn:openchami:params:oauth:token-type:bootstrap-token"
/** The RFC 8693 grant type. */
#define TS_CLIENT_GRANT_TYPE_TOKEN_EXCHANGE "urn:ietf:params:oauth:grant-type:token-exchange"

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                    */

/** How the client obtains a token. @since 0.2.0 */
typedef enum ts_client_grant {
    /** RFC 6749 §4.4: the client's own credentials; repeated for every new token. */
    TS_CLIENT_GRANT_CLIENT_CREDENTIALS = 1,
    /** RFC 8693: a subject token (and optionally an actor token) exchanged for a new token;
     *  repeated for every new token, with the subject token of the moment. */
    TS_CLIENT_GRANT_TOKEN_EXCHANGE = 2,
    /** RFC 6749 §6: a refresh token obtained elsewhere (refresh_token, or the state file),
     *  rotated whenever the server returns a new one. */
    TS_CLIENT_GRANT_REFRESH_TOKEN = 3,
    /** tokensmith: the bootstrap token is exchanged once for a refresh family, which is then
     *  refreshed (and rotated) for every new token; a family that ends falls back to the
     *  bootstrap token if it was never used. */
    TS_CLIENT_GRANT_TOKENSMITH = 4,
} ts_client_grant;

/** Client authentication at the token endpoint (RFC 6749 §2.3). @since 0.2.0 */
typedef enum ts_client_auth {
    /** None; client_id, when set, is sent as a form parameter (a public client). */
    TS_CLIENT_AUTH_NONE = 0,
    /** HTTP Basic with the form-urlencoded client_id and client_secret (RFC 6749 §2.3.1). */
    TS_CLIENT_AUTH_SECRET_BASIC = 1,
    /** client_id and client_secret as form parameters. */
    TS_CLIENT_AUTH_SECRET_POST = 2,
} ts_client_auth;

/** One extra form parameter (Keycloak's requested_issuer, Entra's requested_token_use...). */
typedef struct ts_client_param {
    const char *name;
    const char *value;
} ts_client_param;

/**
 * Supplies a token on demand: the subject or actor token of an exchange, read anew for every
 * exchange (a token that rotates elsewhere, another client's token). Write the token into
 * @p buf (@p cap bytes, room for a NUL included) and its length into @p len.
 * @return TS_OK; TS_ELIMIT when it does not fit (set @p len to the length needed); any other
 * status fails the exchange with the message recorded in @p err.
 * @since 0.2.0
 */
typedef ts_status (*ts_client_token_fn)(char *buf, size_t cap, size_t *len, ts_error *err,
                                        void *ud);

/** Log levels of ts_client_log_fn. @since 0.2.0 */
typedef enum ts_client_log_level {
    TS_CLIENT_LOG_DEBUG = 0,
    TS_CLIENT_LOG_INFO = 1,
    TS_CLIENT_LOG_WARN = 2,
    TS_CLIENT_LOG_ERROR = 3,
} ts_client_log_level;

/** Receives one log message (one line, printable ASCII, no token or secret: those are named by
 *  SHA-256 prefixes). Each starts with the token endpoint and ": ": scheme, host, port and
 *  path, without the userinfo, query or fragment of the configured URL. @since 0.2.0 */
typedef void (*ts_client_log_fn)(ts_client_log_level level, const char *msg, void *ud);

/** What produced a new token (ts_client_rotation.event). @since 0.2.0 */
typedef enum ts_client_event {
    TS_CLIENT_EVENT_GRANT = 1,     /**< client_credentials or token exchange */
    TS_CLIENT_EVENT_BOOTSTRAP = 2, /**< a refresh family started (bootstrap or initial token) */
    TS_CLIENT_EVENT_REFRESH = 3,   /**< a refresh (the refresh token rotated if the server did) */
} ts_client_event;

/** A new token, as the rotation hook sees it. Everything is borrowed for the hook's call. */
typedef struct ts_client_rotation {
    ts_client_event event;
    uint64_t generation;      /**< of the new token (see ts_client_token_info) */
    const char *access_token; /**< the new token (NUL-terminated); never log it */
    size_t access_token_len;
    const char *token_type;        /**< as the server said ("Bearer", "N_A") */
    const char *scope;             /**< granted scope, "" when the server said none */
    const char *issued_token_type; /**< RFC 8693, "" when the server said none */
    int64_t expires_at;            /**< Unix seconds */
    int64_t refresh_expires_at;    /**< the family's end, Unix seconds; 0: none or unknown */
    bool persisted;                /**< the family is in the state file */
    char token_hash_prefix[9];     /**< first 8 hex digits of SHA-256(access_token), to log */
} ts_client_rotation;

/** Called after each new token is in place (and, for a family, persisted). @since 0.2.0 */
typedef void (*ts_client_rotation_fn)(const ts_client_rotation *r, void *ud);

/** Version 1: the first. A caller built against a later version is refused (TS_EINVAL). */
#define TS_CLIENT_OPTIONS_VERSION 1u

/**
 * Client options. Start from TS_CLIENT_OPTIONS_INIT and set what you need. Every string is
 * copied by ts_client_new() (the options may be freed afterwards); secrets are wiped when the
 * client is freed.
 */
typedef struct ts_client_options {
    unsigned version; /**< TS_CLIENT_OPTIONS_VERSION */

    /* --- the server ------------------------------------------------------------------- */
    /** Required: the token endpoint. https://, or http:// to a loopback host (127.0.0.1,
     *  localhost, [::1]) unless allow_plain_http; no fragment; redirects are not followed. */
    const char *token_endpoint;
    bool allow_plain_http;  /**< any http:// URL (tokens then cross the network in clear) */
    const char *ca_file;    /**< PEM CA bundle for https://; NULL: the system's store */
    const char *user_agent; /**< NULL: "tokensmith-client/<version>" */

    /* --- the grant and the client's authentication ------------------------------------ */
    ts_client_grant grant;     /**< required */
    ts_client_auth auth;       /**< default TS_CLIENT_AUTH_NONE */
    const char *client_id;     /**< required with SECRET_BASIC and SECRET_POST */
    const char *client_secret; /**< required with SECRET_BASIC and SECRET_POST, else NULL */

    /* --- what the token is for (client_credentials, token exchange, refreshes) --------- */
    const char *scope; /**< space-separated scopes (RFC 6749 §3.3); NULL: none */
    /** RFC 8693 audience values (logical names), one parameter each; not with refreshes. */
    const char *const *audiences;
    size_t n_audiences;
    /** RFC 8707 / 8693 resource values (absolute URIs), one parameter each. */
    const char *const *resources;
    size_t n_resources;
    /** Extra form parameters, sent as given with every request. A name the client sets itself
     *  (grant_type, client_id, subject_token, ...) is refused. */
    const ts_client_param *params;
    size_t n_params;

    /* --- TS_CLIENT_GRANT_TOKEN_EXCHANGE ----------------------------------------------- */
    /** The subject token: a fixed one, or subject_token_fn (exactly one of the two). */
    const char *subject_token;
    ts_client_token_fn subject_token_fn;
    void *subject_token_ud;
    const char *subject_token_type; /**< required (TS_CLIENT_TOKEN_TYPE_...) */
    /** The actor token (optional): fixed, or actor_token_fn; actor_token_type then required. */
    const char *actor_token;
    ts_client_token_fn actor_token_fn;
    void *actor_token_ud;
    const char *actor_token_type;
    const char *requested_token_type; /**< NULL: the server's choice */

    /* --- refresh families (TS_CLIENT_GRANT_REFRESH_TOKEN, TS_CLIENT_GRANT_TOKENSMITH) --- */
    /** REFRESH_TOKEN: the first refresh token, used once unless the state file holds a family
     *  already. */
    const char *refresh_token;
    /** TOKENSMITH: the bootstrap token (`tokensmith bootstrap-token create`), exchanged when
     *  there is no live family and it was never presented before (the state file remembers
     *  its SHA-256). */
    const char *bootstrap_token;
    /**
     * The refresh family's file (created mode 0600; its directory must exist). It is locked
     * for the life of the client: a second client on the same file, in this process or
     * another, is refused, since two users of one family would revoke it. It remembers the
     * token endpoint and is never sent to another one. NULL: the family lives in memory only,
     * and a restarted process needs a new bootstrap token.
     */
    const char *state_file;

    /* --- the cache --------------------------------------------------------------------- */
    /** A token is handed out only while it stays valid at least this long (default 30 s; at
     *  most 86400). A token issued for less than twice this is handed out for the first half
     *  of its life. */
    unsigned min_valid_s;
    /** Renew when this share of the lifetime has passed (1..99, default 75) ... */
    unsigned refresh_at_pct;
    /** ... minus up to this share of the lifetime, at random (0..50, default 10), so that
     *  clients started together do not renew together. */
    unsigned refresh_jitter_pct;
    /** Renew ahead on the client's own thread (started by ts_client_new(), which then fetches
     *  the first token at once). false: the first caller past the renewal time renews on its
     *  thread while the others keep the current token. */
    bool background_refresh;
    /** After a failure, no new attempt for a random time between 0 and
     *  min(backoff_max_ms, backoff_initial_ms * 2^(failures-1)) ("full jitter"), nor before a
     *  Retry-After the server gave. Defaults 1000 and 60000 ms (1..3600000). */
    unsigned backoff_initial_ms;
    unsigned backoff_max_ms;
    /** Lifetime assumed when the server gives no expires_in and the token is not a JWT with
     *  an exp claim (default 300 s, 1..86400). */
    unsigned default_lifetime_s;

    /* --- bounds ------------------------------------------------------------------------ */
    size_t max_response_bytes;   /**< response body cap (default 65536; 1024..16 MiB) */
    size_t max_token_bytes;      /**< any one token (default 16384; 64..max_response_bytes) */
    unsigned connect_timeout_ms; /**< TCP + TLS (default 5000; at most timeout_ms) */
    unsigned timeout_ms;         /**< one whole request (default 15000; 100..600000) */

    /* --- hooks ------------------------------------------------------------------------- */
    ts_client_log_fn log; /**< NULL: no logging */
    void *log_ud;
    ts_client_log_level log_level;     /**< the least level passed to log (default INFO) */
    ts_client_rotation_fn on_rotation; /**< NULL: none */
    void *rotation_ud;
    /** A monotonic clock in milliseconds, for tests that move time; NULL: CLOCK_MONOTONIC. */
    int64_t (*clock_ms)(void *ud);
    void *clock_ud;
} ts_client_options;

#define TS_CLIENT_OPTIONS_INIT                                                                     \
    {                                                                                              \
        .version = TS_CLIENT_OPTIONS_VERSION, .auth = TS_CLIENT_AUTH_NONE, .min_valid_s = 30u,     \
        .refresh_at_pct = 75u, .refresh_jitter_pct = 10u, .backoff_initial_ms = 1000u,             \
        .backoff_max_ms = 60000u, .default_lifetime_s = 300u, .max_response_bytes = 65536u,        \
        .max_token_bytes = 16384u, .connect_timeout_ms = 5000u, .timeout_ms = 15000u,              \
        .log_level = TS_CLIENT_LOG_INFO                                                            \
    }

/* ------------------------------------------------------------------------------------------ */
/* Results                                                                                    */

/** A server's refusal (RFC 6749 §5.2), as far as it gave one. @since 0.2.0 */
typedef struct ts_client_oauth_error {
    long http_status;            /**< 0: no HTTP answer (no connection, a timeout) */
    char error[64];              /**< the `error` code; "" when the answer had none */
    char error_description[256]; /**< printable ASCII (other bytes as '?'), cut to fit */
    char error_uri[256];
    unsigned retry_after_s; /**< the Retry-After header in seconds; 0: none */
} ts_client_oauth_error;

/** What ts_client_token_get() reports besides the token. @since 0.2.0 */
typedef struct ts_client_token_info {
    size_t len;         /**< the token's length; with TS_ELIMIT, the buffer size needed - 1 */
    int64_t expires_at; /**< Unix seconds */
    /** Which token this is: 1 for the client's first, one more for every new one. Pass it to
     *  ts_client_invalidate(). */
    uint64_t generation;
    char token_type[32]; /**< as the server said ("Bearer", "N_A") */
    /** On failure: the server's refusal, if the failure was one (http_status 0 otherwise). */
    ts_client_oauth_error oauth;
} ts_client_token_info;

/** Counters and times of one client (for metrics and health checks). @since 0.2.0 */
typedef struct ts_client_stats {
    uint64_t generation;        /**< of the token held; 0: none */
    int64_t expires_at;         /**< of the token held, Unix seconds; 0: none */
    int64_t refresh_expires_at; /**< the family's end, Unix seconds; 0: none or unknown */
    bool has_refresh_token;     /**< a family is live (refresh grants) */
    uint64_t tokens;            /**< new tokens obtained */
    uint64_t failures;          /**< failed attempts */
    unsigned consecutive_failures;
    int64_t last_success_at;    /**< Unix seconds; 0: never */
    int64_t last_failure_at;    /**< Unix seconds; 0: never */
    int64_t next_attempt_in_ms; /**< backoff left after a failure; 0: none */
} ts_client_stats;

/* ------------------------------------------------------------------------------------------ */
/* The client                                                                                 */

/**
 * Validate @p opt, copy it, load and lock the state file, and (with background_refresh) start
 * the renewal thread, which asks for the first token at once. No request is made otherwise.
 *
 * Errors name the option (`where` "token_endpoint", "params[2].name", ...) or the state file
 * and say why: TS_EINVAL for a bad or contradictory option (a field the grant does not use is
 * refused, not ignored), or a state file of another token endpoint or in use by another
 * client; TS_EPARSE for a damaged state file; TS_EIO when it cannot be read or locked;
 * TS_ENOMEM.
 * @return the client, or NULL with @p err set.
 * Ownership: the caller frees it with ts_client_free().
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_client *ts_client_new(const ts_client_options *opt, ts_error *err);

/** Stop the renewal thread, release the state file's lock, wipe and free. A client_credentials
 *  or token exchange request in flight is ended at once; a refresh or bootstrap exchange in
 *  flight is let finish (within timeout_ms), since one abandoned after it was sent would cost
 *  the refresh family. No other call on @p c may be running or follow. NULL-safe.
 *  @since 0.2.0 */
TS_API void ts_client_free(ts_client *c);

/**
 * A token valid for at least min_valid_s, copied into @p buf.
 *
 * From the cache when it holds one (no lock, no request). Otherwise one request for every
 * thread that asks meanwhile: the first renews, the others wait for its answer. During the
 * backoff after a failure, a call without a usable token fails at once with the failure that
 * started the backoff (and says when the next attempt is due).
 *
 * @param buf receives the token and a NUL; NULL with @p cap 0 asks for the size (TS_ELIMIT).
 * @param info may be NULL; see ts_client_token_info.
 * @return TS_OK; TS_ELIMIT when @p cap <= info->len (nothing copied); TS_EIO when the server
 * could not be reached, timed out, or failed (5xx, a redirect); TS_EINVAL when it refused the
 * request (4xx, info->oauth holds its `error`), or a refresh family ended and no unused
 * bootstrap token is configured; TS_ELIMIT also when it rate-limited the client (429) or its
 * answer was larger than max_response_bytes; TS_EPARSE for an answer that is not an RFC 6749
 * token response; TS_ENOMEM. Where: the token endpoint or the state file.
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_client_token_get(ts_client *c, char *buf, size_t cap,
                                                  ts_client_token_info *info, ts_error *err);

/**
 * ts_client_token_get() into a new buffer. @return the token (the caller wipes it if it
 * wishes and frees it with ts_free()), or NULL with @p err set. @since 0.2.0
 */
TS_API TS_NODISCARD char *ts_client_token_dup(ts_client *c, ts_client_token_info *info,
                                              ts_error *err);

/**
 * Drop the token of @p generation (0: whatever token is held), for example after a downstream
 * service answered 401 to it: the next ts_client_token_get() obtains a new one. Naming the
 * generation keeps many threads that saw the same 401 from dropping the replacement too. The
 * refresh family, if any, is kept (the next token comes from a refresh).
 * @return true when a token was dropped. @since 0.2.0
 */
TS_API bool ts_client_invalidate(ts_client *c, uint64_t generation);

/**
 * Drop the token held and forget past failures: the next ts_client_token_get() makes a request
 * at once, whatever the backoff said. The refresh family, if any, is kept. @since 0.2.0
 */
TS_API void ts_client_flush(ts_client *c);

/** Fill @p out (takes the client's lock briefly; not for the hot path). @since 0.2.0 */
TS_API void ts_client_stats_get(ts_client *c, ts_client_stats *out);

/**
 * A ::ts_client_token_fn that reads another client's token: set subject_token_fn to it and
 * subject_token_ud to that client to exchange one client's token for another (the agent's
 * chained sources). The other client must outlive this one. @since 0.2.0
 */
TS_API ts_status ts_client_token_fn_client(char *buf, size_t cap, size_t *len, ts_error *err,
                                           void *client);

/** The grant's name as the agent's configuration spells it ("client_credentials",
 *  "token_exchange", "refresh_token", "tokensmith"), or "unknown". @since 0.2.0 */
TS_API const char *ts_client_grant_name(ts_client_grant g);

#ifdef __cplusplus
}
#endif
#endif
