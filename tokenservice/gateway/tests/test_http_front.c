/* gateway.test_http_front: the HTTP check listener (http_front.c) on loopback, driven with
 * libcurl, deciding with a fake checker that records the input it got and answers a scripted
 * verdict. The Envoy HTTP conformance table (docs/gateway.md; no Envoy binary is installable
 * here, so this table is the evidence): the check path is prefix + the client's path with its
 * query, the method as received (HEAD, OPTIONS, POST with a body), Host as sent; allow is
 * exactly 200 with an empty body and the verdict's headers; a denial carries its status,
 * WWW-Authenticate and body; "cannot decide" is 503 with Retry-After; outside the prefix is 404;
 * never a 202 or 204. Then nginx's convention (X-Original-URI / X-Original-Method) and the
 * listener's own bounds (header count and bytes, body size). */
#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <cmocka.h>
#include <curl/curl.h>

#include "gateway_config.h"
#include "gw_internal.h"
#include "http_front.h"

/* ---------------------------------------------------------------------------------------- */
/* The fake checker                                                                          */

#define REC_HEADERS 160

typedef struct script {
    ts_gateway__decision decision;
    unsigned status;
    const char *headers[4][2];
    const char *remove[4];
    const char *body;
    /* Write decision and status straight into the verdict, past verdict_decide(): a checker
     * fault the front must not relay (a 204 "deny", a body on an allow). */
    bool raw;
} script;

typedef struct fake {
    pthread_mutex_t mu;
    int calls;
    script s;
    ts_gateway__front front;
    char method[64], host[256], path[8192];
    size_t n_headers;
    char hname[REC_HEADERS][64];
    char hvalue[REC_HEADERS][256];
} fake;

static fake g_fake = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void copy_str(char *dst, size_t cap, ts_gateway__str s)
{
    assert_non_null(s.ptr);
    assert_int_equal(s.ptr[s.len], '\0'); /* the contract: NUL-terminated, never NULL */
    assert_int_equal(strlen(s.ptr), s.len);
    snprintf(dst, cap, "%s", s.ptr);
}

static void fake_check(const ts_gateway__input *in, ts_gateway__verdict *out, void *ud)
{
    fake *f = ud;
    pthread_mutex_lock(&f->mu);
    f->calls++;
    f->front = in->front;
    copy_str(f->method, sizeof f->method, in->method);
    copy_str(f->host, sizeof f->host, in->host);
    copy_str(f->path, sizeof f->path, in->path);
    f->n_headers = in->n_headers;
    for (size_t i = 0; i < in->n_headers && i < REC_HEADERS; i++) {
        copy_str(f->hname[i], sizeof f->hname[i], in->headers[i].name);
        copy_str(f->hvalue[i], sizeof f->hvalue[i], in->headers[i].value);
    }
    const script *s = &f->s;
    for (size_t i = 0; i < 4 && s->headers[i][0]; i++)
        assert_int_equal(ts_gateway__verdict_add_header(out, s->headers[i][0],
                                                        strlen(s->headers[i][0]), s->headers[i][1],
                                                        strlen(s->headers[i][1]), NULL),
                         TS_OK);
    for (size_t i = 0; i < 4 && s->remove[i]; i++)
        assert_int_equal(
            ts_gateway__verdict_add_remove(out, s->remove[i], strlen(s->remove[i]), NULL), TS_OK);
    if (s->body)
        assert_int_equal(ts_gateway__verdict_set_body(out, s->body, strlen(s->body), NULL), TS_OK);
    if (s->raw) {
        out->decision = s->decision;
        out->http_status = s->status;
    } else {
        ts_gateway__verdict_decide(out, s->decision, s->status, "scripted");
    }
    pthread_mutex_unlock(&f->mu);
}

