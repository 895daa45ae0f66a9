/* Key sources: files (a JWKS file replaced on a rotation is read again), remote JWKS over a
   loopback libmicrohttpd server (rotation, unknown-kid refetch with cooldown and single flight,
   last good keys, slow/huge/garbage/down servers). */
#define _POSIX_C_SOURCE 200809L
#include <microhttpd.h>
#include <pthread.h>
#include <time.h>
#include <unistd.h>

#include "testkit.h"

static pthread_mutex_t srv_mu = PTHREAD_MUTEX_INITIALIZER;
static char *jwks_body, *jwks2_body;
static const char *cache_control;
static int jwks_hits;
static unsigned delay_ms;

static void sleep_ms(unsigned ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **con_cls)
{
    (void)cls, (void)method, (void)version, (void)upload, (void)upload_size, (void)con_cls;
    unsigned status = 200;
    char *body = NULL;
    size_t len = 0;
    pthread_mutex_lock(&srv_mu);
    unsigned d = delay_ms;
    const char *cc = cache_control;
    if (strcmp(url, "/jwks") == 0) {
        jwks_hits++;
        body = strdup(jwks_body ? jwks_body : "{\"keys\":[]}");
    } else if (strcmp(url, "/jwks2") == 0) {
        body = strdup(jwks2_body ? jwks2_body : "{\"keys\":[]}");
    } else if (strcmp(url, "/garbage") == 0) {
        body = strdup("<html>not json</html>");
    } else if (strcmp(url, "/huge") == 0) {
        len = 2u << 20;
        body = malloc(len + 1);
        memset(body, ' ', len);
        body[len] = 0;
    } else if (strcmp(url, "/slow") == 0) {
        d = 3000;
        body = strdup("{\"keys\":[]}");
    } else {
        status = 500;
        body = strdup("oops");
    }
    pthread_mutex_unlock(&srv_mu);
    if (!len)
        len = strlen(body);
    if (d)
        sleep_ms(d);
    struct MHD_Response *r = MHD_create_response_from_buffer(len, body, MHD_RESPMEM_MUST_FREE);
    if (cc && status == 200)
        MHD_add_response_header(r, "Cache-Control", cc);
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static struct MHD_Daemon *daemon_;
static unsigned short port;

static int setup(void **state)
{
    (void)state;
    daemon_ = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_THREAD_PER_CONNECTION, 0,
                               NULL, NULL, handler, NULL, MHD_OPTION_END);
    if (!daemon_)
        return -1;
    const union MHD_DaemonInfo *info = MHD_get_daemon_info(daemon_, MHD_DAEMON_INFO_BIND_PORT);
    port = info->port;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    MHD_stop_daemon(daemon_);
    free(jwks_body);
    free(jwks2_body);
    return 0;
}

static void url(char *buf, size_t cap, const char *path)
{
    snprintf(buf, cap, "http://127.0.0.1:%u%s", port, path);
}

static void serve(char **slot, ts_jwk *const *keys, size_t n)
{
    ts_jwks *s = ts_jwks_new(keys, n, NULL);
    char *j = ts_jwks_to_json(s, NULL);
    pthread_mutex_lock(&srv_mu);
    free(*slot);
    *slot = strdup(j);
    pthread_mutex_unlock(&srv_mu);
    ts_free(j);
    ts_jwks_free(s);
}

static char *token(ts_jwk *k, ts_jws_alg alg)
{
    char c[1024], *t = NULL;
    tk_claims(c, sizeof c, NULL);
    assert_int_equal(ts_jws_sign(k, alg, "at+jwt", c, strlen(c), &t, NULL, NULL), TS_OK);
    return t;
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
    return ts_authn_verifier_new(&o, NULL);
}

static ts_authn_reason check(const ts_authn_verifier *v, const char *tok)
{
    ts_authn_principal *p = NULL;
    ts_authn_reason r = ts_authn_verify(v, tok, strlen(tok), &p, NULL, NULL);
    ts_authn_principal_free(p);
    return r;
}

