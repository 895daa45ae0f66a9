/* Test helpers for the gate (ts_mhd_gate): a key, its JWKS file and tokens from
 * tokensmith-testutil, a small libmicrohttpd service protected by a gate exactly as a service
 * is (the check on the first handler call, the principal kept in the request context and freed
 * by the completion callback), a captured log, and one-request HTTP clients over raw sockets.
 * Header-only: each test file is its own executable. */
#ifndef TS_MHD_GATENET_H
#define TS_MHD_GATENET_H

#include <pthread.h>
#include <stdarg.h>

#include <tokensmith/testutil.h>

#include "testnet.h"

#define GT_ISSUER "https://issuer.gate.test"
#define GT_AUDIENCE "gate-svc"

/* ---------------------------------------------------------------------------------------- */
/* Keys, tokens and files                                                                   */

typedef struct gate_fixture {
    char dir[64]; /* a temporary directory for the JWKS file, gate files, fragments */
    char jwks_path[128];
    ts_testutil_key *key;
    char *viewer, *admin, *service; /* baseline roles, from the `roles` claim */
    char *reader_scope;             /* no roles claim, scope "read" (the scope-to-role table) */
    char *bad_signature, *expired, *wrong_audience;
} gate_fixture;

static inline char *gt_mint(const gate_fixture *f, ts_testutil_role role, ts_testutil_flaw flaw)
{
    return ts_testutil_mint_for(f->key, role, GT_ISSUER, GT_AUDIENCE, flaw, NULL);
}

static inline int gate_fixture_init(gate_fixture *f)
{
    memset(f, 0, sizeof *f);
    snprintf(f->dir, sizeof f->dir, "/tmp/ts-gate-XXXXXX");
    if (!mkdtemp(f->dir))
        return -1;
    snprintf(f->jwks_path, sizeof f->jwks_path, "%s/jwks.json", f->dir);
    f->key = ts_testutil_key_p256(NULL);
    const ts_testutil_key *k[] = {f->key};
    ts_jwks *set = f->key ? ts_testutil_jwks(k, 1, NULL) : NULL;
    bool ok = set && ts_testutil_jwks_write(set, f->jwks_path, NULL) == TS_OK;
    ts_jwks_free(set);
    if (!ok)
        return -1;
    f->viewer = gt_mint(f, TS_TESTUTIL_VIEWER, TS_TESTUTIL_FLAW_NONE);
    f->admin = gt_mint(f, TS_TESTUTIL_ADMIN, TS_TESTUTIL_FLAW_NONE);
    f->service = gt_mint(f, TS_TESTUTIL_SERVICE, TS_TESTUTIL_FLAW_NONE);
    f->bad_signature = gt_mint(f, TS_TESTUTIL_VIEWER, TS_TESTUTIL_FLAW_BAD_SIGNATURE);
    f->expired = gt_mint(f, TS_TESTUTIL_VIEWER, TS_TESTUTIL_FLAW_EXPIRED);
    f->wrong_audience = gt_mint(f, TS_TESTUTIL_VIEWER, TS_TESTUTIL_FLAW_WRONG_AUDIENCE);
    ts_testutil_token *b = ts_testutil_token_new(f->key, NULL);
    static const char *const aud[] = {GT_AUDIENCE};
    if (b && ts_testutil_token_set_issuer(b, GT_ISSUER, NULL) == TS_OK &&
        ts_testutil_token_set_audience(b, aud, 1, NULL) == TS_OK &&
        ts_testutil_token_set_subject(b, "reader-svc", NULL) == TS_OK &&
        ts_testutil_token_set_scope(b, "read", NULL) == TS_OK)
        f->reader_scope = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL);
    ts_testutil_token_free(b);
    return f->viewer && f->admin && f->service && f->bad_signature && f->expired &&
                   f->wrong_audience && f->reader_scope
               ? 0
               : -1;
}

/* Write @p text to `<dir>/<name>`; @return the path (static storage: copy it to keep it). */
static inline const char *gt_write(const gate_fixture *f, const char *name, const char *text)
{
    static char path[192];
    snprintf(path, sizeof path, "%s/%s", f->dir, name);
    return ts_testutil_write_file(path, text, strlen(text), NULL) == TS_OK ? path : NULL;
}

