/* A slow JWKS host never stalls verification: the unknown-kid refetch runs on the key source's
   own thread, requests wait for it at most max_wait_ms (then unknown_kid), known kids and
   public paths are answered meanwhile, the new key is used once the fetch ends, and freeing
   the key source stops the fetch and joins its thread. Loopback JWKS server whose answers are
   delayed by seconds; checked directly and through the libmicrohttpd hook on a small pool. */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <microhttpd.h>
#include <pthread.h>
#include <time.h>

#include "testkit.h"

/* ---- the slow JWKS server ----------------------------------------------------------------- */

static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t srv_cv; /* CLOCK_MONOTONIC; broadcast on quit */
static char *srv_body;        /* the JWKS served */
static unsigned srv_delay_ms; /* before each answer */
static unsigned long srv_hits;
static bool srv_quit;
static struct MHD_Daemon *jwks_daemon;
static char jwks_url[128];

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static enum MHD_Result jwks_handler(void *cls, struct MHD_Connection *c, const char *url,
                                    const char *method, const char *version, const char *upload,
                                    size_t *upload_size, void **con_cls)
{
    (void)cls, (void)url, (void)method, (void)version, (void)upload, (void)upload_size;
    (void)con_cls;
    pthread_mutex_lock(&srv_mu);
    srv_hits++;
    char *body = strdup(srv_body ? srv_body : "{\"keys\":[]}");
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += srv_delay_ms / 1000;
    dl.tv_nsec += (long)(srv_delay_ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (!srv_quit && pthread_cond_timedwait(&srv_cv, &srv_mu, &dl) == 0)
        ;
    pthread_mutex_unlock(&srv_mu);
    struct MHD_Response *r =
        MHD_create_response_from_buffer(strlen(body), body, MHD_RESPMEM_MUST_FREE);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

static void serve_keys(ts_jwk *const *keys, size_t n, unsigned delay_ms)
{
    ts_jwks *s = ts_jwks_new(keys, n, NULL);
    char *j = ts_jwks_to_json(s, NULL);
    assert_non_null(j);
    pthread_mutex_lock(&srv_mu);
    free(srv_body);
    srv_body = strdup(j);
    srv_delay_ms = delay_ms;
    pthread_mutex_unlock(&srv_mu);
    ts_free(j);
    ts_jwks_free(s);
}

static int setup(void **state)
{
    (void)state;
    curl_global_init(CURL_GLOBAL_DEFAULT);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&srv_cv, &ca);
    pthread_condattr_destroy(&ca);
    jwks_daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION,
                                   0, NULL, NULL, jwks_handler, NULL, MHD_OPTION_END);
    if (!jwks_daemon)
        return -1;
    snprintf(jwks_url, sizeof jwks_url, "http://127.0.0.1:%u/jwks",
             MHD_get_daemon_info(jwks_daemon, MHD_DAEMON_INFO_BIND_PORT)->port);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&srv_mu);
    srv_quit = true;
    pthread_cond_broadcast(&srv_cv);
    pthread_mutex_unlock(&srv_mu);
    MHD_stop_daemon(jwks_daemon);
    pthread_cond_destroy(&srv_cv);
    free(srv_body);
    curl_global_cleanup();
    return 0;
}

/* ---- verification helpers ----------------------------------------------------------------- */

static ts_authn_keysource *slow_source(unsigned max_wait_ms)
{
    const char *urls[] = {jwks_url};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    o.urls = urls;
    o.n_urls = 1;
    o.refetch_cooldown_s = 1;
    o.timeout_ms = 20000; /* longer than any delay here: the fetch itself never gives up */
    o.max_wait_ms = max_wait_ms;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, &err);
    if (!ks)
        fail_msg("key source: %s", err.msg);
    return ks;
}

