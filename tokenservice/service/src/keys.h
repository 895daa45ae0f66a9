/* Signing keys of the token service: loading, one-time generation, the published JWKS. */
#ifndef TS_SVC_KEYS_H
#define TS_SVC_KEYS_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>
#include <tokensmith/jose.h>

typedef struct ts_svc_keyring ts_svc_keyring;

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

/**
 * Open the service's keys.
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
 * Ownership: free with ts_svc_keyring_free().
 */
TS_NODISCARD ts_svc_keyring *ts_svc_keyring_open(const char *key_file, const char *key_dir,
                                                 ts_jws_alg want_alg,
                                                 bool allow_insecure_permissions, ts_error *err);

void ts_svc_keyring_free(ts_svc_keyring *kr);

/** The signing key (bound to its algorithm). Borrowed. */
const ts_jwk *ts_svc_keyring_active(const ts_svc_keyring *kr);
ts_jws_alg ts_svc_keyring_alg(const ts_svc_keyring *kr);
/** The published `{"keys":[...]}` document. Borrowed. */
const char *ts_svc_keyring_jwks_json(const ts_svc_keyring *kr);
size_t ts_svc_keyring_count(const ts_svc_keyring *kr);
/** Where the active key was read from. Borrowed. */
const char *ts_svc_keyring_active_path(const ts_svc_keyring *kr);

#endif
