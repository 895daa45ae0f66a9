#define _POSIX_C_SOURCE 200809L
/* libmicrohttpd hook: authenticate on the first handler call (headers only), answer a refusal
   with an authz.deny.v1 body (401 for the token's fault, 503 for ours), and log one JSON line
   per failure. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "authn_internal.h"

#include "common/path.h"

/* The longest request path judged (authz's guard uses the same bound); longer is never public. */
#define MAX_PATH 4096u

/* A public path, normalised: exactly this path, or this path and everything below it. */
typedef struct public_path {
    char *path;
    size_t len;
    bool subtree;
} public_path;

struct ts_authn_mhd {
    const ts_authn_verifier *v;
    public_path *public_paths;
    size_t n_public;
    bool raw_paths;
    bool check_binding;
    char *realm;
    void (*log)(const char *line, void *ud);
    void *log_ud;
};

void ts_authn_mhd_free(ts_authn_mhd *h)
{
    if (!h)
        return;
    for (size_t i = 0; i < h->n_public; i++)
        free(h->public_paths[i].path);
    free(h->public_paths);
    free(h->realm);
    free(h);
}

/* "/a/b" is that path, "/a/b/\*" that path and everything below it ("/\*" everything). Entries
   are normalised like requests (without decoding: they are written decoded), so "/a/./b/" is
   "/a/b". A '*' anywhere else would suggest matching on partial segments, which the hook does
   not do ("/pub*" must never admit "/publicity"): refused, as is a path without a leading '/'. */
static ts_status add_public(ts_authn_mhd *h, const char *entry, ts_error *err)
{
    if (!entry)
        return ts_error_set(err, TS_EINVAL, "public_paths", "NULL public path");
    size_t n = strlen(entry);
    bool subtree = n >= 2 && entry[n - 2] == '/' && entry[n - 1] == '*';
    if (subtree)
        n -= 2;
    if (entry[0] != '/' || memchr(entry, '*', n))
        return ts_error_set(err, TS_EINVAL, "public_paths",
                            "public path \"%.200s\": write \"/path\" or \"/path/*\"", entry);
    char norm[MAX_PATH + 2];
    size_t len = 0;
    ts_error pe;
    ts_error_clear(&pe);
    if (ts_common__path_normalize(entry, n, true, MAX_PATH, norm, sizeof norm, &len, &pe) != TS_OK)
        return ts_error_set(err, TS_EINVAL, "public_paths", "public path \"%.200s\": %s", entry,
                            pe.msg);
    public_path *p = &h->public_paths[h->n_public];
    if (!(p->path = strdup(norm)))
        return ts_error_set(err, TS_ENOMEM, "ts_authn_mhd_new", "out of memory");
    p->len = len;
    p->subtree = subtree;
    h->n_public++;
    return TS_OK;
}

ts_authn_mhd *ts_authn_mhd_new(const ts_authn_mhd_options *opt, ts_error *err)
{
    if (!opt || opt->version != TS_AUTHN_MHD_OPTIONS_VERSION || !opt->verifier) {
        ts_error_set(err, TS_EINVAL, "ts_authn_mhd_options",
                     "NULL options, unknown version or no verifier");
        return NULL;
    }
    ts_authn_mhd *h = calloc(1, sizeof *h);
    if (!h)
        goto oom;
    h->v = opt->verifier;
    h->log = opt->log;
    h->log_ud = opt->log_ud;
    if (opt->realm) {
        /* The realm goes inside a quoted-string: refuse what would need escaping (refusal.c). */
        if (!ts_authn__realm_ok(opt->realm)) {
            ts_error_set(err, TS_EINVAL, "realm",
                         "realm must not contain quotes, \\ or control characters");
            ts_authn_mhd_free(h);
            return NULL;
        }
        if (!(h->realm = strdup(opt->realm)))
            goto oom;
    }
    h->raw_paths = opt->raw_paths;
    h->check_binding = opt->check_certificate_binding;
    if (opt->n_public_paths) {
        h->public_paths = calloc(opt->n_public_paths, sizeof *h->public_paths);
        if (!h->public_paths)
            goto oom;
        for (size_t i = 0; i < opt->n_public_paths; i++) {
            if (add_public(h, opt->public_paths ? opt->public_paths[i] : NULL, err) != TS_OK) {
                ts_authn_mhd_free(h);
                return NULL;
            }
        }
    }
    return h;
oom:
    ts_authn_mhd_free(h);
    ts_error_set(err, TS_ENOMEM, "ts_authn_mhd_new", "out of memory");
    return NULL;
}

