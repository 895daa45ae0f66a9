/*
 * authn, the libmicrohttpd hook (part of <tokensmith/authn.h>, which includes this header): a
 * request's token checked before the handler runs, and the refusal answered as every front
 * answers it (docs/authn.md, "The libmicrohttpd hook").
 */
#ifndef TOKENSMITH_AUTHN_MHD_H
#define TOKENSMITH_AUTHN_MHD_H

#include <tokensmith/authn.h>
#include <tokensmith/authn_binding.h>

#ifdef __cplusplus
extern "C" {
#endif

/* ------------------------------------------------------------------------------------------ */
/* libmicrohttpd hook                                                                         */

struct MHD_Connection;
typedef struct ts_authn_mhd ts_authn_mhd;

#define TS_AUTHN_MHD_OPTIONS_VERSION 1u

typedef struct ts_authn_mhd_options {
    unsigned version;                  /**< TS_AUTHN_MHD_OPTIONS_VERSION */
    const ts_authn_verifier *verifier; /**< borrowed; must outlive the hook */
    /** Paths that need no token (copied): "/health" is exactly that path, "/public/\*" that
     *  path and every path below it ("/public", "/public/x"; never "/publicity"), "/\*" all.
     *  Requests are matched on their normalised path, as authz's guard normalises it (escapes,
     *  ".", "..", "//", trailing slash); case and ';' are significant. A path that does not
     *  normalise is never public. ts_authn_mhd_new() refuses an entry without a leading '/'
     *  or with a '*' other than a final "/\*". */
    const char *const *public_paths;
    size_t n_public_paths;
    /** WWW-Authenticate realm, may be NULL; refused with a quote, a backslash or a control
     *  character other than HTAB (ts_authn_refusal_challenge()). */
    const char *realm;
    /** Log sink for one JSON line per failure; NULL = stderr. */
    void (*log)(const char *json_line, void *ud);
    void *log_ud;
    /** How the daemon hands URLs over, as authz's guard option of the same name: false (the
     *  default) when libmicrohttpd decodes them (its own unescaper, or
     *  ts_authz_mhd_strict_unescape()); true when the daemon keeps escapes
     *  (MHD_OPTION_UNESCAPE_CALLBACK that leaves the URL as received), so that the hook decodes
     *  them itself and an encoded slash "%2F" stays data. */
    bool raw_paths;
    /** Certificate-bound tokens (RFC 8705 §3), for a daemon that terminates the mutual TLS
     *  itself (MHD_USE_TLS, with MHD_OPTION_HTTPS_MEM_TRUST so that clients are asked for a
     *  certificate): every token, a cached one included, goes through ts_authn_check_x5t()
     *  with the leaf certificate of the connection's GnuTLS session. A bound token (with a
     *  `cnf` claim) on a connection without TLS or without a client certificate, or with
     *  another certificate, is refused with 401, `error="invalid_token"` and an
     *  `error_description` naming the binding; an unbound token passes as before. The daemon
     *  alone decides whether a certificate must chain to a CA: the binding needs only the
     *  handshake's proof of the key. Behind a proxy that terminates TLS there is no
     *  certificate to compare: a forwarded certificate header is not read. (false)
     *  @since 0.5.0 */
    bool check_certificate_binding;
} ts_authn_mhd_options;

#define TS_AUTHN_MHD_OPTIONS_INIT                                                                  \
    {                                                                                              \
        .version = TS_AUTHN_MHD_OPTIONS_VERSION, .verifier = NULL, .public_paths = NULL,           \
        .n_public_paths = 0, .realm = NULL, .log = NULL, .log_ud = NULL, .raw_paths = false,       \
        .check_certificate_binding = false                                                         \
    }

TS_API TS_NODISCARD ts_authn_mhd *ts_authn_mhd_new(const ts_authn_mhd_options *opt, ts_error *err);
/** NULL-safe. */
TS_API void ts_authn_mhd_free(ts_authn_mhd *h);

/**
 * Call from the access handler on its first call for a request (`*con_cls == NULL`, headers
 * only); the arguments come in the order of every tokensmith hook (hook.h): the hook, the
 * connection, the handler's `method` and `url`, then the result. Reads `Authorization:
 * Bearer`, verifies it and, on success, stores a principal reference in @p *principal (the
 * application owns it: free it with ts_authn_principal_free(), e.g. in its completion
 * callback). On a public path nothing is read and @p *principal is NULL.
 * On failure it queues 401 with `WWW-Authenticate: Bearer error="invalid_token"` (no error
 * attribute when no credentials were sent) and an `authz.deny.v1` JSON body, and logs one
 * JSON line (reason, kid, iss, request id; never the token). When verification could not be
 * completed (TS_AUTHN_INTERNAL: out of memory, a crypto library failure), which says nothing
 * about the token, it queues 503 with `Retry-After: 1` and no `WWW-Authenticate`, code
 * `AUTHN_UNAVAILABLE`, reason `internal_error`, logged at level error (since 0.2.0). A token
 * short of the verifier's acr_values or max_auth_age_s (since 0.4.0) gets 401 with the RFC 9470
 * challenge of ts_authn_stepup_challenge() (`max_age` when auth_time is at fault). With
 * check_certificate_binding (since 0.5.0), a verified token, a cached one included, that
 * ts_authn_check_x5t() refuses for the connection's client certificate gets 401 with
 * `Bearer error="invalid_token", error_description="certificate binding: ..."`; the
 * principal is then not handed over.
 * @return TS_HOOK_CONTINUE (serve the request), TS_HOOK_RESPONDED (the 401 or 503 is queued:
 * return MHD_YES) or TS_HOOK_ERROR (nothing could be queued, or an argument is NULL: return
 * MHD_NO).
 * Thread-safety: any number of threads at once on one hook.
 * @since 0.1.0; returns ::ts_hook_result since 0.2.0 (before, an enum of its own with the
 * same three values).
 */
TS_API ts_hook_result ts_authn_mhd_check(const ts_authn_mhd *h, struct MHD_Connection *conn,
                                         const char *method, const char *url,
                                         ts_authn_principal **principal);

/**
 * Whether @p url is one of the hook's public paths, by the rule ts_authn_mhd_check() applies
 * (the normalised path; exact, or a "/\*" subtree; a path that does not normalise is never
 * public), without looking at the request. For a caller that keeps a second list of paths
 * with the same rule, e.g. tokensmith-mhd's gate for paths that need a token and no policy
 * decision. NULL @p h or @p url: false.
 * Thread-safety: any number of threads at once.
 * @since 0.2.0
 */
TS_API bool ts_authn_mhd_is_public(const ts_authn_mhd *h, const char *url);

/**
 * Queue on @p conn the refusal ts_authn_mhd_check() sends for @p r, for a front that verifies
 * its tokens itself and must answer exactly as the hook does: ts_authn_refusal_status(), the
 * `authz.deny.v1` body of ts_authn_refusal_body() (the body left out for HEAD),
 * `WWW-Authenticate` from ts_authn_refusal_challenge() with @p realm (none for a 503),
 * `Content-Type: application/json; charset=utf-8`, `Cache-Control: no-store`, and
 * `Retry-After: 1` with a 503. Nothing is logged: the caller logs its own line.
 * @param realm may be NULL; refused like ts_authn_refusal_challenge()'s.
 * @param request_id echoed in the body; may be NULL (the caller has checked a client's value).
 * @return TS_HOOK_RESPONDED (return MHD_YES) or TS_HOOK_ERROR (nothing queued, or a NULL
 * @p conn, @p method or @p url: return MHD_NO).
 * Thread-safety: any number of threads at once. @since 0.4.0
 */
TS_API ts_hook_result ts_authn_mhd_refuse(struct MHD_Connection *conn, ts_authn_reason r,
                                          const char *realm, const char *method, const char *url,
                                          const char *request_id);

#ifdef __cplusplus
}
#endif

#endif
