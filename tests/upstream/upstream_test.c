/* Upstream faults with the default 5 s HTTP timeout: an authn remote JWKS, the ts_oidc relying
   party and `tokensmith serve`'s OpenID exchange, against a loopback upstream that goes down
   (connection refused), accepts and never answers, answers more than 1 MiB (with and without
   Content-Length), answers garbage JSON, or answers something that is not HTTP. Each fault must
   end in bounded time with a clear error (status code, reason, log line), and the last good keys
   and discovery document must keep working.
   TS_TEST_WRAPPER, when set, is a command line put in front of tokensmith (scripts/valgrind.sh);
   the upper time bounds are then relaxed for the slower server.
   usage: upstream_test TOKENSMITH */
#define _POSIX_C_SOURCE 200809L
#include <curl/curl.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/authn.h>
#include <tokensmith/jose.h>
#include <tokensmith/oidc.h>

#include "harness.h"

/* ------------------------------------------------------------------------------------------ */
/* The upstream: one thread, one connection at a time, a fault per path prefix.               */

typedef enum fault {
    UP_OK,
    UP_DOWN,     /* the listener is closed: connection refused */
    UP_SLOW,     /* accepts, reads the request, never answers */
    UP_HUGE,     /* 2 MiB of JSON, no Content-Length (ends at close) */
    UP_HUGE_LEN, /* 2 MiB announced with Content-Length */
    UP_GARBAGE,  /* 200 with a body that is not JSON */
    UP_NOT_HTTP, /* bytes that are not an HTTP response */
    UP_FAULTS
} fault;

static const char *const fault_names[] = {"ok",          "down",    "slow",    "huge",
                                          "huge-length", "garbage", "not-http"};

typedef struct upstream {
    pthread_mutex_t mu;
    pthread_t th;
    unsigned port;
    int lfd;
    bool stop;
    fault fault;         /* for requests whose path starts with fault_path */
    char fault_path[64]; /* "" = every path */
    unsigned gen, seen;  /* state changes, and the last one the thread acted on */
    char *disc, *jwks;   /* bodies of the discovery document and of /jwks */
    int held[256];
    size_t nheld;
} upstream;

static void answer(int fd, unsigned status, const char *body, size_t len, bool with_length)
{
    char head[256];
    int n = snprintf(head, sizeof head,
                     "HTTP/1.1 %u X\r\nContent-Type: application/json\r\nConnection: close\r\n",
                     status);
    if (with_length)
        n += snprintf(head + n, sizeof head - (size_t)n, "Content-Length: %zu\r\n", len);
    n += snprintf(head + n, sizeof head - (size_t)n, "\r\n");
    ts_harness_send_all(fd, head, (size_t)n);
    ts_harness_send_all(fd, body, len);
}

static void serve_one(upstream *u, int fd)
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
    char path[512] = "";
    if (sscanf(req, "%*s %511s", path) != 1) {
        close(fd);
        return;
    }
    pthread_mutex_lock(&u->mu);
    fault f = strncmp(path, u->fault_path, strlen(u->fault_path)) == 0 ? u->fault : UP_OK;
    char *body = strcmp(path, "/jwks") == 0 ? strdup(u->jwks ? u->jwks : "{\"keys\":[]}")
                 : strcmp(path, "/.well-known/openid-configuration") == 0
                     ? strdup(u->disc ? u->disc : "{}")
                     : NULL;
    if (f == UP_SLOW && u->nheld < sizeof u->held / sizeof u->held[0]) {
        u->held[u->nheld++] = fd;
        fd = -1;
    }
    pthread_mutex_unlock(&u->mu);
    if (fd < 0) {
        free(body);
        return;
    }
    size_t big = 2u << 20;
    char *huge = NULL;
    switch (f) {
    case UP_HUGE:
    case UP_HUGE_LEN:
        huge = malloc(big);
        if (huge) {
            memset(huge, ' ', big);
            memcpy(huge, "{\"keys\":[", 9);
            memcpy(huge + big - 2, "]}", 2);
            answer(fd, 200, huge, big, f == UP_HUGE_LEN);
        }
        break;
    case UP_GARBAGE:
        answer(fd, 200, "<html>not json</html>", 21, true);
        break;
    case UP_NOT_HTTP:
        ts_harness_send_all(fd, "\x16\x03\x01\x02\x00garbage\r\n\r\n", 17);
        break;
    default:
        if (body)
            answer(fd, 200, body, strlen(body), true);
        else
            answer(fd, 404, "{}", 2, true);
        break;
    }
    free(huge);
    free(body);
    close(fd);
}

