/*
 * The token endpoint's answer: an RFC 6749 §5.1 / RFC 8693 §2.2.1 success, or an RFC 6749 §5.2
 * error. Self-contained (only tokensmith's public headers) so that the fuzz target
 * (fuzz/fuzz_client_response.c) can include it.
 */
#ifndef TS_CLIENT_RESPONSE_H
#define TS_CLIENT_RESPONSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/client.h>
#include <tokensmith/error.h>

/** Longest expires_in / refresh_expires_in accepted: ten years. */
#define TS_CLIENT__MAX_LIFETIME_S (10 * 366 * 86400LL)
/** Longest scope and issued_token_type accepted. */
#define TS_CLIENT__MAX_SCOPE 4096u
#define TS_CLIENT__MAX_TOKEN_TYPE_URI 256u

/** A parsed success. Strings are heap copies; tokens are wiped by the cleanup. */
typedef struct ts_client__tokens {
    char *access_token; /**< 0x21..0x7E only */
    size_t access_len;
    char token_type[32];
    bool has_expires_in;
    int64_t expires_in;  /**< seconds, >= 0 */
    char *refresh_token; /**< NULL: none */
    size_t refresh_len;
    bool has_refresh_expires_in;
    int64_t refresh_expires_in;
    char *scope;             /**< NULL: none */
    char *issued_token_type; /**< NULL: none */
} ts_client__tokens;

/** Wipe the tokens and free everything; the record is empty again. NULL-safe. */
void ts_client__tokens_cleanup(ts_client__tokens *t);

/**
 * Judge one answer of the token endpoint.
 *
 * HTTP 200: the body must be a JSON object (duplicate members refused) under a JSON media type
 * (application/json or application/...+json, parameters allowed), with access_token and
 * token_type strings of visible ASCII (at most @p max_token bytes and 31 bytes); expires_in,
 * when present, a whole number of seconds 0..10 years (a decimal string is accepted, as some
 * servers send one); refresh_token, scope and issued_token_type strings; refresh_expires_in as
 * expires_in. Unknown members are ignored (RFC 6749 §5.1).
 *
 * Any other status is a failure: @p oe gets the status and, when the body is an RFC 6749 §5.2
 * object, its error, error_description (non-printable bytes as '?') and error_uri.
 *
 * @param content_type the Content-Type header's value, or NULL when there was none.
 * @param out on TS_OK, the tokens (the caller cleans it up); left empty otherwise.
 * @param oe may be NULL; always filled (http_status = @p status).
 * @return TS_OK; TS_EPARSE for a 200 that is not a token response (the message says which
 * member or rule); TS_EINVAL for a 4xx other than 429; TS_ELIMIT for 429; TS_EIO for anything
 * else (5xx, 3xx, 1xx); TS_ENOMEM. Where: "token response".
 */
ts_status ts_client__parse_response(long status, const char *content_type, const char *body,
                                    size_t len, size_t max_token, ts_client__tokens *out,
                                    ts_client_oauth_error *oe, ts_error *err);

#endif
