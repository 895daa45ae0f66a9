/* The management API's listener: a libmicrohttpd daemon of its own behind tokensmith-mhd's gate.
 * The gate's limits bound connections (per address and in total) and the head and body
 * deadlines; its authn verifies bearer tokens of this service (iss = the issuer, aud =
 * TS_SVC_MGMT_AUDIENCE, keys from this service's own JWKS); its authz decides object
 * "management:mappings", action read (GET) or write (anything else) with the embedded baseline
 * policy and the operators' fragments, in managementAuthzMode. A Kubernetes service-account
 * token of a configured provider is verified by mgmt_k8s.c instead and decided by the same
 * guard. A refusal is the gate's own 401 or 403 with an authz.deny.v1 body; what passes
 * reaches mgmt_routes.c. */
#define _GNU_SOURCE

#include "mgmt.h"

#include "mappings.h"
#include "svc_internal.h"
#include "tls.h"

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "common/listen.h"

struct ts_svc_mgmt {
    ts_mhd_gate *gate;
    ts_svc_mgmt_k8s *k8s;
    struct MHD_Daemon *d;
    unsigned port;
    char jwks[TS_SVC_PATH + 64]; /* the URL (or file) of this service's keys */
    bool keys_file;              /* jwks is the file, rewritten when the served keys change */
    char *written;               /* the document last written there (malloc); main thread only */
};

/* One request: the verified caller and the body as it arrives. */
typedef struct mreq {
    ts_svc_mgmt_caller who;
    char *body;
    size_t len;
    bool too_big;
    bool answered; /* the gate answered: discard the body */
} mreq;

/* The kind of token the request being checked on this thread came with: the gate's and the
 * guard's log lines are written during the check, on the request's thread, and name it. */
static _Thread_local const char *checking_kind;

static void gate_log(const char *line, size_t len, void *ud)
{
    if (len < 2 || line[0] != '{' || line[len - 1] != '}')
        return;
    const char *kind = checking_kind;
    char *m = kind ? malloc(len + 64) : NULL;
    if (!m) {
        ts_svc__log_members(ud, "info", "management access", line + 1, len - 2);
        return;
    }
    int n = snprintf(m, len + 64, "%.*s%s\"subject_kind\":\"%s\"", (int)(len - 2), line + 1,
                     len > 2 ? "," : "", kind);
    ts_svc__log_members(ud, "info", "management access", m, (size_t)n);
    free(m);
}

/* "<type>:<subject>" of a token of this service, as the store's actor. */
static void actor_of(const ts_authn_principal *p, char *out, size_t cap)
{
    snprintf(out, cap, "%s:%s",
             p ? ts_authn_principal_type_str(ts_authn_principal_type_of(p)) : "anonymous",
             p ? ts_authn_principal_id(p) : "-");
}

/* Both kinds of caller: a Kubernetes provider's token is mgmt_k8s.c's, any other the gate's. */
static ts_hook_result check(ts_svc *s, struct MHD_Connection *conn, const char *method,
                            const char *url, mreq *r)
{
    struct ts_svc_mgmt *m = s->mgmt;
    bool mine = false;
    checking_kind = "kubernetes";
    ts_hook_result h = ts_svc__mgmt_k8s_check(s, m->k8s, ts_mhd_gate_guard(m->gate), conn, method,
                                              url, &mine, &r->who);
    if (!mine) {
        ts_authn_principal *p = NULL;
        checking_kind = "tokensmith";
        h = ts_mhd_gate_check(m->gate, conn, method, url, &p);
        actor_of(p, r->who.actor, sizeof r->who.actor);
        r->who.kind = "tokensmith";
        ts_authn_principal_free(p);
    }
    checking_kind = NULL;
    /* Printable ASCII without spaces: what the store keeps as the actor. */
    for (char *c = r->who.actor; *c; c++)
        if (*c <= 0x20 || *c >= 0x7f)
            *c = '?';
    return h;
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *conn, const char *url,
                                  const char *method, const char *version, const char *upload,
                                  size_t *upload_size, void **req_cls)
{
    (void)version;
    ts_svc *s = cls;
    mreq *r = *req_cls;
    if (!r) {
        r = calloc(1, sizeof *r);
        if (!r)
            return MHD_NO;
        *req_cls = r;
        ts_hook_result h = check(s, conn, method, url, r);
        if (h == TS_HOOK_ERROR)
            return MHD_NO;
        if (h == TS_HOOK_RESPONDED) {
            r->answered = true;
            return MHD_YES;
        }
        const char *cl =
            MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        /* An announced oversized body is not kept: it is read and dropped (within the body
         * deadline), then refused with 413, so that the client reads the answer instead of
         * a connection reset in the middle of its upload. */
        if (cl && strtoull(cl, NULL, 10) > TS_SVC_MAP_ITEM_MAX)
            r->too_big = true;
        return MHD_YES;
    }
    if (r->answered) {
        *upload_size = 0;
        return MHD_YES;
    }
    if (*upload_size) {
        size_t n = *upload_size;
        if (!r->too_big && r->len + n <= TS_SVC_MAP_ITEM_MAX) {
            if (!r->body && !(r->body = malloc(TS_SVC_MAP_ITEM_MAX)))
                return MHD_NO;
            memcpy(r->body + r->len, upload, n);
            r->len += n;
        } else {
            r->too_big = true;
        }
        *upload_size = 0;
        return MHD_YES;
    }
    r->answered = true;
    return ts_svc__mgmt_route(s, conn, method, url, r->body, r->len, r->too_big, &r->who);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)conn;
    (void)toe;
    mreq *r = *req_cls;
    if (!r)
        return;
    free(r->body);
    free(r);
    *req_cls = NULL;
}

