/*
 * authn, certificate-bound tokens (RFC 8705 §3; part of <tokensmith/authn.h>, which includes
 * this header through authn_mhd.h): whether the client certificate of the TLS connection a
 * token came on is the one the token is bound to (docs/authn.md, "Certificate-bound tokens
 * (RFC 8705)").
 */
#ifndef TOKENSMITH_AUTHN_BINDING_H
#define TOKENSMITH_AUTHN_BINDING_H

#include <tokensmith/authn.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Characters of a `cnf.x5t#S256` value: base64url of a SHA-256 digest, without padding. */
#define TS_AUTHN_X5T_S256_LEN 43u

/**
 * Whether the verified token of @p p may be used on a connection whose client presented the
 * certificate @p cert_der (the leaf, DER). The check of a service that terminates the mutual
 * TLS itself; the TLS handshake proved that the client holds the certificate's key.
 *  - no `cnf` claim: the token is not bound, TS_AUTHN_OK whatever the connection;
 *  - `cnf` an object whose only member is `x5t#S256`, a string of 43 base64url characters:
 *    TS_AUTHN_OK when it equals base64url(SHA-256(@p cert_der)) (compared in constant time);
 *  - every other case is a refusal, TS_AUTHN_INVALID_CLAIM with `where` "cnf" and a message
 *    starting "certificate binding: ": a bound token with no certificate (@p cert_der NULL
 *    or @p len 0) or with another certificate; a `cnf` that is not an object, is empty, or
 *    whose `x5t#S256` is malformed; and a `cnf` with any other member (`jkt` of DPoP, RFC
 *    9449, included), alone or next to `x5t#S256`: a confirmation method this check cannot
 *    verify is not satisfied, so such a token is refused rather than taken as a bearer token.
 * The messages hold no quote or backslash: a front may send one as the `error_description`
 * of its challenge (the libmicrohttpd hook does).
 * @param cert_der untrusted bytes; NULL with @p len 0 when no certificate was presented.
 * @return TS_AUTHN_OK, TS_AUTHN_CERTIFICATE_BINDING as said (deny), or TS_AUTHN_INTERNAL for a NULL
 *         @p p (deny).
 * Thread-safety: reads @p p only; any number of threads at once.
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_authn_reason ts_authn_check_x5t(const ts_authn_principal *p,
                                                       const unsigned char *cert_der, size_t len,
                                                       ts_error *err);

/**
 * Whether the token of @p p carries a `cnf` claim (of any form): a bound token, which
 * ts_authn_check_x5t() refuses without the right certificate. NULL @p p: false.
 * @since 0.5.0
 */
TS_API bool ts_authn_principal_is_bound(const ts_authn_principal *p);

#ifdef __cplusplus
}
#endif

#endif