static void test_files(void **state)
{
    (void)state;
    ts_jwk *priv = ts_jwk_load_file(TS_TEST_DATA_DIR "/keys/rsa_pkcs1_private.pem", NULL);
    ts_jwk *ec = ts_jwk_generate(TS_JWS_ES384, NULL);
    ts_jwks *s = ts_jwks_new(&ec, 1, NULL);
    char *j = ts_jwks_to_json(s, NULL);
    char path[] = "/tmp/authn-jwks-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, j, strlen(j)), (ssize_t)strlen(j));
    close(fd);
    const char *pems[] = {TS_TEST_DATA_DIR "/keys/rsa_cert.pem"};
    const char *jwks[] = {path};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    o.pem_files = pems;
    o.n_pem_files = 1;
    o.jwks_files = jwks;
    o.n_jwks_files = 1;
    ts_error err;
    ts_error_clear(&err);
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, &err);
    if (!ks)
        fail_msg("%s", err.msg);
    ts_authn_verifier *v = verifier_for(ks);
    char *t1 = token(priv, TS_JWS_PS256), *t2 = token(ec, TS_JWS_ES384);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 0);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    /* A broken file fails construction and says which. */
    const char *bad[] = {TS_TEST_DATA_DIR "/keys/thumbprints.txt"};
    o.pem_files = bad;
    ts_error_clear(&err);
    assert_null(ts_authn_keysource_new(&o, &err));
    assert_non_null(strstr(err.where, "thumbprints.txt"));
    unlink(path);
    ts_free(t1);
    ts_free(t2);
    ts_free(j);
    ts_jwks_free(s);
    ts_jwk_free(ec);
    ts_jwk_free(priv);
}

/* Write @p text to @p path: through a temporary file renamed into place (what a service
   rewriting its keys does), or over the file itself. */
static void put_file(const char *path, const char *text, bool by_rename)
{
    char tmp[256];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(by_rename ? tmp : path, "w");
    assert_non_null(f);
    assert_int_equal(fwrite(text, 1, strlen(text), f), strlen(text));
    assert_int_equal(fclose(f), 0);
    if (by_rename)
        assert_int_equal(rename(tmp, path), 0);
}

static void put_jwks(const char *path, ts_jwk *const *keys, size_t n, bool by_rename)
{
    ts_jwks *s = ts_jwks_new(keys, n, NULL);
    char *j = ts_jwks_to_json(s, NULL);
    put_file(path, j, by_rename);
    ts_free(j);
    ts_jwks_free(s);
}

static void test_file_rotation(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_ES256, NULL), *k2 = ts_jwk_generate(TS_JWS_ES256, NULL),
           *k3 = ts_jwk_generate(TS_JWS_RS256, NULL);
    char path[] = "/tmp/authn-jwks-rot-XXXXXX";
    int fd = mkstemp(path);
    assert_true(fd >= 0);
    close(fd);
    put_jwks(path, &k1, 1, true);
    const char *jwks[] = {path};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    o.jwks_files = jwks;
    o.n_jwks_files = 1;
    o.refetch_cooldown_s = 1;
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, NULL);
    assert_non_null(ks);
    ts_authn_verifier *v = verifier_for(ks);
    char *t1 = token(k1, TS_JWS_ES256), *t2 = token(k2, TS_JWS_ES256),
         *t3 = token(k3, TS_JWS_RS256);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    struct timespec a, z;
    clock_gettime(CLOCK_MONOTONIC, &a);
    assert_int_equal(check(v, t2), TS_AUTHN_UNKNOWN_KID); /* the file is looked at: unchanged */

    /* Rotation: the file is replaced (rename) by one holding the new key only. Within the
       cooldown of the last check the new kid is still unknown; after it, the unknown kid has
       the file read again, by the same key source. */
    put_jwks(path, &k2, 1, true);
    ts_authn_reason early = check(v, t2);
    clock_gettime(CLOCK_MONOTONIC, &z);
    long gap_ms = (long)(z.tv_sec - a.tv_sec) * 1000 + (z.tv_nsec - a.tv_nsec) / 1000000;
    if (gap_ms < 900) /* a machine too loaded for that is not a failure of the rule */
        assert_int_equal(early, TS_AUTHN_UNKNOWN_KID);
    sleep_ms(1100);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);
    assert_int_equal(check(v, t1), TS_AUTHN_UNKNOWN_KID); /* the old key left the file */

    /* Rewritten in place (same inode, new size): refresh reads it now, whatever the cooldown. */
    ts_jwk *both[] = {k1, k2};
    put_jwks(path, both, 2, false);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_authn_keysource_refresh(ks, &err), TS_OK);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);

    /* A broken replacement keeps the last good keys: refresh says which file and why, and
       the unknown-kid path neither fails nor drops a key. */
    put_file(path, "{\"keys\":[{\"kty\":\"RSA\"}]}", true);
    ts_error_clear(&err);
    assert_int_not_equal(ts_authn_keysource_refresh(ks, &err), TS_OK);
    assert_non_null(strstr(err.where, "authn-jwks-rot-"));
    assert_non_null(strstr(err.msg, "last good keys"));
    sleep_ms(1100);
    assert_int_equal(check(v, t3), TS_AUTHN_UNKNOWN_KID);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);
    put_file(path, "not json at all", false);
    assert_int_not_equal(ts_authn_keysource_refresh(ks, NULL), TS_OK);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    /* A file that is gone: the same. */
    assert_int_equal(unlink(path), 0);
    ts_error_clear(&err);
    assert_int_equal(ts_authn_keysource_refresh(ks, &err), TS_EIO);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);

    /* Fixed: the next change is taken (the broken readings did not stick). */
    put_jwks(path, &k3, 1, true);
    sleep_ms(1100);
    assert_int_equal(check(v, t3), TS_AUTHN_OK);
    assert_int_equal(check(v, t1), TS_AUTHN_UNKNOWN_KID);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 0); /* files are no fetches */
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    unlink(path);
    ts_free(t1);
    ts_free(t2);
    ts_free(t3);
    ts_jwk_free(k1);
    ts_jwk_free(k2);
    ts_jwk_free(k3);
}

