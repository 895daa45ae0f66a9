/* Signing keys of the token service: loading, one-time generation, reload, and the published
 * JWKS (this replica's keys and those other replicas published in the store). */
#ifndef TS_SVC_KEYS_H
#define TS_SVC_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>
#include <tokensmith/jose.h>

typedef struct ts_svc_keyset ts_svc_keyset;
struct ts_svc_p11; /* keys_pkcs11.h */
typedef struct ts_svc_keyring ts_svc_keyring;

/* A published key stays served TS_SVC_KEY_LEEWAY_S seconds after the last token it signed
 * expires: the leeway covers a missed republication, clock differences between replicas and the
 * exp leeway verifiers allow. */
#define TS_SVC_KEY_LEEWAY_S 300
struct ts_store;

/**
 * Write a new private key for @p alg (RSA-2048 for PS256/RS256, P-256 for ES256, P-384 for
 * ES384) as PKCS#8 PEM to @p path, created with O_EXCL and mode 0600: an existing file is never
 * overwritten (TS_EIO "exists").
 * @param out optional; receives the loaded key bound to @p alg (free with ts_jwk_free()).
 */
TS_NODISCARD ts_status ts_svc_key_generate_file(const char *path, ts_jws_alg alg, ts_jwk **out,
                                                ts_error *err);

/**
 * Generate a key into @p dir (created 0700 when absent), named `<kid>.pem`.
 * @param path_out optional; receives the file name written.
 */
TS_NODISCARD ts_status ts_svc_key_generate_dir(const char *dir, ts_jws_alg alg, char *path_out,
                                               size_t cap, ts_error *err);

/* The key set (keys.c): what one reading of the key file or directory gave. Immutable. ------ */

/**
 * Read the service's keys.
 * - @p key_file non-empty: that one file; generated (as above) when it does not exist.
 * - otherwise @p key_dir: every `*.pem` file is a key and is published; files with any other
 *   name (for example `old.pem.retired`) are ignored. The active signing key is `active.pem`
 *   when present (a file or a symlink to one of the others), else the file with the newest
 *   modification time (ties: the greatest name). An empty or absent directory gets one
 *   generated key.
 * RSA keys (2048 bits or more) sign with @p rsa_alg (PS256 or RS256); EC keys with ES256
 * (P-256) or ES384 (P-384). @p want_alg, when not TS_JWS_ALG_UNKNOWN, is the algorithm a
 * generated key is made for and the one the active key must support.
 * A key file that its group or other users may read is refused (the key signs tokens for
 * anyone) unless @p allow_insecure_permissions.
 * Ownership: free with ts_svc_keyset_free().
 */
TS_NODISCARD ts_svc_keyset *ts_svc_keyset_open(const char *key_file, const char *key_dir,
                                               ts_jws_alg want_alg, bool allow_insecure_permissions,
                                               ts_error *err);
/**
 * The key set of a PKCS#11 token; its keys sign inside the token, their public halves are the
 * set's JWKS. Nothing is ever generated or written.
 * - @p state_dir holds a rotation state (rotation.json, keys_rotation.h) naming the token's
 *   keys: its active key (by label, checked against the kid recorded) signs, its next and
 *   retiring keys are published too.
 * - otherwise (@p state_dir NULL or "", no state file, or no active key of a token in it):
 *   the one key labelled pkcs11KeyLabel (ts_svc_p11_key_find()).
 * @p token must outlive the set. Ownership: free with ts_svc_keyset_free().
 */
TS_NODISCARD ts_svc_keyset *ts_svc_keyset_open_token(struct ts_svc_p11 *token,
                                                     const char *state_dir, ts_jws_alg want,
                                                     ts_error *err);
void ts_svc_keyset_free(ts_svc_keyset *ks);
/**
 * A compact JWS of @p payload signed by the active key with its algorithm and header
 * `{"alg","kid","typ"}`: with the private key of a key file, or inside the token.
 * Thread-safety: any number of threads at once. Ownership: free *out with ts_free().
 */
TS_NODISCARD ts_status ts_svc_keyset_sign(const ts_svc_keyset *ks, const char *typ,
                                          const char *payload, size_t len, char **out,
                                          size_t *out_len, ts_error *err);
const ts_jwk *ts_svc_keyset_active(const ts_svc_keyset *ks);
ts_jws_alg ts_svc_keyset_alg(const ts_svc_keyset *ks);
/** `{"keys":[...]}` of this set's public keys. Borrowed. */
const char *ts_svc_keyset_jwks_json(const ts_svc_keyset *ks);
size_t ts_svc_keyset_count(const ts_svc_keyset *ks);
/** Key @p i (0..count-1), bound to its algorithm; NULL beyond. Borrowed. */
const ts_jwk *ts_svc_keyset_key(const ts_svc_keyset *ks, size_t i);
const char *ts_svc_keyset_active_path(const ts_svc_keyset *ks);

/* The keyring (keys_published.c): the current key set, swapped on reload, and the JWKS. ---- */