/* The recorded value of header @p name (the first one), or NULL; @p n counts them. */
static const char *recorded(const char *name, int *n)
{
    const char *v = NULL;
    int count = 0;
    for (size_t i = 0; i < g_fake.n_headers && i < REC_HEADERS; i++)
        if (strcasecmp(g_fake.hname[i], name) == 0 && count++ == 0)
            v = g_fake.hvalue[i];
    if (n)
        *n = count;
    return v;
}

/* ---------------------------------------------------------------------------------------- */
/* The front under test and a libcurl client                                                 */

static ts_gateway_config g_cfg;
static ts_gateway__http_front *g_front;

static void start(const char *prefix, const char *uri_header, const char *method_header)
{
    memset(&g_cfg, 0, sizeof g_cfg);
    snprintf(g_cfg.listen, sizeof g_cfg.listen, "127.0.0.1:0");
    snprintf(g_cfg.http.prefix, sizeof g_cfg.http.prefix, "%s", prefix);
    snprintf(g_cfg.http.original_uri_header, sizeof g_cfg.http.original_uri_header, "%s",
             uri_header);
    snprintf(g_cfg.http.original_method_header, sizeof g_cfg.http.original_method_header, "%s",
             method_header);
    g_cfg.threads = 2;
    g_cfg.limits.max_header_bytes = 16384;
    g_cfg.limits.max_headers = 100;
    g_cfg.limits.request_timeout_ms = 5000;
    g_cfg.limits.max_connections = 64;
    pthread_mutex_lock(&g_fake.mu);
    g_fake.calls = 0;
    memset(&g_fake.s, 0, sizeof g_fake.s);
    g_fake.s.decision = TS_GATEWAY__ALLOW;
    pthread_mutex_unlock(&g_fake.mu);
    ts_error err;
    ts_error_clear(&err);
    g_front =
        ts_gateway__http_front_start(&g_cfg, (ts_gateway__checker){fake_check, &g_fake}, &err);
    if (!g_front)
        fail_msg("ts_gateway__http_front_start: %s: %s", err.where, err.msg);
    assert_true(ts_gateway__http_front_port(g_front) > 0);
}

static int setup_envoy(void **state)
{
    (void)state;
    start("/ext-authz", "", "");
    return 0;
}

static int setup_nginx(void **state)
{
    (void)state;
    start("", "X-Original-URI", "X-Original-Method");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    ts_gateway__http_front_stop(g_front);
    g_front = NULL;
    return 0;
}

typedef struct reply {
    CURLcode rc;
    long status;
    char body[8192];
    size_t body_len;
    char head[32768];
    size_t head_len;
} reply;

static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n, room = sizeof r->body - 1 - r->body_len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->body_len, p, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
    return len;
}

static size_t on_head(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n;
    if (strncmp(p, "HTTP/", 5) == 0) /* a 100 Continue's head is followed by the real one */
        r->head_len = 0;
    size_t room = sizeof r->head - 1 - r->head_len, take = len < room ? len : room;
    memcpy(r->head + r->head_len, p, take);
    r->head_len += take;
    r->head[r->head_len] = '\0';
    return len;
}

/* The value of response header @p name (copied into @p out), or NULL when absent. */
static const char *header(const reply *r, const char *name, char *out, size_t cap)
{
    size_t nl = strlen(name);
    for (const char *line = r->head; line && *line;) {
        const char *end = strstr(line, "\r\n");
        if (!end)
            break;
        if (strncasecmp(line, name, nl) == 0 && line[nl] == ':') {
            const char *v = line + nl + 1;
            while (*v == ' ')
                v++;
            snprintf(out, cap, "%.*s", (int)(end - v), v);
            return out;
        }
        line = end + 2;
    }
    return NULL;
}

typedef struct upload {
    size_t left;
} upload;

static size_t on_read(char *p, size_t size, size_t n, void *ud)
{
    upload *u = ud;
    size_t take = size * n < u->left ? size * n : u->left;
    memset(p, 'b', take);
    u->left -= take;
    return take;
}