/* RFC 6750 §2.1 b64token characters: ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/". A
 * table, since a request whose token is not in the verifier's cache has its whole token
 * (hundreds of bytes) scanned here. */
static const unsigned char b64token[256] = {
    ['-'] = 1, ['.'] = 1, ['_'] = 1, ['~'] = 1, ['+'] = 1, ['/'] = 1, ['0'] = 1, ['1'] = 1,
    ['2'] = 1, ['3'] = 1, ['4'] = 1, ['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
    ['A'] = 1, ['B'] = 1, ['C'] = 1, ['D'] = 1, ['E'] = 1, ['F'] = 1, ['G'] = 1, ['H'] = 1,
    ['I'] = 1, ['J'] = 1, ['K'] = 1, ['L'] = 1, ['M'] = 1, ['N'] = 1, ['O'] = 1, ['P'] = 1,
    ['Q'] = 1, ['R'] = 1, ['S'] = 1, ['T'] = 1, ['U'] = 1, ['V'] = 1, ['W'] = 1, ['X'] = 1,
    ['Y'] = 1, ['Z'] = 1, ['a'] = 1, ['b'] = 1, ['c'] = 1, ['d'] = 1, ['e'] = 1, ['f'] = 1,
    ['g'] = 1, ['h'] = 1, ['i'] = 1, ['j'] = 1, ['k'] = 1, ['l'] = 1, ['m'] = 1, ['n'] = 1,
    ['o'] = 1, ['p'] = 1, ['q'] = 1, ['r'] = 1, ['s'] = 1, ['t'] = 1, ['u'] = 1, ['v'] = 1,
    ['w'] = 1, ['x'] = 1, ['y'] = 1, ['z'] = 1,
};

bool ts_authn_parse_bearer(const char *value, size_t len, const char **token, size_t *token_len)
{
    /* RFC 6750 §2.1: "Bearer" 1*SP b64token, where b64token is
       1*( ALPHA / DIGIT / "-" / "." / "_" / "~" / "+" / "/" ) *"=". One space, nothing after. */
    if (!value || len < 8 || strncasecmp(value, "Bearer ", 7) != 0)
        return false;
    const unsigned char *v = (const unsigned char *)value;
    size_t i = 7, start = 7;
    while (i < len && b64token[v[i]])
        i++;
    if (i == start)
        return false;
    while (i < len && value[i] == '=')
        i++;
    if (i != len)
        return false;
    *token = value + start;
    *token_len = len - start;
    return true;
}

/* Decided on the normalised path, as authz's guard decides (common/path.c): "..", ".", "//",
   escapes (with raw_paths) resolved first, so "/public/../admin" is "/admin". Whole segments
   only: "/public/\*" admits "/public" and "/public/x", never "/publicity"; case and ';' are
   significant. A path with a malformed escape or an encoded NUL, or one too long, is never
   public. */
static bool is_public(const ts_authn_mhd *h, const char *url)
{
    if (h->n_public == 0)
        return false;
    size_t ul = strlen(url);
    /* On decoded paths a malformed escape means the URL was left as received: its meaning is
       unknown, so it is not public either. */
    if (!h->raw_paths && ts_common__path_has_bad_escape(url, ul))
        return false;
    char norm[MAX_PATH + 2];
    size_t n = 0;
    if (ts_common__path_normalize(url, ul, !h->raw_paths, MAX_PATH, norm, sizeof norm, &n, NULL) !=
        TS_OK)
        return false;
    for (size_t i = 0; i < h->n_public; i++) {
        const public_path *p = &h->public_paths[i];
        if (p->subtree) {
            /* "/" (from "/\*") is the root: everything is below it. */
            if (p->len == 1 || (n >= p->len && memcmp(norm, p->path, p->len) == 0 &&
                                (norm[p->len] == '\0' || norm[p->len] == '/')))
                return true;
        } else if (n == p->len && memcmp(norm, p->path, n) == 0) {
            return true;
        }
    }
    return false;
}

bool ts_authn_mhd_is_public(const ts_authn_mhd *h, const char *url)
{
    return h && url && is_public(h, url);
}

static void emit_log(const ts_authn_mhd *h, ts_authn_reason r, const ts_authn_detail *d,
                     const char *method, const char *url, const char *request_id,
                     const char *message)
{
    json_t *o = json_object();
    if (!o)
        return;
    /* TS_AUTHN_INTERNAL says nothing about the token (a 503, refusal.c): the server's failure,
       logged as an error for the operator, not as a client's bad token. */
    bool ours = r == TS_AUTHN_INTERNAL || r == TS_AUTHN_REVOCATIONS_UNAVAILABLE;
    json_object_set_new(o, "level", json_string(ours ? "error" : "warn"));
    json_object_set_new(o, "component", json_string("authn"));
    json_object_set_new(
        o, "msg",
        json_string(ours ? "authentication could not be completed" : "authentication failed"));
    json_object_set_new(o, "reason", json_string(ts_authn_reason_str(r)));
    json_object_set_new(o, "error", json_string(message));
    json_object_set_new(o, "method", json_string(method));
    json_object_set_new(o, "path", json_string(url));
    if (d && d->kid[0])
        json_object_set_new(o, "kid", json_string(d->kid));
    if (d && d->iss[0])
        json_object_set_new(o, "iss", json_string(d->iss));
    if (d && d->alg[0])
        json_object_set_new(o, "alg", json_string(d->alg));
    if (request_id)
        json_object_set_new(o, "request_id", json_string(request_id));
    /* Invalid UTF-8 from the client makes json_string() fail; those members are just absent. */
    char *line = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!line)
        return;
    if (h->log)
        h->log(line, h->log_ud);
    else
        fprintf(stderr, "%s\n", line);
    free(line);
}

