/* ts_oidc_discovery_fetch() against a scripted loopback provider: the URL it asks for, every
   check of the document (issuer identical, endpoints https:// or loopback http://, repeated
   members, type), the HTTP failures (status, redirect, body cap, closed port, silence) and the
   arguments it refuses before any request. */
#define _POSIX_C_SOURCE 200809L
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include <tokensmith/oidc.h>

/* The provider: one thread, one connection at a time, answering each request with the current
   script (status line, extra header lines, body) and recording the request line's path. */
typedef struct provider {
    pthread_mutex_t mu;
    pthread_t th;
    int lfd;
    unsigned port;
    bool stop;
    bool silent; /* read the request, never answer */
    int status;
    char *extra; /* more header lines, each ending in CRLF */
    char *body;
    char path[512];
    unsigned requests;
} provider;

static provider pv;

static void send_all(int fd, const char *p, size_t n)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w <= 0)
            return;
        p += w;
        n -= (size_t)w;
    }
}

static void serve(int fd)
{
    char req[8192];
    size_t n = 0;
    struct pollfd pf = {fd, POLLIN, 0};
    while (n < sizeof req - 1 && poll(&pf, 1, 2000) > 0) {
        ssize_t r = recv(fd, req + n, sizeof req - 1 - n, 0);
        if (r <= 0)
            break;
        n += (size_t)r;
        req[n] = '\0';
        if (strstr(req, "\r\n\r\n"))
            break;
    }
    req[n] = '\0';
    pthread_mutex_lock(&pv.mu);
    pv.requests++;
    if (sscanf(req, "%*s %511s", pv.path) != 1)
        pv.path[0] = '\0';
    bool silent = pv.silent;
    char head[1024];
    size_t bl = pv.body ? strlen(pv.body) : 0;
    int hn = snprintf(head, sizeof head,
                      "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nConnection: close\r\n"
                      "Content-Length: %zu\r\n%s\r\n",
                      pv.status, bl, pv.extra ? pv.extra : "");
    char *body = pv.body ? strdup(pv.body) : NULL;
    pthread_mutex_unlock(&pv.mu);
    if (silent) { /* hold the connection until the client gives up */
        while (poll(&pf, 1, 5000) > 0 && recv(fd, req, sizeof req, 0) > 0)
            ;
    } else {
        send_all(fd, head, (size_t)hn);
        send_all(fd, body, bl);
    }
    free(body);
    close(fd);
}

static void *provider_main(void *arg)
{
    (void)arg;
    for (;;) {
        struct pollfd pf = {pv.lfd, POLLIN, 0};
        int r = poll(&pf, 1, 100);
        pthread_mutex_lock(&pv.mu);
        bool stop = pv.stop;
        pthread_mutex_unlock(&pv.mu);
        if (stop)
            return NULL;
        if (r > 0) {
            int fd = accept(pv.lfd, NULL, NULL);
            if (fd >= 0)
                serve(fd);
        }
    }
}

/* Answer with @p status and @p body from now on. */
static void script(int status, const char *extra, const char *body)
{
    pthread_mutex_lock(&pv.mu);
    free(pv.extra);
    free(pv.body);
    pv.status = status;
    pv.extra = extra ? strdup(extra) : NULL;
    pv.body = body ? strdup(body) : NULL;
    pv.silent = false;
    pv.path[0] = '\0';
    pthread_mutex_unlock(&pv.mu);
}

/* The path of the last request (read under the lock: the provider's thread wrote it). */
static const char *last_path(void)
{
    static char copy[512];
    pthread_mutex_lock(&pv.mu);
    memcpy(copy, pv.path, sizeof copy);
    pthread_mutex_unlock(&pv.mu);
    return copy;
}