static ts_authn_verifier *verifier_for(ts_authn_keysource *ks)
{
    static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc-a"};
    ts_authn_options o = TS_AUTHN_OPTIONS_INIT;
    o.issuers = iss;
    o.n_issuers = 1;
    o.audiences = aud;
    o.n_audiences = 1;
    o.keysource = ks;
    o.now = tk_clock;
    o.disable_cache = true;
    ts_authn_verifier *v = ts_authn_verifier_new(&o, NULL);
    assert_non_null(v);
    return v;
}

/* A valid token of @p k, under its own kid or under @p kid. */
static char *token(const ts_jwk *k, const char *kid)
{
    char h[256], c[1024];
    snprintf(h, sizeof h, "{\"alg\":\"ES256\",\"kid\":\"%s\",\"typ\":\"at+jwt\"}",
             kid ? kid : ts_jwk_kid(k));
    tk_claims(c, sizeof c, NULL);
    return tk_mint(k, TS_JWS_ES256, h, c);
}

/* Verify once; the elapsed seconds in @p secs. */
static ts_authn_reason timed(const ts_authn_verifier *v, const char *tok, double *secs)
{
    ts_authn_principal *p = NULL;
    double t0 = mono_s();
    ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL);
    *secs = mono_s() - t0;
    ts_authn_principal_free(p);
    return r;
}

static bool wait_fetches(const ts_authn_keysource *ks, unsigned long n, double limit_s)
{
    double end = mono_s() + limit_s;
    while (ts_authn_keysource_fetch_count(ks) < n && mono_s() < end)
        sleep_ms(20);
    return ts_authn_keysource_fetch_count(ks) >= n;
}

typedef struct vjob {
    const ts_authn_verifier *v;
    char *tok;
    ts_authn_reason r;
    double secs;
} vjob;

static void *vjob_run(void *ud)
{
    vjob *j = ud;
    j->r = timed(j->v, j->tok, &j->secs);
    return NULL;
}

/* ---- tests -------------------------------------------------------------------------------- */

/* Unknown kids while the JWKS host takes 3 s: each refused within the bound, one background
   fetch for all of them; known kids answered meanwhile; the new key used once it arrives. */
static void test_unknown_kids_do_not_wait_for_the_host(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_ES256, NULL), *k2 = ts_jwk_generate(TS_JWS_ES256, NULL);
    serve_keys(&k1, 1, 0);
    ts_authn_keysource *ks = slow_source(0); /* the default bound, 100 ms */
    assert_int_equal(ts_authn_keysource_refresh(ks, NULL), TS_OK);
    ts_authn_verifier *v = verifier_for(ks);
    char *known = token(k1, NULL), *rotated = token(k2, NULL);
    double secs;
    assert_int_equal(timed(v, known, &secs), TS_AUTHN_OK);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 1);

    /* The host now publishes k2 but answers after 3 s. */
    ts_jwk *both[] = {k1, k2};
    serve_keys(both, 2, 3000);
    sleep_ms(1100); /* past the 1 s cooldown */
    double t0 = mono_s();
    enum { N = 6 };
    pthread_t th[N];
    vjob jobs[N];
    for (int i = 0; i < N; i++) {
        char kid[32];
        snprintf(kid, sizeof kid, "random-kid-%d", i);
        jobs[i] = (vjob){v, token(k1, kid), TS_AUTHN_INTERNAL, 0};
        assert_int_equal(pthread_create(&th[i], NULL, vjob_run, &jobs[i]), 0);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].r != TS_AUTHN_UNKNOWN_KID || jobs[i].secs >= 1.0)
            fail_msg("random kid %d: %s after %.3f s", i, ts_authn_reason_str(jobs[i].r),
                     jobs[i].secs);
        ts_free(jobs[i].tok);
    }
    /* While the fetch is in flight: the known kid at once, k2 not yet (it has not arrived). */
    assert_true(mono_s() - t0 < 2.0);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 1);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(timed(v, known, &secs), TS_AUTHN_OK);
        assert_true(secs < 1.0);
    }
    assert_int_equal(timed(v, rotated, &secs), TS_AUTHN_UNKNOWN_KID);
    assert_true(secs < 1.0);
    /* One fetch for every request above; once it has ended k2 verifies, without another. */
    assert_true(wait_fetches(ks, 2, 15.0));
    assert_int_equal(timed(v, rotated, &secs), TS_AUTHN_OK);
    assert_true(secs < 1.0);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 2);
    pthread_mutex_lock(&srv_mu);
    assert_int_equal(srv_hits, 2);
    srv_hits = 0;
    pthread_mutex_unlock(&srv_mu);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    ts_free(known);
    ts_free(rotated);
    ts_jwk_free(k1);
    ts_jwk_free(k2);
}