static void *upstream_main(void *ud)
{
    upstream *u = ud;
    for (;;) {
        pthread_mutex_lock(&u->mu);
        bool stop = u->stop;
        bool down = u->fault == UP_DOWN && u->fault_path[0] == '\0';
        if (u->seen != u->gen) { /* a new fault: release what the old one held */
            for (size_t i = 0; i < u->nheld; i++)
                close(u->held[i]);
            u->nheld = 0;
            if (down && u->lfd >= 0) {
                close(u->lfd);
                u->lfd = -1;
            } else if (!down && u->lfd < 0) {
                u->lfd = ts_harness_listen(u->port);
            }
            u->seen = u->gen;
        }
        int lfd = u->lfd;
        pthread_mutex_unlock(&u->mu);
        if (stop)
            break;
        if (lfd < 0) {
            ts_harness_sleep_ms(20);
            continue;
        }
        struct pollfd pf = {lfd, POLLIN, 0};
        if (poll(&pf, 1, 20) > 0) {
            int fd = accept(lfd, NULL, NULL);
            if (fd >= 0) {
                fcntl(fd, F_SETFD, FD_CLOEXEC);
                serve_one(u, fd);
            }
        }
    }
    return NULL;
}

static bool upstream_start(upstream *u)
{
    memset(u, 0, sizeof *u);
    pthread_mutex_init(&u->mu, NULL);
    u->lfd = ts_harness_listen(0);
    if (u->lfd < 0)
        return false;
    u->port = ts_harness_port_of(u->lfd);
    return pthread_create(&u->th, NULL, upstream_main, u) == 0;
}

/* Set the fault for paths starting with @p path ("" = all) and wait until the thread has it. */
static void upstream_set(upstream *u, fault f, const char *path)
{
    pthread_mutex_lock(&u->mu);
    u->fault = f;
    snprintf(u->fault_path, sizeof u->fault_path, "%s", path);
    unsigned g = ++u->gen;
    pthread_mutex_unlock(&u->mu);
    for (;;) {
        pthread_mutex_lock(&u->mu);
        bool done = u->seen == g;
        pthread_mutex_unlock(&u->mu);
        if (done)
            break;
        ts_harness_sleep_ms(5);
    }
}

static void upstream_stop(upstream *u)
{
    pthread_mutex_lock(&u->mu);
    u->stop = true;
    pthread_mutex_unlock(&u->mu);
    pthread_join(u->th, NULL);
    for (size_t i = 0; i < u->nheld; i++)
        close(u->held[i]);
    if (u->lfd >= 0)
        close(u->lfd);
    free(u->disc);
    free(u->jwks);
    pthread_mutex_destroy(&u->mu);
}

/* ------------------------------------------------------------------------------------------ */
/* Tokens                                                                                      */

/* An ID token for alice that expires @p exp_in seconds from now (negative: in the past). */
static char *sign_exp(const ts_jwk *k, const char *iss, const char *aud, long long exp_in,
                      const char *extra)
{
    char claims[1024];
    long long now = (long long)time(NULL);
    snprintf(claims, sizeof claims,
             "{\"iss\":\"%s\",\"sub\":\"alice\",\"aud\":\"%s\",\"iat\":%lld,\"exp\":%lld%s}", iss,
             aud, now - 120, now + exp_in, extra);
    char *t = NULL;
    if (ts_jws_sign(k, TS_JWS_ES256, "JWT", claims, strlen(claims), &t, NULL, NULL) != TS_OK)
        return NULL;
    return t;
}

static char *sign(const ts_jwk *k, const char *iss, const char *aud, const char *extra)
{
    return sign_exp(k, iss, aud, 600, extra);
}

static char *jwks_json(ts_jwk *k)
{
    ts_jwks *s = ts_jwks_new(&k, 1, NULL);
    char *j = s ? ts_jwks_to_json(s, NULL) : NULL;
    char *out = j ? strdup(j) : NULL;
    ts_free(j);
    ts_jwks_free(s);
    return out;
}

