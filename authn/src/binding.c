/* Certificate-bound tokens (RFC 8705 §3): a token whose `cnf` claim holds the SHA-256
   thumbprint of a client certificate is good only on a connection where that certificate was
   presented. The TLS handshake proved the client holds the certificate's key; what is left is
   to compare the thumbprint, which is all this file does. */
#include <string.h>

#include <openssl/crypto.h>

#include "authn_internal.h"
#include "jose/jose_internal.h"
#include "jose/sha256.h"

#define X5T_MEMBER "x5t#S256"

static ts_authn_reason refuse(ts_error *err, const char *why)
{
    /* No quote or backslash in any message: the hook sends it as error_description. */
    ts_error_set(err, TS_EINVAL, "cnf", "certificate binding: %s", why);
    return TS_AUTHN_CERTIFICATE_BINDING;
}

static bool b64url_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
              c == '-' || c == '_'))
            return false;
    }
    return true;
}

bool ts_authn_principal_is_bound(const ts_authn_principal *p)
{
    return p && json_object_get(p->claims, "cnf") != NULL;
}

ts_authn_reason ts_authn_check_x5t(const ts_authn_principal *p, const unsigned char *cert_der,
                                   size_t len, ts_error *err)
{
    if (!p) {
        ts_error_set(err, TS_EINVAL, "ts_authn_check_x5t", "NULL principal");
        return TS_AUTHN_INTERNAL;
    }
    const json_t *cnf = json_object_get(p->claims, "cnf");
    if (!cnf)
        return TS_AUTHN_OK; /* not bound: a bearer token */
    if (!json_is_object(cnf) || json_object_size(cnf) == 0)
        return refuse(err, "the cnf claim is not a confirmation object");
    const json_t *x5t = json_object_get(cnf, X5T_MEMBER);
    /* Any other member (jkt of DPoP, jwk, kid...) asks for a proof this check does not see:
       a binding that cannot be checked is not satisfied (fail closed), even next to x5t#S256. */
    if (!x5t || json_object_size(cnf) != 1)
        return refuse(err, "the token is bound by a confirmation method other than x5t#S256");
    const char *want = json_string_value(x5t);
    if (!want || json_string_length(x5t) != TS_AUTHN_X5T_S256_LEN ||
        !b64url_chars(want, TS_AUTHN_X5T_S256_LEN))
        return refuse(err, "x5t#S256 is not a base64url SHA-256 thumbprint");
    if (!cert_der || len == 0)
        return refuse(err, "the token is bound to a client certificate and none was presented");
    unsigned char digest[32];
    char got[TS_AUTHN_X5T_S256_LEN + 2];
    ts_authn__sha256(cert_der, len, digest);
    got[ts_authn__b64url_encode_buf(digest, sizeof digest, got)] = '\0';
    /* Constant time: the thumbprint is not secret, but a timing oracle on it costs nothing to
       avoid. */
    if (CRYPTO_memcmp(got, want, TS_AUTHN_X5T_S256_LEN) != 0)
        return refuse(err, "the client certificate is not the one the token is bound to");
    return TS_AUTHN_OK;
}
