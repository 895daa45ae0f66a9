/**
 * @file store_shared.h
 * @brief State that the replicas of the token service share through the store: the public
 *        signing keys each replica publishes (served as one JWKS by all of them), the
 *        versioned upstream provider configuration and the versioned token mappings.
 *        store.h includes this header.
 * @since 0.2.0
 */
#ifndef TOKENSMITH_STORE_SHARED_H
#define TOKENSMITH_STORE_SHARED_H

#include <tokensmith/store.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Published signing keys ------------------------------------------------------------------ */

#define TS_STORE_KEY_KID_MAX 64    /**< kid: 1..64 base64url characters (an RFC 7638 thumbprint) */
#define TS_STORE_KEY_ALG_MAX 15    /**< alg: 1..15 characters [A-Za-z0-9] ("ES256", "PS256") */
#define TS_STORE_KEY_JWK_MAX 8192  /**< the public JWK JSON (bytes) */
#define TS_STORE_KEY_LIST_MAX 256u /**< most unexpired keys ts_store_key_list() gives */

/**
 * A published public signing key. For ts_store_key_list() the strings are borrowed, valid only
 * during the callback.
 * @since 0.2.0
 */
typedef struct ts_store_published_key {
    const char *kid;      /**< RFC 7638 thumbprint of the key */
    const char *alg;      /**< the JWS algorithm its tokens carry */
    const char *jwk;      /**< the public JWK as a JSON object (never private members) */
    int64_t published_at; /**< first publication, Unix seconds */
    int64_t last_seen;    /**< latest publication */
    int64_t not_after;    /**< the key is listed while now < not_after */
} ts_store_published_key;

/**
 * Publish a public signing key so that every process sharing the store serves it in its JWKS
 * (several token service replicas, each with its own key directory): insert it, or refresh an
 * existing row (last_seen = @p now; jwk and alg replaced; not_after never shortened, so that a
 * replica publishing with a shorter lifetime cannot withdraw a key others still need).
 *
 * @p jwk_json must be a JSON object with only public JWK members (kty, kid, alg, use, key_ops,
 * n, e, crv, x, y, x5c, x5t, x5t#S256, x5u): a private member ("d", "p", "q", "dp", "dq",
 * "qi", "oth", "k") is refused, so that private key material can never reach the database.
 * Bounds: kid 1..64 base64url characters, alg 1..15 of [A-Za-z0-9], the JWK at most 8 KiB,
 * now < not_after <= now + 10 years.
 * @return TS_OK; TS_EINVAL (the message names the field) for a refused argument; TS_EIO;
 *         TS_EUNSUPPORTED for a backend of ops version 2.
 * Thread-safety: safe from any thread and process.
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_store_key_publish(ts_store *s, const char *kid, const char *alg,
                                                   const char *jwk_json, int64_t now,
                                                   int64_t not_after, ts_error *err);

/** Published-key callback; return non-zero to stop the listing. The user data comes last. */
typedef int (*ts_store_key_fn)(const ts_store_published_key *k, void *ud);

/**
 * Call @p fn for every published key with now < not_after, ordered by kid. When more than
 * TS_STORE_KEY_LIST_MAX such keys exist the call fails with TS_ELIMIT before any callback (a
 * JWKS must not grow without bound; expired rows do not count).
 * @return TS_OK, TS_EINVAL, TS_ELIMIT, TS_EIO or TS_EUNSUPPORTED (backend ops version 2).
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_store_key_list(ts_store *s, int64_t now, ts_store_key_fn fn,
                                                void *ud, ts_error *err);

/* Shared upstream provider configuration ------------------------------------------------- */

#define TS_STORE_OIDC_CONFIG_MAX (256u * 1024u) /**< the configuration document (bytes) */
#define TS_STORE_OIDC_ACTOR_MAX 127             /**< updated_by (bytes) */

/**
 * What ts_store_oidc_config_get() reports about the stored provider configuration.
 * @since 0.2.0
 */
typedef struct ts_store_oidc_config_meta {
    int64_t version;    /**< 0 while none is stored; then 1, 2, ... one per change */
    int64_t updated_at; /**< Unix seconds of the latest change */
    char updated_by[TS_STORE_OIDC_ACTOR_MAX + 1]; /**< who made it (a replica id or a peer) */
} ts_store_oidc_config_meta;