/* @p www with `, error_description="..."` appended (RFC 6750 §3); @p www is freed. The
   description is one of our own messages, which never hold a quote or a backslash; anything
   else is dropped rather than escaped. @return the new value, or NULL when out of memory. */
static char *with_description(char *www, const char *description)
{
    char clean[200];
    size_t n = 0;
    for (const unsigned char *p = (const unsigned char *)description; *p && n < sizeof clean - 1;
         p++)
        if (*p >= 0x20 && *p < 0x7f && *p != '"' && *p != '\\')
            clean[n++] = (char)*p;
    clean[n] = '\0';
    size_t len = strlen(www) + n + 32;
    char *out = malloc(len);
    if (out)
        snprintf(out, len, "%s, error_description=\"%s\"", www, clean);
    ts_free(www);
    return out;
}

/* The answer: status, body and challenge as every front gives them (refusal.c), with the
   headers of a refusal; a HEAD request gets the headers only. @p step_up: the requirement a
   step-up refusal names (RFC 9470: its acr values, and max_age when auth_time was at fault),
   NULL for the plain challenge. */
static ts_hook_result answer(struct MHD_Connection *conn, ts_authn_reason r, const char *realm,
                             const ts_authn_requirement *step_up, bool age_problem,
                             const char *description, const char *method, const char *url,
                             const char *request_id)
{
    ts_authn_refused_request rq = {.method = method,
                                   .method_len = strlen(method),
                                   .path = url,
                                   .path_len = strlen(url),
                                   .request_id = request_id,
                                   .request_id_len = request_id ? strlen(request_id) : 0};
    char *body = NULL, *www = NULL;
    size_t len = 0;
    if (ts_authn_refusal_body(r, &rq, &body, &len, NULL) != TS_OK ||
        (step_up ? ts_authn_stepup_challenge(step_up, age_problem, realm, &www, NULL)
                 : ts_authn_refusal_challenge(r, realm, &www, NULL)) != TS_OK) {
        ts_free(body);
        return TS_HOOK_ERROR;
    }
    if (description && www && !(www = with_description(www, description))) {
        ts_free(body);
        return TS_HOOK_ERROR;
    }
    bool head = strcmp(method, "HEAD") == 0;
    struct MHD_Response *resp =
        MHD_create_response_from_buffer(head ? 0 : len, head ? NULL : body, MHD_RESPMEM_MUST_COPY);
    ts_free(body);
    if (!resp) {
        ts_free(www);
        return TS_HOOK_ERROR;
    }
    int status = ts_authn_refusal_status(r);
    if (www) /* none with a 503 */
        MHD_add_response_header(resp, MHD_HTTP_HEADER_WWW_AUTHENTICATE, www);
    ts_free(www);
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    MHD_add_response_header(resp, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    /* Out of memory passes: the same request may well work in a moment. */
    if (status == MHD_HTTP_SERVICE_UNAVAILABLE)
        MHD_add_response_header(resp, MHD_HTTP_HEADER_RETRY_AFTER, "1");
    enum MHD_Result ok = MHD_queue_response(conn, (unsigned)status, resp);
    MHD_destroy_response(resp);
    return ok == MHD_YES ? TS_HOOK_RESPONDED : TS_HOOK_ERROR;
}

static ts_hook_result respond(const ts_authn_mhd *h, struct MHD_Connection *conn, ts_authn_reason r,
                              bool age_problem, const char *description, const char *method,
                              const char *url, const char *request_id)
{
    const ts_authn_requirement *step_up = r == TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION
                                              ? ts_authn__verifier_requirement(h->v)
                                              : NULL;
    return answer(conn, r, h->realm, step_up, age_problem, description, method, url, request_id);
}

ts_hook_result ts_authn_mhd_refuse(struct MHD_Connection *conn, ts_authn_reason r,
                                   const char *realm, const char *method, const char *url,
                                   const char *request_id)
{
    if (!conn || !method || !url)
        return TS_HOOK_ERROR;
    return answer(conn, r, realm, NULL, false, NULL, method, url, request_id);
}

/* A refusal: one log line and the answer. The request id comes from the client: echoed (body and
 * log line) only when it is 1-128 bytes of visible ASCII, the rule authz's guard applies too;
 * otherwise left out. Looked up here, on refusals only: an accepted request never needs it. */
static ts_hook_result refuse_described(const ts_authn_mhd *h, struct MHD_Connection *conn,
                                       ts_authn_reason r, const ts_authn_detail *d,
                                       const char *method, const char *url, const char *message,
                                       bool age_problem, const char *description)
{
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-ID");
    if (rid && !ts_authn__request_id_ok(rid, strnlen(rid, TS_AUTHN__MAX_REQUEST_ID + 1)))
        rid = NULL;
    emit_log(h, r, d, method, url, rid, message);
    return respond(h, conn, r, age_problem, description, method, url, rid);
}

static ts_hook_result refuse(const ts_authn_mhd *h, struct MHD_Connection *conn, ts_authn_reason r,
                             const ts_authn_detail *d, const char *method, const char *url,
                             const char *message, bool age_problem)
{
    return refuse_described(h, conn, r, d, method, url, message, age_problem, NULL);
}

/* The leaf certificate the client presented on @p conn (DER, borrowed from the GnuTLS
   session), or NULL: no TLS on the connection, or no certificate. A resumed session keeps the
   certificate of its first handshake, which proved the key then. */
static const gnutls_datum_t *client_certificate(struct MHD_Connection *conn)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
    if (!ci || !ci->tls_session)
        return NULL;
    unsigned n = 0;
    const gnutls_datum_t *peers =
        gnutls_certificate_get_peers((gnutls_session_t)ci->tls_session, &n);
    return peers && n > 0 && peers[0].size > 0 ? &peers[0] : NULL;
}

