/* One bounded HTTP exchange over libcurl: deadline, body cap, URL rule, no redirects by default,
   libcurl initialised once. */
#define _POSIX_C_SOURCE 200809L
#include "common/http_client.h"

#include <pthread.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "common/http_url.h"

#define DEFAULT_TIMEOUT_MS 10000u
#define FIRST_CAP 16384u

/* curl_global_init is not thread-safe in every libcurl: once per process, before any handle. */
static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static CURLcode curl_init_rc;
static void curl_init_once(void)
{
    curl_init_rc = curl_global_init(CURL_GLOBAL_DEFAULT);
}

ts_status ts_common__http_init(ts_error *err)
{
    pthread_once(&curl_once, curl_init_once);
    if (curl_init_rc != CURLE_OK)
        return ts_error_set(err, TS_EINTERNAL, "libcurl", "cannot be initialised: %s",
                            curl_easy_strerror(curl_init_rc));
    return TS_OK;
}

typedef struct body {
    char *p;
    size_t n, cap, max;
    bool too_big, oom;
} body;

static size_t on_data(char *data, size_t sz, size_t nm, void *ud)
{
    body *b = ud;
    size_t n = sz * nm;
    /* The cap is enforced here: CURLOPT_MAXFILESIZE only covers bodies with a Content-Length. */
    if (n > b->max - b->n) {
        b->too_big = true;
        return 0;
    }
    if (b->n + n > b->cap) {
        size_t nc = b->cap ? b->cap : FIRST_CAP;
        while (nc < b->n + n)
            nc *= 2;
        if (nc > b->max)
            nc = b->max;
        char *np = realloc(b->p, nc + 1);
        if (!np) {
            b->oom = true;
            return 0;
        }
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    return n;
}

typedef struct headers {
    void (*fn)(const char *line, size_t len, void *ud);
    void *ud;
} headers;

static size_t on_header(char *data, size_t sz, size_t nm, void *ud)
{
    const headers *h = ud;
    h->fn(data, sz * nm, h->ud);
    return sz * nm;
}

/* libcurl calls this often during a transfer and about once a second while it waits. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load((const atomic_bool *)ud) ? 1 : 0;
}

/* The request headers as a curl list; *ok is false when an allocation failed. */
static struct curl_slist *header_list(const ts_common__http_req *rq, bool *ok)
{
    struct curl_slist *list = NULL;
    *ok = true;
    for (size_t i = 0; i < rq->n_headers; i++) {
        struct curl_slist *next = curl_slist_append(list, rq->headers[i]);
        if (!next) {
            *ok = false;
            break;
        }
        list = next;
    }
    return list;
}

ts_status ts_common__http(const ts_common__http_req *rq, long *status, char **out, size_t *out_len,
                          ts_error *err)
{
    char where[sizeof err->where];
    if (ts_common__http_begin(rq, status, out, out_len, where, sizeof where, err) != TS_OK)
        return TS_EINVAL;
    const char *url = rq->url ? rq->url : "";
    const char *label = rq->label ? rq->label : "request";
    if (ts_common__http_init(err) != TS_OK)
        return TS_EINTERNAL;
    CURL *h = curl_easy_init();
    if (!h)
        return ts_error_set(err, TS_ENOMEM, where, "cannot create an HTTP handle");
    bool ok;
    struct curl_slist *hdrs = header_list(rq, &ok);
    if (!ok) {
        curl_slist_free_all(hdrs);
        curl_easy_cleanup(h);
        return ts_error_set(err, TS_ENOMEM, where, "out of memory");
    }
    long timeout = (long)(rq->timeout_ms ? rq->timeout_ms : DEFAULT_TIMEOUT_MS);
    body b = {.max = rq->max_body};
    headers hc = {.fn = rq->on_header, .ud = rq->header_ud};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout);
    long connect_timeout = timeout;
    if (rq->connect_timeout_ms && (long)rq->connect_timeout_ms < timeout)
        connect_timeout = (long)rq->connect_timeout_ms;
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, connect_timeout);
    if (rq->ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, rq->ca_file);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rq->max_body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_USERAGENT, rq->user_agent ? rq->user_agent : "tokensmith");
    if (hdrs)
        curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    if (rq->max_redirects) {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 1L);
        curl_easy_setopt(h, CURLOPT_MAXREDIRS, (long)rq->max_redirects);
        curl_easy_setopt(h, CURLOPT_REDIR_PROTOCOLS_STR, "https");
    } else {
        curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    }
    if (rq->on_header) {
        curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
        curl_easy_setopt(h, CURLOPT_HEADERDATA, &hc);
    }
    if (rq->body) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)rq->body_len);
    }
    if (rq->user) {
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, rq->user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, rq->password ? rq->password : "");
    }
    if (rq->stop) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, (void *)(uintptr_t)rq->stop);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    if (rq->sent) {
        /* The bytes of request heads written: 0 until a connection carried one. */
        long request_size = 0;
        curl_easy_getinfo(h, CURLINFO_REQUEST_SIZE, &request_size);
        *rq->sent = request_size > 0;
    }
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    ts_status st = TS_OK;
    if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        st = ts_error_set(err, TS_ELIMIT, where, "%s larger than %zu bytes",
                          rq->body_label ? rq->body_label : "response body", rq->max_body);
    else if (b.oom)
        st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
    else if (rc == CURLE_ABORTED_BY_CALLBACK)
        st = ts_error_set(err, TS_EIO, where, "%s stopped", label);
    else if (rc != CURLE_OK)
        st = ts_error_set(err, TS_EIO, where, "%s failed: %s", label, curl_easy_strerror(rc));
    if (st == TS_OK && !b.p && !(b.p = malloc(1)))
        st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
    if (st != TS_OK) {
        free(b.p);
        return st;
    }
    b.p[b.n] = '\0';
    *out = b.p;
    *out_len = b.n;
    return TS_OK;
}
