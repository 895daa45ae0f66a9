/* Private contracts of the JOSE core, shared by the verifier, key sources, tests and fuzzers. */
#ifndef TS_AUTHN_JOSE_INTERNAL_H
#define TS_AUTHN_JOSE_INTERNAL_H

#include <stdatomic.h>

#include <jansson.h>
#include <openssl/evp.h>

#include <tokensmith/jose.h>

struct ts_p256_table; /* jose/p256.h */

struct ts_jwk {
    atomic_uint refs;
    EVP_PKEY *pkey;
    ts_jwk_type kty;
    int nid;        /* curve NID for EC, 0 for RSA */
    unsigned bits;  /* modulus or field size */
    unsigned coord; /* EC coordinate (and half-signature) length in bytes */
    bool priv;
    ts_jws_alg alg; /* bound algorithm, or UNKNOWN */
    char kid[TS_JOSE_MAX_KID_BYTES + 1];
    size_t kid_len;
    char thumbprint[TS_JOSE_THUMBPRINT_LEN + 1];
    /* Verification contexts initialised once per algorithm and copied per call: copying is
       cheaper than EVP_DigestVerifyInit. Set once with compare-and-swap, freed with the key. */
    _Atomic(EVP_MD_CTX *) vtmpl[TS_JWS_ES512 + 1];
    /* The same for signing (private keys only): EVP_DigestSignInit costs more than a copy. */
    _Atomic(EVP_MD_CTX *) stmpl[TS_JWS_ES512 + 1];
    /* P-256 keys: the comb table of the public point for the dedicated ES256 verifier (about
       148 KiB), built on first use, set once with compare-and-swap, freed with the key. */
    _Atomic(struct ts_p256_table *) p256;
};

struct ts_jwks {
    atomic_uint refs;
    size_t n;
    ts_jwk **keys; /* sorted by kid bytes */
};

/** Strict decode into caller storage; @return false on any non-canonical input or overflow. */
bool ts_authn__b64url_decode_buf(const char *in, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len);
/** Encode into caller storage (cap >= ts_authn__b64url_encoded_len(len) + 1). */
size_t ts_authn__b64url_encode_buf(const uint8_t *in, size_t len, char *out);
size_t ts_authn__b64url_encoded_len(size_t len);
size_t ts_authn__b64url_decoded_max(size_t len);

/** @return maximum nesting depth of arrays/objects in JSON text (strings skipped). */
unsigned ts_authn__json_depth(const char *s, size_t len);

/**
 * Parse untrusted JSON: size and depth caps, duplicate members rejected, top level must be an
 * object. @return new reference or NULL with err set (where = @p what).
 */
json_t *ts_authn__json_parse_object(const char *s, size_t len, size_t max_bytes, const char *what,
                                    ts_error *err);

/**
 * Strict JSON (an object or array at the top) with the acceptance of jansson's
 * json_loadb(JSON_REJECT_DUPLICATES), depth capped at TS_JOSE_MAX_JSON_DEPTH.
 * @return new reference, or NULL with a static reason in *err and the byte offset in *pos.
 */
json_t *ts_authn__json_parse_strict(const char *s, size_t len, const char **err, size_t *pos);

/** Build a key from an EVP_PKEY (reference taken on success). kid NULL = thumbprint. */
ts_jwk *ts_authn__jwk_from_pkey(EVP_PKEY *pkey, bool priv, const char *kid, ts_jws_alg alg,
                                ts_error *err);

/** Parse a JWK already decoded to a JSON object; where prefixes member names in errors. */
ts_jwk *ts_authn__jwk_from_json(const json_t *obj, const char *where, ts_error *err);

/** The public JWK as a JSON object (kty, members, kid, alg when bound, use "sig"). */
json_t *ts_authn__jwk_to_object(const ts_jwk *key);

/** Family checks used by the verifier. */
bool ts_authn__alg_is_rsa(ts_jws_alg alg);
bool ts_authn__alg_is_ec(ts_jws_alg alg);
const EVP_MD *ts_authn__alg_md(ts_jws_alg alg);

/** Sign with a caller-built protected header (used as is): tests and hostile corpora need it. */
ts_status ts_authn__jws_sign_header(const ts_jwk *key, ts_jws_alg alg, const char *header,
                                    size_t header_len, const char *payload, size_t payload_len,
                                    char **out, size_t *out_len, ts_error *err);

#endif
