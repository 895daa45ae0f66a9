/* libmicrohttpd glue: principal callback, guard, deny response. */
#include <microhttpd.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "contract/contract.h"
#include "contract/guard_internal.h"
#include "contract/live.h"

size_t ts_authz_mhd_keep_escapes(void *cls, struct MHD_Connection *conn, char *uri)
{
    (void)cls;
    (void)conn;
    return strlen(uri);
}

bool ts_authz_url_has_bad_escape(const char *s)
{
    for (; s && (s = strchr(s, '%')) != NULL; s++) {
        int hi = ts_common__hexval(s[1]), lo = hi < 0 ? -1 : ts_common__hexval(s[2]);
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return true;
        s += 2;
    }
    return false;
}

size_t ts_authz_mhd_strict_unescape(void *cls, struct MHD_Connection *conn, char *uri)
{
    (void)cls;
    (void)conn;
    if (ts_authz_url_has_bad_escape(uri))
        return strlen(uri);
    char *w = uri;
    for (const char *r = uri; *r;) {
        if (*r == '%') {
            *w++ = (char)(ts_common__hexval(r[1]) * 16 + ts_common__hexval(r[2]));
            r += 3;
        } else {
            *w++ = *r++;
        }
    }
    *w = '\0';
    return (size_t)(w - uri);
}

static ts_hook_result respond(struct MHD_Connection *conn, unsigned status, const char *body,
                              size_t len, bool head)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(
        head ? 0 : len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return TS_HOOK_ERROR;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json; charset=utf-8");
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret == MHD_YES ? TS_HOOK_RESPONDED : TS_HOOK_ERROR;
}

/* Both hooks: decide with @p p (NULL: none, or @p principal_failed) and answer a refusal. */
static ts_hook_result decide(const ts_authz_guard *g, struct MHD_Connection *conn,
                             const ts_authz_request *req, const ts_authz_principal *p,
                             bool principal_failed)
{
    bool head = strcmp(req->method, "HEAD") == 0;
    /* On the stack (about 6 KiB; the hooks' whole use is documented in authz_http.h): an
       allocation per request cost more than the decision it carries. */
    ts_authz_outcome outcome;
    ts_authz_outcome *out = &outcome;
    ts_status st = ts_authz__guard_run(g, req, p, principal_failed, out);
    ts_hook_result ret = TS_HOOK_CONTINUE;
    if (st != TS_OK) {
        static const char fail[] = "{\"schema_version\":\"authz.deny.v1\",\"code\":"
                                   "\"AUTHZ_ENGINE_ERROR\",\"message\":\"authorization engine "
                                   "error\"}\n";
        ret = respond(conn, 500, fail, sizeof fail - 1, head);
    } else if (!out->proceed) {
        ret = respond(conn, out->status, out->body, out->body_len, head);
    }
    ts_authz_outcome_cleanup(out);
    return ret;
}

ts_hook_result ts_authz_mhd_check(const ts_authz_guard *g, struct MHD_Connection *conn,
                                  const char *method, const char *url)
{
    if (!g || !conn || !method || !url)
        return TS_HOOK_ERROR;
    if (g->o.mode == TS_AUTHZ_MODE_OFF)
        return TS_HOOK_CONTINUE;
    /* The request id, when short and printable, also reaches the principal callback. */
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    ts_authz_request req = {method, url, strlen(url), !g->o.raw_paths, ts_authz__request_id(rid)};
    ts_authz_principal p;
    memset(&p, 0, sizeof p);
    ts_authz_principal_status ps = TS_AUTHZ_PRINCIPAL_NONE;
    if (g->o.principal)
        ps = g->o.principal(conn, &req, &p, g->o.principal_ud);
    ts_hook_result ret = decide(g, conn, &req, ps == TS_AUTHZ_PRINCIPAL_FOUND ? &p : NULL,
                                ps == TS_AUTHZ_PRINCIPAL_ERROR);
    if (ps == TS_AUTHZ_PRINCIPAL_FOUND && g->o.principal_release)
        g->o.principal_release(&p, g->o.principal_ud);
    return ret;
}

ts_hook_result ts_authz_mhd_check_principal(const ts_authz_guard *g, struct MHD_Connection *conn,
                                            const char *method, const char *url,
                                            const ts_authz_principal *principal)
{
    if (!g || !conn || !method || !url)
        return TS_HOOK_ERROR;
    if (g->o.mode == TS_AUTHZ_MODE_OFF)
        return TS_HOOK_CONTINUE;
    const char *rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    ts_authz_request req = {method, url, strlen(url), !g->o.raw_paths, ts_authz__request_id(rid)};
    return decide(g, conn, &req, principal, false);
}

ts_hook_result ts_authz_mhd_diagnostics(const ts_authz_guard *g, struct MHD_Connection *conn,
                                        const char *method)
{
    if (!g || !conn || !method)
        return TS_HOOK_ERROR;
    bool head = strcmp(method, "HEAD") == 0;
    if (!head && strcmp(method, "GET") != 0) {
        static const char body[] = "{\"error\":\"method not allowed\"}\n";
        struct MHD_Response *r = MHD_create_response_from_buffer(
            sizeof body - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
        if (!r)
            return TS_HOOK_ERROR;
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json");
        MHD_add_response_header(r, MHD_HTTP_HEADER_ALLOW, "GET, HEAD");
        enum MHD_Result ret = MHD_queue_response(conn, MHD_HTTP_METHOD_NOT_ALLOWED, r);
        MHD_destroy_response(r);
        return ret == MHD_YES ? TS_HOOK_RESPONDED : TS_HOOK_ERROR;
    }
    /* The document is small (a few hundred bytes plus the watched directories): one try with
     * a buffer that fits it, one more with the size asked for. */
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ts_status st = buf ? ts_authz_guard_diagnostics(g, buf, cap, &len, NULL) : TS_ENOMEM;
    if (st == TS_ELIMIT) {
        free(buf);
        cap = len + 1;
        buf = malloc(cap);
        st = buf ? ts_authz_guard_diagnostics(g, buf, cap, &len, NULL) : TS_ENOMEM;
    }
    ts_hook_result ret;
    if (st != TS_OK) {
        static const char fail[] = "{\"error\":\"diagnostics unavailable\"}\n";
        ret = respond(conn, 500, fail, sizeof fail - 1, head);
    } else {
        buf[len] = '\n'; /* a final newline, as every JSON body here has */
        ret = respond(conn, 200, buf, len + 1, head);
    }
    free(buf);
    return ret;
}
