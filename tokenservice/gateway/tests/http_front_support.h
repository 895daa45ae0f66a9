/* The HTTP listener's test bench, shared by gateway.test_http_front (the Envoy conformance
 * table and nginx's convention) and gateway.test_http_front_bounds (the listener's own bounds):
 * a fake checker that records the input it got and answers a scripted verdict, the listener
 * (http_front.c) started on loopback in either convention, and a libcurl client. One test
 * program includes it once. */
#ifndef TS_GATEWAY_TESTS_HTTP_FRONT_SUPPORT_H
#define TS_GATEWAY_TESTS_HTTP_FRONT_SUPPORT_H

#define HF_UNUSED __attribute__((unused))

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

HF_UNUSED static void copy_str(char *dst, size_t cap, ts_gateway__str s)
{
    assert_non_null(s.ptr);
    assert_int_equal(s.ptr[s.len], '\0'); /* the contract: NUL-terminated, never NULL */
    assert_int_equal(strlen(s.ptr), s.len);
    snprintf(dst, cap, "%s", s.ptr);
}

HF_UNUSED static void fake_check(const ts_gateway__input *in, ts_gateway__verdict *out, void *ud)
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
HF_UNUSED static const char *recorded(const char *name, int *n)
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

HF_UNUSED static void start(const char *prefix, const char *uri_header, const char *method_header)
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

HF_UNUSED static int setup_envoy(void **state)
{
    (void)state;
    start("/ext-authz", "", "");
    return 0;
}

HF_UNUSED static int setup_nginx(void **state)
{
    (void)state;
    start("", "X-Original-URI", "X-Original-Method");
    return 0;
}

HF_UNUSED static int teardown(void **state)
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

HF_UNUSED static size_t on_body(char *p, size_t size, size_t n, void *ud)
{
    reply *r = ud;
    size_t len = size * n, room = sizeof r->body - 1 - r->body_len;
    size_t take = len < room ? len : room;
    memcpy(r->body + r->body_len, p, take);
    r->body_len += take;
    r->body[r->body_len] = '\0';
    return len;
}

HF_UNUSED static size_t on_head(char *p, size_t size, size_t n, void *ud)
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
HF_UNUSED static const char *header(const reply *r, const char *name, char *out, size_t cap)
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

HF_UNUSED static size_t on_read(char *p, size_t size, size_t n, void *ud)
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
HF_UNUSED static void request(const char *method, const char *target, const char *const *hdrs,
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

HF_UNUSED static int calls(void)
{
    pthread_mutex_lock(&g_fake.mu);
    int n = g_fake.calls;
    pthread_mutex_unlock(&g_fake.mu);
    return n;
}

HF_UNUSED static void script_set(const script *s)
{
    pthread_mutex_lock(&g_fake.mu);
    g_fake.s = *s;
    pthread_mutex_unlock(&g_fake.mu);
}

#endif