/* One request: @p method ("HEAD" without a body), @p target the request target as sent,
 * @p hdrs extra header lines (NULL-terminated), a body of @p body_len bytes ('b's), sent
 * chunked when @p chunked. */
static void request(const char *method, const char *target, const char *const *hdrs,
                    size_t body_len, bool chunked, reply *r)
{
    memset(r, 0, sizeof *r);
    char url[16384];
    snprintf(url, sizeof url, "http://127.0.0.1:%u%s",
             (unsigned)ts_gateway__http_front_port(g_front), target);
    CURL *c = curl_easy_init();
    assert_non_null(c);
    struct curl_slist *sl = NULL;
    for (size_t i = 0; hdrs && hdrs[i]; i++)
        sl = curl_slist_append(sl, hdrs[i]);
    upload u = {body_len};
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 20L);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, r);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_head);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, r);
    if (strcmp(method, "HEAD") == 0) {
        curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    } else if (body_len) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_READFUNCTION, on_read);
        curl_easy_setopt(c, CURLOPT_READDATA, &u);
        if (chunked)
            sl = curl_slist_append(sl, "Transfer-Encoding: chunked");
        else
            curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    } else if (strcmp(method, "GET") != 0) {
        curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, sl);
    r->rc = curl_easy_perform(c);
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &r->status);
    curl_slist_free_all(sl);
    curl_easy_cleanup(c);
}

static int calls(void)
{
    pthread_mutex_lock(&g_fake.mu);
    int n = g_fake.calls;
    pthread_mutex_unlock(&g_fake.mu);
    return n;
}

static void script_set(const script *s)
{
    pthread_mutex_lock(&g_fake.mu);
    g_fake.s = *s;
    pthread_mutex_unlock(&g_fake.mu);
}

/* ---------------------------------------------------------------------------------------- */
/* Envoy (and Istio) convention                                                              */

static void test_allow_exactly_200(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__ALLOW,
                .headers = {{"Authorization", "Bearer internal.jwt.sig"},
                            {"x-tokensmith-subject", "alice"}},
                .remove = {"x-tokensmith-roles", "x-tokensmith-evil"}};
    script_set(&s);
    const char *h[] = {"Host: api.example.com:8443", "Authorization: Bearer client-token",
                       "X-Request-Id: r-1", NULL};
    reply r;
    request("GET", "/ext-authz/nodes/7?a=1&b=x+y&flag&e=&p=%2F%20", h, 0, false, &r);
    assert_int_equal(r.rc, CURLE_OK);
    assert_int_equal(r.status, 200);
    assert_int_equal(r.body_len, 0);
    char v[1024];
    assert_string_equal(header(&r, "Authorization", v, sizeof v), "Bearer internal.jwt.sig");
    assert_string_equal(header(&r, "x-tokensmith-subject", v, sizeof v), "alice");
    assert_string_equal(header(&r, "x-envoy-auth-headers-to-remove", v, sizeof v),
                        "x-tokensmith-roles, x-tokensmith-evil");
    assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");

    assert_int_equal(calls(), 1);
    assert_int_equal(g_fake.front, TS_GATEWAY__FRONT_HTTP);
    assert_string_equal(g_fake.method, "GET");
    assert_string_equal(g_fake.host, "api.example.com:8443");
    /* prefix stripped, query kept as sent: escapes not decoded, '+' not a space */
    assert_string_equal(g_fake.path, "/nodes/7?a=1&b=x+y&flag&e=&p=%2F%20");
    assert_string_equal(recorded("authorization", NULL), "Bearer client-token");
    assert_string_equal(recorded("x-request-id", NULL), "r-1");
}

static void test_raw_path_kept(void **state)
{
    (void)state;
    reply r;
    request("GET", "/ext-authz/a%2Fb/%2e%2e/c", NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.path, "/a%2Fb/%2e%2e/c");
    request("GET", "/ext-authz/", NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.path, "/");
}

