/* minisvc: a small libmicrohttpd service protected by tokensmith.
 *
 * One object protects it, tokensmith-mhd's gate (ts_mhd_gate), built in build_gate() from the
 * command line (config.c):
 *   - before any handler, it bounds the connections: at most --max-per-address per client
 *     address and --max-connections in total, a deadline for each request head and body (a
 *     client trickling bytes cannot hold a connection), and a 400 for requests whose framing
 *     could be read two ways (request smuggling);
 *   - on the access handler's first call for each request (headers only), one call,
 *     ts_mhd_gate_check(), runs both gates: authn verifies the bearer token against the JWKS
 *     (a bad or missing token gets 401; /health, /metrics and /authz/diagnostics are public,
 *     /v1/whoami needs a token but no decision), then authz turns the request into an
 *     (object, action) of the baseline policy with the route table below and the principal's
 *     roles decide (in enforce mode a refusal gets 403 with an authz.deny.v1 body, in shadow
 *     mode it is only logged);
 *   - with --revocations, the verifier also consults the issuer's revocation list, polled in
 *     the background: a revoked token gets 401 (reason revoked) within the poll interval.
 * Handlers then see the verified principal in the request context.
 *
 * usage: minisvc --jwks FILE|URL --issuer ISS --audience AUD [--mode off|shadow|enforce]
 *                [--policy-dir DIR [--watch-policy]] [--listen HOST:PORT] [--port-file FILE]
 *                [bounds]
 *                [--revocations URL [--revocations-poll-ms N]]
 *                (config.c; --help lists every option)
 * SIGHUP reloads the policy (baseline + fragments), and so does any change of the policy files
 * with --watch-policy; GET /authz/diagnostics shows the policy in force (policy_version, mode,
 * load time: what `tokensmith policy fleet` compares); SIGINT/SIGTERM stop the service. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <microhttpd.h>

#include <tokensmith/authn_revocations.h>
#include <tokensmith/mhd.h>

#include "config.h"

#define MAX_NODES 256
#define MAX_NODE_ID 64
#define MAX_BODY 1024
#define REPLY_CAP (64u * 1024u)

/* ---------------------------------------------------------------------------------------- */
/* The application: security objects and a tiny in-memory node store.                       */

typedef struct node {
    char id[MAX_NODE_ID + 1];
    char *data;
} node;

typedef struct app {
    ts_mhd_gate *gate; /* authn, authz and the connection bounds */
    /* --revocations: the issuer's list and the key source that verifies it (the gate's own
     * is built inside the gate, after the list it needs). Both outlive the gate. */
    ts_authn_keysource *revocation_keys;
    ts_authn_revocations *revocations;
    pthread_mutex_t mu; /* guards nodes */
    node nodes[MAX_NODES];
    size_t nnodes;
} app;

/* Per request: the verified principal (NULL on public paths) and the request body. */
typedef struct request {
    ts_authn_principal *principal;
    char body[MAX_BODY + 1];
    size_t body_len;
    bool body_too_large;
} request;

/* Routes and the baseline policy's objects and actions (policy/policy.csv). Actions come from
 * the method (REST style: GET read, POST create, PUT/PATCH update, DELETE delete) unless a row
 * names one. /v1/admin/reload uses an object of its own, granted by a fragment
 * (examples/minisvc/policy/10-minisvc.csv), so the baseline alone refuses it to everyone. */
static const ts_authz_route routes[] = {
    {"GET", "/v1/nodes", "metadata:nodes", NULL},
    {"GET", "/v1/nodes/:id", "metadata:nodes", NULL},
    {"PUT", "/v1/nodes/:id", "metadata:nodes", NULL},
    {"DELETE", "/v1/nodes/:id", "metadata:nodes", NULL},
    {"GET", "/v1/groups", "metadata:groups", NULL},
    {"GET", "/v1/boot/configs", "boot:configs", NULL},
    {"POST", "/v1/admin/reload", "minisvc:policy", "update"},
};

