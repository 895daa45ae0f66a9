/* The libmicrohttpd hook on a loopback server: strict Bearer parsing, 401 bodies and headers,
   public paths, the principal handed to the application, one log line per failure. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <strings.h>

#include <tokensmith/testutil.h>

#include "testkit.h"

static ts_testutil_key *tkey;
static ts_testutil_token *builder; /* alice, https://issuer.test, svc-a, at TK_NOW */
static const ts_jwk *key;
static ts_jwks *set;
static ts_authn_verifier *verifier;
static ts_authn_mhd *hook;
static struct MHD_Daemon *daemon_;
static unsigned short port;
/* The same public paths on a daemon that keeps escapes (raw_paths). */
static ts_authn_mhd *raw_hook;
static struct MHD_Daemon *raw_daemon;
static unsigned short raw_port;
static pthread_mutex_t log_mu = PTHREAD_MUTEX_INITIALIZER;
static char last_log[4096];
static int log_lines;

static void capture_log(const char *line, void *ud)
{
    (void)ud;
    pthread_mutex_lock(&log_mu);
    snprintf(last_log, sizeof last_log, "%s", line);
    log_lines++;
    pthread_mutex_unlock(&log_mu);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)upload_size;
    const ts_authn_mhd *h = cls;
    if (*con_cls == NULL) {
        ts_authn_principal *p = NULL;
        ts_hook_result r = ts_authn_mhd_check(h, c, method, url, &p);
        if (r == TS_HOOK_RESPONDED)
            return MHD_YES;
        if (r == TS_HOOK_ERROR)
            return MHD_NO;
        char body[512];
        snprintf(body, sizeof body, "hello %s", p ? ts_authn_principal_id(p) : "anonymous");
        ts_authn_principal_free(p);
        struct MHD_Response *resp =
            MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_COPY);
        enum MHD_Result ret = MHD_queue_response(c, 200, resp);
        MHD_destroy_response(resp);
        return ret;
    }
    return MHD_NO;
}

typedef struct reply {
    long status;
    char body[4096];
    size_t n;
    char www[512];
} reply;

static size_t on_body(char *d, size_t s, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = s * n, room = sizeof r->body - 1 - r->n;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->n, d, take);
    r->n += take;
    r->body[r->n] = 0;
    return len;
}

static size_t on_header(char *d, size_t s, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = s * n;
    if (len > 17 && strncasecmp(d, "WWW-Authenticate:", 17) == 0) {
        size_t l = len - 18 < sizeof r->www - 1 ? len - 18 : sizeof r->www - 1;
        memcpy(r->www, d + 18, l);
        r->www[l] = 0;
        char *e = strpbrk(r->www, "\r\n");
        if (e)
            *e = 0;
    }
    return len;
}

/* The request id header every request sends (a test may change it). */
static const char *request_id_line = "X-Request-ID: req-42";

static reply get_from(unsigned short to, const char *path, const char *auth)
{
    reply r = {0};
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", to, path);
    CURL *h = curl_easy_init();
    curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L); /* "..", "//" sent as written */
    struct curl_slist *hd = curl_slist_append(NULL, request_id_line);
    if (auth) {
        char line[20000];
        snprintf(line, sizeof line, "Authorization: %s", auth);
        hd = curl_slist_append(hd, line);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &r);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &r);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
    assert_int_equal(curl_easy_perform(h), CURLE_OK);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r.status);
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return r;
}

static reply get(const char *path, const char *auth)
{
    return get_from(port, path, auth);
}