/* Where the gate reads this service's public keys: its own JWKS endpoint over loopback, so that
 * a key rotation and the keys other replicas publish are seen as the service serves them. The
 * main listener must then be reachable on loopback (a wildcard or loopback address) over plain
 * HTTP; otherwise a file of the served JWKS, written now and again whenever it changes
 * (ts_svc__mgmt_keys_changed()). */
static ts_status keys_location(ts_svc *s, char *out, size_t cap, ts_error *err)
{
    struct sockaddr_storage ss;
    socklen_t sl;
    ts_status st = ts_common__listen_parse(s->cfg.listen, "listen", &ss, &sl, err);
    if (st != TS_OK)
        return st;
    bool v4_local = false, v6_local = false;
    if (ss.ss_family == AF_INET) {
        const struct sockaddr_in *a = (const struct sockaddr_in *)&ss;
        uint32_t ip = ntohl(a->sin_addr.s_addr);
        v4_local = ip == INADDR_ANY || (ip >> 24) == 127;
    } else if (ss.ss_family == AF_INET6) {
        const struct sockaddr_in6 *a = (const struct sockaddr_in6 *)&ss;
        v6_local = IN6_IS_ADDR_UNSPECIFIED(&a->sin6_addr) || IN6_IS_ADDR_LOOPBACK(&a->sin6_addr);
    }
    /* Over HTTPS the loopback fetch would have to trust the listener's certificate, whose
     * names need not include a loopback address: the keys file then, as for a listener that
     * loopback cannot reach. */
    if ((v4_local || v6_local) && !ts_svc__tls_on(s)) {
        snprintf(out, cap,
                 v4_local ? "http://127.0.0.1:%u/.well-known/jwks.json"
                          : "http://[::1]:%u/.well-known/jwks.json",
                 (unsigned)s->port);
        return TS_OK;
    }
    snprintf(out, cap, "%s/management-jwks.json", s->cfg.home);
    const char *jwks = ts_svc_keyring_jwks_json(s->keys);
    st = ts_svc_write_file_atomic(out, jwks, strlen(jwks), err);
    s->mgmt->keys_file = true;
    s->mgmt->written = st == TS_OK ? strdup(jwks) : NULL; /* NULL: the next change writes it */
    return st;
}

void ts_svc__mgmt_keys_changed(ts_svc *s)
{
    struct ts_svc_mgmt *m = s ? s->mgmt : NULL;
    if (!m || !m->keys_file || !m->gate)
        return;
    const char *doc = ts_svc_keyring_jwks_json(s->keys);
    if (!doc || (m->written && strcmp(doc, m->written) == 0))
        return;
    ts_error e;
    ts_error_clear(&e);
    /* Atomic (a temporary file renamed into place): the key source never reads half a file. */
    if (ts_svc_write_file_atomic(m->jwks, doc, strlen(doc), &e) != TS_OK) {
        json_t *f = json_object();
        json_object_set_new(f, "file", json_string(m->jwks));
        json_object_set_new(f, "reason", json_string(e.msg));
        ts_svc__log_event(s, "warn",
                          "management keys file not rewritten; the management API keeps the "
                          "previous keys",
                          f);
        return;
    }
    free(m->written);
    m->written = strdup(doc); /* out of memory: written again at the next call */
    /* Read now, not at the next unknown kid: the key source's cooldown of an unrelated unknown
     * kid would otherwise refuse tokens of a key that has just begun to sign. */
    ts_status st = ts_authn_keysource_refresh(ts_mhd_gate_keysource(m->gate), &e);
    json_t *f = json_object();
    json_object_set_new(f, "file", json_string(m->jwks));
    if (st != TS_OK)
        json_object_set_new(f, "reason", json_string(e.msg));
    ts_svc__log_event(s, st == TS_OK ? "info" : "warn",
                      st == TS_OK ? "management keys updated"
                                  : "management keys file not read; the previous keys stay",
                      f);
}