static void test_methods_as_received(void **state)
{
    (void)state;
    const char *methods[] = {"HEAD", "OPTIONS", "DELETE", "PATCH", "PUT", "GET"};
    reply r;
    for (size_t i = 0; i < sizeof methods / sizeof *methods; i++) {
        request(methods[i], "/ext-authz/nodes", NULL, 0, false, &r);
        assert_int_equal(r.rc, CURLE_OK);
        assert_int_equal(r.status, 200);
        assert_string_equal(g_fake.method, methods[i]);
        assert_string_equal(g_fake.path, "/nodes");
    }
    /* A POST with a body (Envoy's with_request_body): read, ignored, checked as POST. */
    request("POST", "/ext-authz/nodes", NULL, 1000, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.method, "POST");
    request("POST", "/ext-authz/nodes", NULL, 3000, true, &r);
    assert_int_equal(r.status, 200);
    /* Envoy's ContentLengthEqualZero: a POST checked with Content-Length 0 */
    const char *zero[] = {"Content-Length: 0", NULL};
    request("POST", "/ext-authz/nodes", zero, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.method, "POST");
    assert_string_equal(recorded("content-length", NULL), "0");
    assert_int_equal(calls(), 9);
}

static const char deny_json[] =
    "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHN_INVALID_TOKEN\"}\n";

static void test_deny_401(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__DENY,
                .status = 401,
                .headers = {{"WWW-Authenticate", "Bearer error=\"invalid_token\""},
                            {"Content-Type", "application/json"}},
                .body = deny_json};
    script_set(&s);
    reply r;
    request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 401);
    char v[256];
    assert_string_equal(header(&r, "WWW-Authenticate", v, sizeof v),
                        "Bearer error=\"invalid_token\"");
    assert_string_equal(header(&r, "Content-Type", v, sizeof v), "application/json");
    assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");
    assert_string_equal(r.body, deny_json);
    /* the nginx header is for nginx only */
    assert_null(header(&r, "x-tokensmith-deny", v, sizeof v));
    /* HEAD: the same answer without its body */
    request("HEAD", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 401);
    assert_int_equal(r.body_len, 0);
    assert_non_null(header(&r, "WWW-Authenticate", v, sizeof v));
}

static void test_deny_403_and_400(void **state)
{
    (void)state;
    static const char body[] = "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHZ_DENIED\"}";
    script s = {.decision = TS_GATEWAY__DENY,
                .status = 403,
                .headers = {{"Content-Type", "application/json"}},
                .body = body};
    script_set(&s);
    reply r;
    request("DELETE", "/ext-authz/nodes/1", NULL, 0, false, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, body);
    s.status = 400;
    script_set(&s);
    request("GET", "/ext-authz/x", NULL, 0, false, &r);
    assert_int_equal(r.status, 400);
    assert_string_equal(r.body, body);
}

static void test_cannot_decide_503(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__CANNOT_DECIDE, .body = "keys unavailable"};
    script_set(&s);
    reply r;
    request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 503);
    char v[64];
    assert_string_equal(header(&r, "Retry-After", v, sizeof v), "1");
    assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");
    assert_int_equal(r.body_len, 0);
}

/* Envoy reads 202 and 204 as denials, nginx reads any 2xx as an allow: a checker's verdict
 * with another success or a non-4xx denial status never reaches the wire as such. */
static void test_never_202_or_204(void **state)
{
    (void)state;
    const struct {
        ts_gateway__decision d;
        unsigned status;
        long want;
    } rows[] = {
        {TS_GATEWAY__ALLOW, 202, 200}, {TS_GATEWAY__ALLOW, 204, 200},
        {TS_GATEWAY__DENY, 204, 503},  {TS_GATEWAY__DENY, 202, 503},
        {TS_GATEWAY__DENY, 200, 503},  {TS_GATEWAY__DENY, 302, 503},
        {TS_GATEWAY__DENY, 500, 503},  {(ts_gateway__decision)7, 200, 503},
    };
    for (size_t i = 0; i < sizeof rows / sizeof *rows; i++) {
        script s = {.decision = rows[i].d, .status = rows[i].status, .raw = true, .body = "x"};
        script_set(&s);
        reply r;
        request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
        assert_int_equal(r.status, rows[i].want);
        assert_int_equal(r.body_len, 0); /* an allow's body never goes out either */
    }
}

