/**
 * @file jose.h
 * @brief JOSE core of tokensmith: strict base64url, JWK/JWKS, RFC 7638 thumbprints and JWS
 *        compact signing and verification (PS/RS/ES 256/384/512) on OpenSSL 3 EVP.
 *
 * Keys (::ts_jwk) and key sets (::ts_jwks) are immutable once built and reference counted, so
 * that one parsed key serves every thread and every key set that contains it: a key is parsed
 * once and cached by its kid, never re-read per token.
 *
 * Thread-safety: every function taking a const handle may be called from any number of threads
 * at once. ts_jwk_ref()/ts_jwks_ref() and the matching free are atomic.
 * Ownership: strings returned as `char *` are freed with ts_free().
 * @since 0.1.0
 */
#ifndef TOKENSMITH_JOSE_H
#define TOKENSMITH_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size caps on untrusted JOSE input. */
#define TS_JOSE_MAX_KID_BYTES 128u             /**< a longer kid is refused */
#define TS_JOSE_MAX_JWK_BYTES (64u * 1024u)    /**< one JWK document */
#define TS_JOSE_MAX_JWKS_BYTES (1024u * 1024u) /**< one JWKS document (also the HTTP body cap) */
#define TS_JOSE_MAX_JWKS_KEYS 256u             /**< keys in one set */
#define TS_JOSE_MAX_JSON_DEPTH 16u             /**< nesting of a JOSE header, claims or JWK */
#define TS_JOSE_MIN_RSA_BITS 2048u             /**< smaller RSA keys are refused */
#define TS_JOSE_MAX_RSA_BITS 16384u            /**< larger RSA keys are refused (verify cost) */
#define TS_JOSE_THUMBPRINT_LEN 43u             /**< base64url of a SHA-256 digest */

/**
 * Free a string or buffer returned by this library. NULL-safe.
 * @deprecated since 0.1.0: use ts_free() (export.h), the one free function of every tokensmith
 * library. Kept exported so that programs linked against an earlier build still load.
 */
TS_API TS_DEPRECATED("use ts_free()") void ts_authn_free(void *p);

/* ------------------------------------------------------------------------------------------ */
/* base64url (RFC 4648 §5, no padding)                                                        */

/**
 * Decode base64url strictly: only `A-Z a-z 0-9 - _`; padding, white space, any other byte and
 * a non-canonical final character (unused low bits set) are rejected.
 * @param out receives a new buffer (NUL-terminated for convenience, not counted in @p out_len).
 * Ownership: free *out with ts_free().
 */
TS_API TS_NODISCARD ts_status ts_b64url_decode(const char *in, size_t len, uint8_t **out,
                                               size_t *out_len, ts_error *err);

