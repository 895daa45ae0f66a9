#define _POSIX_C_SOURCE 200809L
/* One JWKS fetch over libcurl for the remote key source: bounded in time and size, no
   redirects, Cache-Control max-age read for the cache lifetime, stoppable from another thread. */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "authn_internal.h"
#include "common/http_client.h"
#include "jose/jose_internal.h"

/* What the response says about caching (Cache-Control max-age, no-store, no-cache). */
typedef struct cache_hint {
    long max_age; /* -1 = none */
    bool no_cache;
} cache_hint;

static void on_header(const char *data, size_t n, void *ud)
{
    cache_hint *c = ud;
    if (n <= 14 || strncasecmp(data, "cache-control:", 14) != 0)
        return;
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
                c->max_age = v;
        } else if (strncasecmp(p, "no-store", 8) == 0 || strncasecmp(p, "no-cache", 8) == 0) {
            c->no_cache = true;
        }
    }
}

ts_jwks *ts_authn__jwks_fetch(const char *url, const ts_authn_keysource_options *o,
                              atomic_bool *stop, unsigned *ttl, ts_error *err)
{
    static const char *const accept[] = {"Accept: application/jwk-set+json, application/json"};
    cache_hint cache = {.max_age = -1};
    ts_common__http_req rq = {.url = url,
                              .headers = accept,
                              .n_headers = 1,
                              .user_agent = "tokensmith-authn",
                              .timeout_ms = o->timeout_ms,
                              .max_body = o->max_body_bytes,
                              .allow_plain_http = o->allow_insecure_http,
                              .stop = stop,
                              .on_header = on_header,
                              .header_ud = &cache,
                              .label = "fetch",
                              .body_label = "JWKS body"};
    long status = 0;
    char *body = NULL;
    size_t n = 0;
    if (ts_common__http(&rq, &status, &body, &n, err) != TS_OK)
        return NULL;
    ts_jwks *set = NULL;
    if (status != 200) {
        ts_error_set(err, TS_EIO, url, "HTTP status %ld", status);
    } else {
        ts_error pe;
        ts_error_clear(&pe);
        set = ts_jwks_parse(body, n, &pe);
        if (!set)
            ts_error_set(err, pe.code, url, "%s: %s", pe.where, pe.msg);
    }
    free(body);
    if (set) {
        long t = cache.no_cache ? 0 : cache.max_age >= 0 ? cache.max_age : (long)o->default_ttl_s;
        if (t < (long)o->min_ttl_s)
            t = o->min_ttl_s;
        if (t > (long)o->max_ttl_s)
            t = o->max_ttl_s;
        *ttl = (unsigned)t;
    }
    return set;
}
