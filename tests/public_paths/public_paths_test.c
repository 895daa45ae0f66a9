/* authn's and authz's libmicrohttpd hooks on one loopback server, configured as a service would
   (ts_authz_mhd_strict_unescape, decoded paths), and tokensmith-mhd's gate built from the same
   public paths on a second one: public paths are decided on the same normalised path by every
   hook, so no spelling of a protected path ("..", "%2e%2e", "//", ";", a trailing slash, case,
   "%2f", malformed escapes) reaches the application without a token. Each hostile URL is sent
   as written to both servers and its status asserted without a token and with a valid one (no
   routes: any path that is not public is 403 unmapped). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <microhttpd.h>

#include "harness.h"

#include <tokensmith/mhd.h>
#include <tokensmith/testutil.h>

#define NOW 1700000000LL

static ts_testutil_key *tkey;
static ts_jwks *keys;
static ts_authn_verifier *verifier;
static ts_authn_mhd *authn_hook;
static ts_authz_authorizer *authorizer;
static ts_authz_guard *guard;
static struct MHD_Daemon *daemon_;
static unsigned short port;
static char *token;
/* The gate's server: its verifier reads the clock, so its token is minted for now. */
static char tmpdir[] = "/tmp/public-paths-XXXXXX";
static char jwks_path[64];
static ts_mhd_gate *gate;
static struct MHD_Daemon *gate_daemon;
static unsigned short gate_port;
static char *gate_token;

/* The authn principal of the request being decided, for authz's principal callback: both hooks
   run on the handler's thread, one after the other. */
static _Thread_local const ts_authn_principal *current;

static void quiet(const char *line, void *ud)
{
    (void)line, (void)ud;
}

static void quiet_lines(const char *line, size_t len, void *ud)
{
    (void)line, (void)len, (void)ud;
}

static int64_t fixed_now(void *ud)
{
    (void)ud;
    return NOW;
}

static ts_authz_principal_status principal_of(struct MHD_Connection *conn,
                                              const ts_authz_request *req, ts_authz_principal *out,
                                              void *ud)
{
    (void)conn, (void)req, (void)ud;
    if (!current)
        return TS_AUTHZ_PRINCIPAL_NONE;
    out->id = ts_authn_principal_id(current);
    out->type = ts_authn_principal_type_str(ts_authn_principal_type_of(current));
    out->roles = ts_authn_principal_roles(current, &out->nroles);
    out->domain = ts_authn_principal_domain(current);
    return TS_AUTHZ_PRINCIPAL_FOUND;
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    ts_authn_principal *p = NULL;
    ts_hook_result r = ts_authn_mhd_check(authn_hook, c, method, url, &p);
    if (r == TS_HOOK_CONTINUE) {
        current = p;
        r = ts_authz_mhd_check(guard, c, method, url);
        current = NULL;
        ts_authn_principal_free(p);
    }
    if (r != TS_HOOK_CONTINUE)
        return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
    static const char body[] = "served\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result q = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return q;
}

/* The gate, as a service calls it: one check on the first call; the principal (NULL on a
   public path) is freed once the answer is queued. */
static enum MHD_Result gate_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls)
{
    (void)cls, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    ts_authn_principal *p = NULL;
    ts_hook_result r = ts_mhd_gate_check(gate, c, method, url, &p);
    if (r != TS_HOOK_CONTINUE)
        return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
    ts_authn_principal_free(p);
    static const char body[] = "served\n";
    struct MHD_Response *resp = MHD_create_response_from_buffer(
        sizeof body - 1, (void *)(uintptr_t)body, MHD_RESPMEM_PERSISTENT);
    enum MHD_Result q = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return q;
}