/**
 * Open the keyring on a first key set (ts_svc_keyset_open(), same arguments; they are kept for
 * ts_svc_keyring_reload()). A @p key_file that is a pkcs11: URI (keys_pkcs11.h; what the
 * keyBackend pkcs11 settings become) opens the token instead (ts_svc_keyset_open_token(), with
 * @p key_dir as the directory of the rotation state); @p allow_insecure_permissions then also
 * accepts a PIN file others may read.
 * Ownership: free with ts_svc_keyring_free().
 */
TS_NODISCARD ts_svc_keyring *ts_svc_keyring_open(const char *key_file, const char *key_dir,
                                                 ts_jws_alg want_alg,
                                                 bool allow_insecure_permissions, ts_error *err);

/** Stop the refresher (if any) and free everything. NULL-safe. Call after every thread that
 *  used the keyring has stopped. */
void ts_svc_keyring_free(ts_svc_keyring *kr);

/* Borrowed pointers from the accessors below stay valid until ts_svc_keyring_free(): a key set
 * replaced by a reload is retired, not freed (reloads are rare; see keys_published.c). The
 * active key and the algorithm may come from different sets around a reload; the key itself is
 * bound to its algorithm. */

/** The signing key (bound to its algorithm; with a token, its public half). Borrowed. */
const ts_jwk *ts_svc_keyring_active(const ts_svc_keyring *kr);

/**
 * Sign @p payload with the current active key (ts_svc_keyset_sign()): what every token the
 * service or the gateway issues goes through, whichever backend holds the key.
 * Thread-safety: any number of threads at once, also during a reload. Ownership: free *out
 * with ts_free().
 */
TS_NODISCARD ts_status ts_svc_keyring_sign(const ts_svc_keyring *kr, const char *typ,
                                           const char *payload, size_t len, char **out,
                                           size_t *out_len, ts_error *err);

/** The PKCS#11 token of the keyring, NULL with key files. Borrowed (tests, benchmarks). */
struct ts_svc_p11 *ts_svc_keyring_token(const ts_svc_keyring *kr);
ts_jws_alg ts_svc_keyring_alg(const ts_svc_keyring *kr);
size_t ts_svc_keyring_count(const ts_svc_keyring *kr);
/** Where the active key was read from. Borrowed. */
const char *ts_svc_keyring_active_path(const ts_svc_keyring *kr);

/**
 * The served `{"keys":[...]}` document: the current key set's public keys and, once a store
 * is attached, the unexpired keys other replicas published there (refreshed about every
 * second; while the store fails, the last document that could be built). Borrowed: valid until
 * the calling thread calls this function again, or the keyring is freed (each thread gets its
 * own copy, so that a refresh never frees a document another thread is sending).
 */
const char *ts_svc_keyring_jwks_json(ts_svc_keyring *kr);

/** What a publication, reload or refresh did, for the service log. */
typedef struct ts_svc_keys_report {
    size_t published;    /**< keys of this replica written to the store */
    size_t served;       /**< keys in the served JWKS */
    size_t foreign;      /**< of those, published by other replicas (or earlier key sets) */
    size_t skipped;      /**< store rows refused (malformed, kid mismatch, over the bound) */
    char active_kid[72]; /**< the signing key's kid */
    bool changed;        /**< reload: the key set differs from the one before */
} ts_svc_keys_report;

/**
 * Attach @p store: publish every public key of the current set with not_after = now +
 * @p key_lifetime_s (the longest lifetime of a token this replica signs, plus leeway), build
 * the served JWKS from the store once, then start a thread that refreshes the JWKS every
 * second and republishes every @p republish_s seconds. Fails (nothing started) when the first
 * publication fails: a replica whose keys the others cannot serve must not answer grants.
 * @p store must outlive the keyring's refresher (ts_svc_keyring_detach() or free first).
 */
TS_NODISCARD ts_status ts_svc_keyring_attach(ts_svc_keyring *kr, struct ts_store *store,
                                             int64_t key_lifetime_s, unsigned republish_s,
                                             ts_svc_keys_report *out, ts_error *err);

/**
 * Publish @p key (its public members) into @p store so that every replica serves it until
 * @p token_exp, the expiry of a token about to be signed with it, plus the replicas' leeway.
 * For signers that run without a refresher (`user-token create`): a token that outlives the
 * service's access tokens must not outlive its key's publication. Never shortens one.
 */
TS_NODISCARD ts_status ts_svc_key_publish_until(struct ts_store *store, const ts_jwk *key,
                                                int64_t now, int64_t token_exp, ts_error *err);

/** Stop the refresher thread (the JWKS stays as last built). NULL-safe, idempotent. */
void ts_svc_keyring_detach(ts_svc_keyring *kr);

/**
 * Read the key file or directory again (SIGHUP, a rotation step); with a token, read the
 * rotation state and find the keys by their labels again (a key rotated in the token, by a
 * rotation step or by hand under the same label). When the set changed,
 * its keys are published first and only then does the new set become current, so that no token is
 * signed by a key the other replicas cannot serve yet. On any failure the current set stays.
 */
TS_NODISCARD ts_status ts_svc_keyring_reload(ts_svc_keyring *kr, ts_svc_keys_report *out,
                                             ts_error *err);

/**
 * The refresher's failures since the last call (0 when none) and the last reason, for a
 * periodic warning; resets the count.
 */
unsigned ts_svc_keyring_take_failures(ts_svc_keyring *kr, char *reason, size_t cap);

#endif
