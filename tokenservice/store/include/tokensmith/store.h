/**
 * @file store.h
 * @brief The token service's persistent store: bootstrap tokens, refresh-token families, an
 *        audit trail, expiry collection, and (store_limiter.h, included here) an in-memory
 *        limiter for failed attempts. The parts in their own headers, all included here:
 *        store_location.h (classify and redact a store location), store_shared.h (what
 *        replicas share), store_revocation.h (issued access tokens and their revocation),
 *        store_backend.h (the backend interface) and store_copy.h (copying a SQLite store to
 *        PostgreSQL).
 *
 * A ::ts_store is a front end (argument checks, token and id generation, option bounds) over a
 * backend described by ::ts_store_backend_ops. ts_store_new() opens the SQLite backend for a
 * file path and the PostgreSQL backend for a libpq connection string (several replicas may
 * share one PostgreSQL database); other backends plug in through ts_store_new_with_backend().
 *
 * Secrets: tokens are never stored. Every record is keyed by the lowercase-hex SHA-256 of the
 * token string (ts_store_token_hash()); logs and audit records carry at most the first 8 hex
 * characters of that hash (ts_store_hash_prefix()).
 *
 * Atomicity: every state change (consume a bootstrap token and create its refresh family,
 * rotate a refresh token, revoke a family on reuse) happens in one database transaction
 * together with its audit record, so concurrent callers in any number of threads or processes
 * see exactly one winner.
 *
 * Time: every `now` is Unix time in seconds supplied by the caller, so that tests can move the
 * clock. A record is valid while `now < expires_at`.
 *
 * Thread-safety: a ts_store may be used from any number of threads at once (each backend
 * keeps a pool of connections, one per concurrent call). Several processes may open the same
 * database file at once. Never use a ts_store in a child after fork(); open a new one there.
 * A ts_store_limiter may be used from any number of threads at once.
 * @since 0.1.0
 */
#ifndef TOKENSMITH_STORE_H
#define TOKENSMITH_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>
#include <tokensmith/store_limiter.h>
#include <tokensmith/store_location.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Schema version this build writes; an older database is migrated, a newer one refused.
 *  5 since 0.3.0 (the mappings table), 6 since 0.4.0 (issued tokens and revocations). */
#define TS_STORE_SCHEMA_VERSION 6
/** Schema version of the PostgreSQL backend (its own numbering; 4 since 0.3.0, 5 since
 *  0.4.0). @since 0.2.0 */
#define TS_STORE_PG_SCHEMA_VERSION 5

#define TS_STORE_TOKEN_LEN 64        /**< opaque token: 32 CSPRNG bytes as lowercase hex */
#define TS_STORE_HASH_LEN 64         /**< lowercase hex SHA-256 */
#define TS_STORE_PREFIX_LEN 8        /**< hash prefix allowed in logs and audit records */
#define TS_STORE_ID_MAX 47           /**< record ids: "bt-" or "fam-" + 32 hex */
#define TS_STORE_MAX_NAME_LEN 255    /**< subject, audience, binding identifier (bytes) */
#define TS_STORE_MAX_SCOPE_LEN 1023  /**< normalised, space-separated scope list (bytes) */
#define TS_STORE_MAX_SCOPES 64       /**< number of scopes */
#define TS_STORE_MAX_PEER_LEN 127    /**< peer address (bytes) */
#define TS_STORE_MAX_REASON_LEN 63   /**< revocation reason */
#define TS_STORE_MAX_DETAIL_LEN 4096 /**< audit detail JSON (bytes) */

/* ------------------------------------------------------------------------------------------ */
/* Token helpers                                                                              */

/**
 * Generate an opaque token: 32 bytes from the OpenSSL CSPRNG as 64 lowercase hex characters.
 * @param out receives the token and a terminating NUL.
 * @return TS_OK, or TS_EINTERNAL when the CSPRNG fails (out is then zeroed).
 * Thread-safety: safe from any thread.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_token_generate(char out[TS_STORE_TOKEN_LEN + 1],
                                                      ts_error *err);

/**
 * Lowercase hex SHA-256 of @p token exactly as given (no trimming). @p token need not be
 * NUL-terminated; any length up to 64 KiB is accepted.
 * @return TS_OK, TS_EINVAL (NULL or oversized input) or TS_EINTERNAL.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_token_hash(const char *token, size_t len,
                                                  char out[TS_STORE_HASH_LEN + 1], ts_error *err);

/**
 * Copy the first 8 characters of @p hash (the only part that may appear in logs) into @p out.
 * A NULL or short @p hash gives "".
 * @since 0.1.0
 */
