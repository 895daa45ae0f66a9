/* The authorization contract over a real libmicrohttpd server on loopback, driven by libcurl:
 * every mode against every refusal case of authz.deny.v1, OPTIONS and HEAD, and policy reloads
 * while requests are in flight. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <microhttpd.h>
#include <stdatomic.h>
#include <strings.h>
#include <time.h>

#include <tokensmith/authz_http.h>

#include "contract_testutil.h"

/* A model whose matcher can fail at run time: the request object is a regex pattern. */
static const char *MODEL = "[request_definition]\nr = sub, dom, obj, act\n"
                           "[policy_definition]\np = sub, obj, act\n"
                           "[role_definition]\ng = _, _, _\n"
                           "[policy_effect]\ne = some(where (p.eft == allow))\n"
                           "[matchers]\nm = g(r.sub, p.sub, r.dom) && regexMatch(p.obj, r.obj) "
                           "&& r.act == p.act\n";

/* ---- server ------------------------------------------------------------------------------- */

typedef struct server {
    struct MHD_Daemon *d;
    ts_authz_guard *guard;
    unsigned short port;
} server;

typedef struct test_principal {
    char *roles_buf;
    const char *roles[8];
} test_principal;

/* Principal from test headers: X-Id, X-Type, X-Roles (comma-separated); X-Fail for errors. */
static ts_authz_principal_status get_principal(struct MHD_Connection *c,
                                               const ts_authz_request *req, ts_authz_principal *out,
                                               void *ud)
{
    (void)req;
    (void)ud;
    if (MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Fail"))
        return TS_AUTHZ_PRINCIPAL_ERROR;
    const char *id = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Id");
    if (!id)
        return TS_AUTHZ_PRINCIPAL_NONE;
    out->id = strcmp(id, "-") == 0 ? "" : id;
    out->type = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Type");
    const char *roles = MHD_lookup_connection_value(c, MHD_HEADER_KIND, "X-Roles");
    if (roles) {
        test_principal *tp = calloc(1, sizeof *tp);
        size_t n = strlen(roles) + 1;
        tp->roles_buf = malloc(n);
        memcpy(tp->roles_buf, roles, n);
        size_t k = 0;
        char *save = NULL;
        for (char *t = strtok_r(tp->roles_buf, ",", &save); t && k < 8;
             t = strtok_r(NULL, ",", &save))
            tp->roles[k++] = t;
        out->roles = tp->roles;
        out->nroles = k;
    }
    return TS_AUTHZ_PRINCIPAL_FOUND;
}

static void release_principal(ts_authz_principal *p, void *ud)
{
    (void)ud;
    if (p->roles) {
        test_principal *tp =
            (test_principal *)(uintptr_t)((const char *)p->roles - offsetof(test_principal, roles));
        free(tp->roles_buf);
        free(tp);
    }
}

static ts_authz_mapper *g_routes;

/* Fixture mapper: special paths produce each failure; the rest goes to a route table. */
static ts_authz_map_status map_fn(const ts_authz_request *req, const ts_authz_principal *p,
                                  ts_authz_mapping *out, ts_error *err, void *ud)
{
    (void)ud;
    char path[TS_AUTHZ_HTTP_MAX_PATH + 1];
    if (ts_authz_path_normalize(req->path, req->path_len, req->path_decoded, path, sizeof path,
                                NULL, err) != TS_OK)
        return TS_AUTHZ_MAP_BAD_REQUEST;
    if (strcmp(path, "/bad") == 0) {
        ts_error_set(err, TS_EINVAL, NULL, "bad node name");
        return TS_AUTHZ_MAP_BAD_REQUEST;
    }
    if (strcmp(path, "/boom") == 0) {
        ts_error_set(err, TS_EINTERNAL, NULL, "mapper exploded");
        return TS_AUTHZ_MAP_ERROR;
    }
    if (strcmp(path, "/engine") == 0) {
        out->mapped = true;
        out->object = "(unclosed";
        out->action = "read";
        return TS_AUTHZ_MAP_OK;
    }
    return ts_authz_mapper_map(g_routes, req, p, out, err);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    server *s = cls;
    (void)version;
    (void)upload;
    if (*con_cls == NULL) { /* first call: headers only, decide now */
        ts_hook_result r = ts_authz_mhd_check(s->guard, c, method, url);
        if (r != TS_HOOK_CONTINUE)
            return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
        *con_cls = s;
        if (*upload_size == 0 && strcmp(method, "POST") != 0 && strcmp(method, "PUT") != 0)
            goto reply;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
reply:;
    static const char ok[] = "handled";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof ok - 1, (void *)(uintptr_t)ok, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result r = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return r;
}

static void server_start(server *s, ts_authz_guard *g)
{
    s->guard = g;
    s->d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0, NULL, NULL,
                            handler, s, MHD_OPTION_THREAD_POOL_SIZE, 4u,
                            MHD_OPTION_UNESCAPE_CALLBACK, ts_authz_mhd_keep_escapes, NULL,
                            MHD_OPTION_SOCK_ADDR, NULL, MHD_OPTION_END);
    assert_non_null(s->d);
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(s->d, MHD_DAEMON_INFO_BIND_PORT);
    assert_non_null(info);
    s->port = info->port;
    assert_true(s->port != 0);
}

static void server_stop(server *s)
{
    MHD_stop_daemon(s->d);
}

/* ---- client ------------------------------------------------------------------------------- */

typedef struct reply {
    long status;
    char body[8192];
    size_t len;
    bool www_auth;
    char ctype[128];
} reply;

static size_t on_body(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    size_t k = sz * n;
    if (r->len + k < sizeof r->body) {
        memcpy(r->body + r->len, p, k);
        r->len += k;
        r->body[r->len] = '\0';
    }
    return k;
}

static size_t on_header(char *p, size_t sz, size_t n, void *ud)
{
    reply *r = ud;
    size_t k = sz * n;
    if (k > 17 && strncasecmp(p, "WWW-Authenticate:", 17) == 0)
        r->www_auth = true;
    if (k > 13 && strncasecmp(p, "Content-Type:", 13) == 0) {
        size_t m = k - 13 < sizeof r->ctype - 1 ? k - 13 : sizeof r->ctype - 1;
        memcpy(r->ctype, p + 13, m);
        r->ctype[m] = '\0';
    }
    return k;
}

/* headers: NULL-terminated list of "Name: value". */
static CURLcode do_request(CURL *c, unsigned short port, const char *method, const char *path,
                           const char *const *headers, reply *r)
{
    char url[2048];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", port, path);
    memset(r, 0, sizeof *r);
    struct curl_slist *hl = NULL;
    for (size_t i = 0; headers && headers[i]; i++)
        hl = curl_slist_append(hl, headers[i]);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L); /* keep "..", "%2F" and bad escapes */
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ? 1L : 0L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, strcmp(method, "HEAD") == 0 ? NULL : method);
    CURLcode rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, NULL);
    curl_slist_free_all(hl);
    return rc;
}