/* The verified principal in @p *principal against the connection's certificate (RFC 8705). A
   refusal drops the principal. */
static ts_hook_result check_binding(const ts_authn_mhd *h, struct MHD_Connection *conn,
                                    const char *method, const char *url,
                                    ts_authn_principal **principal)
{
    if (!h->check_binding || !ts_authn_principal_is_bound(*principal))
        return TS_HOOK_CONTINUE;
    const gnutls_datum_t *cert = client_certificate(conn);
    ts_error err;
    ts_error_clear(&err);
    ts_authn_reason r =
        ts_authn_check_x5t(*principal, cert ? cert->data : NULL, cert ? cert->size : 0, &err);
    if (r == TS_AUTHN_OK)
        return TS_HOOK_CONTINUE;
    /* The log names the token by kid and iss (and the message by its jti), never the token. */
    ts_authn_detail d;
    memset(&d, 0, sizeof d);
    const char *kid = ts_authn_principal_kid(*principal),
               *iss = ts_authn_principal_issuer(*principal);
    snprintf(d.kid, sizeof d.kid, "%s", kid ? kid : "");
    snprintf(d.iss, sizeof d.iss, "%s", iss ? iss : "");
    const char *jti = ts_authn_principal_jti(*principal);
    char message[sizeof err.msg + 160];
    snprintf(message, sizeof message, "%s (jti %.120s)", err.msg, jti ? jti : "none");
    ts_authn_principal_free(*principal);
    *principal = NULL;
    return refuse_described(h, conn, r, &d, method, url, message, false, err.msg);
}