TS_API void ts_store_hash_prefix(const char *hash, char out[TS_STORE_PREFIX_LEN + 1]);

/** @return true when @p s is exactly 64 lowercase hex characters. @since 0.1.0 */
TS_API bool ts_store_hash_is_valid(const char *s);

/* ------------------------------------------------------------------------------------------ */
/* Options                                                                                    */

/** SQLite `synchronous` level. */
typedef enum ts_store_sync {
    /** fsync the WAL on every commit: an answered grant survives power loss. */
    TS_STORE_SYNC_FULL = 0,
    /** fsync at checkpoints only: survives a process crash (kill -9), may lose the last
     *  commits on power loss. Several times faster on slow disks. */
    TS_STORE_SYNC_NORMAL = 1
} ts_store_sync;

/** Version 3 added the PostgreSQL options at the end; a caller built against version 2 (a
 *  shorter struct) is still accepted, with the defaults for them. */
#define TS_STORE_OPTIONS_VERSION 3u

/** Store options. Start from TS_STORE_OPTIONS_INIT and change what you need. */
typedef struct ts_store_options {
    unsigned version; /**< TS_STORE_OPTIONS_VERSION */
    /**
     * Where the store lives. A libpq connection string -- a URI (`postgres://` or
     * `postgresql://`) or a `key=value` conninfo whose first keyword is a libpq one (`host=`,
     * `dbname=`, `service=`, ...) -- selects the PostgreSQL backend; anything else is a SQLite
     * database file, created mode 0600 when absent. A password belongs in the URI, in
     * PGPASSFILE or in a `passfile=` parameter; the store never prints it (messages show the
     * string redacted). ts_store_path_is_postgres() and ts_store_path_redact()
     * (store_location.h) tell which backend a path selects and print it safely.
     */
    const char *path;
    unsigned
        busy_timeout_ms; /**< SQLite: how long a call waits for another writer (default 5000) */
    /** Connections in the pool, either backend (default 4, 1..64). A call holds one for its
     *  duration; more concurrent calls wait for one. With PostgreSQL, every replica opens up to
     *  this many server connections. */
    unsigned max_connections;
    ts_store_sync synchronous; /**< default TS_STORE_SYNC_FULL */
    /** Bootstrap-token lifetime bounds, seconds (default 60..3600, the CLI's 1m..1h). */
    int64_t bootstrap_ttl_min_s, bootstrap_ttl_max_s;
    /** Refresh-family lifetime bounds, seconds (default 3600..2592000, 1h..30d). */
    int64_t refresh_ttl_min_s, refresh_ttl_max_s;
    /**
     * Lost-response retry window for bootstrap redemption, seconds. 0 (the default) makes a
     * bootstrap token strictly single-use: a client whose response was lost needs a new
     * bootstrap token. When > 0, see ts_store_bootstrap_redeem() (TS_STORE_REDEEM_REISSUED).
     */
    int64_t redeem_retry_grace_s;
    unsigned redeem_retry_max; /**< reissues allowed per bootstrap token (default 3) */
    /**
     * Grace period, seconds (default 86400, 1 day; 0..10 years, at least redeem_retry_grace_s).
     * ts_store_collect_expired() deletes a bootstrap token gc_retention_s after it expired or
     * was consumed, and a family gc_retention_s after it expired or was revoked, with its
     * rotated hashes. Until then the record is kept, never usable again, so that a late
     * presentation is answered and audited as expired, consumed or revoked (a replay stays
     * visible) instead of as unknown, and so that the redeem retry window can work.
     */
    int64_t gc_retention_s;
    /** Audit records older than this many seconds are deleted by ts_store_collect_expired()
     *  (default 7776000, 90 days; 0 = no age limit; at most 10 years). */
    int64_t audit_retention_s;
    /** SQLite page cache of each pooled connection, KiB (default 512). Bounds the store's
     *  memory however large the database grows. */
    unsigned page_cache_kib;
    /** Most audit records kept: ts_store_collect_expired() deletes the oldest beyond this
     *  (default 1000000; 0 = no count limit; otherwise 1000..1000000000). */
    int64_t audit_max_rows;
    /**
     * Replays of an old token of an already revoked refresh family are audited as
     * "refresh_token_family_already_revoked" rows that count them: at most one row per family
     * per this many seconds per process (default 3600, 1..86400). The replays in between are
     * counted in memory and written with the next row, by ts_store_collect_expired() once the
     * interval has passed, or by ts_store_free(). See ts_store_refresh_rotate().
     */
    int64_t replay_audit_interval_s;
    /* ---- version 3 ---- */
    /** PostgreSQL: connect timeout, seconds (default 5, 1..300); a connection string's own
     *  connect_timeout wins. */
    unsigned pg_connect_timeout_s;
    /** PostgreSQL: statement_timeout of every statement, milliseconds (default 5000,
     *  100..600000); also bounds the wait for another replica's migration. */
    unsigned pg_statement_timeout_ms;
} ts_store_options;