static void test_url_rules(void **state)
{
    (void)state;
    const char *bad[] = {"http://example.com/jwks", "ftp://127.0.0.1/jwks", "file:///etc/passwd",
                         "http://127.0.0.1.evil.test/jwks"};
    for (size_t i = 0; i < 4; i++) {
        ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
        o.urls = &bad[i];
        o.n_urls = 1;
        assert_null(ts_authn_keysource_new(&o, NULL));
    }
}

static void test_remote_rotation(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_RS256, NULL), *k2 = ts_jwk_generate(TS_JWS_ES256, NULL),
           *k3 = ts_jwk_generate(TS_JWS_PS256, NULL);
    serve(&jwks_body, &k1, 1);
    pthread_mutex_lock(&srv_mu);
    jwks_hits = 0;
    pthread_mutex_unlock(&srv_mu);
    char u[128];
    url(u, sizeof u, "/jwks");
    const char *urls[] = {u};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    o.urls = urls;
    o.n_urls = 1;
    o.refetch_cooldown_s = 1;
    /* The refetch below runs in the background; this test is about rotation, so it lets the
       verification wait for it as long as a slow (sanitized, loaded) machine may need. */
    o.max_wait_ms = 5000;
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, NULL);
    ts_authn_verifier *v = verifier_for(ks);
    char *t1 = token(k1, TS_JWS_RS256), *t2 = token(k2, TS_JWS_ES256),
         *t3 = token(k3, TS_JWS_PS256);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 1);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 1); /* cached */
    /* Rotation: k2 is published; a k2 token triggers one refetch right away... */
    ts_jwk *both[] = {k1, k2};
    serve(&jwks_body, both, 2);
    sleep_ms(1100);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 2);
    /* ...but a further unknown kid within the cooldown does not fetch again. */
    assert_int_equal(check(v, t3), TS_AUTHN_UNKNOWN_KID);
    assert_int_equal(check(v, t3), TS_AUTHN_UNKNOWN_KID);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 2);
    /* A failing refresh keeps the last good keys. */
    pthread_mutex_lock(&srv_mu);
    free(jwks_body);
    jwks_body = strdup("{\"keys\":[{\"kty\":\"RSA\"}]}");
    pthread_mutex_unlock(&srv_mu);
    ts_error err;
    ts_error_clear(&err);
    assert_int_not_equal(ts_authn_keysource_refresh(ks, &err), TS_OK);
    assert_non_null(strstr(err.where, "/jwks"));
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    ts_free(t1);
    ts_free(t2);
    ts_free(t3);
    ts_jwk_free(k1);
    ts_jwk_free(k2);
    ts_jwk_free(k3);
}

