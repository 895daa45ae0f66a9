/* The client's requests and its handling of answers, against a scripted loopback token
 * endpoint that records each request and answers what the test says: the form of every grant
 * and client authentication, chaining one client's token into another's exchange, lifetimes
 * without expires_in, the answers a broken or hostile server gives (5xx, garbage, huge bodies,
 * wrong content types, redirects, 429 with Retry-After), the backoff's bounds under a moved
 * clock, and what happens to a refresh token whose answer is lost, refused or never sent. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "client_internal.h"

/* ---- the scripted token endpoint ------------------------------------------------------------ */

typedef struct script {
    int fd;
    int port;
    pthread_t thread;
    pthread_mutex_t mu;
    char reply[256 * 1024];
    size_t reply_len;
    bool silent; /* read the request, never answer */
    char request[16384];
    atomic_int requests;
} script;

static script srv = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *serve(void *ud)
{
    script *s = ud;
    for (;;) {
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[16384];
        size_t n = 0;
        for (;;) {
            ssize_t r = read(c, req + n, sizeof req - 1 - n);
            if (r <= 0)
                break;
            n += (size_t)r;
            req[n] = '\0';
            const char *end = strstr(req, "\r\n\r\n");
            if (!end)
                continue;
            const char *cl = strstr(req, "Content-Length: ");
            size_t want = cl ? (size_t)strtoul(cl + 16, NULL, 10) : 0;
            if (n >= (size_t)(end + 4 - req) + want)
                break;
        }
        pthread_mutex_lock(&s->mu);
        memcpy(s->request, req, n + 1);
        bool silent = s->silent;
        char *reply = malloc(s->reply_len);
        size_t len = s->reply_len;
        if (reply)
            memcpy(reply, s->reply, len);
        pthread_mutex_unlock(&s->mu);
        atomic_fetch_add(&s->requests, 1);
        if (silent) {
            char sink[64];
            while (read(c, sink, sizeof sink) > 0)
                ;
        } else if (reply) {
            size_t off = 0;
            while (off < len) {
                ssize_t w = send(c, reply + off, len - off, MSG_NOSIGNAL);
                if (w <= 0)
                    break;
                off += (size_t)w;
            }
        }
        free(reply);
        close(c);
    }
}

/* Answer @p status with @p body and @p headers (extra header lines, each ending in \r\n). */
static void answer(int status, const char *ctype, const char *headers, const char *body)
{
    pthread_mutex_lock(&srv.mu);
    srv.silent = false;
    int n = snprintf(srv.reply, sizeof srv.reply,
                     "HTTP/1.1 %d X\r\n%s%s%s%sContent-Length: %zu\r\nConnection: close\r\n\r\n%s",
                     status, ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     headers ? headers : "", strlen(body), body);
    srv.reply_len = (size_t)n;
    pthread_mutex_unlock(&srv.mu);
}

static void answer_token(const char *json)
{
    answer(200, "application/json", NULL, json);
}

static void go_silent(void)
{
    pthread_mutex_lock(&srv.mu);
    srv.silent = true;
    pthread_mutex_unlock(&srv.mu);
}

static void last_request(char *out, size_t cap)
{
    pthread_mutex_lock(&srv.mu);
    snprintf(out, cap, "%s", srv.request);
    pthread_mutex_unlock(&srv.mu);
}

static const char *body_of(const char *req)
{
    const char *b = strstr(req, "\r\n\r\n");
    return b ? b + 4 : "";
}

static char endpoint[64];

