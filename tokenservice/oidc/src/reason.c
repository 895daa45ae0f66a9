/* Reason strings, the RFC 8693 error each reason answers with, and the authn correspondence. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>

#include <tokensmith/authn.h>

#include "oidc_internal.h"

const char *ts_oidc_reason_str(ts_oidc_reason r)
{
    switch (r) {
#define TS_OIDC_REASON_CASE_(name, text)                                                           \
    case name:                                                                                     \
        return text;
        TS_OIDC_REASON_MAP(TS_OIDC_REASON_CASE_)
#undef TS_OIDC_REASON_CASE_
    }
    return "internal_error";
}

const char *ts_oidc_reason_oauth_error(ts_oidc_reason r, int *http_status)
{
    int status = 400;
    const char *e = "invalid_request";
    switch (r) {
    case TS_OIDC_OK:
        status = 200;
        e = NULL;
        break;
    case TS_OIDC_SCOPE_NOT_GRANTED:
        e = "invalid_scope";
        break;
    case TS_OIDC_TARGET_NOT_ALLOWED:
        e = "invalid_target";
        break;
    case TS_OIDC_NO_IDENTITY_RULE:
        e = "invalid_grant"; /* the token is fine; this identity gets nothing here */
        break;
    case TS_OIDC_KEYS_UNAVAILABLE:
    case TS_OIDC_DISCOVERY_FAILED:
    case TS_OIDC_INTROSPECTION_FAILED:
    case TS_OIDC_INTERNAL:
        /* Not the client's fault: the upstream could not be asked. */
        status = 503;
        e = "server_error";
        break;
    default:
        break;
    }
    if (http_status)
        *http_status = status;
    return e;
}

ts_oidc_reason ts_oidc__from_authn(int authn_reason)
{
    switch ((ts_authn_reason)authn_reason) {
    case TS_AUTHN_OK:
        return TS_OIDC_OK;
    case TS_AUTHN_MISSING_TOKEN:
        return TS_OIDC_MISSING_TOKEN;
    case TS_AUTHN_TOO_LARGE:
        return TS_OIDC_TOO_LARGE;
    case TS_AUTHN_MALFORMED:
        return TS_OIDC_MALFORMED;
    case TS_AUTHN_ALG_NOT_ALLOWED:
        return TS_OIDC_ALG_NOT_ALLOWED;
    case TS_AUTHN_WRONG_TYP:
        return TS_OIDC_WRONG_TYP;
    case TS_AUTHN_CRIT_UNSUPPORTED:
        return TS_OIDC_CRIT_UNSUPPORTED;
    case TS_AUTHN_BAD_KID:
        return TS_OIDC_BAD_KID;
    case TS_AUTHN_UNKNOWN_KID:
        return TS_OIDC_UNKNOWN_KID;
    case TS_AUTHN_KEYS_UNAVAILABLE:
        return TS_OIDC_KEYS_UNAVAILABLE;
    case TS_AUTHN_BAD_SIGNATURE:
        return TS_OIDC_BAD_SIGNATURE;
    case TS_AUTHN_INVALID_CLAIM:
        return TS_OIDC_INVALID_CLAIM;
    case TS_AUTHN_MISSING_CLAIM:
        return TS_OIDC_MISSING_CLAIM;
    case TS_AUTHN_EXPIRED:
        return TS_OIDC_EXPIRED;
    case TS_AUTHN_NOT_YET_VALID:
        return TS_OIDC_NOT_YET_VALID;
    case TS_AUTHN_WRONG_ISSUER:
        return TS_OIDC_WRONG_ISSUER;
    case TS_AUTHN_WRONG_AUDIENCE:
        return TS_OIDC_WRONG_AUDIENCE;
    case TS_AUTHN_INTERNAL:
        return TS_OIDC_INTERNAL;
    case TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION:
        /* Upstream tokens are verified without a step-up requirement; were one ever set, a
           token that falls short of it is a claim the exchange cannot accept. */
        return TS_OIDC_INVALID_CLAIM;
    case TS_AUTHN_REVOKED:
        /* Upstream tokens are verified without a revocation source; a listed jti is a token
           the exchange cannot accept. */
        return TS_OIDC_INVALID_CLAIM;
    case TS_AUTHN_REVOCATIONS_UNAVAILABLE:
        return TS_OIDC_INTERNAL;
    case TS_AUTHN_CERTIFICATE_BINDING:
        /* Upstream tokens are verified without a binding check; a failed one is a claim the
           exchange cannot accept. */
        return TS_OIDC_INVALID_CLAIM;
    }
    return TS_OIDC_INTERNAL;
}
