/* Kubernetes service-account bearer tokens (oidc_k8s_bearer.h) of a cluster whose keys come
   from its discovery document, served on loopback: nothing is fetched before the first token;
   many threads verifying at once on a fresh verifier share one discovery and one key fetch (the
   lazy build under its mutex); a failed discovery makes the token undecidable (internal) and is
   not retried before the provider's jwks_refetch_cooldown_s. */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* As test_oidc_k8s_bearer.c: without tokensmith-testutil linked, skipped (77). */
#if defined(__has_include) && __has_include(<tokensmith/testutil.h>)

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <sched.h>
#include <stdatomic.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "k8s_bearer_fixture.h"

static struct {
    ts_testutil_key *rsa, *ec;
    ts_jwks *set; /* what the cluster publishes */
} w;

static int setup(void **state)
{
    (void)state;
    ts_error e;
    w.rsa = ts_testutil_key_new(TS_JWS_RS256, &e);
    w.ec = ts_testutil_key_new(TS_JWS_ES256, &e);
    if (!w.rsa || !w.ec)
        return -1;
    w.set = cluster_set(w.rsa, w.ec);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_jwks_free(w.set);
    ts_testutil_key_free(w.rsa);
    ts_testutil_key_free(w.ec);
    return 0;
}

/* A loopback HTTP/1.0 server for one cluster: its discovery document and its JWK Set, or 500
   on both while failing. Bounded: one request head of at most 4 KiB per connection, closed
   after each answer, one connection at a time. */
typedef struct cluster {
    int fd;
    unsigned short port;
    char issuer[64];
    char *jwks; /* the published set's JSON */
    pthread_t thr;
    atomic_bool stop;
    atomic_bool failing;
    atomic_ulong discoveries; /* requests for the discovery document */
    atomic_ulong key_fetches; /* requests for the key set */
} cluster;

static void answer(int c, int status, const char *body)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.0 %d %s\r\nContent-Type: application/json\r\n"
                     "Content-Length: %zu\r\nConnection: close\r\n\r\n",
                     status,
                     status == 200   ? "OK"
                     : status == 404 ? "Not Found"
                                     : "Error",
                     strlen(body));
    if (write(c, head, (size_t)n) != n || write(c, body, strlen(body)) < 0)
        return; /* the client went away: nothing to do */
}

static void *cluster_main(void *ud)
{
    cluster *s = ud;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {.fd = s->fd, .events = POLLIN};
        if (poll(&p, 1, 50) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        struct timeval tv = {.tv_sec = 2};
        setsockopt(c, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        char req[4096];
        size_t n = 0;
        while (n < sizeof req - 1) {
            ssize_t r = read(c, req + n, sizeof req - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            if (strstr(req, "\r\n\r\n"))
                break;
        }
        req[n] = '\0';
        char doc[256];
        if (atomic_load(&s->failing)) {
            answer(c, 500, "{}");
        } else if (strncmp(req, "GET /.well-known/openid-configuration ", 38) == 0) {
            atomic_fetch_add(&s->discoveries, 1);
            snprintf(doc, sizeof doc, "{\"issuer\":\"%s\",\"jwks_uri\":\"%s/keys\"}", s->issuer,
                     s->issuer);
            answer(c, 200, doc);
        } else if (strncmp(req, "GET /keys ", 10) == 0) {
            atomic_fetch_add(&s->key_fetches, 1);
            answer(c, 200, s->jwks);
        } else {
            answer(c, 404, "{}");
        }
        close(c);
    }
    return NULL;
}

static void cluster_start(cluster *s)
{
    memset(s, 0, sizeof *s);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(s->fd >= 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = 0};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof a), 0);
    assert_int_equal(listen(s->fd, 64), 0);
    socklen_t al = sizeof a;
    assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &al), 0);
    s->port = ntohs(a.sin_port);
    snprintf(s->issuer, sizeof s->issuer, "http://127.0.0.1:%u", (unsigned)s->port);
    ts_error e;
    s->jwks = ts_jwks_to_json(w.set, &e);
    assert_non_null(s->jwks);
    assert_int_equal(pthread_create(&s->thr, NULL, cluster_main, s), 0);
}

static void cluster_stop(cluster *s)
{
    atomic_store(&s->stop, true);
    pthread_join(s->thr, NULL);
    close(s->fd);
    ts_free(s->jwks);
}

static ts_oidc_k8s_bearer *discovering_bearer(const cluster *s)
{
    char j[1024];
    snprintf(j, sizeof j,
             "{\"providers\":[{\"kind\":\"kubernetes\",\"issuer\":\"%s\",\"accepted_audiences\":"
             "[\"" EXCHANGE_AUD "\"],\"timeout_ms\":2000,\"jwks_refetch_cooldown_s\":60,"
             "\"identity_rules\":[]}]}",
             s->issuer);
    ts_oidc_config *c = config(j);
    ts_oidc_k8s_bearer *b = bearer_of(c);
    ts_oidc_config_free(c);
    return b;
}