static inline void gate_fixture_cleanup(gate_fixture *f)
{
    char *toks[] = {f->viewer,        f->admin,   f->service,       f->reader_scope,
                    f->bad_signature, f->expired, f->wrong_audience};
    for (size_t i = 0; i < sizeof toks / sizeof toks[0]; i++)
        ts_free(toks[i]);
    ts_testutil_key_free(f->key);
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
    if (f->dir[0] && system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", f->dir);
}

/* ---------------------------------------------------------------------------------------- */
/* The log                                                                                  */

typedef struct gate_log {
    pthread_mutex_t mu;
    char text[1 << 16]; /* the lines so far, each ending in '\n'; the oldest dropped when full */
    size_t len;
    unsigned lines;
} gate_log;

static inline void gate_log_line(const char *line, size_t len, void *ud)
{
    gate_log *l = ud;
    pthread_mutex_lock(&l->mu);
    if (len + 1 >= sizeof l->text)
        len = sizeof l->text - 2;
    if (l->len + len + 1 >= sizeof l->text)
        l->len = 0;
    memcpy(l->text + l->len, line, len);
    l->len += len;
    l->text[l->len++] = '\n';
    l->text[l->len] = '\0';
    l->lines++;
    pthread_mutex_unlock(&l->mu);
}

static inline void gate_log_clear(gate_log *l)
{
    pthread_mutex_lock(&l->mu);
    l->len = 0;
    l->text[0] = '\0';
    l->lines = 0;
    pthread_mutex_unlock(&l->mu);
}

/* @return whether a logged line holds every one of the NULL-terminated substrings. */
static inline bool gate_log_has(gate_log *l, ...)
{
    pthread_mutex_lock(&l->mu);
    bool found = false;
    for (char *line = l->text; !found && *line;) {
        char *nl = strchr(line, '\n');
        *nl = '\0';
        va_list ap;
        va_start(ap, l);
        found = true;
        for (const char *s; (s = va_arg(ap, const char *)) != NULL;)
            if (!strstr(line, s))
                found = false;
        va_end(ap);
        *nl = '\n';
        line = nl + 1;
    }
    pthread_mutex_unlock(&l->mu);
    return found;
}

/* ---------------------------------------------------------------------------------------- */
/* The protected service                                                                    */

typedef struct gate_service {
    ts_mhd_gate *gate;
    struct MHD_Daemon *d;
    unsigned short port;
    atomic_int served;     /* requests the handler served */
    atomic_int principals; /* principals freed by the completion callback */
} gate_service;

typedef struct gate_ctx {
    ts_authn_principal *who; /* NULL on a public path */
} gate_ctx;

/* First call: the gate decides; the principal goes into the request context. Last call: 200
 * with "who=<sub>" (or "who=-" on a public path). */
static inline enum MHD_Result gate_handler(void *cls, struct MHD_Connection *c, const char *url,
                                           const char *method, const char *version,
                                           const char *upload, size_t *upload_size, void **req_cls)
{
    (void)version, (void)upload;
    gate_service *s = cls;
    gate_ctx *rq = *req_cls;
    if (!rq) {
        ts_authn_principal *who = NULL;
        ts_hook_result r = ts_mhd_gate_check(s->gate, c, method, url, &who);
        if (r != TS_HOOK_CONTINUE)
            return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
        if (!(rq = calloc(1, sizeof *rq))) {
            ts_authn_principal_free(who);
            return MHD_NO;
        }
        rq->who = who;
        *req_cls = rq;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    char body[320];
    int n = snprintf(body, sizeof body, "who=%s", rq->who ? ts_authn_principal_id(rq->who) : "-");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    atomic_fetch_add(&s->served, 1);
    return ret;
}

static inline void gate_completed(void *cls, struct MHD_Connection *c, void **req_cls,
                                  enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    gate_service *s = cls;
    gate_ctx *rq = *req_cls;
    if (!rq)
        return;
    if (rq->who)
        atomic_fetch_add(&s->principals, 1);
    ts_authn_principal_free(rq->who);
    free(rq);
    *req_cls = NULL;
}

/* Options for the fixture: its issuer, audience and JWKS file, a route table over the
 * baseline policy, "/health" and "/public/\*" public, "/v1/whoami" authn-only, the log
 * captured. */
static const ts_authz_route gate_routes[] = {
    {"GET", "/v1/nodes", "metadata:nodes", NULL},
    {"GET", "/v1/nodes/:id", "metadata:nodes", NULL},
    {"DELETE", "/v1/nodes/:id", "metadata:nodes", NULL},
    {"GET", "/v1/boot/configs", "boot:configs", NULL},
};

static inline ts_mhd_gate_options gate_options(const gate_fixture *f, gate_log *log)
{
    static const char *const iss[] = {GT_ISSUER}, *aud[] = {GT_AUDIENCE};
    static const char *const pub[] = {"/health", "/public/*"}, *whoami[] = {"/v1/whoami"};
    static const ts_authn_scope_role scope_roles[] = {{"read", "viewer"}};
    static const char *jwks[1];
    jwks[0] = f->jwks_path;
    ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.jwks = jwks;
    o.n_jwks = 1;
    o.scope_roles = scope_roles;
    o.n_scope_roles = 1;
    o.public_paths = pub;
    o.n_public_paths = 2;
    o.authn_only_paths = whoami;
    o.n_authn_only_paths = 1;
    o.routes = gate_routes;
    o.n_routes = sizeof gate_routes / sizeof gate_routes[0];
    o.log = gate_log_line;
    o.log_ud = log;
    return o;
}

/* Serve @p s->gate (already built) on 127.0.0.1 and an ephemeral port, wired as the gate's
 * documentation says: its option array, and with limits its accept policy and handler.
 * @return 0 or -1. */
static inline int gate_service_start(gate_service *s)
{
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ts_mhd_limits *lim = ts_mhd_gate_limits(s->gate);
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC;
    if (lim)
        s->d = MHD_start_daemon(flags, 0, ts_mhd_limits_accept, lim, ts_mhd_limits_handler, lim,
                                MHD_OPTION_ARRAY, ts_mhd_gate_mhd_options(s->gate),
                                MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a,
                                MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
    else
        s->d = MHD_start_daemon(
            flags, 0, NULL, NULL, gate_handler, s, MHD_OPTION_NOTIFY_COMPLETED, gate_completed, s,
            MHD_OPTION_ARRAY, ts_mhd_gate_mhd_options(s->gate), MHD_OPTION_SOCK_ADDR,
            (struct sockaddr *)&a, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
    const union MHD_DaemonInfo *di =
        s->d ? MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di)
        return -1;
    s->port = di->port;
    return 0;
}

static inline void gate_service_stop(gate_service *s)
{
    if (s->d)
        MHD_stop_daemon(s->d);
    s->d = NULL;
    ts_mhd_gate_free(s->gate);
    s->gate = NULL;
}

/* ---------------------------------------------------------------------------------------- */
/* Requests                                                                                 */

typedef struct gate_reply {
    int status; /* 0: closed without an answer; -1: timeout or error */
    char text[16384];
    const char *body; /* into text, after the head */
} gate_reply;

/* One request on a new connection (closed afterwards). @p token NULL: no Authorization;
 * @p extra: more header lines, each ending in CRLF, or NULL. */
static inline int gate_request_ex(unsigned short port, const char *method, const char *path,
                                  const char *token, const char *extra, gate_reply *out)
{
    out->status = -1;
    out->text[0] = '\0';
    out->body = out->text;
    int fd = cli_connect("127.0.0.1", port);
    if (fd < 0)
        return -1;
    char req[4096];
    snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: t\r\nConnection: close\r\n%s%s%s%s\r\n",
             method, path, token ? "Authorization: Bearer " : "", token ? token : "",
             token ? "\r\n" : "", extra ? extra : "");
    if (cli_send(fd, req) == 0)
        out->status = cli_response(fd, out->text, sizeof out->text, 5000);
    close(fd);
    const char *b = strstr(out->text, "\r\n\r\n");
    out->body = b ? b + 4 : out->text;
    return out->status;
}

static inline int gate_request(unsigned short port, const char *method, const char *path,
                               const char *token, gate_reply *out)
{
    return gate_request_ex(port, method, path, token, NULL, out);
}

/* The value of header @p name in @p r (case-insensitive name), copied into @p out, or "". */
static inline const char *gate_header(const gate_reply *r, const char *name, char *out, size_t cap)
{
    out[0] = '\0';
    size_t n = strlen(name);
    for (const char *p = strstr(r->text, "\r\n"); p && p < r->body; p = strstr(p + 2, "\r\n")) {
        if (strncasecmp(p + 2, name, n) == 0 && p[2 + n] == ':') {
            const char *v = p + 3 + n, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", e ? (int)(e - v) : 0, v);
            break;
        }
    }
    return out;
}

#endif