static int setup_gate(void)
{
    if (!mkdtemp(tmpdir))
        return -1;
    snprintf(jwks_path, sizeof jwks_path, "%s/jwks.json", tmpdir);
    if (ts_testutil_jwks_write(keys, jwks_path, NULL) != TS_OK)
        return -1;
    gate_token = ts_testutil_mint_for(tkey, TS_TESTUTIL_VIEWER, "https://issuer.test", "svc",
                                      TS_TESTUTIL_FLAW_NONE, NULL);
    static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc"};
    static const char *pub[] = {"/health", "/public/*"};
    const char *jwks[] = {jwks_path};
    ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT; /* enforce, no routes */
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.jwks = jwks;
    o.n_jwks = 1;
    o.public_paths = pub;
    o.n_public_paths = 2;
    o.log = quiet_lines;
    ts_error err;
    ts_error_clear(&err);
    if (!gate_token || !(gate = ts_mhd_gate_new(&o, &err))) {
        fprintf(stderr, "gate: %s: %s\n", err.where, err.msg);
        return -1;
    }
    gate_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, gate_handler,
                                   NULL, MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_ARRAY,
                                   ts_mhd_gate_mhd_options(gate), MHD_OPTION_END);
    if (!gate_daemon)
        return -1;
    gate_port = MHD_get_daemon_info(gate_daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int setup(void **state)
{
    (void)state;
    tkey = ts_testutil_key_p256(NULL);
    const ts_testutil_key *k[] = {tkey};
    keys = tkey ? ts_testutil_jwks(k, 1, NULL) : NULL;
    static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc"};
    ts_testutil_token *b = tkey ? ts_testutil_token_new(tkey, NULL) : NULL;
    if (!keys || !b || ts_testutil_token_set_issuer(b, iss[0], NULL) != TS_OK ||
        ts_testutil_token_set_audience(b, aud, 1, NULL) != TS_OK ||
        ts_testutil_token_set_subject(b, "alice", NULL) != TS_OK)
        return -1;
    ts_testutil_token_set_now(b, NOW);
    token = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL);
    ts_testutil_token_free(b);

    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = keys;
    o.now = fixed_now;
    verifier = ts_authn_verifier_new(&o, NULL);
    static const char *authn_public[] = {"/health", "/public/*"};
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = verifier;
    mo.public_paths = authn_public;
    mo.n_public_paths = 2;
    mo.log = quiet;
    authn_hook = verifier ? ts_authn_mhd_new(&mo, NULL) : NULL;

    ts_authz_authorizer_options ao = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT; /* the baseline */
    authorizer = ts_authz_authorizer_new(&ao, NULL);
    static const char *authz_public[] = {"/health", "/public"};
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT; /* enforce, no routes */
    go.authorizer = authorizer;
    go.public_prefixes = authz_public;
    go.npublic_prefixes = 2;
    go.principal = principal_of;
    guard = authorizer ? ts_authz_guard_new(&go, NULL) : NULL;
    if (!token || !authn_hook || !guard)
        return -1;
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, NULL,
                               MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_UNESCAPE_CALLBACK,
                               ts_authz_mhd_strict_unescape, NULL, MHD_OPTION_END);
    if (!daemon_)
        return -1;
    port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    return setup_gate();
}

static int teardown(void **state)
{
    (void)state;
    if (gate_daemon)
        MHD_stop_daemon(gate_daemon);
    ts_mhd_gate_free(gate);
    ts_free(gate_token);
    if (tmpdir[0] && !strstr(tmpdir, "XXXXXX")) {
        unlink(jwks_path);
        rmdir(tmpdir);
    }
    MHD_stop_daemon(daemon_);
    ts_authz_guard_free(guard);
    ts_authz_authorizer_free(authorizer);
    ts_authn_mhd_free(authn_hook);
    ts_authn_verifier_free(verifier);
    ts_jwks_free(keys);
    ts_free(token);
    ts_testutil_key_free(tkey);
    return 0;
}

/* GET @p path exactly as written from server @p at (its port), with @p bearer or no token;
   @return the status. */
static long get_from(unsigned short at, const char *path, const char *bearer)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", at, path);
    static ts_harness_reply r;
    ts_harness_http(&(ts_harness_req){.url = url, .bearer = bearer, .path_as_is = true}, &r);
    return r.status;
}

static long get(const char *path, bool with_token)
{
    return get_from(port, path, with_token ? token : NULL);
}

/* Without a token: 200 on a public path, else 401. With the token, wired by hand: 200 on a
   path authz's guard takes as public, else 403 (no routes). */