typedef struct worker {
    ts_oidc_k8s_bearer *b;
    const char *good, *bad; /* the account's token; one for the exchange's audience */
    const char *ns;
    atomic_uint *go;
    unsigned ok, refused, other;
} worker;

static void *worker_main(void *ud)
{
    worker *wk = ud;
    while (!atomic_load(wk->go))
        sched_yield(); /* start together, so that the first tokens race for the discovery */
    for (int i = 0; i < 40; i++) {
        ts_oidc_k8s_caller c;
        ts_error e;
        ts_error_clear(&e);
        ts_authn_reason r =
            ts_oidc_k8s_bearer_verify(wk->b, wk->good, strlen(wk->good), &c, NULL, &e);
        if (r == TS_AUTHN_OK && strcmp(c.account.namespace_name, wk->ns) == 0)
            wk->ok++;
        else
            wk->other++;
        r = ts_oidc_k8s_bearer_verify(wk->b, wk->bad, strlen(wk->bad), &c, NULL, &e);
        if (r == TS_AUTHN_WRONG_AUDIENCE)
            wk->refused++;
        else
            wk->other++;
    }
    return NULL;
}

/* Many threads on one verifier whose keys are not there yet: one discovery among them all. */
static void test_threads(void **state)
{
    (void)state;
    cluster s;
    cluster_start(&s);
    ts_oidc_k8s_bearer *b = discovering_bearer(&s);
    assert_int_equal(atomic_load(&s.discoveries), 0); /* nothing fetched before a token */
    enum { N = 8 };
    pthread_t th[N];
    worker wk[N];
    char *good[N], *bad[N], ns[N][16];
    atomic_uint go;
    atomic_init(&go, 0);
    for (int i = 0; i < N; i++) {
        snprintf(ns[i], sizeof ns[i], "team-%d", i);
        const ts_testutil_key *key = i % 2 ? w.rsa : w.ec;
        ts_testutil_token *tb = projected(key, s.issuer, ns[i], "api", "su-x", API_AUD);
        good[i] = mint(tb, TS_TESTUTIL_FLAW_NONE);
        ts_testutil_token_free(tb);
        tb = projected(key, s.issuer, ns[i], "api", "su-x", EXCHANGE_AUD);
        bad[i] = mint(tb, TS_TESTUTIL_FLAW_NONE);
        ts_testutil_token_free(tb);
        wk[i] = (worker){.b = b, .good = good[i], .bad = bad[i], .ns = ns[i], .go = &go};
        assert_int_equal(pthread_create(&th[i], NULL, worker_main, &wk[i]), 0);
    }
    atomic_store(&go, 1);
    for (int i = 0; i < N; i++) {
        pthread_join(th[i], NULL);
        assert_int_equal(wk[i].ok, 40);
        assert_int_equal(wk[i].refused, 40);
        assert_int_equal(wk[i].other, 0);
        ts_free(good[i]);
        ts_free(bad[i]);
    }
    assert_int_equal(atomic_load(&s.discoveries), 1);
    assert_int_equal(atomic_load(&s.key_fetches), 1);
    ts_oidc_k8s_bearer_free(b);
    cluster_stop(&s);
}

/* A cluster that cannot be discovered: the token cannot be decided (internal: the caller
   answers 503), and no new attempt before the provider's jwks_refetch_cooldown_s. */
static void test_discovery_failure(void **state)
{
    (void)state;
    cluster s;
    cluster_start(&s);
    atomic_store(&s.failing, true);
    ts_oidc_k8s_bearer *b = discovering_bearer(&s);
    ts_testutil_token *tb = projected(w.ec, s.issuer, "boot", "bss", "su-1", API_AUD);
    char *t = mint(tb, TS_TESTUTIL_FLAW_NONE);
    ts_testutil_token_free(tb);
    ts_oidc_k8s_caller c;
    ts_error e;
    ts_error_clear(&e);
    assert_int_equal(ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e), TS_AUTHN_INTERNAL);
    assert_int_not_equal(e.code, TS_OK);
    atomic_store(&s.failing, false);
    ts_error_clear(&e);
    assert_int_equal(ts_oidc_k8s_bearer_verify(b, t, strlen(t), &c, NULL, &e), TS_AUTHN_INTERNAL);
    assert_non_null(strstr(e.msg, "next attempt"));
    assert_int_equal(atomic_load(&s.discoveries), 0); /* the one answer was 500, not counted */
    ts_oidc_k8s_bearer_free(b);
    /* A fresh verifier discovers the healthy cluster. */
    b = discovering_bearer(&s);
    expect(b, t, TS_AUTHN_OK);
    assert_int_equal(atomic_load(&s.discoveries), 1);
    ts_oidc_k8s_bearer_free(b);
    cluster_stop(&s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_threads),
        cmocka_unit_test(test_discovery_failure),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}

#else

int main(void)
{
    fputs("skipped: this test mints its tokens with tokensmith-testutil, which is not linked\n",
          stderr);
    return 77;
}

#endif
