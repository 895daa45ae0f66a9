/* Registered clients of /oauth/revoke and /oauth/introspect, and how a request authenticates as
 * one (RFC 6749 §2.3.1: client_secret_basic and client_secret_post). */
#ifndef TS_SVC_CLIENTS_H
#define TS_SVC_CLIENTS_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

#define TS_SVC_CLIENTS_MAX_N 256u      /**< registered clients at most */
#define TS_SVC_CLIENT_ID_MAX 128u      /**< a client_id (bytes) */
#define TS_SVC_CLIENT_SECRET_MAX 1024u /**< a client_secret (bytes) */
#define TS_SVC_CLIENT_SECRET_MIN 16u   /**< shorter secrets are refused at start */
#define TS_SVC_BASIC_MAX 4096u         /**< an Authorization header that is longer is refused */

typedef struct ts_svc_clients ts_svc_clients;

/** What a request authenticated as (copied out of the registry). */
typedef struct ts_svc_client {
    char id[TS_SVC_CLIENT_ID_MAX + 1];
    bool introspect; /**< may call /oauth/introspect */
    bool revoke_any; /**< may revoke any token of this service */
} ts_svc_client;

/**
 * Build the registry from the `clients` member (a JSON array, @p len bytes). Each element:
 * `client_id` (1..TS_SVC_CLIENT_ID_MAX printable ASCII without ':'), exactly one of
 * `client_secret` (TS_SVC_CLIENT_SECRET_MIN..MAX printable ASCII, RFC 6749 VSCHAR) and
 * `client_secret_file` (a file its owner alone may read, unless
 * @p allow_insecure; one trailing newline is dropped), `introspect` and `revoke_any`
 * (booleans, default false). Unknown members and duplicate ids are errors. Secrets are kept as
 * SHA-256 digests only. An empty text is a registry without clients.
 * Ownership: free *out with ts_svc_clients_free().
 */
TS_NODISCARD ts_status ts_svc_clients_parse(const char *json, size_t len, bool allow_insecure,
                                            ts_svc_clients **out, ts_error *err);

void ts_svc_clients_free(ts_svc_clients *c);

size_t ts_svc_clients_count(const ts_svc_clients *c);

/**
 * Decode an `Authorization: Basic` header value (@p hdr, @p len bytes, with its scheme):
 * base64 of form-urlencoded `id:secret` (RFC 6749 §2.3.1, so '+' is a space and %XX an
 * escape in both parts). @p id and @p secret receive NUL-terminated text.
 * @return TS_OK; TS_ENOTFOUND when the scheme is not Basic; TS_EINVAL for anything malformed
 * (bad base64, no ':', an empty id, a bad escape, a control character, too long).
 */
TS_NODISCARD ts_status ts_svc_basic_decode(const char *hdr, size_t len,
                                           char id[TS_SVC_CLIENT_ID_MAX + 1],
                                           char secret[TS_SVC_CLIENT_SECRET_MAX + 1]);

/** How a request's client authentication came out. */
typedef enum ts_svc_auth {
    TS_SVC_AUTH_NONE = 0, /**< no credentials at all (a public caller) */
    TS_SVC_AUTH_OK,       /**< a registered client, its secret matched */
    TS_SVC_AUTH_BAD,      /**< credentials given, but unknown client or wrong secret: 401 */
    TS_SVC_AUTH_MALFORMED /**< both methods, a bad Basic header, or a secret without an id:
                               400 invalid_request */
} ts_svc_auth;

/**
 * Authenticate a request: @p authorization is its Authorization header (NULL when absent; a
 * scheme other than Basic counts as absent), @p form_id and @p form_secret its `client_id` and
 * `client_secret` form fields (NULL when absent). A `client_id` alone is a public caller naming
 * itself (TS_SVC_AUTH_NONE). The secret is compared as a SHA-256 digest in constant time, and
 * an unknown client costs the same as a known one. @p basic (optional) says whether the
 * request tried Basic (the 401 then carries WWW-Authenticate: Basic).
 */
ts_svc_auth ts_svc_clients_authenticate(const ts_svc_clients *c, const char *authorization,
                                        const char *form_id, const char *form_secret,
                                        ts_svc_client *who, bool *basic);

#endif