/* What each fault must produce from a fetch, and whether it takes the full timeout. */
static const ts_status fetch_status[UP_FAULTS] = {TS_OK,     TS_EIO,    TS_EIO, TS_ELIMIT,
                                                  TS_ELIMIT, TS_EPARSE, TS_EIO};

/* Elapsed time of a failed fetch: about the 5 s timeout for a silent upstream, well under it
   otherwise. @p slack widens the upper bound for a slower (wrapped) process. */
static bool bounded(fault f, double secs, double slack)
{
    if (f == UP_SLOW)
        return secs >= 4.5 && secs < 6.5 * slack;
    return secs < 3.0 * slack;
}

/* ------------------------------------------------------------------------------------------ */
/* authn: remote JWKS                                                                          */

static void authn_case(upstream *u, ts_jwk *k, ts_jwk *other)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/jwks", u->port);
    const char *urls[] = {url};
    ts_authn_keysource_options o = TS_AUTHN_KEYSOURCE_OPTIONS_INIT; /* timeout 5 s */
    o.urls = urls;
    o.n_urls = 1;
    o.refetch_cooldown_s = 1;
    ts_authn_keysource *ks = ts_authn_keysource_new(&o, NULL);
    static const char *iss[] = {"https://issuer.test"}, *aud[] = {"svc"};
    ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
    vo.issuers = iss;
    vo.n_issuers = 1;
    vo.audiences = aud;
    vo.n_audiences = 1;
    vo.keysource = ks;
    vo.disable_cache = true;
    ts_authn_verifier *v = ks ? ts_authn_verifier_new(&vo, NULL) : NULL;
    char *good = sign(k, iss[0], aud[0], ""), *unknown = sign(other, iss[0], aud[0], "");
    CHECK(v && good && unknown, "authn setup");
    if (!v || !good || !unknown)
        goto out;
    ts_error err;
    ts_error_clear(&err);
    CHECK(ts_authn_keysource_refresh(ks, &err) == TS_OK, "authn: first fetch: %s", err.msg);

    for (fault f = UP_DOWN; f < UP_FAULTS; f++) {
        upstream_set(u, f, "");
        ts_error_clear(&err);
        double t0 = ts_harness_now();
        ts_status st = ts_authn_keysource_refresh(ks, &err);
        double secs = ts_harness_now() - t0;
        CHECK(st == fetch_status[f] && strstr(err.where, "/jwks") && err.msg[0],
              "authn %s: refresh %d (want %d): %s: %s", fault_names[f], (int)st,
              (int)fetch_status[f], err.where, err.msg);
        CHECK(bounded(f, secs, 1.0), "authn %s: refresh took %.2f s", fault_names[f], secs);
        printf("authn %-11s -> %s (%.2f s)\n", fault_names[f], err.msg, secs);
        /* The last good keys keep verifying, without waiting for the upstream. */
        ts_authn_principal *p = NULL;
        t0 = ts_harness_now();
        ts_authn_reason r = ts_authn_verify(v, good, strlen(good), &p, NULL, NULL);
        secs = ts_harness_now() - t0;
        ts_authn_principal_free(p);
        CHECK(r == TS_AUTHN_OK && secs < 1.0, "authn %s: last good keys: %s (%.2f s)",
              fault_names[f], ts_authn_reason_str(r), secs);
        /* An unknown kid asks the upstream again (past the 1 s cooldown), in the background: the
           verification waits at most max_wait_ms (100 ms) for it, whatever the upstream does. */
        ts_harness_sleep_ms(1100);
        t0 = ts_harness_now();
        r = ts_authn_verify(v, unknown, strlen(unknown), &p, NULL, NULL);
        secs = ts_harness_now() - t0;
        ts_authn_principal_free(p);
        CHECK(r == TS_AUTHN_UNKNOWN_KID && secs < 1.0, "authn %s: unknown kid: %s (%.2f s)",
              fault_names[f], ts_authn_reason_str(r), secs);
    }
    upstream_set(u, UP_OK, "");
    ts_error_clear(&err);
    CHECK(ts_authn_keysource_refresh(ks, &err) == TS_OK, "authn: recovered: %s", err.msg);
out:
    ts_free(good);
    ts_free(unknown);
    ts_authn_verifier_free(v);
    ts_authn_keysource_free(ks);
}

/* ------------------------------------------------------------------------------------------ */
/* ts_oidc: discovery and the provider's JWKS                                                  */