/* ---- fixture ------------------------------------------------------------------------------ */

typedef struct fixture {
    char *dir, *frag_dir, *model;
    ts_authz_authorizer *authz;
    ts_authz_mapper *mapper;
    tu_log log;
    CURL *curl;
} fixture;

static fixture F;

static int setup(void **state)
{
    (void)state;
    F.dir = tu_mkdtemp();
    assert_non_null(F.dir);
    F.frag_dir = tu_path(F.dir, "policy.d");
    assert_int_equal(mkdir(F.frag_dir, 0700), 0);
    assert_int_equal(tu_writez(F.dir, "model.conf", MODEL), 0);
    F.model = tu_path(F.dir, "model.conf");
    assert_int_equal(
        tu_writez(F.frag_dir, "10-tester.csv", "p, role:tester, metadata:groups, read\n"), 0);
    tu_log_init(&F.log);
    ts_authz_authorizer_options ao = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    ao.source.model_path = F.model;
    ao.source.policy_dir = F.frag_dir;
    ao.log = tu_log_sink;
    ao.log_ud = &F.log;
    ts_error err;
    ts_error_clear(&err);
    F.authz = ts_authz_authorizer_new(&ao, &err);
    if (!F.authz)
        fail_msg("authorizer: %s %s", err.where, err.msg);
    static const ts_authz_route routes[] = {
        {"GET", "/nodes/:id", "metadata:nodes", NULL},
        {"DELETE", "/nodes/:id", "metadata:nodes", NULL},
        {"GET", "/groups/:id", "metadata:groups", NULL},
    };
    g_routes = ts_authz_mapper_routes_new(routes, 3, TS_AUTHZ_ACTION_REST, NULL, NULL, &err);
    assert_non_null(g_routes);
    F.mapper = ts_authz_mapper_custom_new(map_fn, NULL, &err);
    assert_non_null(F.mapper);
    F.curl = curl_easy_init();
    assert_non_null(F.curl);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    curl_easy_cleanup(F.curl);
    ts_authz_mapper_free(F.mapper);
    ts_authz_mapper_free(g_routes);
    ts_authz_authorizer_free(F.authz);
    tu_log_free(&F.log);
    tu_rmrf(F.dir);
    free(F.dir);
    free(F.frag_dir);
    free(F.model);
    return 0;
}

