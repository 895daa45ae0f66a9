/* Signing keys held in a PKCS#11 token (an HSM, SoftHSM2): the module, the token session pool,
 * the key's public half for the JWKS and signatures made inside the token. docs/keys.md.
 *
 * Objects: a ::ts_svc_p11 is one logged-in token of one module (keys_pkcs11.c); a
 * ::ts_svc_p11_key is one private key in it, found by label, with its public JWK
 * (keys_pkcs11_key.c). The key's private half never leaves the token.
 * Thread-safety: ts_svc_p11_key_sign() may be called from any number of threads at once
 * (sessions are pooled: one thread per session at a time). Opening and freeing are not.
 * Ownership: the key borrows its token; free every key before the token. */
#ifndef TS_SVC_KEYS_PKCS11_H
#define TS_SVC_KEYS_PKCS11_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/jose.h>

#include "keys_p11uri.h"

typedef struct ts_svc_p11 ts_svc_p11;
typedef struct ts_svc_p11_key ts_svc_p11_key;

/**
 * dlopen the module, C_Initialize it (CKF_OS_LOCKING_OK; a module already initialised in this
 * process is shared), find the token by label, open a session and log in as the user with the
 * PIN (read from the file or variable, wiped right after). Errors name the setting (where:
 * "pkcs11Module", "pkcs11TokenLabel", "pkcs11PinFile", "pkcs11PinEnv") and the module or
 * token, never the PIN.
 * Ownership: free with ts_svc_p11_free().
 */
TS_NODISCARD ts_svc_p11 *ts_svc_p11_open(const ts_svc_p11_options *o, ts_error *err);

/** Close the sessions and C_Finalize the module when this was its last user. NULL-safe. */
void ts_svc_p11_free(ts_svc_p11 *p);

/** The token's slot id (tests close its sessions behind the pool's back). */
unsigned long ts_svc_p11_slot(const ts_svc_p11 *p);

/** Sessions reopened after a loss (session closed, login lost, device removed) so far. */
unsigned long ts_svc_p11_reopens(const ts_svc_p11 *p);

/** "pkcs11:token=...;object=..." for logs: where the key is, nothing secret. Borrowed. */
const char *ts_svc_p11_describe(const ts_svc_p11 *p);

/** ts_svc_p11_describe() of the key labelled @p label (a rotation's) into @p buf. */
void ts_svc_p11_describe_label(const ts_svc_p11 *p, const char *label, char *buf, size_t cap);

/**
 * Find the private key labelled as configured and read its public half (CKA_EC_PARAMS and
 * CKA_EC_POINT, or CKA_MODULUS and CKA_PUBLIC_EXPONENT, from the private object or the public
 * object of the same CKA_ID or label). EC P-256 signs ES256, P-384 ES384; RSA (2048 bits or
 * more) @p want (RS256 or PS256; PS256 when TS_JWS_ALG_UNKNOWN). @p want, when given, must be
 * the key's algorithm. Where: "pkcs11KeyLabel".
 * Ownership: free with ts_svc_p11_key_free() before @p p.
 */
TS_NODISCARD ts_svc_p11_key *ts_svc_p11_key_find(ts_svc_p11 *p, ts_jws_alg want, ts_error *err);

/**
 * ts_svc_p11_key_find() for the private key labelled @p label (a key rotation made, see
 * ts_svc_p11_generate()) instead of pkcs11KeyLabel. Errors name @p label.
 */
TS_NODISCARD ts_svc_p11_key *ts_svc_p11_key_find_label(ts_svc_p11 *p, const char *label,
                                                       ts_jws_alg want, ts_error *err);

void ts_svc_p11_key_free(ts_svc_p11_key *k);

/** The key's CKA_LABEL. Borrowed. */
const char *ts_svc_p11_key_label(const ts_svc_p11_key *k);

/** pkcs11KeyLabel: the configured key, and the stem of the labels rotation gives. Borrowed. */
const char *ts_svc_p11_key_label_configured(const ts_svc_p11 *p);

/* keys_pkcs11_gen.c: keys made and destroyed inside the token (key rotation). ------------- */

/**
 * Generate a key pair for @p alg inside the token (C_GenerateKeyPair in a read-write session:
 * CKM_EC_KEY_PAIR_GEN on P-256 for ES256, P-384 for ES384; CKM_RSA_PKCS_KEY_PAIR_GEN, 2048
 * bits, e = 65537, for PS256 and RS256). The private key is CKA_TOKEN, CKA_PRIVATE,
 * CKA_SENSITIVE, not CKA_EXTRACTABLE, CKA_SIGN; the public key CKA_TOKEN, CKA_VERIFY; both
 * carry @p label and one random 16-byte CKA_ID. A label some object already has is refused
 * (TS_EINVAL), so that a key is never shadowed. A token that cannot generate (the
 * mechanism missing, CKR_FUNCTION_NOT_SUPPORTED, CKR_MECHANISM_INVALID) is TS_EUNSUPPORTED,
 * naming the token and the mechanism. A session or login lost meanwhile is reopened once.
 */
TS_NODISCARD ts_status ts_svc_p11_generate(ts_svc_p11 *p, ts_jws_alg alg, const char *label,
                                           ts_error *err);

/** Whether an object (of any class) labelled @p label is in the token. */
TS_NODISCARD ts_status ts_svc_p11_label_used(ts_svc_p11 *p, const char *label, bool *used,
                                             ts_error *err);

/**
 * Destroy every private and public key object labelled @p label (C_DestroyObject); none is
 * not an error. @p destroyed (may be NULL) gets how many went.
 */
TS_NODISCARD ts_status ts_svc_p11_destroy(ts_svc_p11 *p, const char *label, unsigned *destroyed,
                                          ts_error *err);

/** The public key (kid = RFC 7638 thumbprint), bound to its algorithm. Borrowed. */
const ts_jwk *ts_svc_p11_key_public(const ts_svc_p11_key *k);

/**
 * A ::ts_jws_signer_fn with @p ud the ts_svc_p11_key: signs @p input inside the token (ES:
 * CKM_ECDSA over the SHA-256/384 digest; RS256: CKM_SHA256_RSA_PKCS; PS256:
 * CKM_SHA256_RSA_PKCS_PSS, MGF1-SHA256, salt 32). A lost session or login is reopened once and
 * the call retried.
 */
ts_status ts_svc_p11_key_sign(ts_jws_alg alg, const void *input, size_t input_len, uint8_t *sig,
                              size_t sig_cap, size_t *sig_len, void *ud, ts_error *err);

#endif