/* MHD_OPTION_UNESCAPE_CALLBACK that leaves the URL as received. */
static size_t keep_escapes(void *cls, struct MHD_Connection *c, char *uri)
{
    (void)cls, (void)c;
    return strlen(uri);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    tkey = ts_testutil_key_p256(NULL);
    key = ts_testutil_key_jwk(tkey);
    const ts_testutil_key *keys[] = {tkey};
    set = ts_testutil_jwks(keys, 1, NULL);
    static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc-a"};
    builder = ts_testutil_token_new(tkey, NULL);
    if (!builder || ts_testutil_token_set_issuer(builder, iss[0], NULL) != TS_OK ||
        ts_testutil_token_set_audience(builder, aud, 1, NULL) != TS_OK ||
        ts_testutil_token_set_subject(builder, "alice", NULL) != TS_OK)
        return -1;
    ts_testutil_token_set_now(builder, TK_NOW);
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    o.now = tk_clock;
    verifier = ts_authn_verifier_new(&o, NULL);
    static const char *pub[] = {"/health", "/public/*"};
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = verifier;
    mo.public_paths = pub;
    mo.n_public_paths = 2;
    mo.log = capture_log;
    hook = ts_authn_mhd_new(&mo, NULL);
    mo.raw_paths = true;
    raw_hook = ts_authn_mhd_new(&mo, NULL);
    if (!hook || !raw_hook || !verifier)
        return -1;
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, hook,
                               MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
    raw_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler, raw_hook,
                                  MHD_OPTION_UNESCAPE_CALLBACK, keep_escapes, NULL, MHD_OPTION_END);
    if (!daemon_ || !raw_daemon)
        return -1;
    port = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT)->port;
    raw_port = MHD_get_daemon_info(raw_daemon, MHD_DAEMON_INFO_BIND_PORT)->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    MHD_stop_daemon(raw_daemon);
    ts_authn_mhd_free(hook);
    ts_authn_mhd_free(raw_hook);
    ts_authn_verifier_free(verifier);
    ts_jwks_free(set);
    ts_testutil_token_free(builder);
    ts_testutil_key_free(tkey);
    curl_global_cleanup();
    return 0;
}

static void test_parse_bearer(void **state)
{
    (void)state;
    const char *t;
    size_t n;
    const char *good[] = {"Bearer abc.def.ghi", "bearer abc", "BEARER a-b_c~d+e/f==", "Bearer x="};
    for (size_t i = 0; i < 4; i++)
        assert_true(ts_authn_parse_bearer(good[i], strlen(good[i]), &t, &n));
    assert_true(ts_authn_parse_bearer("Bearer abc.def", 14, &t, &n));
    assert_int_equal(n, 7);
    assert_memory_equal(t, "abc.def", 7);
    const char *bad[] = {"Bearer",    "Bearer ",   "Bearer  abc", "Bearer abc ",    "Bearer a b",
                         "Bearerabc", "Basic abc", "Bearer a=b",  "Bearer \"abc\"", "Bearer a\tb"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(ts_authn_parse_bearer(bad[i], strlen(bad[i]), &t, &n));
}

static void test_requests(void **state)
{
    (void)state;
    char auth[4096];
    char *tok = ts_testutil_token_mint(builder, TS_TESTUTIL_FLAW_NONE, NULL);
    assert_non_null(tok);
    snprintf(auth, sizeof auth, "Bearer %s", tok);
    reply r = get("/api/things", auth);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello alice");
    snprintf(auth, sizeof auth, "bearer %s", tok);
    assert_int_equal(get("/api/things", auth).status, 200);

    /* Public paths need nothing. */
    r = get("/health", NULL);
    assert_int_equal(r.status, 200);
    assert_string_equal(r.body, "hello anonymous");
    assert_int_equal(get("/public/docs/x", NULL).status, 200);
    assert_int_equal(get("/healthz", NULL).status, 401);

    /* No credentials: 401, bare Bearer challenge, AUTHN_REQUIRED. */
    int before = log_lines;
    r = get("/api/things", NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, "Bearer");
    assert_non_null(
        strstr(r.body, "\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHN_REQUIRED\""));
    assert_non_null(strstr(r.body, "\"reason\":\"no_principal\""));
    assert_non_null(strstr(r.body, "\"request_id\":\"req-42\""));
    assert_int_equal(r.body[r.n - 1], '\n');
    r = get("/api/things", "Basic dXNlcjpwdw==");
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, "Bearer");

    /* A bad token: 401 invalid_token, AUTHN_INVALID, one log line without the token. */
    char *bad = ts_testutil_token_mint(builder, TS_TESTUTIL_FLAW_BAD_SIGNATURE, NULL);
    assert_non_null(bad);
    snprintf(auth, sizeof auth, "Bearer %s", bad);
    r = get("/api/things", auth);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, "Bearer error=\"invalid_token\"");
    assert_non_null(strstr(r.body, "\"code\":\"AUTHN_INVALID\""));
    assert_non_null(strstr(r.body, "\"authn_reason\":\"bad_signature\""));
    pthread_mutex_lock(&log_mu);
    assert_int_equal(log_lines, before + 3);
    assert_non_null(strstr(last_log, "\"reason\":\"bad_signature\""));
    assert_non_null(strstr(last_log, "\"request_id\":\"req-42\""));
    assert_non_null(strstr(last_log, ts_jwk_kid(key)));
    /* The claims of a token whose signature fails are never read, so no iss either. */
    assert_null(strstr(last_log, "\"iss\":"));
    assert_null(strstr(last_log, strrchr(bad, '.') + 1));
    pthread_mutex_unlock(&log_mu);

    /* Expired: iss known by then, logged. */
    char *old = ts_testutil_token_mint(builder, TS_TESTUTIL_FLAW_EXPIRED, NULL);
    assert_non_null(old);
    snprintf(auth, sizeof auth, "Bearer %s", old);
    r = get("/api/things", auth);
    assert_int_equal(r.status, 401);
    assert_non_null(strstr(r.body, "\"authn_reason\":\"expired\""));
    pthread_mutex_lock(&log_mu);
    assert_non_null(strstr(last_log, "\"iss\":\"https://issuer.test\""));
    pthread_mutex_unlock(&log_mu);

    /* Malformed headers. */
    const char *mal[] = {"Bearer", "Bearer  x.y.z", "Bearer x.y.z extra", "Bearer \"x\""};
    for (size_t i = 0; i < 4; i++) {
        r = get("/api/things", mal[i]);
        assert_int_equal(r.status, 401);
        assert_non_null(strstr(r.body, "AUTHN_INVALID"));
    }
    ts_free(bad);
    ts_free(old);
    ts_free(tok);
}

