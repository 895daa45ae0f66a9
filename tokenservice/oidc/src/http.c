/* One bounded HTTP exchange over libcurl (discovery GET, introspection POST) and the form
   encoding of RFC 6749 Appendix B. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>

#include "oidc_internal.h"

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

typedef struct body {
    char *p;
    size_t n, max;
    bool too_big, oom;
} body;

static size_t on_data(char *data, size_t sz, size_t nm, void *ud)
{
    body *b = ud;
    size_t n = sz * nm;
    /* libcurl 7.88 enforces CURLOPT_MAXFILESIZE only with a Content-Length: cap here too. */
    if (n > b->max - b->n) {
        b->too_big = true;
        return 0;
    }
    char *np = realloc(b->p, b->n + n + 1);
    if (!np) {
        b->oom = true;
        return 0;
    }
    b->p = np;
    memcpy(b->p + b->n, data, n);
    b->n += n;
    b->p[b->n] = '\0';
    return n;
}

ts_status ts_oidc__http(const ts_oidc__http_req *rq, long *status, char **out, size_t *out_len,
                        ts_error *err)
{
    *out = NULL;
    *out_len = 0;
    *status = 0;
    if (!ts_oidc__url_allowed(rq->url))
        return ts_error_set(err, TS_EINVAL, rq->url,
                            "URL must be https:// (http:// only on loopback)");
    pthread_once(&curl_once, curl_init_once);
    CURL *h = curl_easy_init();
    if (!h)
        return ts_error_set(err, TS_ENOMEM, rq->url, "cannot create an HTTP handle");
    body b = {.max = rq->max_body};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Accept: application/json");
    if (rq->form)
        hdrs = curl_slist_append(hdrs, "Content-Type: application/x-www-form-urlencoded");
    curl_easy_setopt(h, CURLOPT_URL, rq->url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)rq->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)rq->timeout_ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)rq->max_body);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tokensmith-oidc");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    char *user = NULL, *pass = NULL;
    if (rq->form) {
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, rq->form);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)strlen(rq->form));
    }
    if (rq->user) {
        /* RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret before Base64. */
        user = ts_oidc__form_encode(rq->user, strlen(rq->user));
        pass =
            ts_oidc__form_encode(rq->secret ? rq->secret : "", rq->secret ? strlen(rq->secret) : 0);
        if (!user || !pass) {
            free(user);
            free(pass);
            curl_slist_free_all(hdrs);
            curl_easy_cleanup(h);
            return ts_error_set(err, TS_ENOMEM, rq->url, "out of memory");
        }
        curl_easy_setopt(h, CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
        curl_easy_setopt(h, CURLOPT_USERNAME, user);
        curl_easy_setopt(h, CURLOPT_PASSWORD, pass);
    }
    CURLcode rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    free(user);
    if (pass) {
        volatile char *p = pass;
        for (size_t i = 0; p[i]; i++)
            p[i] = 0;
        free(pass);
    }
    ts_status st = TS_OK;
    if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        st = ts_error_set(err, TS_ELIMIT, rq->url, "response body larger than %zu bytes",
                          rq->max_body);
    else if (b.oom)
        st = ts_error_set(err, TS_ENOMEM, rq->url, "out of memory");
    else if (rc != CURLE_OK)
        st = ts_error_set(err, TS_EIO, rq->url, "request failed: %s", curl_easy_strerror(rc));
    if (st != TS_OK) {
        free(b.p);
        return st;
    }
    if (!b.p && !(b.p = calloc(1, 1)))
        return ts_error_set(err, TS_ENOMEM, rq->url, "out of memory");
    *out = b.p;
    *out_len = b.n;
    return TS_OK;
}

char *ts_oidc__form_encode(const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *o = malloc(len * 3 + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '*') {
            *q++ = (char)c;
        } else if (c == ' ') {
            *q++ = '+';
        } else {
            *q++ = '%';
            *q++ = hex[c >> 4];
            *q++ = hex[c & 15];
        }
    }
    *q = '\0';
    return o;
}