/** Encode without padding. Ownership: free *out (NUL-terminated) with ts_free(). */
TS_API TS_NODISCARD ts_status ts_b64url_encode(const void *in, size_t len, char **out,
                                               size_t *out_len, ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Algorithms                                                                                 */

/** JWS algorithms this library signs and verifies. `none` and HMAC are deliberately absent. */
typedef enum ts_jws_alg {
    TS_JWS_ALG_UNKNOWN = 0,
    TS_JWS_RS256,
    TS_JWS_RS384,
    TS_JWS_RS512,
    TS_JWS_PS256,
    TS_JWS_PS384,
    TS_JWS_PS512,
    TS_JWS_ES256,
    TS_JWS_ES384,
    TS_JWS_ES512,
} ts_jws_alg;

#define TS_JWS_ALG_BIT(a) (1u << (unsigned)(a))
/** Every supported algorithm, as a bit set of TS_JWS_ALG_BIT(). */
#define TS_JWS_ALGS_ALL 0x3FEu

/** @return "RS256", ...; "unknown" for anything else. Static string. */
TS_API const char *ts_jws_alg_name(ts_jws_alg alg);

/** Case-sensitive lookup (RFC 8725 §3.1): "rs256" and "none" give TS_JWS_ALG_UNKNOWN. */
TS_API ts_jws_alg ts_jws_alg_parse(const char *name, size_t len);

/* ------------------------------------------------------------------------------------------ */
/* Keys                                                                                       */

typedef struct ts_jwk ts_jwk;

typedef enum ts_jwk_type { TS_JWK_RSA = 1, TS_JWK_EC = 2 } ts_jwk_type;

/**
 * Parse one JWK (RFC 7517): `kty` RSA (`n`, `e`) or EC (`crv` P-256/P-384/P-521, `x`, `y` of the
 * curve's full length, point checked to be on the curve). Private members are ignored: the
 * result is a public key. `alg`, when present, must be one this library supports and fit the
 * key; `use`, when present, must be `sig`. A missing `kid` becomes the RFC 7638 thumbprint.
 * @return the key or NULL with @p err naming the member ("jwk.n: ...").
 * Ownership: free with ts_jwk_free().
 */
TS_API TS_NODISCARD ts_jwk *ts_jwk_parse(const char *json, size_t len, ts_error *err);

/**
 * Parse a PEM block: public key (SPKI `PUBLIC KEY`, PKCS#1 `RSA PUBLIC KEY`), X.509
 * `CERTIFICATE` (its public key), or private key (PKCS#8, PKCS#1 `RSA PRIVATE KEY`, SEC1
 * `EC PRIVATE KEY`; unencrypted). The kid is the RFC 7638 thumbprint.
 * Ownership: free with ts_jwk_free().
 */
TS_API TS_NODISCARD ts_jwk *ts_jwk_from_pem(const char *pem, size_t len, ts_error *err);

/** Read a file holding a PEM block or a JWK and parse it as above. */
TS_API TS_NODISCARD ts_jwk *ts_jwk_load_file(const char *path, ts_error *err);

/**
 * Generate a fresh private key fit for @p alg: RSA-2048 (e=65537) for RS and PS, the matching
 * curve for ES. The key is bound to @p alg. Ownership: free with ts_jwk_free().
 */
TS_API TS_NODISCARD ts_jwk *ts_jwk_generate(ts_jws_alg alg, ts_error *err);

/**
 * A copy of @p key (sharing the parsed key material) with another kid and/or algorithm.
 * @param kid NULL keeps the current kid. @param alg TS_JWS_ALG_UNKNOWN keeps the current binding.
 */
TS_API TS_NODISCARD ts_jwk *ts_jwk_with(const ts_jwk *key, const char *kid, ts_jws_alg alg,
                                        ts_error *err);

/** Take a reference. @return @p key. */
TS_API ts_jwk *ts_jwk_ref(ts_jwk *key);
/** Drop a reference; the key is freed with the last one. NULL-safe. */
TS_API void ts_jwk_free(ts_jwk *key);

/** The kid (explicit, or the thumbprint). Borrowed, valid while @p key lives. */
TS_API const char *ts_jwk_kid(const ts_jwk *key);
/** RFC 7638 SHA-256 thumbprint, 43 characters. Borrowed. */
TS_API const char *ts_jwk_thumbprint(const ts_jwk *key);
TS_API ts_jwk_type ts_jwk_kty(const ts_jwk *key);
/** "P-256", "P-384", "P-521" for EC keys, NULL for RSA. Static string. */
TS_API const char *ts_jwk_curve(const ts_jwk *key);
/** Modulus or field size in bits. */
TS_API unsigned ts_jwk_bits(const ts_jwk *key);
/** True when the key can sign. */
TS_API bool ts_jwk_is_private(const ts_jwk *key);
/** The algorithm from the JWK's `alg`, or TS_JWS_ALG_UNKNOWN when the key names none. */
TS_API ts_jws_alg ts_jwk_alg(const ts_jwk *key);
/**
 * The algorithms this key may be used with, as TS_JWS_ALG_BIT() bits: exactly its `alg` when it
 * has one; else every RS and PS algorithm for RSA, the curve's ES algorithm for EC.
 */
TS_API unsigned ts_jwk_allowed_algs(const ts_jwk *key);

/**
 * The public JWK as compact JSON: kty, the key members, kid, alg (when bound) and use "sig".
 * Ownership: free with ts_free().
 */
TS_API TS_NODISCARD char *ts_jwk_to_json(const ts_jwk *key, ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* Key sets                                                                                   */

typedef struct ts_jwks ts_jwks;

/**
 * Parse a JWK Set (`{"keys":[...]}`; at most TS_JOSE_MAX_JWKS_KEYS keys, TS_JOSE_MAX_JWKS_BYTES
 * bytes). Keys that are not for signature verification are skipped (`use` other than "sig",
 * `kty` other than RSA or EC — symmetric keys are never accepted as verification keys). A key
 * that is malformed fails the whole set ("keys[2].n: ..."), as do two keys with one kid.
 * Ownership: free with ts_jwks_free().
 */
TS_API TS_NODISCARD ts_jwks *ts_jwks_parse(const char *json, size_t len, ts_error *err);

/** Read and parse a JWKS file. */
TS_API TS_NODISCARD ts_jwks *ts_jwks_load_file(const char *path, ts_error *err);

/**
 * A set holding @p keys (each referenced, not copied). Two keys with one kid are an error
 * unless they are the same key (same thumbprint), which is kept once.
 */
TS_API TS_NODISCARD ts_jwks *ts_jwks_new(ts_jwk *const *keys, size_t n, ts_error *err);

/** The union of several sets, with the duplicate rule of ts_jwks_new(). NULL entries skipped. */
TS_API TS_NODISCARD ts_jwks *ts_jwks_merge(const ts_jwks *const *sets, size_t n, ts_error *err);

TS_API ts_jwks *ts_jwks_ref(ts_jwks *set);
/** NULL-safe. */
TS_API void ts_jwks_free(ts_jwks *set);

TS_API size_t ts_jwks_count(const ts_jwks *set);
/** Borrowed; valid while @p set lives. */
TS_API const ts_jwk *ts_jwks_get(const ts_jwks *set, size_t i);
/** Exact, byte-wise kid lookup (O(log n)). @return borrowed key or NULL. */
TS_API const ts_jwk *ts_jwks_find(const ts_jwks *set, const char *kid, size_t kid_len);
/** `{"keys":[...]}` of the public keys. Ownership: free with ts_free(). */
TS_API TS_NODISCARD char *ts_jwks_to_json(const ts_jwks *set, ts_error *err);

/* ------------------------------------------------------------------------------------------ */
/* JWS compact                                                                                */

/**
 * Sign @p payload (the JSON claims, used as is) with @p key and produce a compact JWS with the
 * protected header `{"alg":..,"kid":..,"typ":..}`.
 * @param alg must be in ts_jwk_allowed_algs(key). @param typ may be NULL (no typ member).
 * Ownership: free *out (NUL-terminated) with ts_free().
 */
TS_API TS_NODISCARD ts_status ts_jws_sign(const ts_jwk *key, ts_jws_alg alg, const char *typ,
                                          const char *payload, size_t payload_len, char **out,
                                          size_t *out_len, ts_error *err);

/**
 * Produces the raw JWS signature of @p input (the ASCII `header.payload`, RFC 7515 §5.1 step 5)
 * for ts_jws_sign_external(): for ES256/ES384/ES512 the fixed-length R||S form (RFC 7518
 * §3.4), for RS and PS the RSA signature (as long as the modulus). Writes at most @p sig_cap
 * bytes into @p sig and their number into *@p sig_len.
 * @return TS_OK, or a code with @p err set (the signing fails with it).
 * @since 0.2.0
 */
typedef ts_status (*ts_jws_signer_fn)(ts_jws_alg alg, const void *input, size_t input_len,
                                      uint8_t *sig, size_t sig_cap, size_t *sig_len, void *ud,
                                      ts_error *err);

/**
 * Sign like ts_jws_sign() with a private key held elsewhere (a PKCS#11 token, a remote signer):
 * the header `{"alg","kid","typ"}` names @p public_key's kid, and @p fn, called once on the
 * calling thread with @p ud, computes the signature. A signature whose length does not fit
 * @p public_key and @p alg fails the call (TS_EINTERNAL); the signature is not verified here.
 * @param public_key the signing key's public half (a private key works too); @p alg must be in
 *        ts_jwk_allowed_algs(public_key). @param typ may be NULL.
 * Ownership: free *out (NUL-terminated) with ts_free(). @p ud stays the caller's.
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_status ts_jws_sign_external(const ts_jwk *public_key, ts_jws_alg alg,
                                                   const char *typ, const char *payload,
                                                   size_t payload_len, ts_jws_signer_fn fn,
                                                   void *ud, char **out, size_t *out_len,
                                                   ts_error *err);

/**
 * Verify a raw JWS signature (ES: the fixed-length R||S form) over @p input with @p key.
 * No header or claim checks: the token verifier in authn.h does those.
 * @return TS_OK when valid; TS_EINVAL when the signature does not verify; other codes on error.
 */
TS_API TS_NODISCARD ts_status ts_jws_verify_raw(const ts_jwk *key, ts_jws_alg alg,
                                                const void *input, size_t input_len,
                                                const uint8_t *sig, size_t sig_len, ts_error *err);

#ifdef __cplusplus
}
#endif
#endif