static void test_merge_and_failures(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_ES256, NULL), *k2 = ts_jwk_generate(TS_JWS_RS512, NULL);
    serve(&jwks_body, &k1, 1);
    serve(&jwks2_body, &k2, 1);
    char u1[128], u2[128], bad[5][128];
    url(u1, sizeof u1, "/jwks");
    url(u2, sizeof u2, "/jwks2");
    const char *urls[] = {u1, u2};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    o.urls = urls;
    o.n_urls = 2;
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, NULL);
    assert_int_equal(ts_authn_keysource_refresh(ks, NULL), TS_OK);
    ts_jwks *cur = ts_authn_keysource_keys(ks, NULL);
    assert_int_equal(ts_jwks_count(cur), 2);
    ts_jwks_free(cur);
    ts_authn_verifier *v = verifier_for(ks);
    char *t1 = token(k1, TS_JWS_ES256), *t2 = token(k2, TS_JWS_RS512);
    assert_int_equal(check(v, t1), TS_AUTHN_OK);
    assert_int_equal(check(v, t2), TS_AUTHN_OK);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);

    /* Slow, huge, garbage, HTTP 500 and a closed port: bounded time, a clear error, no keys. */
    url(bad[0], 128, "/slow");
    url(bad[1], 128, "/huge");
    url(bad[2], 128, "/garbage");
    url(bad[3], 128, "/status500");
    snprintf(bad[4], 128, "http://127.0.0.1:1/jwks");
    ts_status want[] = {TS_EIO, TS_ELIMIT, TS_EPARSE, TS_EIO, TS_EIO};
    for (int i = 0; i < 5; i++) {
        const char *one[] = {bad[i]};
        ts_authn_keysource_options ob = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
        ob.urls = one;
        ob.n_urls = 1;
        /* Short enough for the 3 s server to time out, long enough for 1 MiB of the huge
           body to arrive on a loaded, sanitized build (else that is a timeout too). */
        ob.timeout_ms = 1500;
        ts_authn_keysource *b = ts_authn_keysource_new(&ob, NULL);
        struct timespec a, z;
        clock_gettime(CLOCK_MONOTONIC, &a);
        ts_error err;
        ts_error_clear(&err);
        assert_int_equal(ts_authn_keysource_refresh(b, &err), want[i]);
        clock_gettime(CLOCK_MONOTONIC, &z);
        assert_true(z.tv_sec - a.tv_sec < 3);
        ts_authn_verifier *bv = verifier_for(b);
        /* The failed URL is not hammered: the verify below does not wait for another fetch. */
        assert_int_equal(check(bv, t1), TS_AUTHN_KEYS_UNAVAILABLE);
        assert_int_equal(ts_authn_keysource_fetch_count(b), 1);
        ts_authn_verifier_free(bv);
        ts_authn_keysource_free(b);
    }
    ts_free(t1);
    ts_free(t2);
    ts_jwk_free(k1);
    ts_jwk_free(k2);
}

typedef struct sfarg {
    const ts_authn_verifier *v;
    const char *tok;
    ts_authn_reason r;
} sfarg;

static void *sf_worker(void *ud)
{
    sfarg *a = ud;
    a->r = check(a->v, a->tok);
    return NULL;
}

static void test_single_flight_and_ttl(void **state)
{
    (void)state;
    ts_jwk *k1 = ts_jwk_generate(TS_JWS_ES256, NULL);
    serve(&jwks_body, &k1, 1);
    pthread_mutex_lock(&srv_mu);
    jwks_hits = 0;
    delay_ms = 300;
    cache_control = "public, max-age=1";
    pthread_mutex_unlock(&srv_mu);
    char u[128];
    url(u, sizeof u, "/jwks");
    const char *urls[] = {u};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    o.urls = urls;
    o.n_urls = 1;
    o.min_ttl_s = 1;
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, NULL);
    ts_authn_verifier *v = verifier_for(ks);
    char *t = token(k1, TS_JWS_ES256);
    pthread_t th[6];
    sfarg args[6];
    for (int i = 0; i < 6; i++) {
        args[i] = (sfarg){v, t, TS_AUTHN_INTERNAL};
        pthread_create(&th[i], NULL, sf_worker, &args[i]);
    }
    for (int i = 0; i < 6; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(args[i].r, TS_AUTHN_OK);
    }
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 1);
    /* max-age=1 (within bounds): after it passes the keys are fetched again, in the
       background: the verification answers at once with the keys it has. */
    sleep_ms(1200);
    assert_int_equal(check(v, t), TS_AUTHN_OK);
    for (int i = 0; i < 100 && ts_authn_keysource_fetch_count(ks) < 2; i++)
        sleep_ms(50);
    assert_int_equal(ts_authn_keysource_fetch_count(ks), 2);
    pthread_mutex_lock(&srv_mu);
    assert_int_equal(jwks_hits, 2);
    delay_ms = 0;
    cache_control = NULL;
    pthread_mutex_unlock(&srv_mu);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
    ts_free(t);
    ts_jwk_free(k1);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_files),
        cmocka_unit_test(test_file_rotation),
        cmocka_unit_test(test_url_rules),
        cmocka_unit_test(test_remote_rotation),
        cmocka_unit_test(test_merge_and_failures),
        cmocka_unit_test(test_single_flight_and_ttl),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