ts_status ts_svc__mgmt_start(ts_svc *s, ts_error *err)
{
    const ts_svc_config *c = &s->cfg;
    struct sockaddr_storage ss;
    socklen_t sl;
    ts_status st = ts_common__listen_parse(c->management_listen, "managementListen", &ss, &sl, err);
    if (st != TS_OK)
        return st;
    ts_authz_mode mode;
    st = ts_authz_mode_parse(c->management_authz_mode, &mode, err);
    if (st != TS_OK)
        return st;
    struct ts_svc_mgmt *m = calloc(1, sizeof *m);
    if (!m)
        return ts_error_set(err, TS_ENOMEM, "managementListen", "out of memory");
    s->mgmt = m;
    st = keys_location(s, m->jwks, sizeof m->jwks, err);
    if (st != TS_OK)
        return st;
    const char *issuers[] = {c->issuer};
    const char *audiences[] = {TS_SVC_MGMT_AUDIENCE};
    const char *jwks[] = {m->jwks};
    /* Every method on the collection and its items; GET reads, the rest writes. */
    static const ts_authz_route routes[] = {
        {"GET", "/api/v1/mappings/*", TS_SVC_MGMT_OBJECT, "read"},
        {"*", "/api/v1/mappings/*", TS_SVC_MGMT_OBJECT, "write"},
    };
    ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = 1;
    o.audiences = audiences;
    o.n_audiences = 1;
    o.jwks = jwks;
    o.n_jwks = 1;
    o.realm = TS_SVC_MGMT_REALM;
    o.mode = mode;
    o.routes = routes;
    o.n_routes = sizeof routes / sizeof routes[0];
    o.policy_dir = c->management_policy_dir[0] ? c->management_policy_dir : NULL;
    o.policy_from_env = !c->management_policy_dir[0];
    o.log = gate_log;
    o.log_ud = s;
    ts_svc__limits_options(s, on_request, on_completed, TS_SVC_MGMT_PER_ADDRESS,
                           TS_SVC_MGMT_CONNECTIONS, &o.limits);
    m->gate = ts_mhd_gate_new(&o, err);
    if (!m->gate)
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    st = ts_svc__mgmt_k8s_new(s, &m->k8s, err);
    if (st != TS_OK)
        return st;
    ts_mhd_limits *lim = ts_mhd_gate_limits(m->gate);
    /* HTTPS with the main listener's pair whenever it serves HTTPS (tls_svc.c). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     (ss.ss_family == AF_INET6 ? MHD_USE_IPv6 : 0u) |
                     ts_svc__tls_listener_flags(s, TS_SVC_LISTENER_MANAGEMENT);
    ts_svc__tls_tickets(s, flags, lim);
    m->d =
        MHD_start_daemon(flags, 0, ts_mhd_limits_accept, lim, ts_mhd_limits_handler, lim,
                         MHD_OPTION_ARRAY, ts_mhd_gate_mhd_options(m->gate), MHD_OPTION_ARRAY,
                         ts_svc__tls_listener_options(s, TS_SVC_LISTENER_MANAGEMENT),
                         MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&ss, MHD_OPTION_THREAD_POOL_SIZE,
                         2u, MHD_OPTION_CONNECTION_LIMIT, TS_SVC_MGMT_CONNECTIONS + 16u,
                         MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)c->max_header_bytes,
                         MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned int)1, MHD_OPTION_END);
    if (!m->d)
        return ts_error_set(err, TS_EIO, "managementListen", "cannot listen on %s: %s",
                            c->management_listen,
                            errno ? strerror(errno) : "libmicrohttpd refused the options");
    const union MHD_DaemonInfo *di = MHD_get_daemon_info(m->d, MHD_DAEMON_INFO_BIND_PORT);
    m->port = di ? di->port : 0;
    return TS_OK;
}

void ts_svc__mgmt_stop(ts_svc *s)
{
    if (!s || !s->mgmt)
        return;
    if (s->mgmt->d)
        MHD_stop_daemon(s->mgmt->d);
    ts_mhd_gate_free(s->mgmt->gate); /* after the daemon: joins the limits' watchdog */
    ts_svc__mgmt_k8s_free(s->mgmt->k8s);
    free(s->mgmt->written);
    free(s->mgmt);
    s->mgmt = NULL;
}

unsigned ts_svc__mgmt_port(const ts_svc *s)
{
    return s && s->mgmt ? s->mgmt->port : 0;
}