static ts_authz_guard *make_guard(ts_authz_mode mode, bool options_public)
{
    static const char *const prefixes[] = {"/public"};
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.mode = mode;
    go.authorizer = F.authz;
    go.mapper = F.mapper;
    go.options_public = options_public;
    go.public_prefixes = prefixes;
    go.npublic_prefixes = 1;
    go.raw_paths = true;
    go.log = tu_log_sink;
    go.log_ud = &F.log;
    go.principal = get_principal;
    go.principal_release = release_principal;
    ts_error err;
    ts_error_clear(&err);
    ts_authz_guard *g = ts_authz_guard_new(&go, &err);
    assert_non_null(g);
    return g;
}

/* One row of the refusal table (reference §6.8) plus the allow case. */
typedef struct row {
    const char *name;
    const char *method;
    const char *path;
    const char *headers[4];
    long status; /* in enforce mode */
    const char *code;
    const char *message;
    const char *decision;
    const char *reason;
    const char *details_error; /* NULL: no details */
} row;

static const row ROWS[] = {
    {"no principal",
     "GET",
     "/nodes/n1",
     {NULL},
     401,
     "AUTHN_REQUIRED",
     "authentication required",
     "deny",
     "no_principal",
     NULL},
    {"malformed path",
     "GET",
     "/nodes/%zz",
     {"X-Id: alice", "X-Type: user", "X-Roles: viewer", NULL},
     400,
     "BAD_REQUEST",
     "malformed URL path",
     "error",
     "bad_request",
     "mapper"},
    {"mapper bad request",
     "GET",
     "/bad",
     {"X-Id: alice", "X-Type: user", NULL},
     400,
     "BAD_REQUEST",
     "bad node name",
     "error",
     "bad_request",
     "mapper"},
    {"mapper error",
     "GET",
     "/boom",
     {"X-Id: alice", "X-Type: user", NULL},
     500,
     "AUTHZ_ENGINE_ERROR",
     "authorization mapping error",
     "error",
     "engine_error",
     "mapper"},
    {"unmapped",
     "GET",
     "/nowhere",
     {"X-Id: alice", "X-Type: user", NULL},
     403,
     "AUTHZ_UNMAPPED",
     "unmapped route",
     "deny",
     "unmapped_route",
     NULL},
    {"engine error",
     "GET",
     "/engine",
     {"X-Id: alice", "X-Type: user", "X-Roles: viewer", NULL},
     500,
     "AUTHZ_ENGINE_ERROR",
     "authorization engine error",
     "error",
     "engine_error",
     NULL},
    {"deny",
     "DELETE",
     "/nodes/n1",
     {"X-Id: alice", "X-Type: user", "X-Roles: viewer", NULL},
     403,
     "AUTHZ_DENIED",
     "access denied",
     "deny",
     "policy_denied",
     NULL},
    {"indeterminate",
     "GET",
     "/nodes/n1",
     {"X-Id: -", "X-Roles: viewer", NULL},
     403,
     "AUTHZ_DENIED",
     "access denied",
     "indeterminate",
     "incomplete_request",
     NULL},
    {"principal error",
     "GET",
     "/nodes/n1",
     {"X-Fail: 1", NULL},
     500,
     "AUTHZ_ENGINE_ERROR",
     "authorization principal error",
     "error",
     "engine_error",
     "principal"},
    {"allow",
     "GET",
     "/nodes/n1",
     {"X-Id: alice", "X-Type: user", "X-Roles: viewer", NULL},
     200,
     NULL,
     NULL,
     "allow",
     "policy_allowed",
     NULL},
};

