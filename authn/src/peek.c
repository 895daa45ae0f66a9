/* The unverified `iss` of a compact JWS: what a service with several issuers (the gateway's
   trust entries, the OpenID providers of ts_oidc) needs to pick the verifier whose keys and
   rules then decide. Read under the verifier's bounds, so that a token refused here would also
   be refused by ts_authn_verify(); never a trust decision, which is why it hands back a name to
   look up and nothing else. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "authn_internal.h"
#include "jose/jose_internal.h"

static ts_authn_reason refuse(ts_error *err, ts_authn_reason r, ts_status st, const char *where,
                              const char *msg)
{
    ts_error_set(err, st, where, "%s", msg);
    return r;
}

/* The iss member of the decoded payload @p pb (@p pn bytes), copied to *iss. */
static ts_authn_reason issuer_of(const uint8_t *pb, size_t pn, size_t max_bytes, char **iss,
                                 ts_error *err)
{
    ts_error je;
    ts_error_clear(&je);
    json_t *claims = ts_authn__json_parse_object((const char *)pb, pn, max_bytes, "payload", &je);
    if (!claims)
        return je.code == TS_ENOMEM ? refuse(err, TS_AUTHN_INTERNAL, TS_ENOMEM, "payload", je.msg)
                                    : refuse(err, TS_AUTHN_MALFORMED, je.code, "payload", je.msg);
    ts_authn_reason r = TS_AUTHN_OK;
    json_t *j = json_object_get(claims, "iss");
    size_t n = json_string_length(j);
    if (!j)
        r = refuse(err, TS_AUTHN_MISSING_CLAIM, TS_EINVAL, "iss", "claim \"iss\" is required");
    /* An issuer is configured as a C string: one with a NUL byte, or an empty one, names none. */
    else if (!json_is_string(j) || n == 0 || memchr(json_string_value(j), '\0', n))
        r = refuse(err, TS_AUTHN_INVALID_CLAIM, TS_EINVAL, "iss",
                   "claim \"iss\" must be a non-empty string without NUL");
    else if (!(*iss = strdup(json_string_value(j))))
        r = refuse(err, TS_AUTHN_INTERNAL, TS_ENOMEM, "iss", "out of memory");
    json_decref(claims);
    return r;
}

ts_authn_reason ts_authn_peek_issuer(const char *token, size_t len, size_t max_token_bytes,
                                     char **iss, ts_error *err)
{
    if (!iss)
        return refuse(err, TS_AUTHN_INTERNAL, TS_EINVAL, "ts_authn_peek_issuer",
                      "NULL out parameter");
    *iss = NULL;
    size_t max = max_token_bytes ? max_token_bytes : TS_AUTHN_DEFAULT_MAX_TOKEN_BYTES;
    if (!token || len == 0)
        return refuse(err, TS_AUTHN_MISSING_TOKEN, TS_EINVAL, "token", "no token");
    if (len > max) {
        ts_error_set(err, TS_ELIMIT, "token", "token of %zu bytes exceeds %zu", len, max);
        return TS_AUTHN_TOO_LARGE;
    }
    /* The structure as the verifier judges it: three parts, header and payload non-empty and
       strict base64url, the header within its cap (its JSON is the verifier's business). */
    const char *d1 = memchr(token, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)))
        return refuse(err, TS_AUTHN_MALFORMED, TS_EPARSE, "token",
                      "a compact JWS has exactly three parts");
    size_t hl = (size_t)(d1 - token), pl = (size_t)(d2 - d1 - 1);
    if (hl == 0 || pl == 0)
        return refuse(err, TS_AUTHN_MALFORMED, TS_EPARSE, "token", "empty header or payload");
    size_t hmax = ts_authn__b64url_decoded_max(hl), pmax = ts_authn__b64url_decoded_max(pl);
    uint8_t *buf = malloc(hmax + pmax + 2);
    if (!buf)
        return refuse(err, TS_AUTHN_INTERNAL, TS_ENOMEM, "token", "out of memory");
    uint8_t *hb = buf, *pb = buf + hmax + 1;
    size_t hn = 0, pn = 0;
    ts_authn_reason r;
    if (!ts_authn__b64url_decode_buf(token, hl, hb, hmax, &hn))
        r = refuse(err, TS_AUTHN_MALFORMED, TS_EPARSE, "header", "header is not strict base64url");
    else if (hn > TS_AUTHN__MAX_HEADER_BYTES) {
        ts_error_set(err, TS_ELIMIT, "header", "header of %zu bytes exceeds %u", hn,
                     TS_AUTHN__MAX_HEADER_BYTES);
        r = TS_AUTHN_MALFORMED;
    } else if (!ts_authn__b64url_decode_buf(d1 + 1, pl, pb, pmax, &pn))
        r = refuse(err, TS_AUTHN_MALFORMED, TS_EPARSE, "payload",
                   "payload is not strict base64url");
    else
        r = issuer_of(pb, pn, max, iss, err);
    free(buf);
    return r;
}
