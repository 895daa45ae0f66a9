#define _POSIX_C_SOURCE 200809L
/* One JWKS fetch over libcurl for the remote key source: bounded in time and size, no
   redirects, Cache-Control max-age read for the cache lifetime, stoppable from another thread. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "authn_internal.h"
#include "jose/jose_internal.h"

typedef struct body {
    char *p;
    size_t n, cap, max;
    bool too_big;
    long max_age; /* -1 = none */
    bool no_cache;
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
        size_t nc = b->cap ? b->cap : 16384;
        while (nc < b->n + n)
            nc *= 2;
        if (nc > b->max)
            nc = b->max;
        char *np = realloc(b->p, nc + 1);
        if (!np)
            return 0;
        b->p = np;
        b->cap = nc;
    }
    memcpy(b->p + b->n, data, n);
    b->n += n;
    return n;
}

static size_t on_header(char *data, size_t sz, size_t nm, void *ud)
{
    body *b = ud;
    size_t n = sz * nm;
    if (n > 14 && strncasecmp(data, "cache-control:", 14) == 0) {
        char line[512];
        size_t l = n < sizeof line - 1 ? n : sizeof line - 1;
        memcpy(line, data, l);
        line[l] = 0;
        for (char *p = line + 14; *p; p++) {
            if (strncasecmp(p, "max-age=", 8) == 0) {
                long v = 0;
                const char *q = p + 8;
                int digits = 0;
                while (*q >= '0' && *q <= '9' && digits < 9) {
                    v = v * 10 + (*q - '0');
                    q++;
                    digits++;
                }
                if (digits > 0)
                    b->max_age = v;
            } else if (strncasecmp(p, "no-store", 8) == 0 || strncasecmp(p, "no-cache", 8) == 0) {
                b->no_cache = true;
            }
        }
    }
    return n;
}

/* libcurl calls this often during a transfer and about once a second while it waits. */
static int on_progress(void *ud, curl_off_t dltotal, curl_off_t dlnow, curl_off_t ultotal,
                       curl_off_t ulnow)
{
    (void)dltotal, (void)dlnow, (void)ultotal, (void)ulnow;
    return atomic_load((const atomic_bool *)ud) ? 1 : 0;
}

ts_jwks *ts_authn__jwks_fetch(const char *url, const ts_authn_keysource_options *o,
                              atomic_bool *stop, unsigned *ttl, ts_error *err)
{
    CURL *h = curl_easy_init();
    if (!h) {
        ts_error_set(err, TS_ENOMEM, url, "cannot create an HTTP handle");
        return NULL;
    }
    body b = {.max = o->max_body_bytes, .max_age = -1};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)o->timeout_ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)o->max_body_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &b);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tokensmith-authn");
    if (stop) {
        curl_easy_setopt(h, CURLOPT_NOPROGRESS, 0L);
        curl_easy_setopt(h, CURLOPT_XFERINFOFUNCTION, on_progress);
        curl_easy_setopt(h, CURLOPT_XFERINFODATA, stop);
    }
    struct curl_slist *hdrs =
        curl_slist_append(NULL, "Accept: application/jwk-set+json, application/json");
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    CURLcode rc = curl_easy_perform(h);
    long status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    curl_slist_free_all(hdrs);
    ts_jwks *set = NULL;
    if (b.too_big || rc == CURLE_FILESIZE_EXCEEDED)
        ts_error_set(err, TS_ELIMIT, url, "JWKS body larger than %zu bytes", o->max_body_bytes);
    else if (rc == CURLE_ABORTED_BY_CALLBACK)
        ts_error_set(err, TS_EIO, url, "fetch stopped: the key source is being freed");
    else if (rc != CURLE_OK)
        ts_error_set(err, TS_EIO, url, "fetch failed: %s", curl_easy_strerror(rc));
    else if (status != 200)
        ts_error_set(err, TS_EIO, url, "HTTP status %ld", status);
    else {
        ts_error pe;
        ts_error_clear(&pe);
        set = ts_jwks_parse(b.p ? b.p : "", b.n, &pe);
        if (!set)
            ts_error_set(err, pe.code, url, "%s: %s", pe.where, pe.msg);
    }
    free(b.p);
    if (set) {
        long t = b.no_cache ? 0 : b.max_age >= 0 ? b.max_age : (long)o->default_ttl_s;
        if (t < (long)o->min_ttl_s)
            t = o->min_ttl_s;
        if (t > (long)o->max_ttl_s)
            t = o->max_ttl_s;
        *ttl = (unsigned)t;
    }
    return set;
}