/* Public paths ("/health", "/public/\*") are decided on the normalised path, on whole
   segments, exactly: no spelling of a protected path passes as public. Without a token a
   public path is answered 200 by the application, anything else 401 by the hook. Two daemons:
   libmicrohttpd's own unescaper (decoded URLs) and one that keeps escapes (raw_paths). */
static void test_public_paths_hostile(void **state)
{
    (void)state;
    static const struct {
        const char *path;
        long decoded, raw; /* status on each daemon; 0: not asserted (see below) */
    } cases[] = {
        {"/health", 200, 200},
        {"/public", 200, 200},
        {"/public/x", 200, 200},
        {"/public/docs/a.html", 200, 200},
        /* Dot segments and repeated slashes. */
        {"/public/../admin", 401, 401},
        {"/public/./../admin", 401, 401},
        {"/public/x/../../admin", 401, 401},
        {"/public//../admin", 401, 401},
        {"/public/%2e%2e/admin", 401, 401},
        {"/public/%2E%2E/admin", 401, 401},
        {"/public/.%2e/admin", 401, 401},
        {"/health/../admin", 401, 401},
        {"/health/%2e%2e/admin", 401, 401},
        {"//admin", 401, 401},
        {"//public/x", 200, 200},
        {"/x/../health", 200, 200},
        {"/%2e%2e/public/x", 200, 200}, /* never above the root */
        /* Trailing slash: the same path. */
        {"/health/", 200, 200},
        {"/public/", 200, 200},
        {"/admin/", 401, 401},
        /* Whole segments, exact entries exact, case significant. */
        {"/publicity", 401, 401},
        {"/public-x/y", 401, 401},
        {"/healthz", 401, 401},
        {"/health/x", 401, 401},
        {"/PUBLIC/x", 401, 401},
        {"/Public", 401, 401},
        {"/HEALTH", 401, 401},
        /* ';' is part of the segment. */
        {"/public;x/y", 401, 401},
        {"/health;jsessionid=1", 401, 401},
        {"/public/x;y=1", 200, 200},
        /* Encoded slash: a separator once decoded by libmicrohttpd, data with raw_paths. */
        {"/public%2fx", 200, 401},
        {"/public%2Fx", 200, 401},
        {"/public%2f..%2fadmin", 401, 401},
        {"/health%2f..%2fadmin", 401, 401},
        {"/public/%2e%2e%2fadmin", 401, 200}, /* raw: one segment "..%2fadmin" below /public */
        {"/public/%41", 200, 200},
        /* Malformed escapes and encoded NUL: never public. libmicrohttpd's own unescaper cuts
           the URL at a decoded NUL (the application then sees the cut path too), so %00 is
           asserted on the raw daemon only (tests/public_paths runs the strict unescaper). */
        {"/public/%zz", 401, 401},
        {"/public/%2", 401, 401},
        {"/public/%", 401, 401},
        {"/health%zz", 401, 401},
        {"/public/%zz/x", 401, 401},
        {"/public/%00", 0, 401},
        {"/health%00", 0, 401},
        {"/public/x%00/../../admin", 0, 401},
    };
    int failures = 0;
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        long got = get_from(port, cases[i].path, NULL).status;
        if (cases[i].decoded && got != cases[i].decoded) {
            print_error("decoded %s: %ld, want %ld\n", cases[i].path, got, cases[i].decoded);
            failures++;
        }
        got = get_from(raw_port, cases[i].path, NULL).status;
        if (cases[i].raw && got != cases[i].raw) {
            print_error("raw %s: %ld, want %ld\n", cases[i].path, got, cases[i].raw);
            failures++;
        }
    }
    assert_int_equal(failures, 0);
    /* A protected path with a valid token still works on both. */
    char *tok = ts_testutil_token_mint(builder, TS_TESTUTIL_FLAW_NONE, NULL);
    char auth[4096];
    snprintf(auth, sizeof auth, "Bearer %s", tok);
    assert_int_equal(get_from(port, "/public/../admin", auth).status, 200);
    assert_int_equal(get_from(raw_port, "/public/%2e%2e/admin", auth).status, 200);
    ts_free(tok);
}