#define TS_STORE_OPTIONS_INIT                                                                      \
    {                                                                                              \
        .version = TS_STORE_OPTIONS_VERSION, .path = NULL, .busy_timeout_ms = 5000u,               \
        .max_connections = 4u, .synchronous = TS_STORE_SYNC_FULL, .bootstrap_ttl_min_s = 60,       \
        .bootstrap_ttl_max_s = 3600, .refresh_ttl_min_s = 3600, .refresh_ttl_max_s = 2592000,      \
        .redeem_retry_grace_s = 0, .redeem_retry_max = 3u, .gc_retention_s = 86400,                \
        .audit_retention_s = 7776000, .page_cache_kib = 512u, .audit_max_rows = 1000000,           \
        .replay_audit_interval_s = 3600, .pg_connect_timeout_s = 5u,                               \
        .pg_statement_timeout_ms = 5000u                                                           \
    }

/* ------------------------------------------------------------------------------------------ */
/* Records                                                                                    */

/** A bootstrap token as stored (never the token itself). Caller storage; nothing to free. */
typedef struct ts_store_bootstrap_record {
    char id[TS_STORE_ID_MAX + 1];           /**< "bt-" + 32 hex */
    char token_hash[TS_STORE_HASH_LEN + 1]; /**< SHA-256 hex of the token */
    char subject[TS_STORE_MAX_NAME_LEN + 1];
    char audience[TS_STORE_MAX_NAME_LEN + 1];
    char scope[TS_STORE_MAX_SCOPE_LEN + 1];     /**< scopes joined by single spaces */
    char binding_id[TS_STORE_MAX_NAME_LEN + 1]; /**< audit only; may be "" */
    int64_t ttl_s, refresh_ttl_s;
    int64_t created_at, expires_at;
    int64_t consumed_at;                         /**< 0 while unconsumed */
    char consumed_by[TS_STORE_MAX_PEER_LEN + 1]; /**< peer that consumed it */
    int64_t replay_attempts;                     /**< presentations after consumption */
    int64_t reissue_count;                       /**< lost-response reissues granted */
    char family_id[TS_STORE_ID_MAX + 1];         /**< live family issued for it, or "" */
} ts_store_bootstrap_record;

/** A refresh-token family. Caller storage; nothing to free. */
typedef struct ts_store_family {
    char id[TS_STORE_ID_MAX + 1]; /**< "fam-" + 32 hex */
    char subject[TS_STORE_MAX_NAME_LEN + 1];
    char audience[TS_STORE_MAX_NAME_LEN + 1];
    char scope[TS_STORE_MAX_SCOPE_LEN + 1];
    int64_t issued_at;
    int64_t expires_at;   /**< absolute: issued_at + refresh TTL, never extended */
    int64_t last_used_at; /**< 0 until the first rotation */
    int64_t usage_count;  /**< successful rotations */
    int64_t revoked_at;   /**< 0 while not revoked */
    char revoke_reason[TS_STORE_MAX_REASON_LEN + 1];
    /** The client the family was issued to; "" for a public client. @since 0.4.0 */
    char client_id[TS_STORE_MAX_NAME_LEN + 1];
} ts_store_family;

/* ------------------------------------------------------------------------------------------ */
/* Store                                                                                      */

typedef struct ts_store ts_store;