static void check_body(const row *r, const reply *rep, const char *mode)
{
    json_error_t je;
    json_t *j = json_loads(rep->body, JSON_REJECT_DUPLICATES, &je);
    if (!j)
        fail_msg("%s: body is not JSON: %s", r->name, rep->body);
    assert_true(rep->len > 0 && rep->body[rep->len - 1] == '\n');
    assert_non_null(strstr(rep->ctype, "application/json; charset=utf-8"));
    /* Field order is part of the contract. */
    static const char *const order[] = {"schema_version", "code",   "message",   "decision",
                                        "reason",         "mode",   "principal", "input",
                                        "policy_version", "request"};
    const char *prev = rep->body;
    for (size_t i = 0; i < sizeof order / sizeof *order; i++) {
        char key[64];
        snprintf(key, sizeof key, "\"%s\":", order[i]);
        const char *at = strstr(rep->body, key);
        if (!at || at < prev)
            fail_msg("%s: field %s missing or out of order: %s", r->name, order[i], rep->body);
        prev = at;
    }
    assert_string_equal(json_string_value(json_object_get(j, "schema_version")), "authz.deny.v1");
    assert_string_equal(json_string_value(json_object_get(j, "code")), r->code);
    assert_string_equal(json_string_value(json_object_get(j, "message")), r->message);
    assert_string_equal(json_string_value(json_object_get(j, "decision")), r->decision);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), r->reason);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), mode);
    assert_int_equal(strlen(json_string_value(json_object_get(j, "policy_version"))), 64);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "request"), "method")),
                        r->method);
    json_t *details = json_object_get(j, "details");
    if (r->details_error)
        assert_string_equal(json_string_value(json_object_get(details, "error")), r->details_error);
    else
        assert_null(details);
    json_decref(j);
}

/* The last decision line must carry the row's decision and reason. */
static void check_log(const row *r, const char *mode)
{
    char needle[128];
    snprintf(needle, sizeof needle, "\"event\":\"authz.decision\"");
    const char *line = tu_log_find(&F.log, needle);
    assert_non_null(line);
    json_t *j = json_loads(line, 0, NULL);
    assert_non_null(j);
    assert_string_equal(json_string_value(json_object_get(j, "decision")), r->decision);
    assert_string_equal(json_string_value(json_object_get(j, "reason")), r->reason);
    assert_string_equal(json_string_value(json_object_get(j, "mode")), mode);
    if (r->status != 200) {
        assert_int_equal(json_integer_value(json_object_get(j, "status")), r->status);
        assert_true(json_is_true(json_object_get(j, "enforced")) == (strcmp(mode, "enforce") == 0));
    }
    json_decref(j);
}

static void run_rows(ts_authz_mode mode)
{
    server s;
    ts_authz_guard *g = make_guard(mode, true);
    server_start(&s, g);
    const char *mname = ts_authz_mode_name(mode);
    for (size_t i = 0; i < sizeof ROWS / sizeof *ROWS; i++) {
        const row *r = &ROWS[i];
        reply rep;
        tu_log_clear(&F.log);
        assert_int_equal(do_request(F.curl, s.port, r->method, r->path, r->headers, &rep),
                         CURLE_OK);
        if (mode != TS_AUTHZ_MODE_ENFORCE || r->status == 200) {
            /* off and shadow never block */
            if (rep.status != 200 || strcmp(rep.body, "handled") != 0)
                fail_msg("%s/%s: %ld %s", mname, r->name, rep.status, rep.body);
            if (mode == TS_AUTHZ_MODE_OFF)
                assert_null(tu_log_find(&F.log, "authz.decision"));
            else
                check_log(r, mname);
        } else {
            if (rep.status != r->status)
                fail_msg("%s/%s: status %ld, want %ld: %s", mname, r->name, rep.status, r->status,
                         rep.body);
            check_body(r, &rep, mname);
            check_log(r, mname);
            assert_true(rep.www_auth == (r->status == 401));
            /* HEAD: same status and headers, no body. */
            if (strcmp(r->method, "GET") == 0) {
                reply head;
                assert_int_equal(do_request(F.curl, s.port, "HEAD", r->path, r->headers, &head),
                                 CURLE_OK);
                assert_int_equal(head.status, r->status);
                assert_int_equal(head.len, 0);
            }
        }
    }
    server_stop(&s);
    ts_authz_guard_free(g);
}

static void test_mode_off(void **state)
{
    (void)state;
    run_rows(TS_AUTHZ_MODE_OFF);
}

