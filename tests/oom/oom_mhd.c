/* oom.mhd: tokensmith-mhd's constructors: the connection bounds (ts_mhd_limits_new), and the
   gate from options (ts_mhd_gate_new) and from a JSON file (ts_mhd_gate_new_file), each built
   gate checked against its options: the option array a daemon gets, the bounds, and a token
   verified by the gate's verifier. Then the per-request checks on a real libmicrohttpd
   connection (authn's hook, ts_authn_mhd_check, and the gate's, ts_mhd_gate_check): a request
   with a good token whose first verification meets the failing allocation is served with the
   token's principal or refused as the server's failure (503, or authz's 500), never as the
   token's (401) or the policy's (403). The framing checks are left to mhd's own tests. */
#include "oom.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/mhd.h>
#include <tokensmith/testutil.h>

#define ISSUER "https://issuer.oom.test"
#define AUDIENCE "oom-svc"

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)cls, (void)c, (void)url, (void)method, (void)version, (void)upload;
    (void)upload_size, (void)req_cls;
    return MHD_NO;
}

static void log_sink(const char *line, size_t len, void *ud)
{
    (void)line, (void)len, (void)ud;
}

/* ---- the bounds ------------------------------------------------------------------------------ */

static oom_result run_limits_new(void *p)
{
    (void)p;
    ts_error err;
    ts_error_clear(&err);
    ts_mhd_limits_options o = TS_MHD_LIMITS_OPTIONS_INIT;
    o.handler = handler;
    o.idle_timeout_s = 7;
    o.log = log_sink; /* the watchdog's summary: its thread runs */
    ts_mhd_limits *l = ts_mhd_limits_new(&o, &err);
    OOM_TRY_PTR(l, &err);
    const struct MHD_OptionItem *it = ts_mhd_limits_mhd_options(l);
    bool ok = it[0].option == MHD_OPTION_NOTIFY_CONNECTION &&
              it[1].option == MHD_OPTION_NOTIFY_COMPLETED &&
              it[2].option == MHD_OPTION_CONNECTION_TIMEOUT && it[2].value == 7 &&
              it[3].option == MHD_OPTION_END;
    ts_mhd_limits_stats st;
    ts_mhd_limits_get_stats(l, &st);
    ts_mhd_limits_free(l);
    OOM_EXPECT(ok);
    OOM_EXPECT(st.connections == 0 && st.accepted == 0);
    return OOM_SUCCEEDED;
}

/* ---- the gate -------------------------------------------------------------------------------- */

typedef struct gate_ctx {
    char jwks[4096];      /* the key set's file */
    char gate_file[4096]; /* every member the format has */
    char *token;          /* the viewer fixture's, from the key set's key */
} gate_ctx;

static const char *const issuers[] = {ISSUER};
static const char *const audiences[] = {AUDIENCE, "other-svc"};
static const char *const public_paths[] = {"/health", "/public/*"};
static const char *const authn_only[] = {"/v1/whoami"};
static const ts_authn_scope_role scope_roles[] = {{"read", "viewer"}, {"write", "operator"}};
static const ts_authz_route routes[] = {
    {"GET", "/v1/nodes", "metadata:nodes", NULL},
    {"DELETE", "/v1/nodes/:id", "metadata:nodes", "delete"},
};

static const char gate_json[] =
    "{\"issuers\": [\"" ISSUER "\"], \"audiences\": [\"" AUDIENCE "\", \"other-svc\"],\n"
    " \"jwks\": [\"%s\"], \"scope_roles\": {\"read\": \"viewer\", \"write\": \"operator\"},\n"
    " \"public_paths\": [\"/health\", \"/public/*\"], \"authn_only_paths\": \"/v1/whoami\",\n"
    " \"realm\": \"oom\", \"token_cache\": 16, \"mode\": \"shadow\",\n"
    " \"routes\": [{\"method\": \"GET\", \"pattern\": \"/v1/nodes\", \"object\": "
    "\"metadata:nodes\"},\n"
    "            {\"method\": \"DELETE\", \"pattern\": \"/v1/nodes/:id\", \"object\": "
    "\"metadata:nodes\", \"action\": \"delete\"}],\n"
    " \"action_style\": \"rest\", \"allow_unmapped\": false, \"policy_from_env\": false,\n"
    " \"decision_cache\": 16, \"raw_paths\": false, \"log_allow_sample\": 1,\n"
    " \"limits\": {\"max_per_address\": 8, \"ipv6_prefix\": 56, \"max_connections\": 100,\n"
    "            \"head_timeout_ms\": 5000, \"body_timeout_ms\": 5000, \"idle_timeout_s\": 9,\n"
    "            \"check_framing\": true, \"log_interval_ms\": 1000}}\n";