/* Public path entries: "/p" or "/p/\*", normalised; anything else refused at construction. */
static void test_public_path_entries(void **state)
{
    (void)state;
    static const char *const bad[] = {"health", "",       "*",     "/pub*",
                                      "/a*/b",  "/a/*/b", "/a/**", "public/*"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        const char *one[] = {bad[i]};
        ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
        mo.verifier = verifier;
        mo.public_paths = one;
        mo.n_public_paths = 1;
        ts_error err;
        ts_error_clear(&err);
        ts_authn_mhd *h = ts_authn_mhd_new(&mo, &err);
        if (h)
            fail_msg("public path \"%s\" accepted", bad[i]);
        assert_int_equal(err.code, TS_EINVAL);
        assert_string_equal(err.where, "public_paths");
    }
    const char *nul[] = {NULL};
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = verifier;
    mo.public_paths = nul;
    mo.n_public_paths = 1;
    assert_null(ts_authn_mhd_new(&mo, NULL));
    /* "/\*" is everything; entries are normalised ("/a/./b/" is "/a/b"). */
    const char *good[] = {"/*", "/a/./b/"};
    mo.public_paths = good;
    mo.n_public_paths = 2;
    ts_authn_mhd *h = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(h);
    ts_authn_mhd_free(h);
}

/* A request id is echoed only when it is 1-128 bytes of visible ASCII (the rule of authz's
   guard too); anything else is left out of the body and the log line, never cut or escaped. */