static void test_mode_shadow(void **state)
{
    (void)state;
    run_rows(TS_AUTHZ_MODE_SHADOW);
}

static void test_mode_enforce(void **state)
{
    (void)state;
    run_rows(TS_AUTHZ_MODE_ENFORCE);
}

static void test_options_head_public(void **state)
{
    (void)state;
    server s;
    ts_authz_guard *g = make_guard(TS_AUTHZ_MODE_ENFORCE, true);
    server_start(&s, g);
    reply rep;
    /* OPTIONS is public by default: no principal needed, no decision recorded. */
    tu_log_clear(&F.log);
    assert_int_equal(do_request(F.curl, s.port, "OPTIONS", "/nodes/n1", NULL, &rep), CURLE_OK);
    assert_int_equal(rep.status, 200);
    assert_null(tu_log_find(&F.log, "authz.decision"));
    /* Public prefixes match whole segments of the normalised path. */
    assert_int_equal(do_request(F.curl, s.port, "GET", "/public/x", NULL, &rep), CURLE_OK);
    assert_int_equal(rep.status, 200);
    assert_int_equal(do_request(F.curl, s.port, "GET", "/publicity", NULL, &rep), CURLE_OK);
    assert_int_equal(rep.status, 401);
    assert_int_equal(do_request(F.curl, s.port, "GET", "/public/../nodes/n1", NULL, &rep),
                     CURLE_OK);
    assert_int_equal(rep.status, 401);
    /* HEAD allowed like GET (route "GET" covers HEAD, REST action read). */
    const char *const viewer[] = {"X-Id: alice", "X-Type: user", "X-Roles: viewer", NULL};
    assert_int_equal(do_request(F.curl, s.port, "HEAD", "/nodes/n1", viewer, &rep), CURLE_OK);
    assert_int_equal(rep.status, 200);
    assert_int_equal(rep.len, 0);
    /* An encoded slash is not a separator: /nodes/a%2Fb is one node id. */
    assert_int_equal(do_request(F.curl, s.port, "GET", "/nodes/a%2Fb", viewer, &rep), CURLE_OK);
    assert_int_equal(rep.status, 200);
    assert_int_equal(do_request(F.curl, s.port, "GET", "/nodes/a/b", viewer, &rep), CURLE_OK);
    assert_int_equal(rep.status, 403);
    server_stop(&s);
    ts_authz_guard_free(g);

    /* options_public = false: OPTIONS is checked like any method. */
    g = make_guard(TS_AUTHZ_MODE_ENFORCE, false);
    server_start(&s, g);
    assert_int_equal(do_request(F.curl, s.port, "OPTIONS", "/nodes/n1", NULL, &rep), CURLE_OK);
    assert_int_equal(rep.status, 401);
    server_stop(&s);
    ts_authz_guard_free(g);
}

/* ---- reload while requests are in flight ---------------------------------------------------- */

static const char *FRAG_ALLOW = "p, role:tester, metadata:groups, read\n";
static const char *FRAG_DENY = "p, role:tester, metadata:nodes, read\n";

typedef struct flight {
    unsigned short port;
    atomic_bool stop;
    atomic_int failures;
    atomic_int torn;
    atomic_int requests;
    atomic_int allows, denies;
    char v_allow[65], v_deny[65];
} flight;

static void *client_thread(void *arg)
{
    flight *f = arg;
    CURL *c = curl_easy_init();
    const char *const h[] = {"X-Id: t1", "X-Type: service", "X-Roles: tester", NULL};
    while (!atomic_load(&f->stop)) {
        reply rep;
        if (do_request(c, f->port, "GET", "/groups/g1", h, &rep) != CURLE_OK) {
            atomic_fetch_add(&f->failures, 1);
            continue;
        }
        atomic_fetch_add(&f->requests, 1);
        if (rep.status == 200)
            continue; /* the decision line is checked by the log sink */
        if (rep.status != 403) {
            atomic_fetch_add(&f->failures, 1);
            continue;
        }
        json_t *j = json_loads(rep.body, 0, NULL);
        const char *pv = j ? json_string_value(json_object_get(j, "policy_version")) : NULL;
        if (!pv || strcmp(pv, f->v_deny) != 0)
            atomic_fetch_add(&f->torn, 1);
        json_decref(j);
    }
    curl_easy_cleanup(c);
    return NULL;
}

static flight *g_flight;