/**
 * Open the store at @p opt->path, migrating an older schema: the SQLite file (created when
 * absent), or the PostgreSQL database when the path is a connection string (see
 * ts_store_options.path; the tables are created in an empty database or schema, under an
 * advisory lock so that replicas starting together migrate once). Fails with TS_EUNSUPPORTED
 * when the database was written by a newer tokensmith, with TS_EINVAL for out-of-range options
 * or a database that is not a tokensmith store, and with TS_EIO (`where` "store.unavailable",
 * the message naming the host) when the PostgreSQL server cannot be reached.
 * @return the store or NULL with @p err set.
 * Ownership: caller frees with ts_store_free().
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_store *ts_store_new(const ts_store_options *opt, ts_error *err);

/**
 * Bring the store at @p opt->path to this build's schema, as ts_store_new() does, and close
 * it again: for `tokensmith store migrate`.
 * @param from receives the schema version found (0 for a new store); may be NULL.
 * @param to   receives the version after the call; may be NULL.
 * @return as ts_store_new().
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_store_migrate(const ts_store_options *opt, unsigned *from,
                                               unsigned *to, ts_error *err);

/** Close every connection. NULL-safe. Never call while another thread uses @p s. @since 0.1.0 */
TS_API void ts_store_free(ts_store *s);

/** @return the backend's name ("sqlite" or "postgresql"); borrowed, static. @since 0.1.0 */
TS_API const char *ts_store_backend_name(const ts_store *s);

/**
 * Readiness: check that the store is writable (takes and releases the write lock). With
 * @p full, also run the backend's integrity check (slow on big databases).
 * @return TS_OK, or TS_EIO with the reason.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_check(ts_store *s, bool full, ts_error *err);

/* Bootstrap tokens ------------------------------------------------------------------------- */

/** What ts_store_bootstrap_create() needs. Strings are copied. */
typedef struct ts_store_bootstrap_params {
    const char *subject;  /**< required, 1..255 bytes, printable UTF-8 */
    const char *audience; /**< required, 1..255 bytes, printable UTF-8 */
    /** Scopes separated by commas, spaces, tabs or newlines (empties dropped, duplicates
     *  removed, order kept); each scope is an RFC 6749 scope-token without ','. NULL = none. */
    const char *scopes;
    const char *binding_id; /**< optional, audit only */
    int64_t ttl_s;          /**< within the options' bootstrap bounds */
    int64_t refresh_ttl_s;  /**< within the options' refresh bounds */
    int64_t now;
} ts_store_bootstrap_params;

/**
 * Normalise a scope list as the store keeps it: split @p scopes on commas, spaces, tabs and
 * newlines, drop empties and duplicates (order kept), check each as an RFC 6749 scope-token
 * without ',', and join them with single spaces. At most TS_STORE_MAX_SCOPES scopes and
 * TS_STORE_MAX_SCOPE_LEN bytes once joined. NULL or "" gives "".
 * @param out receives the list and a terminating NUL ("" on error).
 * @return TS_OK, or TS_EINVAL with @p err's `where` "scopes".
 * Thread-safety: no shared state; any thread.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_scopes_normalize(const char *scopes,
                                                        char out[TS_STORE_MAX_SCOPE_LEN + 1],
                                                        ts_error *err);

/**
 * Check @p p exactly as ts_store_bootstrap_create() does, without a store: subject and audience
 * (required), binding_id (optional), each 1..TS_STORE_MAX_NAME_LEN bytes of UTF-8 without
 * control characters and not only spaces; the scopes (ts_store_scopes_normalize()); `now`; and
 * ttl_s and refresh_ttl_s within the bounds of @p opt. For a program that answers a bad request
 * before it opens (or creates) the store, as `tokensmith bootstrap-token create` does.
 * @param opt       the bounds to apply; NULL: those of TS_STORE_OPTIONS_INIT.
 * @param scope_out may be NULL; receives the normalised scope list.
 * @return TS_OK, or TS_EINVAL with @p err's `where` naming the field ("subject", "audience",
 *         "binding_id", "scopes", "now", "ttl", "refresh_ttl").
 * Thread-safety: no shared state; any thread.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status
ts_store_bootstrap_params_check(const ts_store_options *opt, const ts_store_bootstrap_params *p,
                                char scope_out[TS_STORE_MAX_SCOPE_LEN + 1], ts_error *err);

/**
 * Validate @p p (ts_store_bootstrap_params_check() with the store's options), generate a
 * bootstrap token, and store its hash with the policy (and an audit record
 * "bootstrap_token_created"). Nothing is written when validation fails.
 * @param token_out receives the raw token; the only copy. Wipe it when done.
 * @param out       optional; receives the stored record.
 * @return TS_OK; TS_EINVAL naming the bad field; TS_EIO on a database failure.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_bootstrap_create(ts_store *s,
                                                        const ts_store_bootstrap_params *p,
                                                        char token_out[TS_STORE_TOKEN_LEN + 1],
                                                        ts_store_bootstrap_record *out,
                                                        ts_error *err);

/** Result of ts_store_bootstrap_redeem(). */
typedef enum ts_store_redeem_outcome {
    /** Consumed now; a refresh family was created (result.family). */
    TS_STORE_REDEEM_OK = 0,
    /** Lost-response retry accepted: the family issued before was revoked
     *  (result.revoked_family_id) and a new one created (result.family). */
    TS_STORE_REDEEM_REISSUED,
    TS_STORE_REDEEM_NOT_FOUND,
    TS_STORE_REDEEM_EXPIRED,
    /** Consumed earlier; the attempt was counted in the record and audited. */
    TS_STORE_REDEEM_ALREADY_CONSUMED
} ts_store_redeem_outcome;