static ts_oidc *make_rp(const char *issuer)
{
    char cfg[1024];
    snprintf(cfg, sizeof cfg,
             "{\"providers\":[{\"issuer\":\"%s\",\"client_id\":\"cid\","
             "\"jwks_refetch_cooldown_s\":1,\"audiences\":[\"smd\"]}]}",
             issuer);
    ts_error err;
    ts_error_clear(&err);
    ts_oidc_config *c = ts_oidc_config_parse(cfg, strlen(cfg), &err);
    ts_oidc *rp = c ? ts_oidc_new(c, NULL, &err) : NULL;
    ts_oidc_config_free(c);
    if (!rp)
        printf("oidc setup: %s: %s\n", err.where, err.msg);
    return rp;
}

static void oidc_case(upstream *u, const ts_jwk *k)
{
    char issuer[128];
    snprintf(issuer, sizeof issuer, "http://127.0.0.1:%u", u->port);
    ts_oidc *rp = make_rp(issuer);
    char *idt = sign(k, issuer, "cid", "");
    CHECK(rp && idt, "oidc setup");
    if (!rp || !idt)
        goto out;
    ts_error err;
    ts_error_clear(&err);
    CHECK(ts_oidc_verify_id_token(rp, idt, strlen(idt), NULL, NULL, &err) == TS_OIDC_OK,
          "oidc: first verification: %s", err.msg);

    /* Faults on the discovery document, then on the JWKS: ts_oidc_discover() reports each in
       bounded time, and ID tokens keep verifying with what was fetched before. */
    static const char *const where[] = {"/.well-known/", "/jwks"};
    for (int w = 0; w < 2; w++) {
        for (fault f = UP_DOWN; f < UP_FAULTS; f++) {
            if (f == UP_DOWN && w == 1)
                continue; /* down is the whole server: already covered */
            upstream_set(u, f, f == UP_DOWN ? "" : where[w]);
            ts_error_clear(&err);
            double t0 = ts_harness_now();
            ts_status st = ts_oidc_discover(rp, NULL, &err);
            double secs = ts_harness_now() - t0;
            /* the discovery document is capped at 256 KiB, the JWKS at 1 MiB: both ELIMIT */
            ts_status want = fetch_status[f];
            CHECK(st == want && err.msg[0], "oidc %s on %s: discover %d (want %d): %s: %s",
                  fault_names[f], where[w], (int)st, (int)want, err.where, err.msg);
            CHECK(bounded(f, secs, 1.0), "oidc %s on %s: discover took %.2f s", fault_names[f],
                  where[w], secs);
            printf("oidc %-11s on %-13s -> %s: %s (%.2f s)\n", fault_names[f], where[w], err.where,
                   err.msg, secs);
            ts_error_clear(&err);
            t0 = ts_harness_now();
            ts_oidc_reason r = ts_oidc_verify_id_token(rp, idt, strlen(idt), NULL, NULL, &err);
            secs = ts_harness_now() - t0;
            CHECK(r == TS_OIDC_OK && secs < 1.0, "oidc %s on %s: last good state: %s %s (%.2f s)",
                  fault_names[f], where[w], ts_oidc_reason_str(r), err.msg, secs);
        }
    }

    /* A relying party that never reached the provider: discovery_failed, in bounded time. */
    for (fault f = UP_DOWN; f < UP_FAULTS; f++) {
        upstream_set(u, f, "");
        ts_oidc *fresh = make_rp(issuer);
        ts_error_clear(&err);
        double t0 = ts_harness_now();
        ts_oidc_reason r = fresh
                               ? ts_oidc_verify_id_token(fresh, idt, strlen(idt), NULL, NULL, &err)
                               : TS_OIDC_INTERNAL;
        double secs = ts_harness_now() - t0;
        int http = 0;
        const char *code = ts_oidc_reason_oauth_error(r, &http);
        CHECK(r == TS_OIDC_DISCOVERY_FAILED && http == 503 && strcmp(code, "server_error") == 0,
              "oidc %s: fresh relying party: %s -> %d %s (%s)", fault_names[f],
              ts_oidc_reason_str(r), http, code, err.msg);
        CHECK(bounded(f, secs, 1.0), "oidc %s: fresh relying party took %.2f s", fault_names[f],
              secs);
        ts_oidc_free(fresh);
    }
    upstream_set(u, UP_OK, "");
out:
    ts_free(idt);
    ts_oidc_free(rp);
}