/**
 * Replace the upstream OpenID provider configuration shared by every process on this store
 * (several token service replicas), if and only if the stored version is still
 * @p expected_version (0: none stored yet). The new version is expected_version + 1. The
 * change and one audit record of type "oidc_config_changed" (at @p now, peer @p actor, ref_id
 * "oidc-config-v<version>", detail @p audit_detail) commit in one transaction, so a change is
 * audited exactly once, by the caller that made it.
 *
 * The document is a JSON object of 1..TS_STORE_OIDC_CONFIG_MAX bytes. It holds the providers'
 * client secrets: the store keeps it as given (the database's access control protects it, as
 * the file permissions protected the service's state file) and never puts it in an error
 * message; callers must not log it either.
 *
 * @param actor        1..TS_STORE_OIDC_ACTOR_MAX bytes, stored as updated_by and as the audit
 *                     record's peer.
 * @param audit_detail a JSON object for the audit record (checked like ts_store_audit_append()
 *                     checks it: no secrets), or NULL.
 * @param new_version  receives the version written; may be NULL.
 * @return TS_OK; TS_ECYCLE when the stored version is not @p expected_version (another writer
 *         changed it first; nothing was written, the message names the stored version);
 *         TS_EINVAL for a refused argument; TS_EIO; TS_EUNSUPPORTED for a backend of ops
 *         version 2 or 3.
 * Thread-safety: safe from any thread and process; of concurrent writers with the same
 * expected version exactly one succeeds.
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_store_oidc_config_put(ts_store *s, const char *json, size_t len,
                                                       int64_t expected_version, int64_t now,
                                                       const char *actor, const char *audit_detail,
                                                       int64_t *new_version, ts_error *err);

/**
 * Read the shared provider configuration: always its version, updated_at and updated_by
 * into @p meta (version 0 when none is stored), and the document only when its version is
 * greater than @p have_version (else *@p json = NULL, *@p len = 0), so that a poll costs one
 * short query that transfers the document only after a change.
 *
 * Ownership: *@p json (NUL-terminated, it holds secrets) is the caller's; wipe and free it with
 * ts_free().
 * @return TS_OK, TS_EINVAL, TS_ENOMEM, TS_EIO or TS_EUNSUPPORTED (backend ops version 2 or 3).
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_store_oidc_config_get(ts_store *s, int64_t have_version,
                                                       char **json, size_t *len,
                                                       ts_store_oidc_config_meta *meta,
                                                       ts_error *err);

/* Shared token mappings ------------------------------------------------------------------ */

#define TS_STORE_MAPPINGS_MAX (1024u * 1024u) /**< the mappings document (bytes) @since 0.3.0 */

/**
 * What ts_store_mappings_get() reports about the stored mappings document: the same members
 * as for the provider configuration (version 0 while none is stored).
 * @since 0.3.0
 */
typedef ts_store_oidc_config_meta ts_store_mappings_meta;

/**
 * Replace the token mappings document (identity rules, resource mappings and scope mappings
 * of the token service, docs/mappings.md) shared by every process on this store, if and only
 * if the stored version is still @p expected_version (0: none stored yet). The new version is
 * expected_version + 1. The change and one audit record of type "mappings_changed" (at
 * @p now, peer @p actor, ref_id "mappings-v<version>", detail @p audit_detail: the service
 * puts the kind, name and operation of the item changed and its previous value there) commit
 * in one transaction, so a change is audited exactly once, by the caller that made it.
 *
 * The document is a JSON object of 1..TS_STORE_MAPPINGS_MAX bytes; the store checks that it
 * is JSON, the service checks its model. It holds no secrets.
 *
 * @param actor        1..TS_STORE_OIDC_ACTOR_MAX bytes (the principal that made the change),
 *                     stored as updated_by and as the audit record's peer.
 * @param audit_detail a JSON object for the audit record (checked like ts_store_audit_append()
 *                     checks it), or NULL.
 * @param new_version  receives the version written; may be NULL.
 * @return TS_OK; TS_ECYCLE when the stored version is not @p expected_version (nothing was
 *         written); TS_EINVAL for a refused argument; TS_EIO; TS_EUNSUPPORTED for a backend of
 *         ops version 2, 3 or 4.
 * Thread-safety: safe from any thread and process; of concurrent writers with the same
 * expected version exactly one succeeds.
 * @since 0.3.0
 */
TS_API TS_NODISCARD ts_status ts_store_mappings_put(ts_store *s, const char *json, size_t len,
                                                    int64_t expected_version, int64_t now,
                                                    const char *actor, const char *audit_detail,
                                                    int64_t *new_version, ts_error *err);

/**
 * Read the token mappings document: always its meta (version 0 when none is stored), and the
 * document only when its version is greater than @p have_version (else *@p json = NULL,
 * *@p len = 0), so that a replica's poll costs one short query.
 *
 * Ownership: *@p json (NUL-terminated) is the caller's; free it with ts_free().
 * @return TS_OK, TS_EINVAL, TS_ENOMEM, TS_EIO or TS_EUNSUPPORTED (backend ops version 2..4).
 * @since 0.3.0
 */
TS_API TS_NODISCARD ts_status ts_store_mappings_get(ts_store *s, int64_t have_version, char **json,
                                                    size_t *len, ts_store_mappings_meta *meta,
                                                    ts_error *err);

#ifdef __cplusplus
}
#endif

/* The backend interface needs the types above. */
#include <tokensmith/store_backend.h>

#endif