typedef struct ts_store_redeem_result {
    ts_store_redeem_outcome outcome;
    ts_store_bootstrap_record record;            /**< valid unless NOT_FOUND */
    ts_store_family family;                      /**< valid for OK and REISSUED */
    char revoked_family_id[TS_STORE_ID_MAX + 1]; /**< REISSUED only */
} ts_store_redeem_result;

/** @return a static name for @p o ("ok", "reissued", "not_found", ...). @since 0.1.0 */
TS_API const char *ts_store_redeem_outcome_str(ts_store_redeem_outcome o);

/**
 * Redeem a bootstrap token: in one transaction, consume it if it is unconsumed and unexpired,
 * and create its refresh family whose first token hash is @p refresh_hash (absolute expiry
 * now + the token's refresh TTL). Exactly one of any number of concurrent callers gets
 * TS_STORE_REDEEM_OK.
 *
 * When the options' redeem_retry_grace_s is > 0, presenting an already consumed token again
 * gives TS_STORE_REDEEM_REISSUED instead of ALREADY_CONSUMED when all hold: it comes from the
 * same @p peer as the consumption, within the grace period, the family issued for it has never
 * been refreshed and is not revoked, and fewer than redeem_retry_max reissues happened. The old
 * family is revoked in the same transaction, so at most one family per bootstrap token is ever
 * live.
 *
 * @param token_hash   ts_store_token_hash() of the presented token.
 * @param peer         client address without port (ports change between retries); may be "".
 * @param refresh_hash hash of the refresh token the caller will hand out on success.
 * Outcomes are not errors: the return value is TS_OK whenever @p out->outcome is set.
 * @return TS_OK; TS_EINVAL for malformed arguments; TS_EIO on a database failure (nothing was
 *         consumed).
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_bootstrap_redeem(ts_store *s, const char *token_hash,
                                                        const char *peer, int64_t now,
                                                        const char *refresh_hash,
                                                        ts_store_redeem_result *out, ts_error *err);

/**
 * Look up a bootstrap token record by hash without changing it.
 * @return TS_OK, TS_ENOTFOUND, TS_EINVAL or TS_EIO.
 * @since 0.1.0
 */
/**
 * As ts_store_bootstrap_redeem(), for a redemption by an authenticated client: the family
 * created (or reissued) records @p client_id (NULL or "" for a public client, which is what
 * ts_store_bootstrap_redeem() passes), so that only that client may introspect its refresh
 * tokens.
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_bootstrap_redeem_client(
    ts_store *s, const char *token_hash, const char *peer, int64_t now, const char *refresh_hash,
    const char *client_id, ts_store_redeem_result *out, ts_error *err);

TS_API TS_NODISCARD ts_status ts_store_bootstrap_get(ts_store *s, const char *token_hash,
                                                     ts_store_bootstrap_record *out, ts_error *err);

/* Refresh families ------------------------------------------------------------------------- */