/* ------------------------------------------------------------------------------------------ */
/* tokensmith serve: the ID-token exchange                                                     */

typedef ts_harness_reply reply;

static reply exchange(unsigned port, const char *idt)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%u/oauth/token", port);
    char *tok = curl_easy_escape(NULL, idt, 0);
    size_t cap = strlen(tok) + 512;
    char *form = malloc(cap);
    snprintf(form, cap,
             "grant_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Agrant-type%%3Atoken-exchange&"
             "subject_token_type=urn%%3Aietf%%3Aparams%%3Aoauth%%3Atoken-type%%3Aid_token&"
             "subject_token=%s",
             tok);
    reply r;
    ts_harness_http(&(ts_harness_req){.url = url, .body = form, .timeout_s = 60}, &r);
    curl_free(tok);
    free(form);
    return r;
}

/* Lines of @p log after byte @p from that hold both @p a and @p b. */
static int log_has(const char *log, long from, const char *a, const char *b)
{
    FILE *f = fopen(log, "r");
    char line[16384];
    int n = 0;
    if (!f)
        return 0;
    fseek(f, from, SEEK_SET);
    while (fgets(line, sizeof line, f))
        n += strstr(line, a) && strstr(line, b);
    fclose(f);
    return n;
}

static long log_size(const char *log)
{
    FILE *f = fopen(log, "r");
    if (!f)
        return 0;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fclose(f);
    return n;
}