ts_hook_result ts_authn_mhd_check(const ts_authn_mhd *h, struct MHD_Connection *conn,
                                  const char *method, const char *url,
                                  ts_authn_principal **principal)
{
    if (principal)
        *principal = NULL;
    if (!h || !conn || !method || !url || !principal)
        return TS_HOOK_ERROR;
    if (is_public(h, url))
        return TS_HOOK_CONTINUE;
    const char *auth = NULL;
    size_t auth_len = 0;
    if (MHD_lookup_connection_value_n(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION,
                                      strlen(MHD_HTTP_HEADER_AUTHORIZATION), &auth,
                                      &auth_len) != MHD_YES)
        auth = NULL;
    if (!auth || (auth_len >= 6 && strncasecmp(auth, "Bearer", 6) != 0)) /* not our scheme */
        return refuse(h, conn, TS_AUTHN_MISSING_TOKEN, NULL, method, url, "no bearer token", false);
    /* A token in the verifier's cache was verified, so it is made of base64url characters and
     * dots only: the header it came in is well-formed, and the scan below would only repeat
     * what finding the token's SHA-256 in the cache already proves. */
    if (auth_len > 7 && strncasecmp(auth, "Bearer ", 7) == 0 &&
        (*principal = ts_authn__verify_cached(h->v, auth + 7, auth_len - 7)) != NULL)
        return check_binding(h, conn, method, url, principal);
    const char *tok = NULL;
    size_t tl = 0;
    if (!ts_authn_parse_bearer(auth, auth_len, &tok, &tl))
        return refuse(h, conn, TS_AUTHN_MALFORMED, NULL, method, url,
                      "malformed Authorization header", false);
    ts_authn_detail d;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_reason r = ts_authn_verify(h->v, tok, tl, principal, &d, &err);
    if (r == TS_AUTHN_OK)
        return check_binding(h, conn, method, url, principal);
    /* ts_authn_verify() names the claim at fault of a step-up refusal in `where`. */
    return refuse(h, conn, r, &d, method, url, err.msg, strcmp(err.where, "auth_time") == 0);
}