static void test_request_id_rule(void **state)
{
    (void)state;
    char longest[160], too_long[160];
    snprintf(longest, sizeof longest, "X-Request-ID: %0128d", 7);
    snprintf(too_long, sizeof too_long, "X-Request-ID: %0129d", 7);
    const struct {
        const char *line;
        bool echoed;
    } cases[] = {
        {"X-Request-ID: abc\x01"
         "def",
         false},
        {"X-Request-ID: a\"b\\c\x7f", false},
        {"X-Request-ID: caf\xc3\xa9", false},
        {too_long, false},
        {longest, true},
        {"X-Request-ID: a-b_c.d:e", true},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        request_id_line = cases[i].line;
        reply r = get("/api/things", NULL);
        assert_int_equal(r.status, 401);
        bool has_id = strstr(r.body, "\"request_id\"") != NULL;
        if (has_id != cases[i].echoed)
            fail_msg("%s: request_id %s", cases[i].line, has_id ? "echoed" : "left out");
        pthread_mutex_lock(&log_mu);
        bool logged = strstr(last_log, "\"request_id\"") != NULL;
        pthread_mutex_unlock(&log_mu);
        if (logged != cases[i].echoed)
            fail_msg("%s: request_id %s in the log", cases[i].line,
                     logged ? "written" : "left out");
    }
    request_id_line = "X-Request-ID: req-42";
}

/* The hook answers with ts_authn_refusal_body()'s bytes, exactly, for each kind of refusal:
   one implementation for every front (the hook, the gateway). */
static void test_refusal_bytes(void **state)
{
    (void)state;
    char auth[8192];
    char *bad = ts_testutil_token_mint(builder, TS_TESTUTIL_FLAW_EXPIRED, NULL);
    assert_non_null(bad);
    snprintf(auth, sizeof auth, "Bearer %s", bad);
    const struct {
        const char *auth;
        ts_authn_reason r;
    } cases[] = {{NULL, TS_AUTHN_MISSING_TOKEN},
                 {"Bearer a b", TS_AUTHN_MALFORMED},
                 {auth, TS_AUTHN_EXPIRED}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        reply r = get("/api/things?q=1", cases[i].auth);
        assert_int_equal(r.status, ts_authn_refusal_status(cases[i].r));
        ts_authn_refused_request rq = {.method = "GET",
                                       .method_len = 3,
                                       .path = "/api/things",
                                       .path_len = 11,
                                       .request_id = "req-42",
                                       .request_id_len = 6};
        char *want = NULL, *www = NULL;
        assert_int_equal(ts_authn_refusal_body(cases[i].r, &rq, &want, NULL, NULL), TS_OK);
        assert_string_equal(r.body, want);
        assert_int_equal(ts_authn_refusal_challenge(cases[i].r, NULL, &www, NULL), TS_OK);
        assert_string_equal(r.www, www);
        ts_free(want);
        ts_free(www);
    }
    ts_free(bad);
}

/* The realm goes into the challenge whole, however long (it used to be cut at 255 bytes,
   leaving a quoted-string without its closing quote), and a realm that a quoted-string cannot
   carry unescaped (quote, backslash, a control character but HTAB) is refused up front. */
static void test_realm(void **state)
{
    (void)state;
    char realm[301];
    memset(realm, 'r', 300);
    realm[300] = '\0';
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = verifier;
    mo.realm = realm;
    mo.log = capture_log;
    ts_authn_mhd *h = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(h);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
                                            h, MHD_OPTION_END);
    assert_non_null(d);
    unsigned short p = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    char want[400];
    snprintf(want, sizeof want, "Bearer realm=\"%s\"", realm);
    reply r = get_from(p, "/api/things", NULL);
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, want);
    snprintf(want, sizeof want, "Bearer realm=\"%s\", error=\"invalid_token\"", realm);
    r = get_from(p, "/api/things", "Bearer a.b.c");
    assert_int_equal(r.status, 401);
    assert_string_equal(r.www, want);
    MHD_stop_daemon(d);
    ts_authn_mhd_free(h);

    static const char *const bad[] = {"a\"b", "a\\b", "a\rb", "a\nb", "a\x01b", "a\x7f"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        mo.realm = bad[i];
        ts_error err;
        ts_error_clear(&err);
        h = ts_authn_mhd_new(&mo, &err);
        if (h)
            fail_msg("realm %zu accepted", i);
        assert_int_equal(err.code, TS_EINVAL);
        assert_string_equal(err.where, "realm");
    }
    mo.realm = "api\tv1 (\xc3\xa9)"; /* HTAB and obs-text fit a quoted-string */
    h = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(h);
    ts_authn_mhd_free(h);
}