/** What ts_store_family_create() needs. Strings are copied. */
typedef struct ts_store_family_params {
    const char *subject; /**< as ts_store_bootstrap_params */
    const char *audience;
    const char *scopes;     /**< as ts_store_bootstrap_params */
    int64_t refresh_ttl_s;  /**< within the options' refresh bounds */
    const char *first_hash; /**< hash of the family's first refresh token */
    const char *peer;       /**< for the audit record; may be NULL */
    int64_t now;
} ts_store_family_params;

/**
 * Create a refresh family outside a bootstrap redemption (for example an mTLS session).
 * @param out optional; receives the family.
 * @return TS_OK; TS_EINVAL, also when @p first_hash is already in use; TS_EIO.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_family_create(ts_store *s, const ts_store_family_params *p,
                                                     ts_store_family *out, ts_error *err);

/**
 * As ts_store_family_create(), for a family issued to the registered client @p client_id (NULL
 * or "" for a public client, which is what ts_store_family_create() passes; else
 * 1..TS_STORE_MAX_NAME_LEN bytes as a subject): only that client may introspect its refresh
 * tokens. A separate call rather than a member of ts_store_family_params, which callers
 * built against an older header pass without it.
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_family_create_client(ts_store *s,
                                                            const ts_store_family_params *p,
                                                            const char *client_id,
                                                            ts_store_family *out, ts_error *err);

/** Result of ts_store_refresh_rotate(). */
typedef enum ts_store_rotate_outcome {
    TS_STORE_ROTATE_OK = 0,    /**< @p new_hash is now the family's current token */
    TS_STORE_ROTATE_NOT_FOUND, /**< no family knows this hash */
    TS_STORE_ROTATE_EXPIRED,   /**< the family's absolute lifetime has passed */
    TS_STORE_ROTATE_REVOKED,   /**< the family was revoked earlier */
    /** The hash was already rotated away: the family is now revoked (and audited). */
    TS_STORE_ROTATE_REUSE_DETECTED
} ts_store_rotate_outcome;

typedef struct ts_store_rotate_result {
    ts_store_rotate_outcome outcome;
    ts_store_family family; /**< valid unless NOT_FOUND; after OK, the updated family */
    /** The presented token had already been rotated away: a replay of an old token (always
     *  with REUSE_DETECTED; with REVOKED or EXPIRED when the family had already ended). False
     *  when it was the family's current token or unknown. */
    bool replayed;
} ts_store_rotate_result;

/** @return a static name for @p o ("ok", "not_found", "reuse_detected", ...). @since 0.1.0 */
TS_API const char *ts_store_rotate_outcome_str(ts_store_rotate_outcome o);

/**
 * Rotate a refresh token in one transaction: when @p presented_hash is the current token of an
 * active family, @p new_hash becomes current, the old hash is remembered as rotated, and the
 * usage count grows. Presenting a rotated hash of an active family revokes the whole family
 * (reuse detection, audited as "refresh_token_replay_detected" and
 * "refresh_token_family_revoked" in the same transaction). Of concurrent rotations of one
 * token exactly one gets OK; the others see REUSE_DETECTED (or REVOKED), which also ends the
 * winner's family: clients must not refresh one family concurrently.
 *
 * Presenting a rotated hash of a family that is already revoked gives REVOKED and changes
 * nothing durable (no commit that needs an fsync): such replays are counted in memory and
 * written as one "refresh_token_family_already_revoked" audit row per family per
 * replay_audit_interval_s (the first at once, with detail {"replays":N,"first_at":..,
 * "last_at":..}). So a flood of replays of one stolen token cannot fill the disk.
 * @return TS_OK whenever @p out->outcome is set; TS_EINVAL; TS_EIO (also when a due
 *         already-revoked row could not be written; the replay stays counted).
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_refresh_rotate(ts_store *s, const char *presented_hash,
                                                      const char *new_hash, const char *peer,
                                                      int64_t now, ts_store_rotate_result *out,
                                                      ts_error *err);

/**
 * Revoke a family (idempotent). @p revoked (optional) tells whether this call revoked it.
 * @return TS_OK, TS_ENOTFOUND, TS_EINVAL or TS_EIO.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_family_revoke(ts_store *s, const char *family_id,
                                                     const char *reason, int64_t now, bool *revoked,
                                                     ts_error *err);

/**
 * Look up the family of a refresh token by its hash, changing nothing (no rotation, no audit
 * record): for revocation and introspection. The hash may be the family's current one
 * (*@p current true) or one rotated away earlier (*@p current false); the family is returned
 * whatever its state (revoked, expired), the caller decides what that means.
 * @param token_hash ts_store_token_hash() of the presented token.
 * @param current    receives whether @p token_hash is the family's current token.
 * @return TS_OK; TS_ENOTFOUND when no family knows the hash (also once it was collected);
 *         TS_EINVAL for a malformed hash; TS_EIO; TS_EUNSUPPORTED for a backend older than
 *         interface version 6.
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_refresh_get(ts_store *s, const char *token_hash,
                                                   ts_store_family *out, bool *current,
                                                   ts_error *err);

/** Look up a family by id. @return TS_OK, TS_ENOTFOUND, TS_EINVAL or TS_EIO. @since 0.1.0 */
TS_API TS_NODISCARD ts_status ts_store_family_get(ts_store *s, const char *family_id,
                                                  ts_store_family *out, ts_error *err);

