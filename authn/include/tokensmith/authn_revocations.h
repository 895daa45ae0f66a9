/**
 * @file authn_revocations.h
 * @brief A revocation source for the verifier: the issuer's signed list of revoked jtis
 *        (`GET /oauth/revocations`), polled in the background, so that a token revoked at the
 *        service is refused by every verifier within the poll interval, from its
 *        verified-token cache as well.
 *
 * The source fetches the full list once, then deltas by cursor (`?since=SEQ`), every
 * poll_interval_ms on a thread of its own. Each answer is a compact JWS (typ
 * "revocation-list+jwt") verified with the issuer's keys (the same static keys or key source
 * as the verifier) and a payload {"iss", "iat", "seq", "full", "more", "revoked": [{"jti",
 * "exp"}]}. The list is held in an immutable open-addressing hash table that a refresh
 * replaces as a whole, so a lookup is one atomic load and a probe (no lock).
 *
 * Staleness: when no answer has been applied for max_stale_s (or none yet), the source is
 * unavailable: fail-closed refuses every token with TS_AUTHN_REVOCATIONS_UNAVAILABLE (503,
 * retry), fail-open accepts it as if nothing were revoked.
 * @since 0.4.0
 */
#ifndef TOKENSMITH_AUTHN_REVOCATIONS_H
#define TOKENSMITH_AUTHN_REVOCATIONS_H

#include <tokensmith/authn.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef struct ts_authn_revocations ts_authn_revocations;

#define TS_AUTHN_REVOCATIONS_OPTIONS_VERSION 1u
/** Entries accepted from one answer (the service sends at most this many, then "more"). */
#define TS_AUTHN_REVOCATIONS_MAX_BATCH 100000u
/** Entries held in all (a list beyond this is refused: the source goes stale). */
#define TS_AUTHN_REVOCATIONS_MAX_ENTRIES 4000000u

/** Options of ts_authn_revocations_new(). Strings are copied. @since 0.4.0 */
typedef struct ts_authn_revocations_options {
    unsigned version; /**< TS_AUTHN_REVOCATIONS_OPTIONS_VERSION */
    /** The issuer's list, e.g. "https://issuer.example/oauth/revocations"; NULL: no thread, the
     *  list is only what ts_authn_revocations_apply() delivers. */
    const char *url;
    /** The list's `iss` must equal this (required, non-empty). */
    const char *issuer;
    const ts_jwks *keys;           /**< static keys (referenced), may be NULL */
    ts_authn_keysource *keysource; /**< consulted after @p keys; borrowed, must outlive us */
    unsigned poll_interval_ms;     /**< between polls (10000; 100..3600000) */
    unsigned max_stale_s;          /**< unavailable when no answer was applied this long (300) */
    bool fail_open;                /**< unavailable: accept (true) or refuse (false, default) */
    unsigned timeout_ms;           /**< whole HTTP request (5000) */
    size_t max_body_bytes;         /**< one answer's cap (32 MiB) */
    bool allow_insecure_http;      /**< permit http:// other than loopback (false) */
    /** Clock in Unix seconds; NULL = time(). For tests. Within ts_authn_verify() staleness is
     *  judged at the verifier's time (its own clock option), read once per verification. */
    int64_t (*now)(void *ud);
    void *now_ud;
} ts_authn_revocations_options;

#define TS_AUTHN_REVOCATIONS_OPTIONS_INIT                                                          \
    {                                                                                              \
        .version = TS_AUTHN_REVOCATIONS_OPTIONS_VERSION, .url = NULL, .issuer = NULL,              \
        .keys = NULL, .keysource = NULL, .poll_interval_ms = 10000, .max_stale_s = 300,            \
        .fail_open = false, .timeout_ms = 5000, .max_body_bytes = 32u << 20,                       \
        .allow_insecure_http = false, .now = NULL, .now_ud = NULL                                  \
    }

/**
 * Build a revocation source. With a URL, starts its polling thread (the first poll at once).
 * Ownership: free with ts_authn_revocations_free() after every verifier using it.
 * @return NULL with TS_EINVAL (`where` the option) or TS_ENOMEM.
 */
TS_API TS_NODISCARD ts_authn_revocations *
ts_authn_revocations_new(const ts_authn_revocations_options *opt, ts_error *err);

/** NULL-safe. Stops the thread (a fetch in progress within about a second) and joins it. */
TS_API void ts_authn_revocations_free(ts_authn_revocations *rs);

/**
 * Poll now on the calling thread (until the answer no longer says "more"); serialised with
 * the background poll. On failure the last good list stays in use.
 * @return TS_OK; TS_EINVAL (no URL); TS_EIO (fetch); TS_EINVAL naming what the answer got wrong.
 */
TS_API TS_NODISCARD ts_status ts_authn_revocations_refresh(ts_authn_revocations *rs, ts_error *err);

/**
 * Apply one answer of the list endpoint (the compact JWS exactly as received): signature,
 * typ, iss and bounds checked; a full list replaces the held one, a delta must start at the
 * held cursor. For push delivery and tests.
 * @return TS_OK; TS_EINVAL naming what is wrong (nothing applied); TS_ENOMEM.
 */
TS_API TS_NODISCARD ts_status ts_authn_revocations_apply(ts_authn_revocations *rs, const char *jws,
                                                         size_t len, ts_error *err);

/**
 * Is @p jti revoked? Lock-free; safe from any thread.
 * @return TS_AUTHN_OK; TS_AUTHN_REVOKED; TS_AUTHN_REVOCATIONS_UNAVAILABLE (fail-closed and
 *         stale). A NULL/empty jti is never revoked (the token cannot be named).
 */
TS_API ts_authn_reason ts_authn_revocations_check(const ts_authn_revocations *rs, const char *jti,
                                                  size_t len);

/** The cursor (last seq applied) and the number of entries held. */
TS_API uint64_t ts_authn_revocations_cursor(const ts_authn_revocations *rs);
TS_API size_t ts_authn_revocations_count(const ts_authn_revocations *rs);

#ifdef __cplusplus
}
#endif
#endif