static void *setup_gate(void)
{
    gate_ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *k = ts_testutil_key_p256(&err);
    const ts_testutil_key *keys[] = {k};
    ts_jwks *set = k ? ts_testutil_jwks(keys, 1, &err) : NULL;
    snprintf(c->jwks, sizeof c->jwks, "%s/jwks.json", oom_scratch_dir());
    if (!set || ts_testutil_jwks_write(set, c->jwks, &err) != TS_OK)
        oom_wrong("setup: keys: %s", err.msg);
    ts_jwks_free(set);
    c->token =
        ts_testutil_mint_for(k, TS_TESTUTIL_VIEWER, ISSUER, AUDIENCE, TS_TESTUTIL_FLAW_NONE, &err);
    ts_testutil_key_free(k);
    if (!c->token)
        oom_wrong("setup: token: %s", err.msg);
    char text[8192];
    const char *at = strstr(gate_json, "%s");
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - gate_json), gate_json, c->jwks, at + 2);
    snprintf(c->gate_file, sizeof c->gate_file, "%s/gate.json", oom_scratch_dir());
    if (ts_testutil_write_file(c->gate_file, text, strlen(text), &err) != TS_OK)
        oom_wrong("setup: gate file: %s", err.msg);
    return c;
}

static void teardown_gate(void *p, oom_result r)
{
    (void)r;
    gate_ctx *c = p;
    ts_free(c->token);
    free(c);
}

/* What a built gate must be: the options a daemon gets (the unescape callback, then the
   bounds' three), bounds with an idle timeout of @p idle_s, and a verifier that accepts the
   fixture's token. Checked without failures. */
static void check_gate(const gate_ctx *c, ts_mhd_gate *g, unsigned idle_s)
{
    oom_pause();
    const struct MHD_OptionItem *it = ts_mhd_gate_mhd_options(g);
    bool options = it[0].option == MHD_OPTION_UNESCAPE_CALLBACK &&
                   it[1].option == MHD_OPTION_NOTIFY_CONNECTION &&
                   it[2].option == MHD_OPTION_NOTIFY_COMPLETED &&
                   it[3].option == MHD_OPTION_CONNECTION_TIMEOUT && it[3].value == idle_s &&
                   it[4].option == MHD_OPTION_END;
    bool parts = ts_mhd_gate_limits(g) && ts_mhd_gate_authorizer(g) && ts_mhd_gate_guard(g) &&
                 ts_mhd_gate_keysource(g);
    ts_authn_principal *who = NULL;
    ts_error err;
    ts_authn_reason r =
        ts_authn_verify(ts_mhd_gate_verifier(g), c->token, strlen(c->token), &who, NULL, &err);
    bool verified =
        r == TS_AUTHN_OK && strcmp(ts_authn_principal_id(who), "viewer@tokensmith.test") == 0;
    ts_authn_principal_free(who);
    oom_resume();
    if (!options || !parts || !verified)
        oom_wrong("the gate is not what its options say: options %d, parts %d, token %s (%s)",
                  options, parts, ts_authn_reason_str(r), err.msg);
}

static oom_result run_gate_new(void *p)
{
    gate_ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    const char *jwks[] = {c->jwks};
    ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = 1;
    o.audiences = audiences;
    o.n_audiences = 2;
    o.jwks = jwks;
    o.n_jwks = 1;
    o.scope_roles = scope_roles;
    o.n_scope_roles = 2;
    o.public_paths = public_paths;
    o.n_public_paths = 2;
    o.authn_only_paths = authn_only;
    o.n_authn_only_paths = 1;
    o.realm = "oom";
    o.token_cache = 16;
    o.routes = routes;
    o.n_routes = 2;
    o.decision_cache = 16;
    o.log = log_sink;
    o.limits.handler = handler;
    o.limits.idle_timeout_s = 5;
    ts_mhd_gate *g = ts_mhd_gate_new(&o, &err);
    OOM_TRY_PTR(g, &err);
    check_gate(c, g, 5);
    ts_mhd_gate_free(g);
    return OOM_SUCCEEDED;
}