static void service_case(upstream *u, const ts_jwk *k, const ts_jwk *other, const char *ts,
                         const char *dir)
{
    double slack = ts_harness_wrapped() ? 3.0 : 1.0;
    char issuer[128], cfg[4200], home[4200], log[4200], json[2048];
    snprintf(issuer, sizeof issuer, "http://127.0.0.1:%u", u->port);
    snprintf(cfg, sizeof cfg, "%s/cfg.json", dir);
    snprintf(home, sizeof home, "%s/home", dir);
    snprintf(log, sizeof log, "%s/tokensmith.log", dir);
    snprintf(json, sizeof json,
             "{\"issuer\": \"https://tokensmith.test\", \"algorithm\": \"ES256\",\n"
             " \"oidc\": {\"providers\": [{\"issuer\": \"%s\", \"client_id\": \"cid\",\n"
             "   \"group_scopes\": {\"viewers\": [\"read\"]}, \"audiences\": [\"smd\"],\n"
             "   \"jwks_refetch_cooldown_s\": 1}]}}\n",
             issuer);
    FILE *cf = fopen(cfg, "w");
    if (!cf || fputs(json, cf) < 0 || fclose(cf) != 0) {
        CHECK(false, "write %s", cfg);
        return;
    }
    char *idt = sign(k, issuer, "cid", ",\"groups\":[\"viewers\"]");
    char *unknown = sign(other, issuer, "cid", ",\"groups\":[\"viewers\"]");

    /* The provider is silent from the start: the first exchange waits for the 5 s timeout and
       answers 503 server_error; the log line names the reason. */
    upstream_set(u, UP_SLOW, "");
    const char *args[] = {ts,  "serve",  "--listen", "127.0.0.1:0", "--config",
                          cfg, "--home", home,       NULL};
    pid_t pid = ts_harness_spawn(args, log, NULL, true);
    unsigned port = pid > 0 ? ts_harness_await_port(pid, NULL, log, ts_harness_start_timeout()) : 0;
    CHECK(port > 0, "tokensmith started (log %s)", log);
    if (!port)
        goto out;
    reply r = exchange(port, idt);
    CHECK(r.status == 503 && strstr(r.body, "\"error\":\"server_error\"") &&
              bounded(UP_SLOW, r.secs, slack),
          "serve, provider silent: %ld %s (%.2f s)", r.status, r.body, r.secs);
    CHECK(log_has(log, 0, "\"reason\":\"discovery_failed\"", "Timeout") >= 1,
          "serve: log line names discovery_failed and the timeout");
    printf("serve slow -> %ld (%.2f s)\n", r.status, r.secs);

    /* Up: the exchange works; later faults keep the last good document and keys. */
    upstream_set(u, UP_OK, "");
    ts_harness_sleep_ms(1100); /* past the 1 s retry cooldown */
    r = exchange(port, idt);
    CHECK(r.status == 200 && strstr(r.body, "\"access_token\""), "serve, provider up: %ld %s",
          r.status, r.body);

    /* An ID token still inside the clock leeway after its exp, or with less than 10 s left, is
       refused: no issued token may be born expired (exp < nbf) or too short to use. One with
       100 s left gives a token that lives exactly as long as the upstream one. */
    long long offsets[] = {-31, 5};
    for (size_t i = 0; i < 2; i++) {
        char *t = sign_exp(k, issuer, "cid", offsets[i], ",\"groups\":[\"viewers\"]");
        r = exchange(port, t);
        CHECK(r.status == 400 && strstr(r.body, "\"error\":\"invalid_request\"") &&
                  strstr(r.body, "expires too soon") && !strstr(r.body, "access_token"),
              "serve: ID token with exp now%+lld: %ld %s", offsets[i], r.status, r.body);
        ts_free(t);
    }
    char *brief = sign_exp(k, issuer, "cid", 100, ",\"groups\":[\"viewers\"]");
    r = exchange(port, brief);
    const char *ei = strstr(r.body, "\"expires_in\":");
    long expires_in = ei ? strtol(ei + 13, NULL, 10) : -1;
    CHECK(r.status == 200 && expires_in >= 95 && expires_in <= 100,
          "serve: ID token with 100 s left: %ld, expires_in %ld", r.status, expires_in);
    ts_free(brief);
    for (fault f = UP_DOWN; f < UP_FAULTS; f++) {
        upstream_set(u, f, f == UP_DOWN ? "" : "/jwks");
        ts_harness_sleep_ms(1100); /* past the unknown-kid cooldown */
        long mark = log_size(log);
        /* an unknown kid makes the service ask the JWKS again, in the background: the exchange
           is refused after at most the key source's 100 ms wait, whatever the upstream does... */
        r = exchange(port, unknown);
        CHECK(r.status == 400 && strstr(r.body, "\"error\":\"invalid_request\"") &&
                  r.secs < 1.0 * slack,
              "serve %s: unknown kid: %ld %s (%.2f s)", fault_names[f], r.status, r.body, r.secs);
        CHECK(log_has(log, mark, "\"reason\":\"unknown_kid\"", "\"status\":400") == 1,
              "serve %s: log line with reason unknown_kid", fault_names[f]);
        /* ...while tokens of the last good keys are still exchanged at once. */
        r = exchange(port, idt);
        CHECK(r.status == 200 && r.secs < 2.0 * slack, "serve %s: last good keys: %ld %s (%.2f s)",
              fault_names[f], r.status, r.body, r.secs);
        printf("serve %-11s -> unknown kid refused, known kid 200\n", fault_names[f]);
    }
    upstream_set(u, UP_OK, "");
    int st = ts_harness_stop(pid);
    CHECK(st == 0, "tokensmith stopped cleanly (status %d)", st);
out:
    ts_free(idt);
    ts_free(unknown);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: upstream_test TOKENSMITH\n");
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    char dir[] = "/tmp/upstream-test-XXXXXX";
    if (!mkdtemp(dir))
        return 1;
    upstream u;
    if (!upstream_start(&u)) {
        fprintf(stderr, "cannot listen on loopback\n");
        return 1;
    }
    ts_jwk *k = ts_jwk_generate(TS_JWS_ES256, NULL), *other = ts_jwk_generate(TS_JWS_ES256, NULL);
    char disc[512];
    snprintf(disc, sizeof disc,
             "{\"issuer\":\"http://127.0.0.1:%u\",\"jwks_uri\":\"http://127.0.0.1:%u/jwks\","
             "\"id_token_signing_alg_values_supported\":[\"ES256\"]}",
             u.port, u.port);
    pthread_mutex_lock(&u.mu);
    u.disc = strdup(disc);
    u.jwks = jwks_json(k);
    pthread_mutex_unlock(&u.mu);

    authn_case(&u, k, other);
    oidc_case(&u, k);
    service_case(&u, k, other, argv[1], dir);

    upstream_stop(&u);
    ts_jwk_free(k);
    ts_jwk_free(other);
    if (ts_harness_failed == 0) {
        if (ts_harness_rm_rf(dir) != 0)
            printf("could not remove %s\n", dir);
    } else {
        printf("files kept in %s\n", dir);
    }
    return ts_harness_summary();
}
