/**
 * @file store_revocation.h
 * @brief Token revocation in the store (RFC 7009) and what introspection (RFC 7662) reads:
 *        the access tokens the service issued, by jti, so that revoking a refresh family or a
 *        subject also revokes the access tokens issued from it, and an ordered list of revoked
 *        jtis that verifiers poll with a cursor. store.h includes this header, so including
 *        either gives the whole API.
 *
 * Records: an issued access token is recorded with its subject, family and client until its
 * exp; a revocation (jti, exp, seq) is kept until the revoked token's exp, after which the
 * token is rejected for its expiry anyway. ts_store_collect_expired() deletes both once
 * expires_at <= now (counted in ts_store_gc_counts.issued and .revocations).
 *
 * Atomicity: every call is one transaction with its audit record, as for the other state
 * changes of the store; of concurrent revocations of one token, family or subject exactly one
 * reports that it revoked it.
 * @since 0.4.0
 */
#ifndef TOKENSMITH_STORE_H
/* Included on its own: store.h includes this header once the types it needs are declared. */
#include <tokensmith/store.h>
#elif !defined(TOKENSMITH_STORE_REVOCATION_H)
#define TOKENSMITH_STORE_REVOCATION_H

#ifdef __cplusplus
extern "C" {
#endif

/* Revocation ------------------------------------------------------------------------------ */

#define TS_STORE_JTI_MAX 64 /**< an access token's jti (bytes) @since 0.4.0 */

/**
 * An access token the service issued, recorded so that it can be revoked by family or
 * subject and introspected. Strings are copied.
 * @since 0.4.0
 */
typedef struct ts_store_issued {
    const char *jti;       /**< 1..TS_STORE_JTI_MAX printable ASCII */
    const char *subject;   /**< the token's sub: 1..TS_STORE_MAX_NAME_LEN bytes */
    const char *family_id; /**< the refresh family it came from, or NULL/"" (OIDC exchange, ...) */
    const char *client_id; /**< the client it was issued to, or NULL/"" */
    int64_t issued_at;
    int64_t expires_at; /**< its exp: the record (and a revocation) is collected after it */
} ts_store_issued;

/**
 * Record the issued access token @p t and append @p audit in ONE transaction, so that "no
 * token leaves without its audit record" stays one commit per grant. A jti recorded before is
 * refused (jtis are unique), nothing written.
 * @param audit the grant's audit record (checked as ts_store_audit_append() checks it), or
 *              NULL for none.
 * @return TS_OK; TS_EINVAL with `where` naming the field ("jti", "subject", "family_id",
 *         "client_id", "issued_at", "expires_at", "audit"), also for a jti already recorded;
 *         TS_EIO; TS_EUNSUPPORTED for a backend of ops version 2..5.
 * Thread-safety: safe from any thread and process.
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_token_issued(ts_store *s, const ts_store_issued *t,
                                                    const ts_store_audit_entry *audit,
                                                    ts_error *err);

/**
 * Revoke one access token by jti until @p expires_at (its exp). Idempotent. A jti never
 * recorded is revoked too: a verified JWT of ours can be revoked even when it was issued
 * before the store recorded tokens. A recorded token is marked revoked as well (its
 * expires_at is the one kept when it is later than @p expires_at). A token whose exp has
 * passed (@p expires_at <= @p now) is not revoked (nothing is written, *@p revoked false):
 * it is refused for its expiry already.
 * The audit record "token_revoked" (ref_id the jti, peer @p actor, detail {"reason":..})
 * commits in the same transaction, only when this call revoked the token.
 * @param reason  1..TS_STORE_MAX_REASON_LEN bytes, printable ASCII (e.g. "rfc7009").
 * @param actor   who asked (client id or principal), 0..TS_STORE_MAX_PEER_LEN bytes; NULL = "".
 * @param revoked optional; true when this call revoked the token, false when it already was.
 * @return TS_OK; TS_EINVAL naming the field; TS_EIO; TS_EUNSUPPORTED (ops version 2..5).
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_jti_revoke(ts_store *s, const char *jti, int64_t expires_at,
                                                  const char *reason, const char *actor,
                                                  int64_t now, bool *revoked, ts_error *err);

/**
 * Revoke a refresh family AND every unexpired access token recorded for it, in one
 * transaction (a refresh token's revocation ends everything issued from it, RFC 7009 §2.1).
 * Idempotent. A token recorded (ts_store_token_issued()) for a family that is already revoked
 * is recorded revoked, so a revoked family never has a live access token, even when the grant
 * raced the revocation. The audit record "refresh_token_family_revoked" (the type every family
 * revocation has; ref_id the family, peer @p actor, detail {"reason":..,"tokens":N}) commits in
 * the same transaction when anything changed. ts_store_family_revoke() stays as it is: it
 * revokes the family only.
 * @param n_tokens optional; access tokens newly revoked.
 * @param revoked  optional; true when this call revoked the family.
 * @return TS_OK; TS_ENOTFOUND when no such family; TS_EINVAL naming the field; TS_EIO;
 *         TS_EUNSUPPORTED (ops version 2..5).
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_family_revoke_tokens(ts_store *s, const char *family_id,
                                                            const char *reason, const char *actor,
                                                            int64_t now, size_t *n_tokens,
                                                            bool *revoked, ts_error *err);

/**
 * Revoke every live family of @p subject and every unexpired access token recorded for it, in
 * one transaction (bulk: a compromised service or user). The tokens reached are those
 * recorded with @p subject and those of its families. The audit record "subject_revoked"
 * (subject, peer @p actor, detail {"reason":..,"families":N,"tokens":M}) commits in the same
 * transaction, on every call: an operator's bulk action is recorded even when it found nothing
 * live (counts 0, not an error). A token granted after this call is not affected.
 * @param n_families optional; families newly revoked.
 * @param n_tokens   optional; access tokens newly revoked.
 * @return TS_OK; TS_EINVAL naming the field; TS_EIO; TS_EUNSUPPORTED (ops version 2..5).
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_subject_revoke(ts_store *s, const char *subject,
                                                      const char *reason, const char *actor,
                                                      int64_t now, size_t *n_families,
                                                      size_t *n_tokens, ts_error *err);

/**
 * Whether @p jti is revoked and its expiry has not yet passed (`now < expires_at`). Any error
 * means the caller must treat the token as revoked (fail closed).
 * @return TS_OK; TS_EINVAL; TS_EIO; TS_EUNSUPPORTED (ops version 2..5).
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_jti_revoked(ts_store *s, const char *jti, int64_t now,
                                                   bool *revoked, ts_error *err);

/** One revocation, for publication to verifiers. Caller storage. @since 0.4.0 */
typedef struct ts_store_revocation {
    char jti[TS_STORE_JTI_MAX + 1];
    int64_t expires_at;
    int64_t revoked_at;
    int64_t seq; /**< strictly increasing across the store (a cursor for deltas) */
} ts_store_revocation;

/**
 * Up to @p cap unexpired revocations with seq > @p after_seq, ordered by seq; *@p n receives
 * how many. A verifier polls with the last seq it saw: seqs become visible in increasing
 * order (also across replicas on PostgreSQL), so a cursor never skips a revocation.
 * @param cap 1..10000.
 * @return TS_OK; TS_EINVAL; TS_EIO; TS_EUNSUPPORTED (ops version 2..5).
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_revocations_list(ts_store *s, int64_t after_seq, int64_t now,
                                                        ts_store_revocation *out, size_t cap,
                                                        size_t *n, ts_error *err);

/** A recorded access token (for introspection). Caller storage; nothing to free.
 *  @since 0.4.0 */
typedef struct ts_store_issued_record {
    char jti[TS_STORE_JTI_MAX + 1];
    char subject[TS_STORE_MAX_NAME_LEN + 1];
    char family_id[TS_STORE_ID_MAX + 1];       /**< "" when none */
    char client_id[TS_STORE_MAX_NAME_LEN + 1]; /**< "" when none */
    int64_t issued_at, expires_at, revoked_at; /**< revoked_at 0 = not revoked */
} ts_store_issued_record;

/**
 * The recorded access token @p jti (subject, family, client, times), expired or not until
 * ts_store_collect_expired() deletes it.
 * @return TS_OK; TS_ENOTFOUND; TS_EINVAL; TS_EIO; TS_EUNSUPPORTED (ops version 2..5).
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_store_issued_get(ts_store *s, const char *jti,
                                                  ts_store_issued_record *out, ts_error *err);

#ifdef __cplusplus
}
#endif

#endif