/* A verifier with a step-up requirement: the hook answers the RFC 9470 challenge itself, with
   max_age only when auth_time is at fault, and a token the cache holds is judged again. */
static void test_step_up(void **state)
{
    (void)state;
    static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc-a"}, *acr[] = {"mfa"};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keys = set;
    o.now = tk_clock;
    o.acr_values = acr;
    o.n_acr_values = 1;
    o.max_auth_age_s = 300;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    assert_non_null(v);
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = v;
    mo.realm = "api";
    mo.log = capture_log;
    ts_authn_mhd *h = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(h);
    struct MHD_Daemon *d = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, handler,
                                            h, MHD_OPTION_END);
    assert_non_null(d);
    unsigned short p = MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT)->port;
    struct {
        const char *acr;
        long age; /* < 0: no auth_time */
        long status;
        const char *www;
    } cases[] = {
        {"mfa", 10, 200, ""},
        {"pwd", 10, 401,
         "Bearer realm=\"api\", error=\"insufficient_user_authentication\", acr_values=\"mfa\""},
        {NULL, 10, 401,
         "Bearer realm=\"api\", error=\"insufficient_user_authentication\", acr_values=\"mfa\""},
        {"mfa", 3600, 401,
         "Bearer realm=\"api\", error=\"insufficient_user_authentication\", acr_values=\"mfa\", "
         "max_age=\"300\""},
        {"mfa", -1, 401,
         "Bearer realm=\"api\", error=\"insufficient_user_authentication\", acr_values=\"mfa\", "
         "max_age=\"300\""},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        ts_testutil_token *b = ts_testutil_token_new(tkey, NULL);
        assert_int_equal(ts_testutil_token_set_issuer(b, iss[0], NULL), TS_OK);
        assert_int_equal(ts_testutil_token_set_audience(b, aud, 1, NULL), TS_OK);
        ts_testutil_token_set_now(b, TK_NOW);
        if (cases[i].acr)
            assert_int_equal(ts_testutil_token_set_claim_string(b, "acr", cases[i].acr, NULL),
                             TS_OK);
        if (cases[i].age >= 0) {
            char at[32];
            snprintf(at, sizeof at, "%lld", TK_NOW - cases[i].age);
            assert_int_equal(ts_testutil_token_set_claim_json(b, "auth_time", at, NULL), TS_OK);
        }
        char *tok = ts_testutil_token_mint(b, TS_TESTUTIL_FLAW_NONE, NULL);
        ts_testutil_token_free(b);
        char auth[4096];
        snprintf(auth, sizeof auth, "Bearer %s", tok);
        for (int twice = 0; twice < 2; twice++) { /* the second from the verified-token cache */
            reply r = get_from(p, "/api/things", auth);
            if (r.status != cases[i].status || strcmp(r.www, cases[i].www) != 0)
                fail_msg("case %zu: %ld [%s] %s", i, r.status, r.www, r.body);
            if (r.status == 401)
                assert_non_null(strstr(r.body, "\"code\":\"AUTHN_STEP_UP\""));
        }
        ts_free(tok);
    }
    pthread_mutex_lock(&log_mu);
    assert_non_null(strstr(last_log, "\"reason\":\"insufficient_user_authentication\""));
    pthread_mutex_unlock(&log_mu);
    uint64_t hits = 0, misses = 0;
    size_t entries = 0;
    ts_authn_verifier_cache_stats(v, &hits, &misses, &entries);
    assert_int_equal(entries, 5); /* every token verified once, refused ones included */
    MHD_stop_daemon(d);
    ts_authn_mhd_free(h);
    ts_authn_verifier_free(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_bearer),
        cmocka_unit_test(test_requests),
        cmocka_unit_test(test_public_paths_hostile),
        cmocka_unit_test(test_public_path_entries),
        cmocka_unit_test(test_request_id_rule),
        cmocka_unit_test(test_refusal_bytes),
        cmocka_unit_test(test_realm),
        cmocka_unit_test(test_step_up),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