/* Audit ------------------------------------------------------------------------------------ */

/**
 * One audit record. For ts_store_audit_append() the caller fills it (id ignored; NULL strings
 * are stored as empty). For ts_store_audit_list() the pointers are borrowed, valid only during
 * the callback. Never put a token or a full hash in any field.
 */
typedef struct ts_store_audit_entry {
    int64_t id;       /**< increasing; assigned by the store */
    int64_t at;       /**< Unix seconds */
    const char *type; /**< e.g. "bootstrap_token_exchanged"; required, [a-z0-9_], <= 63 */
    const char *subject;
    const char *ref_id;      /**< jti, bootstrap id or family id */
    const char *hash_prefix; /**< at most 8 hex characters */
    const char *peer;
    const char *detail; /**< a JSON object or NULL */
} ts_store_audit_entry;

/**
 * Append an audit record. Refused (TS_EINVAL) when a field is too long, @p detail is not a JSON
 * object, or any field looks like a secret (a run of 40 or more hex characters, or a JWT).
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_audit_append(ts_store *s, const ts_store_audit_entry *e,
                                                    ts_error *err);

/** Audit callback; return non-zero to stop the listing. The user data comes last. */
typedef int (*ts_store_audit_fn)(const ts_store_audit_entry *e, void *ud);

/**
 * Call @p fn for the records with id > @p after_id, oldest first, at most @p limit of them
 * (0 = 1000).
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_audit_list(ts_store *s, int64_t after_id, size_t limit,
                                                  ts_store_audit_fn fn, void *ud, ts_error *err);

/* Garbage collection ----------------------------------------------------------------------- */

typedef struct ts_store_gc_counts {
    uint64_t bootstrap_tokens; /**< bootstrap records deleted */
    uint64_t families;         /**< families deleted */
    uint64_t rotated_hashes;   /**< remembered rotated hashes deleted with their families */
    uint64_t audit_records;    /**< audit records deleted (by age or by count) */
    uint64_t issued;           /**< issued access-token records deleted @since 0.4.0 */
    uint64_t revocations;      /**< revocations deleted (their token expired) @since 0.4.0 */
} ts_store_gc_counts;

/**
 * Delete bootstrap records whose expiry or consumption lies at least gc_retention_s before
 * @p now, families whose expiry or revocation does, together with their rotated hashes, audit
 * records at least audit_retention_s old, and then the oldest audit records beyond
 * audit_max_rows, and published keys whose not_after has passed (see ts_store_key_publish();
 * they are not counted in @p out). Also writes the due already-revoked replay counts (see
 * ts_store_refresh_rotate()). Works in small batches, each its own transaction, so it never
 * blocks grants for long. Call it periodically (the service: every minute); a record is gone
 * after the first call at or after its deadline.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_store_collect_expired(ts_store *s, int64_t now,
                                                       ts_store_gc_counts *out, ts_error *err);

#ifdef __cplusplus
}
#endif

/* What the token service's replicas share (published keys, the provider configuration), which
 * in turn includes the interface a storage backend implements (ts_store_new_with_backend()),
 * revocation, commit statistics, and the copy from SQLite to PostgreSQL: these headers need the
 * types above, and each of them gives the whole API, whichever is included first. */
#include <tokensmith/store_revocation.h>
#include <tokensmith/store_stats.h>
#include <tokensmith/store_shared.h>
#include <tokensmith/store_copy.h>

#endif