/* Paths without a token (and without a decision), and a path that needs a token but no
 * decision. */
static const char *const public_paths[] = {"/health", "/metrics", "/authz/diagnostics"};
static const char *const authn_only_paths[] = {"/v1/whoami"};

static void log_line(const char *line, size_t len, void *ud)
{
    (void)ud;
    fprintf(stderr, "%.*s\n", (int)len, line); /* one call: one locked write */
}

/* ---------------------------------------------------------------------------------------- */
/* Responses                                                                                */

static enum MHD_Result respond(struct MHD_Connection *conn, unsigned status, const char *type,
                               const char *body, size_t len)
{
    struct MHD_Response *r =
        MHD_create_response_from_buffer(len, (void *)(uintptr_t)body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store");
    if (status == 401)
        MHD_add_response_header(r, MHD_HTTP_HEADER_WWW_AUTHENTICATE, "Bearer");
    enum MHD_Result ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result json(struct MHD_Connection *conn, unsigned status, const char *body)
{
    return respond(conn, status, "application/json", body, strlen(body));
}

/* Append @p s as a JSON string to @p out (bounded; truncates on overflow). */
static void put_json_string(char *out, size_t cap, size_t *pos, const char *s)
{
    static const char hex[] = "0123456789abcdef";
    if (*pos + 2 >= cap)
        return;
    out[(*pos)++] = '"';
    for (; *s && *pos + 8 < cap; s++) {
        unsigned char ch = (unsigned char)*s;
        if (ch == '"' || ch == '\\') {
            out[(*pos)++] = '\\';
            out[(*pos)++] = (char)ch;
        } else if (ch < 0x20) {
            *pos +=
                (size_t)snprintf(out + *pos, cap - *pos, "\\u00%c%c", hex[ch >> 4], hex[ch & 15]);
        } else {
            out[(*pos)++] = (char)ch;
        }
    }
    out[(*pos)++] = '"';
    out[*pos] = '\0';
}

/* Append @p s, truncated to what fits (the buffer stays NUL-terminated). */
static void put_raw(char *out, size_t cap, size_t *pos, const char *s)
{
    size_t n = strlen(s);
    if (n > cap - 1 - *pos)
        n = cap - 1 - *pos;
    memcpy(out + *pos, s, n);
    *pos += n;
    out[*pos] = '\0';
}

/* ---------------------------------------------------------------------------------------- */
/* Handlers                                                                                 */

static bool valid_id(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++) {
        char c = s[n];
        if (n >= MAX_NODE_ID || !((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
                                  (c >= '0' && c <= '9') || c == '-' || c == '_' || c == '.'))
            return false;
    }
    return n > 0;
}

static node *find_node(app *a, const char *id)
{
    for (size_t i = 0; i < a->nnodes; i++)
        if (strcmp(a->nodes[i].id, id) == 0)
            return &a->nodes[i];
    return NULL;
}

static bool put_node(app *a, const char *id, const char *data)
{
    node *n = find_node(a, id);
    if (!n) {
        if (a->nnodes == MAX_NODES)
            return false;
        n = &a->nodes[a->nnodes++];
        snprintf(n->id, sizeof n->id, "%s", id);
        n->data = NULL;
    }
    char *copy = strdup(data);
    if (!copy)
        return false;
    free(n->data);
    n->data = copy;
    return true;
}

static enum MHD_Result whoami(struct MHD_Connection *conn, const ts_authn_principal *p)
{
    char out[4096];
    size_t pos = 0, n = 0;
    put_raw(out, sizeof out, &pos, "{\"id\":");
    put_json_string(out, sizeof out, &pos, ts_authn_principal_id(p));
    put_raw(out, sizeof out, &pos, ",\"type\":");
    put_json_string(out, sizeof out, &pos,
                    ts_authn_principal_type_str(ts_authn_principal_type_of(p)));
    put_raw(out, sizeof out, &pos, ",\"issuer\":");
    put_json_string(out, sizeof out, &pos, ts_authn_principal_issuer(p));
    put_raw(out, sizeof out, &pos, ",\"roles\":[");
    const char *const *roles = ts_authn_principal_roles(p, &n);
    for (size_t i = 0; i < n; i++) {
        if (i)
            put_raw(out, sizeof out, &pos, ",");
        put_json_string(out, sizeof out, &pos, roles[i]);
    }
    put_raw(out, sizeof out, &pos, "],\"scopes\":[");
    const char *const *scopes = ts_authn_principal_scopes(p, &n);
    for (size_t i = 0; i < n; i++) {
        if (i)
            put_raw(out, sizeof out, &pos, ",");
        put_json_string(out, sizeof out, &pos, scopes[i]);
    }
    put_raw(out, sizeof out, &pos, "]}\n");
    return json(conn, 200, out);
}

static enum MHD_Result nodes_list(app *a, struct MHD_Connection *conn)
{
    char out[MAX_NODES * (MAX_NODE_ID + 4) + 32];
    size_t pos = 0;
    put_raw(out, sizeof out, &pos, "{\"nodes\":[");
    pthread_mutex_lock(&a->mu);
    for (size_t i = 0; i < a->nnodes; i++) {
        if (i)
            put_raw(out, sizeof out, &pos, ",");
        put_json_string(out, sizeof out, &pos, a->nodes[i].id);
    }
    pthread_mutex_unlock(&a->mu);
    put_raw(out, sizeof out, &pos, "]}\n");
    return json(conn, 200, out);
}

static enum MHD_Result node_one(app *a, struct MHD_Connection *conn, const char *method,
                                const char *id, const request *rq)
{
    if (!valid_id(id))
        return json(conn, 400, "{\"error\":\"invalid node id\"}\n");
    char out[2 * MAX_BODY + 3 * MAX_NODE_ID];
    size_t pos = 0;
    unsigned status = 200;
    pthread_mutex_lock(&a->mu);
    node *n = find_node(a, id);
    if (strcmp(method, "GET") == 0) {
        if (n) {
            put_raw(out, sizeof out, &pos, "{\"id\":");
            put_json_string(out, sizeof out, &pos, n->id);
            put_raw(out, sizeof out, &pos, ",\"data\":");
            put_json_string(out, sizeof out, &pos, n->data);
            put_raw(out, sizeof out, &pos, "}\n");
        }
    } else if (strcmp(method, "PUT") == 0) {
        if (rq->body_too_large)
            status = 413;
        else if (!put_node(a, id, rq->body))
            status = 507;
        else
            put_raw(out, sizeof out, &pos, "{\"stored\":true}\n");
    } else if (n) { /* DELETE: the route table admits no other method */
        free(n->data);
        *n = a->nodes[--a->nnodes];
        put_raw(out, sizeof out, &pos, "{\"deleted\":true}\n");
    }
    pthread_mutex_unlock(&a->mu);
    if (status == 413)
        return json(conn, 413, "{\"error\":\"body too large\"}\n");
    if (status == 507)
        return json(conn, 507, "{\"error\":\"store full\"}\n");
    if (pos == 0)
        return json(conn, 404, "{\"error\":\"no such node\"}\n");
    return json(conn, status, out);
}

static enum MHD_Result reload(app *a, struct MHD_Connection *conn)
{
    ts_error err;
    ts_error_clear(&err);
    char out[512];
    size_t pos = 0;
    ts_authz_authorizer *authorizer = ts_mhd_gate_authorizer(a->gate);
    if (ts_authz_reload(authorizer, &err) != TS_OK) {
        put_raw(out, sizeof out, &pos, "{\"error\":");
        put_json_string(out, sizeof out, &pos, err.msg);
        put_raw(out, sizeof out, &pos, "}\n");
        return json(conn, 500, out);
    }
    char pv[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    ts_authz_authorizer_policy_version(authorizer, pv);
    snprintf(out, sizeof out, "{\"policy_version\":\"%s\"}\n", pv);
    return json(conn, 200, out);
}

static enum MHD_Result serve_metrics(struct MHD_Connection *conn, const app *a)
{
    char *buf = malloc(REPLY_CAP);
    size_t len = 0;
    if (!buf)
        return MHD_NO;
    const ts_authz_guard *guard = ts_mhd_gate_guard(a->gate);
    enum MHD_Result ret;
    if (ts_authz_guard_metrics(guard, buf, REPLY_CAP, &len, NULL) != TS_OK)
        ret = json(conn, 500, "{\"error\":\"unavailable\"}\n");
    else
        ret = respond(conn, 200, "text/plain; version=0.0.4", buf, len);
    free(buf);
    return ret;
}

static enum MHD_Result route(app *a, struct MHD_Connection *conn, const char *method,
                             const char *url, const request *rq)
{
    bool get = strcmp(method, "GET") == 0;
    if (get && strcmp(url, "/health") == 0)
        return json(conn, 200, "{\"status\":\"ok\"}\n");
    if (get && strcmp(url, "/metrics") == 0)
        return serve_metrics(conn, a);
    if (strcmp(url, "/authz/diagnostics") == 0) /* GET and HEAD; 405 for the rest */
        return ts_authz_mhd_diagnostics(ts_mhd_gate_guard(a->gate), conn, method) ==
                       TS_HOOK_RESPONDED
                   ? MHD_YES
                   : MHD_NO;
    if (get && strcmp(url, "/v1/whoami") == 0 && rq->principal)
        return whoami(conn, rq->principal);
    if (get && strcmp(url, "/v1/nodes") == 0)
        return nodes_list(a, conn);
    if (strncmp(url, "/v1/nodes/", 10) == 0 &&
        (get || strcmp(method, "PUT") == 0 || strcmp(method, "DELETE") == 0))
        return node_one(a, conn, method, url + 10, rq);
    if (get && strcmp(url, "/v1/groups") == 0)
        return json(conn, 200, "{\"groups\":[\"compute\",\"storage\"]}\n");
    if (get && strcmp(url, "/v1/boot/configs") == 0)
        return json(conn, 200, "{\"configs\":[]}\n");
    if (strcmp(method, "POST") == 0 && strcmp(url, "/v1/admin/reload") == 0)
        return reload(a, conn);
    return json(conn, 404, "{\"error\":\"not found\"}\n");
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **con_cls)
{
    (void)version;
    app *a = cls;
    request *rq = *con_cls;
    if (!rq) { /* first call: headers only; the gate decides here */
        rq = calloc(1, sizeof *rq);
        if (!rq)
            return MHD_NO;
        *con_cls = rq; /* freed by on_completed, whatever the gate answers */
        ts_hook_result r = ts_mhd_gate_check(a->gate, conn, method, url, &rq->principal);
        if (r != TS_HOOK_CONTINUE) /* 401 or 403 queued (or nothing could be) */
            return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
        return MHD_YES; /* go on reading the body, if any */
    }
    if (*upload_size) {
        size_t room = MAX_BODY - rq->body_len;
        if (*upload_size > room)
            rq->body_too_large = true;
        else {
            memcpy(rq->body + rq->body_len, upload, *upload_size);
            rq->body_len += *upload_size;
            rq->body[rq->body_len] = '\0';
        }
        *upload_size = 0;
        return MHD_YES;
    }
    return route(a, conn, method, url, rq);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls, (void)conn, (void)toe;
    request *rq = *con_cls;
    if (rq) {
        ts_authn_principal_free(rq->principal);
        free(rq);
        *con_cls = NULL;
    }
}

/* ---------------------------------------------------------------------------------------- */
/* Start-up                                                                                 */

/* --revocations: a key source from --jwks and a fail-closed revocation source polling the
 * list for --issuer, so that a token revoked at the issuer is refused here within the poll
 * interval, from the gate's verified-token cache as well; while the list is unavailable (none
 * applied yet, or stale) every token is refused with 503 rather than a revoked one let in. */
static int build_revocations(app *a, const config *c, ts_error *err)
{
    if (!c->revocations)
        return 0;
    const char *const *src = &c->jwks;
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    if (strncmp(c->jwks, "http://", 7) == 0 || strncmp(c->jwks, "https://", 8) == 0)
        ko.urls = src, ko.n_urls = 1;
    else
        ko.jwks_files = src, ko.n_jwks_files = 1;
    if (!(a->revocation_keys = ts_authn_keysource_new(&ko, err)))
        return -1;
    ts_authn_revocations_options ro = TS_AUTHN_REVOCATIONS_OPTIONS_INIT;
    ro.url = c->revocations;
    ro.issuer = c->issuer;
    ro.keysource = a->revocation_keys;
    ro.poll_interval_ms = c->revocations_poll_ms;
    ro.fail_open = false;
    if (!(a->revocations = ts_authn_revocations_new(&ro, err))) {
        /* Name the flag, not the library's option. */
        bool poll = strcmp(err->where, "poll_interval_ms") == 0;
        snprintf(err->where, sizeof err->where, "%s",
                 poll ? "--revocations-poll-ms" : "--revocations");
        return -1;
    }
    return 0;
}

/* The gate from the configuration: keys, issuer and audience, the scope-to-role table, the
 * public and authn-only paths, the route table, the mode, the policy fragments, and the
 * connection bounds around on_request and on_completed. */
static int build_gate(app *a, const config *c, ts_error *err)
{
    ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT;
    o.issuers = &c->issuer, o.n_issuers = 1;
    o.audiences = &c->audience, o.n_audiences = 1;
    o.jwks = &c->jwks, o.n_jwks = 1; /* a JWK Set file, or a URL fetched and cached */
    o.scope_roles = c->scope_roles, o.n_scope_roles = c->n_scope_roles;
    o.public_paths = public_paths;
    o.n_public_paths = sizeof public_paths / sizeof public_paths[0];
    o.authn_only_paths = authn_only_paths, o.n_authn_only_paths = 1;
    o.realm = "minisvc";
    o.routes = routes, o.n_routes = sizeof routes / sizeof routes[0];
    if (ts_authz_mode_parse(c->mode, &o.mode, err) != TS_OK)
        return -1;
    o.policy_dir = c->policy_dir; /* none: $TOKENSMITH_POLICY_DIR, else the baseline alone */
    o.policy_from_env = c->policy_dir == NULL;
    o.log = log_line;
    o.limits.handler = on_request;
    o.limits.handler_cls = a;
    o.limits.completed = on_completed;
    o.limits.completed_cls = a;
    o.limits.max_per_address = c->max_per_address;
    o.limits.max_connections = c->max_connections;
    o.limits.head_timeout_ms = c->head_timeout_ms;
    o.limits.body_timeout_ms = c->body_timeout_ms;
    o.limits.idle_timeout_s = c->idle_timeout_s;
    o.revocations = a->revocations; /* NULL without --revocations */
    /* Functions a policy model's matcher may call, on every enforcer the gate's authorizer
     * builds (start, SIGHUP, --watch-policy): the shipped demonstration, hasSuffix(s, suffix).
     * The array is copied by the gate. */
    const ts_authz_function_reg functions[] = {{ts_authz_function_has_suffix(), NULL}};
    o.functions = functions, o.n_functions = 1;
    return (a->gate = ts_mhd_gate_new(&o, err)) ? 0 : -1;
}

static void free_app(app *a)
{
    ts_mhd_gate_free(a->gate);
    ts_authn_revocations_free(a->revocations); /* after the gate's verifier, before its keys */
    ts_authn_keysource_free(a->revocation_keys);
    for (size_t i = 0; i < a->nnodes; i++)
        free(a->nodes[i].data);
    pthread_mutex_destroy(&a->mu);
}

static int write_port(const char *path, unsigned port)
{
    char tmp[4096];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        return -1;
    int ok = fprintf(f, "%u\n", port) > 0;
    ok = fclose(f) == 0 && ok;
    return ok && rename(tmp, path) == 0 ? 0 : -1;
}

int main(int argc, char **argv)
{
    config c;
    if (parse_args(argc, argv, &c) != 0) {
        usage(stderr);
        return 2;
    }
    struct sockaddr_in addr;
    if (parse_listen(c.listen, &addr) != 0) {
        fprintf(stderr, "minisvc: --listen: expected IPv4 HOST:PORT, got '%s'\n", c.listen);
        return 2;
    }
    /* Block the signals before any thread starts: every thread inherits the mask, SIGHUP goes
     * to the reload helper and SIGINT/SIGTERM to sigwait() below. */
    ts_error err;
    ts_error_clear(&err);
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGINT);
    sigaddset(&stop, SIGTERM);
    if (ts_authz_sighup_block(&err) != TS_OK || pthread_sigmask(SIG_BLOCK, &stop, NULL) != 0) {
        fprintf(stderr, "minisvc: signals: %s\n", err.msg);
        return 1;
    }
    signal(SIGPIPE, SIG_IGN);

    static app a; /* large (the node table); lives for the whole run */
    pthread_mutex_init(&a.mu, NULL);
    put_node(&a, "n1", "{\"rack\":1}");
    put_node(&a, "n2", "{\"rack\":2}");
    ts_authz_sighup *hup = NULL;
    struct MHD_Daemon *d = NULL;
    int rc = 1;
    if (build_revocations(&a, &c, &err) != 0 || build_gate(&a, &c, &err) != 0) {
        fprintf(stderr, "minisvc: %s%s%s\n", err.where, err.where[0] ? ": " : "", err.msg);
        goto out;
    }
    if (!(hup = ts_authz_sighup_start(ts_mhd_gate_authorizer(a.gate), &err))) {
        fprintf(stderr, "minisvc: SIGHUP helper: %s\n", err.msg);
        goto out;
    }
    /* The guard's watcher, stopped when the gate frees the guard. */
    if (c.watch_policy && ts_authz_guard_watch(ts_mhd_gate_guard(a.gate), 0, &err) != TS_OK) {
        fprintf(stderr, "minisvc: --watch-policy: %s%s%s\n", err.where, err.where[0] ? ": " : "",
                err.msg);
        goto out;
    }
    /* The gate's bounds wrap on_request and on_completed: their accept policy and handler,
     * and the gate's option array (the bounds' options and the URL unescaper the gate
     * decides with: "%00" or "%zz" stays undecoded instead of cutting or garbling the path
     * that authn, authz and the handlers see). */
    ts_mhd_limits *limits = ts_mhd_gate_limits(a.gate);
    d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ERROR_LOG, 0, ts_mhd_limits_accept,
        limits, ts_mhd_limits_handler, limits, MHD_OPTION_ARRAY, ts_mhd_gate_mhd_options(a.gate),
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_THREAD_POOL_SIZE, 4u,
        /* above our own total, so that libmicrohttpd never stops accepting first */
        MHD_OPTION_CONNECTION_LIMIT, c.max_connections ? c.max_connections + 64 : 4096u,
        MHD_OPTION_END);
    const union MHD_DaemonInfo *info = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info) {
        fprintf(stderr, "minisvc: cannot listen on %s\n", c.listen);
        goto out;
    }
    if (c.port_file && write_port(c.port_file, info->port) != 0) {
        fprintf(stderr, "minisvc: cannot write %s\n", c.port_file);
        goto out;
    }
    fprintf(stderr, "{\"event\":\"minisvc.start\",\"port\":%u,\"mode\":\"%s\"}\n",
            (unsigned)info->port, c.mode);
    int sig = 0;
    sigwait(&stop, &sig);
    rc = 0;
out:
    if (d)
        MHD_stop_daemon(d);
    ts_authz_sighup_stop(hup);
    free_app(&a); /* the gate last: it joins the bounds' watchdog and the key source's thread */
    return rc;
}