/* A kid whose fetch ends within the bound is verified by the request that asked for it. */
static void test_kid_arriving_within_the_bound(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_ES256, NULL), *k2 = ts_jwk_generate(TS_JWS_ES256, NULL);
    serve_keys(&k1, 1, 0);
    ts_authn_keysource *ks = slow_source(5000);
    assert_int_equal(ts_authn_keysource_refresh(ks, NULL), TS_OK);
    ts_authn_verifier *v = verifier_for(ks);
    ts_jwk *both[] = {k1, k2};
    serve_keys(both, 2, 300);
    sleep_ms(1100);
    char *rotated = token(k2, NULL);
    double secs;
    assert_int_equal(timed(v, rotated, &secs), TS_AUTHN_OK);
    assert_true(secs < 5.0);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 2);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    ts_free(rotated);
    ts_jwk_free(k1);
    ts_jwk_free(k2);
}

/* Freeing the key source during a fetch stops it and joins the thread, in about a second. */
static void test_free_during_fetch(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_ES256, NULL);
    serve_keys(&k1, 1, 0);
    ts_authn_keysource *ks = slow_source(0);
    assert_int_equal(ts_authn_keysource_refresh(ks, NULL), TS_OK);
    ts_authn_verifier *v = verifier_for(ks);
    serve_keys(&k1, 1, 10000);
    sleep_ms(1100);
    char *unknown = token(k1, "not-there");
    double secs;
    assert_int_equal(timed(v, unknown, &secs), TS_AUTHN_UNKNOWN_KID);
    assert_true(secs < 1.0);
    ts_authn_verifier_free(v);
    double t0 = mono_s();
    ts_authn_keysource_free(ks); /* the server still holds the answer for 10 s */
    assert_true(mono_s() - t0 < 5.0);
    ts_free(unknown);
    ts_jwk_free(k1);
}

/* ---- the same through the libmicrohttpd hook ---------------------------------------------- */

static size_t discard(char *d, size_t s, size_t n, void *ud)
{
    (void)d, (void)ud;
    return s * n;
}

typedef struct hjob {
    unsigned short port;
    const char *path;
    char *tok; /* NULL: no Authorization */
    long status;
    double secs;
} hjob;

static void *hjob_run(void *ud)
{
    hjob *j = ud;
    char url[256], auth[4096];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s", j->port, j->path);
    CURL *h = curl_easy_init();
    struct curl_slist *hd = NULL;
    if (j->tok) {
        snprintf(auth, sizeof auth, "Authorization: Bearer %s", j->tok);
        hd = curl_slist_append(hd, auth);
    }
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hd);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, 20L);
    double t0 = mono_s();
    j->status = -1;
    if (curl_easy_perform(h) == CURLE_OK)
        curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &j->status);
    j->secs = mono_s() - t0;
    curl_slist_free_all(hd);
    curl_easy_cleanup(h);
    return NULL;
}

static void quiet(const char *line, void *ud)
{
    (void)line, (void)ud;
}