static int setup(void **state)
{
    (void)state;
    pthread_mutex_init(&pv.mu, NULL);
    pv.lfd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (pv.lfd < 0 || bind(pv.lfd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(pv.lfd, 16) != 0 || getsockname(pv.lfd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    pv.port = ntohs(a.sin_port);
    return pthread_create(&pv.th, NULL, provider_main, NULL) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    pthread_mutex_lock(&pv.mu);
    pv.stop = true;
    pthread_mutex_unlock(&pv.mu);
    pthread_join(pv.th, NULL);
    close(pv.lfd);
    free(pv.extra);
    free(pv.body);
    pthread_mutex_destroy(&pv.mu);
    return 0;
}

/* A discovery document for issuer @p iss with the given jwks_uri and more members. */
static char *doc(const char *iss, const char *jwks, const char *more)
{
    char *d = malloc(4096);
    snprintf(d, 4096, "{\"issuer\":\"%s\",\"jwks_uri\":\"%s\"%s%s}", iss, jwks,
             more && *more ? "," : "", more ? more : "");
    return d;
}

static void test_fetch(void **state)
{
    (void)state;
    char iss[128], jwks[160];
    snprintf(iss, sizeof iss, "http://127.0.0.1:%u", pv.port);
    snprintf(jwks, sizeof jwks, "http://127.0.0.1:%u/keys", pv.port);
    char *d = doc(iss, jwks, "\"token_endpoint\":\"https://idp.example/token\"");
    script(200, NULL, d);
    free(d);
    ts_oidc_discovery out;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_oidc_discovery_fetch(iss, 2000, &out, &err), TS_OK);
    assert_string_equal(out.jwks_uri, jwks);
    assert_null(out.introspection_endpoint);
    assert_string_equal(last_path(), "/.well-known/openid-configuration");
    ts_oidc_discovery_cleanup(&out);
    assert_null(out.jwks_uri);
    ts_oidc_discovery_cleanup(&out); /* twice is fine */
    ts_oidc_discovery_cleanup(NULL);

    /* A path issuer with a trailing slash: the slash is dropped before the suffix, but the
       document's issuer must carry it (identical, §4.3). */
    snprintf(iss, sizeof iss, "http://127.0.0.1:%u/tenant/", pv.port);
    d = doc(iss, "https://idp.example/jwks",
            "\"introspection_endpoint\":\"https://idp.example/introspect\"");
    script(200, NULL, d);
    free(d);
    assert_int_equal(ts_oidc_discovery_fetch(iss, 0, &out, &err), TS_OK);
    assert_string_equal(last_path(), "/tenant/.well-known/openid-configuration");
    assert_string_equal(out.jwks_uri, "https://idp.example/jwks");
    assert_string_equal(out.introspection_endpoint, "https://idp.example/introspect");
    ts_oidc_discovery_cleanup(&out);
}

/* Documents that are refused; the error names the discovery URL and says why. */
static void test_document_refusals(void **state)
{
    (void)state;
    char iss[128], other[128], url[192];
    snprintf(iss, sizeof iss, "http://127.0.0.1:%u", pv.port);
    snprintf(other, sizeof other, "http://127.0.0.1:%u/", pv.port);
    snprintf(url, sizeof url, "%s/.well-known/openid-configuration", iss);
    char *docs[] = {
        doc(other, "https://idp.example/jwks", NULL), /* issuer differs by a slash */
        doc("https://evil.example", "https://idp.example/jwks", NULL),
        strdup("{\"jwks_uri\":\"https://idp.example/jwks\"}"), /* no issuer */
        doc(iss, "http://idp.example/jwks", NULL),             /* plain http to another host */
        doc(iss, "", NULL),
        doc(iss, "ftp://idp.example/jwks", NULL),
        doc(iss, "https://idp.example/jwks", "\"introspection_endpoint\":\"http://idp.example\""),
        doc(iss, "https://idp.example/jwks", "\"introspection_endpoint\":7"),
        /* Repeated members: neither reading is safe. */
        doc(iss, "https://idp.example/jwks", "\"jwks_uri\":\"https://evil.example/jwks\""),
        doc(iss, "https://idp.example/jwks", "\"issuer\":\"https://evil.example\""),
        doc(iss, "https://idp.example/jwks", "\"x\":{\"a\":1,\"a\":2}"),
        strdup("[]"),
        strdup("<html>not json</html>"),
    };
    char no_jwks[256];
    snprintf(no_jwks, sizeof no_jwks, "{\"issuer\":\"%s\",\"jwks_uri\":5}", iss);
    static const ts_status want[] = {TS_EINVAL, TS_EINVAL, TS_EINVAL, TS_EINVAL, TS_EINVAL,
                                     TS_EINVAL, TS_EINVAL, TS_EINVAL, TS_EPARSE, TS_EPARSE,
                                     TS_EPARSE, TS_EPARSE, TS_EPARSE};
    static const char *const says[] = {"differs",
                                       "differs",
                                       "(missing)",
                                       "jwks_uri must be",
                                       "jwks_uri must be",
                                       "jwks_uri must be",
                                       "introspection_endpoint must be",
                                       "introspection_endpoint must be",
                                       "JSON",
                                       "JSON",
                                       "JSON",
                                       "not a JSON object",
                                       "not a JSON object"};
    for (size_t i = 0; i < sizeof docs / sizeof docs[0]; i++) {
        script(200, NULL, docs[i]);
        ts_oidc_discovery out;
        ts_error err;
        ts_error_clear(&err);
        ts_status st = ts_oidc_discovery_fetch(iss, 2000, &out, &err);
        if (st != want[i] || !strstr(err.msg, says[i]))
            fail_msg("document %zu (%s): %s: %s", i, docs[i], ts_status_str(st), err.msg);
        assert_string_equal(err.where, url);
        assert_null(out.jwks_uri);
        assert_null(out.introspection_endpoint);
        free(docs[i]);
    }
    script(200, NULL, no_jwks);
    ts_oidc_discovery out;
    assert_int_equal(ts_oidc_discovery_fetch(iss, 2000, &out, NULL), TS_EINVAL);
}

/* HTTP failures: each is an error within the timeout, and nothing is filled in. */
static void test_http_failures(void **state)
{
    (void)state;
    char iss[128], jwks[160];
    snprintf(iss, sizeof iss, "http://127.0.0.1:%u", pv.port);
    snprintf(jwks, sizeof jwks, "%s/keys", iss);
    char *good = doc(iss, jwks, NULL);
    ts_oidc_discovery out;
    ts_error err;

    script(404, NULL, good);
    ts_error_clear(&err);
    assert_int_equal(ts_oidc_discovery_fetch(iss, 2000, &out, &err), TS_EIO);
    assert_non_null(strstr(err.msg, "HTTP status 404"));
    /* A redirect is not followed, not even to a good document. */
    char loc[256];
    snprintf(loc, sizeof loc, "Location: %s/.well-known/openid-configuration\r\n", iss);
    script(302, loc, good);
    ts_error_clear(&err);
    assert_int_equal(ts_oidc_discovery_fetch(iss, 2000, &out, &err), TS_EIO);
    assert_non_null(strstr(err.msg, "HTTP status 302"));
    assert_null(out.jwks_uri);
    /* A body over 256 KiB. */
    size_t big = TS_OIDC_MAX_DOC_BYTES + 1024;
    char *huge = malloc(big + 1);
    memset(huge, ' ', big);
    memcpy(huge, good, strlen(good));
    huge[big] = '\0';
    script(200, NULL, huge);
    free(huge);
    ts_error_clear(&err);
    assert_int_equal(ts_oidc_discovery_fetch(iss, 2000, &out, &err), TS_ELIMIT);
    assert_null(out.jwks_uri);
    /* Silence: the timeout ends it. */
    script(200, NULL, good);
    pthread_mutex_lock(&pv.mu);
    pv.silent = true;
    pthread_mutex_unlock(&pv.mu);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    ts_error_clear(&err);
    assert_int_not_equal(ts_oidc_discovery_fetch(iss, 300, &out, &err), TS_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    assert_true(t1.tv_sec - t0.tv_sec < 4);
    assert_null(out.jwks_uri);
    script(200, NULL, good);
    /* Nobody listening. */
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    assert_int_equal(bind(s, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(getsockname(s, (struct sockaddr *)&a, &al), 0);
    char closed[64];
    snprintf(closed, sizeof closed, "http://127.0.0.1:%u", ntohs(a.sin_port));
    close(s);
    ts_error_clear(&err);
    assert_int_not_equal(ts_oidc_discovery_fetch(closed, 2000, &out, &err), TS_OK);
    assert_null(out.jwks_uri);
    free(good);
}

/* Arguments refused before any request is made. */
static void test_arguments(void **state)
{
    (void)state;
    pthread_mutex_lock(&pv.mu);
    unsigned before = pv.requests;
    pthread_mutex_unlock(&pv.mu);
    char port_iss[128], longest[TS_OIDC_MAX_STRING + 32];
    snprintf(port_iss, sizeof port_iss, "http://127.0.0.1:%u", pv.port);
    memset(longest, 'a', sizeof longest - 1);
    memcpy(longest, "https://", 8);
    longest[sizeof longest - 1] = '\0';
    const char *bad[] = {NULL,
                         "",
                         "idp.example",
                         "http://idp.example",
                         "ftp://127.0.0.1/",
                         "https://idp.example?tenant=a",
                         "https://idp.example/#x",
                         longest};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_oidc_discovery out;
        ts_error err;
        ts_error_clear(&err);
        assert_int_equal(ts_oidc_discovery_fetch(bad[i], 2000, &out, &err), TS_EINVAL);
        assert_string_equal(err.where, "issuer");
        assert_null(out.jwks_uri);
    }
    ts_oidc_discovery out;
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_oidc_discovery_fetch(port_iss, TS_OIDC_MAX_TIMEOUT_MS + 1, &out, &err),
                     TS_EINVAL);
    assert_string_equal(err.where, "timeout_ms");
    assert_int_equal(ts_oidc_discovery_fetch(port_iss, 2000, NULL, NULL), TS_EINVAL);
    pthread_mutex_lock(&pv.mu);
    assert_int_equal(pv.requests, before);
    pthread_mutex_unlock(&pv.mu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_fetch),
        cmocka_unit_test(test_document_refusals),
        cmocka_unit_test(test_http_failures),
        cmocka_unit_test(test_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