static oom_result run_gate_new_file(void *p)
{
    gate_ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_mhd_gate_options base = TS_MHD_GATE_OPTIONS_INIT;
    base.log = log_sink;
    base.limits.handler = handler;
    ts_mhd_gate *g = ts_mhd_gate_new_file(c->gate_file, &base, &err);
    OOM_TRY_PTR(g, &err);
    check_gate(c, g, 9);
    ts_mhd_gate_free(g);
    return OOM_SUCCEEDED;
}

/* ---- the per-request checks on a libmicrohttpd connection ------------------------------- */

/* A daemon without a listening socket or a thread of its own: run() adds one end of a
   socketpair as a connection, writes the request on the other and turns MHD_run() in this
   thread until the daemon closes the connection ("Connection: close"). So every allocation the
   check makes is made here, in the order of the request, the same in every run; the daemon,
   the verifier and its token cache are made in setup, afresh in every child: the request's
   token is verified for the first time under the failing allocation. libmicrohttpd's own
   allocations are not numbered (the wrapping reaches only the statically linked libraries). */

#define CHECK_PATH "/v1/nodes"
#define CHECK_WHO "viewer@tokensmith.test"
#define ANSWER_CAP 16384u
#define LOG_CAP 8192u

typedef struct check_ctx {
    bool through_gate;    /* ts_mhd_gate_check(), else ts_authn_mhd_check() */
    ts_mhd_gate *gate;    /* the gate case */
    ts_authn_verifier *v; /* the hook case: the verifier and the hook */
    ts_authn_mhd *hook;
    struct MHD_Daemon *daemon;
    char *token;
    char request[8192];
    /* What the handler saw and the log lines, kept without allocating. */
    unsigned served;
    char who[128];
    char log[LOG_CAP];
    size_t log_len;
} check_ctx;

static void log_keep(check_ctx *c, const char *line, size_t len)
{
    if (len > LOG_CAP - 2 - c->log_len)
        len = LOG_CAP - 2 - c->log_len;
    memcpy(c->log + c->log_len, line, len);
    c->log_len += len;
    c->log[c->log_len++] = '\n';
    c->log[c->log_len] = '\0';
}

static void log_gate(const char *line, size_t len, void *ud)
{
    log_keep(ud, line, len);
}

static void log_authn(const char *line, void *ud)
{
    log_keep(ud, line, strlen(line));
}

/* The access handler of a service: the check on the first call; served requests answer 200. */
static enum MHD_Result check_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                     const char *method, const char *version, const char *upload,
                                     size_t *upload_size, void **req_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)req_cls;
    check_ctx *c = cls;
    ts_authn_principal *who = NULL;
    ts_hook_result r = c->through_gate ? ts_mhd_gate_check(c->gate, conn, method, url, &who)
                                       : ts_authn_mhd_check(c->hook, conn, method, url, &who);
    if (r != TS_HOOK_CONTINUE)
        return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
    c->served++;
    snprintf(c->who, sizeof c->who, "%s", who ? ts_authn_principal_id(who) : "-");
    ts_authn_principal_free(who);
    static const char body[] = "served\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ok = MHD_queue_response(conn, MHD_HTTP_OK, resp);
    MHD_destroy_response(resp);
    return ok;
}