static const struct {
    const char *path;
    long anonymous, with_token; /* 0: not asserted (see below) */
} cases[] = {
    {"/health", 200, 200},
    {"/public", 200, 200},
    {"/public/x", 200, 200},
    {"/admin", 401, 403},
    /* Dot segments. */
    {"/public/../admin", 401, 403},
    {"/public/./../admin", 401, 403},
    {"/public/x/../../admin", 401, 403},
    {"/public/%2e%2e/admin", 401, 403},
    {"/public/%2E%2E/admin", 401, 403},
    {"/public/.%2E/admin", 401, 403},
    {"/health/../admin", 401, 403},
    {"/health/%2e%2e/admin", 401, 403},
    {"/%2e%2e/public/x", 200, 200},
    {"/x/../health", 200, 200},
    /* Repeated slashes. */
    {"//admin", 401, 403},
    {"/public//../admin", 401, 403},
    {"//public/x", 200, 200},
    {"/public//x", 200, 200},
    /* Path parameters are part of the segment. */
    {"/public;x/y", 401, 403},
    {"/health;jsessionid=1", 401, 403},
    {"/public;/../admin", 401, 403},
    {"/public/x;y=1", 200, 200},
    /* Trailing slash: the same path. */
    {"/health/", 200, 200},
    {"/public/", 200, 200},
    {"/admin/", 401, 403},
    /* Case and partial segments. */
    {"/PUBLIC/x", 401, 403},
    {"/Health", 401, 403},
    {"/publicity", 401, 403},
    {"/healthz", 401, 403},
    /* authn's "/health" is exact; authz's public prefixes take whole subtrees. */
    {"/health/x", 401, 200},
    /* Encoded slash: decoded by the unescaper, then a separator for both hooks. */
    {"/public%2fx", 200, 200},
    {"/public%2F..%2Fadmin", 401, 403},
    {"/health%2f..%2fadmin", 401, 403},
    {"/public/%2e%2e%2fadmin", 401, 403},
    /* Malformed escapes and encoded NUL: the strict unescaper leaves the URL as received;
       authn never takes it as public, so without a token it is 401. (With a token the
       guard sees the undecoded text, whose meaning this test does not settle.) */
    {"/public/%zz", 401, 0},
    {"/public/%", 401, 0},
    {"/health%zz", 401, 0},
    {"/health%00", 401, 0},
    {"/public/%00", 401, 0},
    {"/public/x%00/../../admin", 401, 0},
    {"/public/%2e%2e/admin%zz", 401, 0},
};

static void test_hostile_paths(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = get(cases[i].path, false);
        if (got != cases[i].anonymous) {
            print_error("%s without a token: %ld, want %ld\n", cases[i].path, got,
                        cases[i].anonymous);
            failures++;
        }
        if (!cases[i].with_token)
            continue;
        got = get(cases[i].path, true);
        if (got != cases[i].with_token) {
            print_error("%s with a token: %ld, want %ld\n", cases[i].path, got,
                        cases[i].with_token);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
}

/* The same URLs through the gate: one public-path rule (authn's) for both gates, so a path is
   either public for everything (200 with or without a token) or decided after a verified token
   (401 without one, 403 unmapped with one: the gate has no routes). Unlike the hooks wired
   above, the gate has no second, prefix-based list for authz: "/health/x" is not public. */
static void test_hostile_paths_gate(void **state)
{
    (void)state;
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        bool pub = cases[i].anonymous == 200;
        long want[2] = {pub ? 200 : 401, pub ? 200 : 403};
        long got[2] = {get_from(gate_port, cases[i].path, NULL),
                       get_from(gate_port, cases[i].path, gate_token)};
        for (int t = 0; t < 2; t++)
            if (got[t] != want[t]) {
                print_error("gate: %s %s: %ld, want %ld\n", cases[i].path,
                            t ? "with a token" : "without a token", got[t], want[t]);
                failures++;
            }
    }
    assert_int_equal(failures, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_hostile_paths),
        cmocka_unit_test(test_hostile_paths_gate),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