static int setup(void **state)
{
    (void)state;
    srv.fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t al = sizeof a;
    if (srv.fd < 0 || bind(srv.fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        listen(srv.fd, 16) != 0 || getsockname(srv.fd, (struct sockaddr *)&a, &al) != 0)
        return -1;
    srv.port = ntohs(a.sin_port);
    snprintf(endpoint, sizeof endpoint, "http://127.0.0.1:%d/token", srv.port);
    return pthread_create(&srv.thread, NULL, serve, &srv);
}

static int teardown(void **state)
{
    (void)state;
    shutdown(srv.fd, SHUT_RDWR);
    close(srv.fd);
    pthread_join(srv.thread, NULL);
    return 0;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static _Atomic int64_t now_ms = 1000000;
static int64_t test_clock(void *ud)
{
    (void)ud;
    return atomic_load(&now_ms);
}

static ts_client_options cc_options(ts_client_auth auth)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = endpoint;
    o.grant = TS_CLIENT_GRANT_CLIENT_CREDENTIALS;
    o.auth = auth;
    o.client_id = "svc:a b";
    o.client_secret = auth == TS_CLIENT_AUTH_NONE ? NULL : "p@ss/w+rd=";
    o.clock_ms = test_clock;
    o.timeout_ms = 2000;
    o.connect_timeout_ms = 1000;
    return o;
}

static ts_client *make(const ts_client_options *o)
{
    ts_error err;
    ts_error_clear(&err);
    ts_client *c = ts_client_new(o, &err);
    if (!c)
        fail_msg("ts_client_new: %s: %s", err.where, err.msg);
    return c;
}

static ts_status get(ts_client *c, char *tok, size_t cap, ts_client_token_info *info, ts_error *err)
{
    ts_error_clear(err);
    return ts_client_token_get(c, tok, cap, info, err);
}

#define TOKEN_OK "{\"access_token\":\"at-1\",\"token_type\":\"Bearer\",\"expires_in\":3600}"

/* ---- requests ------------------------------------------------------------------------------- */

static void test_client_credentials_forms(void **state)
{
    (void)state;
    char req[16384], tok[256];
    ts_client_token_info info;
    ts_error err;
    const char *aud[] = {"smd"};
    const char *res[] = {"https://api.example/v1"};
    ts_client_param extra[] = {{"tenant", "a&b=c"}};

    /* client_secret_basic: id and secret form-urlencoded, then joined, then base64. */
    ts_client_options o = cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    o.scope = "read write";
    o.audiences = aud;
    o.n_audiences = 1;
    o.resources = res;
    o.n_resources = 1;
    o.params = extra;
    o.n_params = 1;
    ts_client *c = make(&o);
    answer_token(TOKEN_OK);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_string_equal(tok, "at-1");
    last_request(req, sizeof req);
    assert_non_null(strstr(req, "POST /token HTTP/1.1\r\n"));
    assert_non_null(strstr(req, "\r\nContent-Type: application/x-www-form-urlencoded\r\n"));
    assert_non_null(strstr(req, "\r\nAccept: application/json\r\n"));
    assert_non_null(strstr(req, "\r\nUser-Agent: tokensmith-client/"));
    /* base64("svc%3Aa+b:p%40ss%2Fw%2Brd%3D") */
    assert_non_null(
        strstr(req, "\r\nAuthorization: Basic c3ZjJTNBYStiOnAlNDBzcyUyRnclMkJyZCUzRA==\r\n"));
    assert_string_equal(body_of(req),
                        "grant_type=client_credentials&audience=smd&resource=https%3A%2F%2F"
                        "api.example%2Fv1&scope=read+write&tenant=a%26b%3Dc");
    ts_client_free(c);

    /* client_secret_post: in the body, no Authorization header. */
    o = cc_options(TS_CLIENT_AUTH_SECRET_POST);
    c = make(&o);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    last_request(req, sizeof req);
    assert_null(strstr(req, "Authorization:"));
    assert_string_equal(body_of(req), "grant_type=client_credentials&client_id=svc%3Aa+b&"
                                      "client_secret=p%40ss%2Fw%2Brd%3D");
    ts_client_free(c);

    /* none: a public client names itself. */
    o = cc_options(TS_CLIENT_AUTH_NONE);
    c = make(&o);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    last_request(req, sizeof req);
    assert_null(strstr(req, "Authorization:"));
    assert_string_equal(body_of(req), "grant_type=client_credentials&client_id=svc%3Aa+b");
    ts_client_free(c);
}

typedef struct hooked {
    unsigned calls;
    ts_client_event event;
    char token[64];
    char scope[64];
    char issued[128];
} hooked;

static void on_rotation(const ts_client_rotation *r, void *ud)
{
    hooked *h = ud;
    h->calls++;
    h->event = r->event;
    snprintf(h->token, sizeof h->token, "%s", r->access_token);
    snprintf(h->scope, sizeof h->scope, "%s", r->scope);
    snprintf(h->issued, sizeof h->issued, "%s", r->issued_token_type);
}

/* An exchange whose subject token is another client's token of the moment (the agent's chained
 * sources), with an actor token and every RFC 8693 parameter. */
static void test_token_exchange_chained(void **state)
{
    (void)state;
    char req[16384], tok[256];
    ts_client_token_info info;
    ts_error err;
    ts_client_options a = cc_options(TS_CLIENT_AUTH_SECRET_POST);
    ts_client *first = make(&a);
    answer_token("{\"access_token\":\"subject-1\",\"token_type\":\"Bearer\",\"expires_in\":600}");
    assert_int_equal(get(first, tok, sizeof tok, &info, &err), TS_OK);

    const char *aud[] = {"svc-a", "svc-b"};
    hooked h = {0};
    ts_client_options x = TS_CLIENT_OPTIONS_INIT;
    x.token_endpoint = endpoint;
    x.grant = TS_CLIENT_GRANT_TOKEN_EXCHANGE;
    x.subject_token_fn = ts_client_token_fn_client;
    x.subject_token_ud = first;
    x.subject_token_type = TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN;
    x.actor_token = "actor-1";
    x.actor_token_type = TS_CLIENT_TOKEN_TYPE_JWT;
    x.requested_token_type = TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN;
    x.audiences = aud;
    x.n_audiences = 2;
    x.scope = "crm:read";
    x.clock_ms = test_clock;
    x.on_rotation = on_rotation;
    x.rotation_ud = &h;
    ts_client *second = make(&x);
    answer_token("{\"access_token\":\"exchanged-1\",\"token_type\":\"N_A\",\"expires_in\":300,"
                 "\"scope\":\"crm:read\",\"issued_token_type\":"
                 "\"urn:ietf:params:oauth:token-type:access_token\",\"refresh_token\":\"r\"}");
    assert_int_equal(get(second, tok, sizeof tok, &info, &err), TS_OK);
    assert_string_equal(tok, "exchanged-1");
    assert_string_equal(info.token_type, "N_A");
    last_request(req, sizeof req);
    assert_string_equal(body_of(req),
                        "grant_type=urn%3Aietf%3Aparams%3Aoauth%3Agrant-type%3Atoken-exchange&"
                        "subject_token=subject-1&subject_token_type=urn%3Aietf%3Aparams%3Aoauth"
                        "%3Atoken-type%3Aaccess_token&actor_token=actor-1&actor_token_type=urn%3A"
                        "ietf%3Aparams%3Aoauth%3Atoken-type%3Ajwt&requested_token_type=urn%3Aietf"
                        "%3Aparams%3Aoauth%3Atoken-type%3Aaccess_token&audience=svc-a&audience="
                        "svc-b&scope=crm%3Aread");
    assert_int_equal(h.calls, 1);
    assert_int_equal(h.event, TS_CLIENT_EVENT_GRANT);
    assert_string_equal(h.token, "exchanged-1");
    assert_string_equal(h.scope, "crm:read");
    assert_string_equal(h.issued, TS_CLIENT_TOKEN_TYPE_ACCESS_TOKEN);

    /* The first token rotates; the next exchange carries the new one. */
    answer_token("{\"access_token\":\"subject-2\",\"token_type\":\"Bearer\",\"expires_in\":600}");
    assert_true(ts_client_invalidate(first, 0));
    assert_int_equal(get(first, tok, sizeof tok, &info, &err), TS_OK);
    answer_token(TOKEN_OK);
    assert_true(ts_client_invalidate(second, 0));
    assert_int_equal(get(second, tok, sizeof tok, &info, &err), TS_OK);
    last_request(req, sizeof req);
    assert_non_null(strstr(body_of(req), "&subject_token=subject-2&"));
    ts_client_free(second);
    ts_client_free(first);
}

/* Lifetimes: expires_in; else a JWT's exp; else default_lifetime_s. The token is handed out
 * until min_valid_s before its end, then renewed. */
static void test_lifetimes(void **state)
{
    (void)state;
    char tok[256];
    ts_client_token_info info;
    ts_error err;
    ts_client_options o = cc_options(TS_CLIENT_AUTH_SECRET_POST);
    o.default_lifetime_s = 100;
    o.refresh_at_pct = 99; /* no renewal ahead: only the end of the window renews */
    o.refresh_jitter_pct = 0;
    ts_client *c = make(&o);
    int before = atomic_load(&srv.requests);
    answer_token("{\"access_token\":\"opaque\",\"token_type\":\"Bearer\"}");
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_true(info.expires_at >= (int64_t)time(NULL) + 99);
    atomic_fetch_add(&now_ms, 69000); /* 69 s: still handed out (100 - 30) */
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(atomic_load(&srv.requests), before + 1);
    atomic_fetch_add(&now_ms, 2000); /* 71 s: renewed */
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_int_equal(atomic_load(&srv.requests), before + 2);
    ts_client_free(c);

    /* A JWT whose exp is an hour away, no expires_in. */
    char jwt[512], payload[64], b64[128];
    snprintf(payload, sizeof payload, "{\"exp\":%lld}", (long long)time(NULL) + 3600);
    ts_client__buf b = {0};
    ts_client__base64(&b, (const unsigned char *)payload, strlen(payload));
    snprintf(b64, sizeof b64, "%s", b.p);
    ts_client__buf_wipe(&b);
    for (char *p = b64; *p; p++)
        *p = *p == '+' ? '-' : *p == '/' ? '_' : *p == '=' ? '\0' : *p;
    snprintf(jwt, sizeof jwt,
             "{\"access_token\":\"eyJhbGciOiJub25lIn0.%s.c2ln\",\"token_type\":\"Bearer\"}", b64);
    c = make(&o);
    answer_token(jwt);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    assert_true(info.expires_at >= (int64_t)time(NULL) + 3590);
    ts_client_free(c);
}

/* ---- failures ------------------------------------------------------------------------------- */

static void expect_failure(ts_client *c, ts_status want, long http, const char *error,
                           const char *msg)
{
    char tok[256];
    ts_client_token_info info;
    ts_error err;
    ts_client_flush(c); /* past any backoff */
    ts_status st = get(c, tok, sizeof tok, &info, &err);
    if (st != want)
        fail_msg("%s, want %s: %s", ts_status_str(st), ts_status_str(want), err.msg);
    assert_int_equal(info.oauth.http_status, http);
    assert_string_equal(info.oauth.error, error);
    if (!strstr(err.msg, msg))
        fail_msg("'%s' does not say '%s'", err.msg, msg);
    if (http)
        assert_string_equal(err.where, endpoint);
}

static void test_bad_answers(void **state)
{
    (void)state;
    ts_client_options o = cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    ts_client *c = make(&o);
    answer(401, "application/json", "WWW-Authenticate: Basic realm=\"x\"\r\n",
           "{\"error\":\"invalid_client\",\"error_description\":\"client authentication failed\"}");
    expect_failure(c, TS_EINVAL, 401, "invalid_client",
                   "HTTP 401 invalid_client: client "
                   "authentication failed");
    answer(500, "text/html", NULL, "<h1>oops</h1>");
    expect_failure(c, TS_EIO, 500, "", "HTTP 500 without an OAuth error (Content-Type text/html)");
    answer(200, "application/json", NULL, "{\"access_token\":");
    expect_failure(c, TS_EPARSE, 200, "", "not a JSON object");
    answer(200, "text/plain", NULL, TOKEN_OK);
    expect_failure(c, TS_EPARSE, 200, "", "Content-Type text/plain");
    answer(302, NULL, "Location: https://evil.example/token\r\n", "");
    expect_failure(c, TS_EIO, 302, "", "HTTP 302");
    /* Larger than max_response_bytes: refused while it arrives. */
    static char huge[200 * 1024];
    memset(huge, ' ', sizeof huge - 1);
    huge[sizeof huge - 1] = '\0';
    huge[0] = '{';
    huge[sizeof huge - 2] = '}';
    answer(200, "application/json", NULL, huge);
    expect_failure(c, TS_ELIMIT, 200, "", "token response larger than 65536 bytes");
    answer(200, "application/json", NULL,
           "{\"access_token\":\"a\",\"token_type\":\"Bearer\","
           "\"expires_in\":0}");
    expect_failure(c, TS_EPARSE, 200, "", "already expired");
    ts_client_free(c);
    /* Nobody listening. */
    ts_client_options d = cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    d.token_endpoint = "http://127.0.0.1:1/token";
    c = make(&d);
    expect_failure(c, TS_EIO, 0, "", "token request failed");
    ts_client_free(c);
}

/* Backoff under a moved clock: after the n-th failure in a row, no request before a delay drawn
 * from 0..min(max, initial * 2^(n-1)); a call meanwhile fails at once with the same failure;
 * Retry-After is a floor. */
static void test_backoff(void **state)
{
    (void)state;
    ts_client_options o = cc_options(TS_CLIENT_AUTH_SECRET_BASIC);
    o.backoff_initial_ms = 1000;
    o.backoff_max_ms = 8000;
    ts_client *c = make(&o);
    answer(503, "application/json", NULL, "{\"error\":\"temporarily_unavailable\"}");
    char tok[256];
    ts_client_token_info info;
    ts_error err;
    const int64_t ceiling[] = {0, 1000, 2000, 4000, 8000, 8000, 8000};
    for (unsigned n = 1; n <= 6; n++) {
        int before = atomic_load(&srv.requests);
        assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EIO);
        assert_int_equal(atomic_load(&srv.requests), before + 1);
        ts_client_stats st;
        ts_client_stats_get(c, &st);
        assert_int_equal(st.consecutive_failures, n);
        assert_true(st.next_attempt_in_ms >= 0 && st.next_attempt_in_ms <= ceiling[n]);
        if (st.next_attempt_in_ms > 0) {
            /* Within the backoff: the same failure, no request. */
            assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EIO);
            assert_non_null(strstr(err.msg, "next attempt in"));
            assert_int_equal(info.oauth.http_status, 503);
            assert_int_equal(atomic_load(&srv.requests), before + 1);
        }
        atomic_fetch_add(&now_ms, st.next_attempt_in_ms);
    }
    /* Retry-After: 120 s, far above the 8 s cap. */
    answer(429, "application/json", "Retry-After: 120\r\n", "{\"error\":\"too_many_requests\"}");
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_ELIMIT);
    assert_int_equal(info.oauth.retry_after_s, 120);
    ts_client_stats st;
    ts_client_stats_get(c, &st);
    assert_true(st.next_attempt_in_ms >= 120000);
    /* Success resets it. */
    answer_token(TOKEN_OK);
    atomic_fetch_add(&now_ms, 120000);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    ts_client_stats_get(c, &st);
    assert_int_equal(st.consecutive_failures, 0);
    assert_int_equal(st.next_attempt_in_ms, 0);
    assert_int_equal(st.failures, 7);
    assert_int_equal(st.tokens, 1);
    ts_client_free(c);
}