/* Every allow must come from the allowing policy and every deny from the denying one. */
static void flight_sink(const char *line, size_t len, void *ud)
{
    (void)ud;
    (void)len;
    if (!strstr(line, "\"event\":\"authz.decision\""))
        return;
    json_t *j = json_loads(line, 0, NULL);
    const char *d = j ? json_string_value(json_object_get(j, "decision")) : NULL;
    const char *pv = j ? json_string_value(json_object_get(j, "policy_version")) : NULL;
    if (!d || !pv || (strcmp(d, "allow") == 0 && strcmp(pv, g_flight->v_allow) != 0) ||
        (strcmp(d, "deny") == 0 && strcmp(pv, g_flight->v_deny) != 0) ||
        (strcmp(d, "allow") != 0 && strcmp(d, "deny") != 0))
        atomic_fetch_add(&g_flight->torn, 1);
    else
        atomic_fetch_add(strcmp(d, "allow") == 0 ? &g_flight->allows : &g_flight->denies, 1);
    json_decref(j);
}

static void test_reload_in_flight(void **state)
{
    (void)state;
    flight *f = calloc(1, sizeof *f);
    g_flight = f;
    ts_error err;
    ts_error_clear(&err);
    /* The two policy versions, from the same files the authorizer reads. */
    assert_int_equal(tu_writez(F.frag_dir, "10-tester.csv", FRAG_DENY), 0);
    assert_int_equal(ts_authz_reload(F.authz, &err), TS_OK);
    ts_authz_authorizer_policy_version(F.authz, f->v_deny);
    assert_int_equal(tu_writez(F.frag_dir, "10-tester.csv", FRAG_ALLOW), 0);
    assert_int_equal(ts_authz_reload(F.authz, &err), TS_OK);
    ts_authz_authorizer_policy_version(F.authz, f->v_allow);
    assert_string_not_equal(f->v_allow, f->v_deny);

    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.authorizer = F.authz;
    go.mapper = F.mapper;
    go.raw_paths = true;
    go.log = flight_sink;
    go.principal = get_principal;
    go.principal_release = release_principal;
    ts_authz_guard *g = ts_authz_guard_new(&go, &err);
    assert_non_null(g);
    server s;
    server_start(&s, g);
    f->port = s.port;
    pthread_t th[3];
    for (int i = 0; i < 3; i++)
        assert_int_equal(pthread_create(&th[i], NULL, client_thread, f), 0);
    for (int i = 0; i < 40; i++) {
        const char *frag = (i % 2 == 0) ? FRAG_DENY : FRAG_ALLOW;
        assert_int_equal(tu_writez(F.frag_dir, "10-tester.csv", frag), 0);
        if (ts_authz_reload(F.authz, &err) != TS_OK)
            fail_msg("reload: %s", err.msg);
        /* A broken fragment in between: refused, old policy kept, requests unaffected. */
        if (i % 10 == 5) {
            assert_int_equal(tu_writez(F.frag_dir, "20-broken.csv", "p, only-two, fields\n"), 0);
            assert_int_not_equal(ts_authz_reload(F.authz, &err), TS_OK);
            ts_error_clear(&err);
            char *p = tu_path(F.frag_dir, "20-broken.csv");
            unlink(p);
            free(p);
        }
        struct timespec ts = {0, 5 * 1000 * 1000};
        nanosleep(&ts, NULL);
    }
    atomic_store(&f->stop, true);
    for (int i = 0; i < 3; i++)
        pthread_join(th[i], NULL);
    server_stop(&s);
    ts_authz_guard_free(g);
    print_message("reload in flight: %d requests, %d failed, %d torn\n", atomic_load(&f->requests),
                  atomic_load(&f->failures), atomic_load(&f->torn));
    assert_true(atomic_load(&f->requests) > 0);
    assert_true(atomic_load(&f->allows) > 0 && atomic_load(&f->denies) > 0);
    assert_int_equal(atomic_load(&f->failures), 0);
    assert_int_equal(atomic_load(&f->torn), 0);
    ts_authz_policy_stats st;
    ts_authz_authorizer_stats(F.authz, &st);
    assert_true(st.reload_failures >= 4);
    free(f);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mode_off),         cmocka_unit_test(test_mode_shadow),
        cmocka_unit_test(test_mode_enforce),     cmocka_unit_test(test_options_head_public),
        cmocka_unit_test(test_reload_in_flight),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc;
}