static void *setup_check(bool through_gate)
{
    check_ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    c->through_gate = through_gate;
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *k = ts_testutil_key_p256(&err);
    const ts_testutil_key *keys[] = {k};
    ts_jwks *set = k ? ts_testutil_jwks(keys, 1, &err) : NULL;
    c->token = k ? ts_testutil_mint_for(k, TS_TESTUTIL_VIEWER, ISSUER, AUDIENCE,
                                        TS_TESTUTIL_FLAW_NONE, &err)
                 : NULL;
    ts_testutil_key_free(k);
    if (!set || !c->token)
        oom_wrong("setup: keys and token: %s", err.msg);
    const struct MHD_OptionItem none[] = {{MHD_OPTION_END, 0, NULL}};
    const struct MHD_OptionItem *options = none;
    if (through_gate) {
        char jwks[4096];
        snprintf(jwks, sizeof jwks, "%s/jwks.json", oom_scratch_dir());
        if (ts_testutil_jwks_write(set, jwks, &err) != TS_OK)
            oom_wrong("setup: JWKS file: %s", err.msg);
        const char *files[] = {jwks};
        ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT;
        o.issuers = issuers;
        o.n_issuers = 1;
        o.audiences = audiences;
        o.n_audiences = 2;
        o.jwks = files;
        o.n_jwks = 1;
        o.routes = routes;
        o.n_routes = 2;
        o.log = log_gate; /* no limits.handler: no bounds, hence no watchdog thread */
        o.log_ud = c;
        if (!(c->gate = ts_mhd_gate_new(&o, &err)))
            oom_wrong("setup: gate: %s: %s", err.where, err.msg);
        options = ts_mhd_gate_mhd_options(c->gate);
    } else {
        ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
        vo.issuers = issuers;
        vo.n_issuers = 1;
        vo.audiences = audiences;
        vo.n_audiences = 2;
        vo.keys = set;
        ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
        mo.public_paths = public_paths;
        mo.n_public_paths = 2;
        mo.log = log_authn;
        mo.log_ud = c;
        if (!(c->v = ts_authn_verifier_new(&vo, &err)) ||
            !(mo.verifier = c->v, c->hook = ts_authn_mhd_new(&mo, &err)))
            oom_wrong("setup: verifier and hook: %s: %s", err.where, err.msg);
    }
    ts_jwks_free(set);
    c->daemon = MHD_start_daemon(MHD_USE_NO_LISTEN_SOCKET, 0, NULL, NULL, check_handler, c,
                                 MHD_OPTION_ARRAY, options, MHD_OPTION_END);
    if (!c->daemon)
        oom_wrong("setup: MHD_start_daemon failed");
    snprintf(c->request, sizeof c->request,
             "GET " CHECK_PATH " HTTP/1.1\r\nHost: oom.test\r\nAuthorization: Bearer %s\r\n"
             "X-Request-ID: oom-1\r\nConnection: close\r\n\r\n",
             c->token);
    return c;
}

static void *setup_authn_check(void)
{
    return setup_check(false);
}

static void *setup_gate_check(void)
{
    return setup_check(true);
}

static void teardown_check(void *p, oom_result r)
{
    (void)r;
    check_ctx *c = p;
    MHD_stop_daemon(c->daemon);
    ts_mhd_gate_free(c->gate);
    ts_authn_mhd_free(c->hook);
    ts_authn_verifier_free(c->v);
    ts_free(c->token);
    free(c);
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* Send @p c's request on a new connection and read the answer until the daemon closes the
   connection, turning the daemon meanwhile; at most 10 s. @return the bytes read. */
static size_t exchange(check_ctx *c, char *out, size_t cap)
{
    int sv[2];
    if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) != 0)
        oom_wrong("socketpair: %s", strerror(errno));
    /* The peer address the daemon is told: a loopback client. */
    struct sockaddr_in peer = {.sin_family = AF_INET, .sin_port = htons(40000)};
    peer.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (MHD_add_connection(c->daemon, sv[1], (const struct sockaddr *)&peer, sizeof peer) !=
        MHD_YES) { /* the daemon closed sv[1] */
        close(sv[0]);
        oom_wrong("MHD_add_connection failed");
    }
    size_t len = strlen(c->request), off = 0, n = 0;
    while (off < len) {
        ssize_t w = write(sv[0], c->request + off, len - off);
        if (w < 0 && errno != EINTR) {
            close(sv[0]);
            oom_wrong("write: %s", strerror(errno));
        }
        off += w > 0 ? (size_t)w : 0;
    }
    double deadline = mono_s() + 10.0;
    bool closed = false;
    while (!closed && mono_s() < deadline) {
        if (MHD_run(c->daemon) != MHD_YES) {
            close(sv[0]);
            oom_wrong("MHD_run failed");
        }
        struct pollfd pfd = {sv[0], POLLIN, 0};
        if (poll(&pfd, 1, 10) <= 0)
            continue;
        ssize_t r = read(sv[0], out + n, cap - 1 - n);
        if (r > 0)
            n += (size_t)r;
        else if (r == 0 || errno != EINTR)
            closed = true;
        closed = closed || n == cap - 1;
    }
    close(sv[0]);
    out[n] = '\0';
    if (!closed)
        oom_wrong("no answer within 10 s (%zu bytes: %s)", n, out);
    return n;
}