static void test_outside_prefix_404(void **state)
{
    (void)state;
    const char *targets[] = {"/nodes",         "/ext-authzz/nodes", "/ext-authz",
                             "/ext-authz?x=1", "/EXT-AUTHZ/nodes",  "/"};
    for (size_t i = 0; i < sizeof targets / sizeof *targets; i++) {
        reply r;
        request("GET", targets[i], NULL, 0, false, &r);
        assert_int_equal(r.status, 404);
        char v[64];
        assert_string_equal(header(&r, "Cache-Control", v, sizeof v), "no-store");
    }
    assert_int_equal(calls(), 0);
}

/* Two Authorization lines reach the checker as two (it answers 400): the front neither joins
 * nor drops them. */
static void test_headers_passed_as_lines(void **state)
{
    (void)state;
    const char *h[] = {"Authorization: Bearer a", "Authorization: Bearer b", NULL};
    reply r;
    request("GET", "/ext-authz/nodes", h, 0, false, &r);
    assert_int_equal(r.status, 200);
    int n = 0;
    assert_string_equal(recorded("authorization", &n), "Bearer a");
    assert_int_equal(n, 2);
}

/* ---------------------------------------------------------------------------------------- */
/* The listener's bounds                                                                     */

static void test_header_bounds(void **state)
{
    (void)state;
    /* more lines than limits.max_headers (100) */
    const char *many[160];
    static char lines[150][32];
    for (int i = 0; i < 150; i++) {
        snprintf(lines[i], sizeof lines[i], "X-Flood-%d: v", i);
        many[i] = lines[i];
    }
    many[150] = NULL;
    reply r;
    request("GET", "/ext-authz/nodes", many, 0, false, &r);
    assert_int_equal(r.status, 431);
    /* one header over limits.max_header_bytes (16384) */
    static char big[20000];
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', sizeof big - 8);
    const char *one[] = {big, NULL};
    request("GET", "/ext-authz/nodes", one, 0, false, &r);
    assert_int_equal(r.status, 431);
    /* far over the connection's memory: libmicrohttpd refuses it itself, or closes */
    static char huge[200000];
    memcpy(huge, "X-Huge: ", 8);
    memset(huge + 8, 'a', sizeof huge - 9);
    const char *two[] = {huge, NULL};
    request("GET", "/ext-authz/nodes", two, 0, false, &r);
    assert_true(r.rc != CURLE_OK || r.status >= 400);
    assert_int_equal(calls(), 0);
    /* and the listener still answers */
    request("GET", "/ext-authz/nodes", NULL, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_int_equal(calls(), 1);
}

/* The largest answer a verdict can ask for in practice (an Authorization of
 * TS_GATEWAY__VERDICT_MAX_VALUE bytes) fits beside the largest head the listener accepts. */
static void test_big_answer_fits(void **state)
{
    (void)state;
    static char token[TS_GATEWAY__VERDICT_MAX_VALUE + 1];
    memcpy(token, "Bearer ", 7);
    memset(token + 7, 't', sizeof token - 8);
    script s = {.decision = TS_GATEWAY__ALLOW, .headers = {{"Authorization", token}}};
    script_set(&s);
    static char big[16000];
    memcpy(big, "X-Big: ", 7);
    memset(big + 7, 'a', sizeof big - 8);
    const char *h[] = {big, NULL};
    reply r;
    request("GET", "/ext-authz/nodes", h, 0, false, &r);
    assert_int_equal(r.status, 200);
    static char v[sizeof token];
    assert_string_equal(header(&r, "Authorization", v, sizeof v), token);
}

static void test_body_bound(void **state)
{
    (void)state;
    reply r;
    request("POST", "/ext-authz/nodes", NULL, 65536, false, &r);
    assert_int_equal(r.status, 200);
    request("POST", "/ext-authz/nodes", NULL, 70000, false, &r); /* announced */
    assert_int_equal(r.status, 413);
    request("POST", "/ext-authz/nodes", NULL, 70000, true, &r); /* chunked: counted */
    assert_int_equal(r.status, 413);
    assert_int_equal(calls(), 1);
}

/* ---------------------------------------------------------------------------------------- */
/* nginx convention                                                                          */

static void test_nginx_original_request(void **state)
{
    (void)state;
    const char *h[] = {"Host: shop.example", "X-Original-URI: /nodes/%2e%2e/admin?q=a+b",
                       "X-Original-Method: DELETE", NULL};
    reply r;
    request("GET", "/_ts_check", h, 0, false, &r);
    assert_int_equal(r.status, 200);
    assert_string_equal(g_fake.method, "DELETE");
    assert_string_equal(g_fake.path, "/nodes/%2e%2e/admin?q=a+b");
    assert_string_equal(g_fake.host, "shop.example");
}

static void test_nginx_deny_header(void **state)
{
    (void)state;
    script s = {.decision = TS_GATEWAY__DENY,
                .status = 403,
                .headers = {{"Content-Type", "application/json"}},
                .body = deny_json};
    script_set(&s);
    const char *h[] = {"X-Original-URI: /nodes", "X-Original-Method: GET", NULL};
    reply r;
    request("GET", "/auth", h, 0, false, &r);
    assert_int_equal(r.status, 403);
    assert_string_equal(r.body, deny_json);
    char v[512];
    /* the body without its newline, for auth_request_set */
    assert_string_equal(header(&r, "x-tokensmith-deny", v, sizeof v),
                        "{\"schema_version\":\"authz.deny.v1\",\"code\":\"AUTHN_INVALID_TOKEN\"}");
}

static void test_nginx_headers_required(void **state)
{
    (void)state;
    const char *no_uri[] = {"X-Original-Method: GET", NULL};
    const char *no_method[] = {"X-Original-URI: /nodes", NULL};
    const char *two_uris[] = {"X-Original-URI: /public", "X-Original-URI: /nodes",
                              "X-Original-Method: GET", NULL};
    const char *const *cases[] = {no_uri, no_method, two_uris, NULL};
    reply r;
    for (size_t i = 0; i < 4; i++) {
        request("GET", "/auth", cases[i], 0, false, &r);
        assert_int_equal(r.status, 400);
    }
    assert_int_equal(calls(), 0);
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
#define ENVOY(t) cmocka_unit_test_setup_teardown(t, setup_envoy, teardown)
#define NGINX(t) cmocka_unit_test_setup_teardown(t, setup_nginx, teardown)
    const struct CMUnitTest tests[] = {
        ENVOY(test_allow_exactly_200),       ENVOY(test_raw_path_kept),
        ENVOY(test_methods_as_received),     ENVOY(test_deny_401),
        ENVOY(test_deny_403_and_400),        ENVOY(test_cannot_decide_503),
        ENVOY(test_never_202_or_204),        ENVOY(test_outside_prefix_404),
        ENVOY(test_headers_passed_as_lines), ENVOY(test_header_bounds),
        ENVOY(test_big_answer_fits),         ENVOY(test_body_bound),
        NGINX(test_nginx_original_request),  NGINX(test_nginx_deny_header),
        NGINX(test_nginx_headers_required),
    };
    int rc = cmocka_run_group_tests(tests, NULL, NULL);
    curl_global_cleanup();
    return rc;
}