/* ---- a refresh token's fate ----------------------------------------------------------------- */

static char dir[64];

static ts_client_options refresh_options(const char *path)
{
    ts_client_options o = TS_CLIENT_OPTIONS_INIT;
    o.token_endpoint = endpoint;
    o.grant = TS_CLIENT_GRANT_REFRESH_TOKEN;
    o.refresh_token = "rt-initial";
    o.state_file = path;
    o.clock_ms = test_clock;
    o.timeout_ms = 500;
    o.connect_timeout_ms = 500;
    return o;
}

static void read_file(const char *path, char *out, size_t cap)
{
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

static void test_refresh_token_fates(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ts-client-exchange-XXXXXX");
    assert_non_null(mkdtemp(dir));
    char path[128], file[4096], req[16384], tok[256];
    ts_client_token_info info;
    ts_error err;
    snprintf(path, sizeof path, "%s/family.json", dir);
    ts_client_options o = refresh_options(path);
    ts_client *c = make(&o);

    /* The configured token, rotated by the server: the successor is in the file. */
    answer_token("{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"expires_in\":600,"
                 "\"refresh_token\":\"rt-2\",\"refresh_expires_in\":86400}");
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    last_request(req, sizeof req);
    assert_string_equal(body_of(req), "grant_type=refresh_token&refresh_token=rt-initial");
    read_file(path, file, sizeof file);
    assert_non_null(strstr(file, "\"refresh_token\":\"rt-2\""));
    assert_non_null(strstr(file, "\"refresh_expires_at\":"));

    /* A server that does not rotate: the same token stays. */
    answer_token("{\"access_token\":\"at\",\"token_type\":\"Bearer\",\"expires_in\":600}");
    ts_client_invalidate(c, 0);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_OK);
    last_request(req, sizeof req);
    assert_string_equal(body_of(req), "grant_type=refresh_token&refresh_token=rt-2");
    read_file(path, file, sizeof file);
    assert_non_null(strstr(file, "\"refresh_token\":\"rt-2\""));

    /* 503: the server did not act; the token goes back into the file. */
    answer(503, "application/json", NULL, "{\"error\":\"temporarily_unavailable\"}");
    ts_client_invalidate(c, 0);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EIO);
    read_file(path, file, sizeof file);
    assert_non_null(strstr(file, "\"refresh_token\":\"rt-2\""));
    assert_null(strstr(file, "lost_refresh_token_prefix"));

    /* The answer lost after the request left (a timeout): never presented again. */
    go_silent();
    ts_client_flush(c);
    int before = atomic_load(&srv.requests);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EIO);
    assert_int_equal(atomic_load(&srv.requests), before + 1);
    read_file(path, file, sizeof file);
    assert_null(strstr(file, "\"refresh_token\""));
    char prefix[9];
    ts_client__hash_prefix("rt-2", 4, prefix);
    char want[64];
    snprintf(want, sizeof want, "\"lost_refresh_token_prefix\":\"%s\"", prefix);
    assert_non_null(strstr(file, want));
    answer_token(TOKEN_OK);
    ts_client_flush(c);
    before = atomic_load(&srv.requests);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_non_null(strstr(err.msg, "was presented before"));
    assert_int_equal(atomic_load(&srv.requests), before); /* nothing sent */
    ts_client_free(c);
    /* A restart says so too, and sends nothing. */
    c = make(&o);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_int_equal(atomic_load(&srv.requests), before);
    ts_client_free(c);

    /* A server that quotes the refused token in its error text: blanked out, whole or cut. */
    snprintf(path, sizeof path, "%s/family-echo.json", dir);
    o = refresh_options(path);
    o.refresh_token = "rt-0123456789abcdef";
    c = make(&o);
    answer(400, "application/json", NULL,
           "{\"error\":\"invalid_grant\",\"error_description\":\"refresh token "
           "rt-0123456789abcdef is unknown; you sent rt-0123456789abcdef\"}");
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_null(strstr(info.oauth.error_description, "rt-0123456789"));
    assert_null(strstr(err.msg, "rt-0123456789"));
    assert_string_equal(info.oauth.error_description,
                        "refresh token ******************* is unknown; you sent "
                        "*******************");
    /* Quoted where the message is cut to fit: the cut copy goes too. */
    char body[512], pad[200];
    memset(pad, 'x', 185);
    pad[185] = '\0';
    snprintf(body, sizeof body,
             "{\"error\":\"invalid_grant\",\"error_description\":\"%s rt-0123456789abcdef\"}", pad);
    answer(400, "application/json", NULL, body);
    ts_client_free(c);
    snprintf(path, sizeof path, "%s/family-echo2.json", dir);
    o = refresh_options(path);
    o.refresh_token = "rt-0123456789abcdef";
    c = make(&o);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_int_equal(strlen(err.msg), sizeof err.msg - 1); /* it was cut */
    assert_null(strstr(err.msg, "rt-01234"));
    ts_client_free(c);

    /* A fresh family; invalid_grant ends it. */
    snprintf(path, sizeof path, "%s/family2.json", dir);
    o = refresh_options(path);
    c = make(&o);
    answer(400, "application/json", NULL,
           "{\"error\":\"invalid_grant\",\"error_description\":\"refresh token expired\"}");
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EINVAL);
    assert_string_equal(info.oauth.error, "invalid_grant");
    read_file(path, file, sizeof file);
    assert_null(strstr(file, "\"refresh_token\""));
    assert_null(strstr(file, "lost_refresh_token_prefix"));
    ts_client_free(c);

    /* Nobody listening: the request never left, the token is still unused. */
    snprintf(path, sizeof path, "%s/family3.json", dir);
    o = refresh_options(path);
    o.token_endpoint = "http://127.0.0.1:1/token";
    c = make(&o);
    assert_int_equal(get(c, tok, sizeof tok, &info, &err), TS_EIO);
    read_file(path, file, sizeof file);
    assert_null(strstr(file, "initial_sha256")); /* still unused */
    ts_client_free(c);

    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf %s", dir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_client_credentials_forms),
        cmocka_unit_test(test_token_exchange_chained),
        cmocka_unit_test(test_lifetimes),
        cmocka_unit_test(test_bad_answers),
        cmocka_unit_test(test_backoff),
        cmocka_unit_test(test_refresh_token_fates),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