/* The value of header @p name in @p head (the answer's header block), or "" when absent. */
static const char *header_of(const char *head, const char *name, char *buf, size_t cap)
{
    size_t nl = strlen(name);
    buf[0] = '\0';
    for (const char *l = strstr(head, "\r\n"); l && l[2] != '\r'; l = strstr(l + 2, "\r\n")) {
        if (strncasecmp(l + 2, name, nl) == 0 && l[2 + nl] == ':') {
            const char *v = l + 3 + nl, *e = strstr(v, "\r\n");
            while (*v == ' ')
                v++;
            snprintf(buf, cap, "%.*s", (int)(e ? e - v : (ptrdiff_t)strlen(v)), v);
            break;
        }
    }
    return buf;
}

static oom_result run_check(void *p)
{
    check_ctx *c = p;
    char ans[ANSWER_CAP], h[256];
    size_t n = exchange(c, ans, sizeof ans);
    oom_pause();
    int status = 0;
    if (n < 12 || sscanf(ans, "HTTP/1.%*d %d", &status) != 1)
        oom_wrong("not an HTTP answer (%zu bytes): %s", n, ans);
    const char *body = strstr(ans, "\r\n\r\n");
    body = body ? body + 4 : "";
    if (status == 200) {
        /* Served: only with the token's principal (a failure the verifier survived, e.g. in
           its cache, changes nothing the caller sees). */
        if (c->served != 1 || strcmp(c->who, CHECK_WHO) != 0)
            oom_wrong("served %u time(s) as \"%s\"", c->served, c->who);
        oom_resume();
        return OOM_SUCCEEDED;
    }
    if (!oom_injected() || c->served != 0)
        oom_wrong("answered %d (served %u) without an allocation failure: %s", status, c->served,
                  ans);
    if (status == 503) {
        /* Verification could not be completed: the server's failure, not the token's. */
        OOM_EXPECT(strcmp(header_of(ans, "Retry-After", h, sizeof h), "1") == 0);
        OOM_EXPECT(strcmp(header_of(ans, "Cache-Control", h, sizeof h), "no-store") == 0);
        OOM_EXPECT(strcmp(header_of(ans, "WWW-Authenticate", h, sizeof h), "") == 0);
        OOM_EXPECT(strstr(body, "\"schema_version\":\"authz.deny.v1\"") != NULL);
        OOM_EXPECT(strstr(body, "\"code\":\"AUTHN_UNAVAILABLE\"") != NULL);
        OOM_EXPECT(strstr(body, "\"reason\":\"internal_error\"") != NULL);
        OOM_EXPECT(strstr(body, "\"decision\":\"deny\"") != NULL);
        OOM_EXPECT(strstr(body, "\"authn_reason\":\"internal_error\"") != NULL);
        OOM_EXPECT(strstr(body, "\"request_id\":\"oom-1\"") != NULL);
        OOM_EXPECT(strstr(body, "\"path\":\"" CHECK_PATH "\"") != NULL);
        OOM_EXPECT(strstr(c->log, "\"level\":\"error\"") != NULL);
        OOM_EXPECT(strstr(c->log, "\"msg\":\"authentication could not be completed\"") != NULL);
        OOM_EXPECT(strstr(c->log, "\"reason\":\"internal_error\"") != NULL);
        OOM_EXPECT(strstr(c->log, "authentication failed") == NULL);
        OOM_EXPECT(strstr(c->log, c->token) == NULL); /* never the token */
    } else if (status == 500 && c->through_gate) {
        /* The failure was in authz's decision, after authn had accepted the token. */
        OOM_EXPECT(strstr(body, "\"code\":\"AUTHZ_ENGINE_ERROR\"") != NULL);
    } else {
        oom_wrong("a good token answered %d under an allocation failure: %s", status, ans);
    }
    oom_resume();
    return OOM_REFUSED;
}

static const oom_case cases[] = {
    {"limits_new", NULL, run_limits_new, NULL},
    {"gate_new", setup_gate, run_gate_new, teardown_gate},
    {"gate_new_file", setup_gate, run_gate_new_file, teardown_gate},
    {"authn_check", setup_authn_check, run_check, teardown_check},
    {"gate_check", setup_gate_check, run_check, teardown_check},
};

int main(int argc, char **argv)
{
    return oom_main("oom.mhd", cases, sizeof cases / sizeof cases[0], argc, argv);
}