static enum MHD_Result svc_handler(void *cls, struct MHD_Connection *c, const char *url,
                                   const char *method, const char *version, const char *upload,
                                   size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)upload_size, (void)con_cls;
    ts_authn_principal *p = NULL;
    switch (ts_authn_mhd_check(cls, c, method, url, &p)) {
    case TS_HOOK_RESPONDED:
        return MHD_YES;
    case TS_HOOK_ERROR:
        return MHD_NO;
    case TS_HOOK_CONTINUE:
        break;
    }
    ts_authn_principal_free(p);
    static const char ok[] = "ok\n";
    struct MHD_Response *r = MHD_create_response_from_buffer(sizeof ok - 1, (void *)(uintptr_t)ok,
                                                             MHD_RESPMEM_PERSISTENT);
    enum MHD_Result ret = MHD_queue_response(c, 200, r);
    MHD_destroy_response(r);
    return ret;
}

/* A service on a pool of two threads: random kids while the JWKS host takes 3 s get 401 within
   the bound, and meanwhile /health and a protected route with a known kid get 200 at once. */
static void test_service_stays_responsive(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_ES256, NULL), *k2 = ts_jwk_generate(TS_JWS_ES256, NULL);
    serve_keys(&k1, 1, 0);
    ts_authn_keysource *ks = slow_source(0);
    assert_int_equal(ts_authn_keysource_refresh(ks, NULL), TS_OK);
    ts_authn_verifier *v = verifier_for(ks);
    static const char *pub[] = {"/health"};
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = v;
    mo.public_paths = pub;
    mo.n_public_paths = 1;
    mo.log = quiet;
    ts_authn_mhd *hook = ts_authn_mhd_new(&mo, NULL);
    assert_non_null(hook);
    struct MHD_Daemon *svc =
        MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD, 0, NULL, NULL, svc_handler, hook,
                         MHD_OPTION_THREAD_POOL_SIZE, 2u, MHD_OPTION_END);
    assert_non_null(svc);
    unsigned short port = MHD_get_daemon_info(svc, MHD_DAEMON_INFO_BIND_PORT)->port;
    char *known = token(k1, NULL), *rotated = token(k2, NULL);
    hjob warm = {port, "/api/things", known, 0, 0};
    hjob_run(&warm);
    assert_int_equal(warm.status, 200);

    ts_jwk *both[] = {k1, k2};
    serve_keys(both, 2, 3000);
    sleep_ms(1100);
    enum { N = 6 };
    pthread_t th[N];
    hjob jobs[N];
    for (int i = 0; i < N; i++) {
        char kid[32];
        snprintf(kid, sizeof kid, "random-kid-%d", i);
        jobs[i] = (hjob){port, "/api/things", token(k1, kid), 0, 0};
        assert_int_equal(pthread_create(&th[i], NULL, hjob_run, &jobs[i]), 0);
    }
    /* Meanwhile, the public path and a known kid, several times. */
    for (int i = 0; i < 3; i++) {
        hjob health = {port, "/health", NULL, 0, 0}, api = {port, "/api/things", known, 0, 0};
        hjob_run(&health);
        hjob_run(&api);
        if (health.status != 200 || health.secs >= 1.0 || api.status != 200 || api.secs >= 1.0)
            fail_msg("round %d: /health %ld in %.3f s, known kid %ld in %.3f s", i, health.status,
                     health.secs, api.status, api.secs);
    }
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        if (jobs[i].status != 401 || jobs[i].secs >= 1.0)
            fail_msg("random kid %d: %ld in %.3f s", i, jobs[i].status, jobs[i].secs);
        ts_free(jobs[i].tok);
    }
    /* Once the background fetch has ended the new key is served. */
    assert_true(wait_fetches(ks, 2, 15.0));
    hjob after = {port, "/api/things", rotated, 0, 0};
    hjob_run(&after);
    assert_int_equal(after.status, 200);
    MHD_stop_daemon(svc);
    ts_authn_mhd_free(hook);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    ts_free(known);
    ts_free(rotated);
    ts_jwk_free(k1);
    ts_jwk_free(k2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_unknown_kids_do_not_wait_for_the_host),
        cmocka_unit_test(test_kid_arriving_within_the_bound),
        cmocka_unit_test(test_free_during_fetch),
        cmocka_unit_test(test_service_stays_responsive),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
