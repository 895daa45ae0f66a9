#define _POSIX_C_SOURCE 200809L
/* Key sources: PEM and JWKS files read once, remote JWKS fetched over libcurl with a bounded
   cache, stale-if-error up to a hard age, and single-flight, rate-limited unknown-kid refetch. */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>

#include "authn_internal.h"
#include "jose/jose_internal.h"

typedef struct remote {
    char *url;
    ts_jwks *keys;   /* last good set, or NULL */
    int64_t fetched; /* monotonic time of the last success */
    int64_t fresh_until;
} remote;

struct ts_authn_keysource {
    ts_authn_keysource_options o;
    ts_jwks *file_keys;
    remote *r;
    size_t nr;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    ts_jwks *merged; /* file keys + live remote keys; swapped under mu */
    bool fetching;
    int64_t last_attempt; /* monotonic, 0 = never */
    atomic_ulong fetches;
};

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    /* Offset so that 0 keeps meaning "never". */
    return (int64_t)ts.tv_sec + 1000000;
}

static pthread_once_t curl_once = PTHREAD_ONCE_INIT;
static void curl_init_once(void)
{
    curl_global_init(CURL_GLOBAL_DEFAULT);
}

static bool url_allowed(const char *u, bool insecure)
{
    if (strncasecmp(u, "https://", 8) == 0)
        return true;
    if (strncasecmp(u, "http://", 7) != 0)
        return false;
    if (insecure)
        return true;
    const char *h = u + 7;
    static const char *const loop[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < 3; i++) {
        size_t l = strlen(loop[i]);
        if (strncasecmp(h, loop[i], l) == 0 && (h[l] == ':' || h[l] == '/' || h[l] == 0))
            return true;
    }
    return false;
}

void ts_authn_keysource_free(ts_authn_keysource *ks)
{
    if (!ks)
        return;
    for (size_t i = 0; i < ks->nr; i++) {
        free(ks->r[i].url);
        ts_jwks_free(ks->r[i].keys);
    }
    free(ks->r);
    ts_jwks_free(ks->file_keys);
    ts_jwks_free(ks->merged);
    pthread_mutex_destroy(&ks->mu);
    pthread_cond_destroy(&ks->cv);
    free(ks);
}

ts_authn_keysource *ts_authn_keysource_new(const ts_authn_keysource_options *opt, ts_error *err)
{
    if (!opt || opt->version != TS_AUTHN_KEYSOURCE_OPTIONS_VERSION) {
        ts_error_set(err, TS_EINVAL, "ts_authn_keysource_options",
                     "NULL options or unknown version");
        return NULL;
    }
    ts_authn_keysource *ks = calloc(1, sizeof *ks);
    if (!ks) {
        ts_error_set(err, TS_ENOMEM, "ts_authn_keysource_new", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ks->mu, NULL);
    pthread_cond_init(&ks->cv, NULL);
    atomic_init(&ks->fetches, 0);
    ks->o = *opt;
    ks->o.pem_files = ks->o.jwks_files = ks->o.urls = NULL;
#define DEF(f, d) ks->o.f = ks->o.f ? ks->o.f : (d)
    DEF(default_ttl_s, 600);
    DEF(min_ttl_s, 60);
    DEF(max_ttl_s, 86400);
    DEF(max_stale_s, 86400);
    DEF(refetch_cooldown_s, 30);
    DEF(timeout_ms, 5000);
    DEF(max_body_bytes, TS_JOSE_MAX_JWKS_BYTES);
#undef DEF
    if (ks->o.min_ttl_s > ks->o.max_ttl_s)
        ks->o.min_ttl_s = ks->o.max_ttl_s;

    size_t nfile = opt->n_pem_files + opt->n_jwks_files;
    ts_jwks **sets = calloc(nfile ? nfile : 1, sizeof *sets);
    if (!sets)
        goto oom;
    size_t ns = 0;
    bool ok = true;
    for (size_t i = 0; ok && i < opt->n_pem_files; i++) {
        ts_jwk *k = ts_jwk_load_file(opt->pem_files[i], err);
        ts_jwk *pub = k;
        ok = k && (sets[ns] = ts_jwks_new(&pub, 1, err)) != NULL;
        ts_jwk_free(k);
        ns += ok;
    }
    for (size_t i = 0; ok && i < opt->n_jwks_files; i++) {
        ok = (sets[ns] = ts_jwks_load_file(opt->jwks_files[i], err)) != NULL;
        ns += ok;
    }
    if (ok)
        ks->file_keys = ts_jwks_merge((const ts_jwks *const *)sets, ns, err);
    for (size_t i = 0; i < ns; i++)
        ts_jwks_free(sets[i]);
    free(sets);
    if (!ok || !ks->file_keys) {
        ts_authn_keysource_free(ks);
        return NULL;
    }
    ks->merged = ts_jwks_ref(ks->file_keys);
    if (opt->n_urls) {
        ks->r = calloc(opt->n_urls, sizeof *ks->r);
        if (!ks->r)
            goto oom;
        for (size_t i = 0; i < opt->n_urls; i++) {
            if (!opt->urls[i] || !url_allowed(opt->urls[i], opt->allow_insecure_http)) {
                ts_error_set(err, TS_EINVAL, opt->urls[i] ? opt->urls[i] : "urls",
                             "JWKS URL must be https:// (or http:// on loopback)");
                ts_authn_keysource_free(ks);
                return NULL;
            }
            if (!(ks->r[i].url = strdup(opt->urls[i])))
                goto oom;
            ks->nr = i + 1;
        }
        pthread_once(&curl_once, curl_init_once);
    }
    return ks;
oom:
    ts_authn_keysource_free(ks);
    ts_error_set(err, TS_ENOMEM, "ts_authn_keysource_new", "out of memory");
    return NULL;
}

unsigned long ts_authn_keysource_fetch_count(const ts_authn_keysource *ks)
{
    return ks ? atomic_load(&ks->fetches) : 0;
}

/* ---- one HTTP fetch ----------------------------------------------------------------------- */

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

static ts_jwks *fetch_one(const ts_authn_keysource *ks, const char *url, unsigned *ttl,
                          ts_error *err)
{
    CURL *h = curl_easy_init();
    if (!h) {
        ts_error_set(err, TS_ENOMEM, url, "cannot create an HTTP handle");
        return NULL;
    }
    body b = {.max = ks->o.max_body_bytes, .max_age = -1};
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, (long)ks->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, (long)ks->o.timeout_ms);
    curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE, (curl_off_t)ks->o.max_body_bytes);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
    curl_easy_setopt(h, CURLOPT_HEADERDATA, &b);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "tokensmith-authn");
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
        ts_error_set(err, TS_ELIMIT, url, "JWKS body larger than %zu bytes", ks->o.max_body_bytes);
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
        long t = b.no_cache ? 0 : b.max_age >= 0 ? b.max_age : (long)ks->o.default_ttl_s;
        if (t < (long)ks->o.min_ttl_s)
            t = ks->o.min_ttl_s;
        if (t > (long)ks->o.max_ttl_s)
            t = ks->o.max_ttl_s;
        *ttl = (unsigned)t;
    }
    return set;
}

/* Rebuild the merged set from file keys and the remote sets still within max_stale_s. */
static void rebuild_locked(ts_authn_keysource *ks, int64_t now)
{
    size_t n = 0;
    const ts_jwks *sets[1 + 64];
    sets[n++] = ks->file_keys;
    for (size_t i = 0; i < ks->nr && n < sizeof sets / sizeof sets[0]; i++) {
        remote *r = &ks->r[i];
        if (r->keys && now - r->fetched > (int64_t)ks->o.max_stale_s) {
            ts_jwks_free(r->keys);
            r->keys = NULL;
        }
        if (r->keys)
            sets[n++] = r->keys;
    }
    ts_jwks *m = ts_jwks_merge(sets, n, NULL);
    if (!m) {
        /* Two URLs disagreeing about a kid: keep file keys plus the first remote set that
           merges cleanly rather than no keys at all. */
        m = ts_jwks_ref(ks->file_keys);
        for (size_t i = 1; i < n; i++) {
            const ts_jwks *two[2] = {m, sets[i]};
            ts_jwks *t = ts_jwks_merge(two, 2, NULL);
            if (t) {
                ts_jwks_free(m);
                m = t;
            }
        }
    }
    ts_jwks_free(ks->merged);
    ks->merged = m;
}

/* Fetch every URL (caller owns the single flight: ks->fetching was set under mu). */
static ts_status fetch_all(ts_authn_keysource *ks, ts_error *err)
{
    ts_status st = TS_OK;
    for (size_t i = 0; i < ks->nr; i++) {
        unsigned ttl = 0;
        ts_error fe;
        ts_error_clear(&fe);
        ts_jwks *set = fetch_one(ks, ks->r[i].url, &ttl, &fe);
        atomic_fetch_add(&ks->fetches, 1);
        int64_t now = mono_now();
        pthread_mutex_lock(&ks->mu);
        if (set) {
            ts_jwks_free(ks->r[i].keys);
            ks->r[i].keys = set;
            ks->r[i].fetched = now;
            ks->r[i].fresh_until = now + ttl;
        } else {
            /* Retry a failing URL only after the cooldown, not on every request. */
            ks->r[i].fresh_until = now + ks->o.refetch_cooldown_s;
            if (st == TS_OK) {
                st = fe.code;
                ts_error_set(err, fe.code, fe.where, "%s", fe.msg);
            }
        }
        pthread_mutex_unlock(&ks->mu);
    }
    return st;
}

/* Run one fetch as the single flight, or wait for the one in progress. Called with mu held. */
static ts_status fetch_locked(ts_authn_keysource *ks, bool wait_if_busy, ts_error *err)
{
    if (ks->fetching) {
        if (wait_if_busy)
            while (ks->fetching)
                pthread_cond_wait(&ks->cv, &ks->mu);
        return TS_OK;
    }
    ks->fetching = true;
    ks->last_attempt = mono_now();
    pthread_mutex_unlock(&ks->mu);
    ts_status st = fetch_all(ks, err);
    pthread_mutex_lock(&ks->mu);
    /* The cooldown runs from the end of the attempt: a fetch that took the whole timeout is
       not followed at once by another one (a stale set and then an unknown kid in one
       verification would otherwise wait for the upstream twice). */
    ks->last_attempt = mono_now();
    rebuild_locked(ks, ks->last_attempt);
    ks->fetching = false;
    pthread_cond_broadcast(&ks->cv);
    return st;
}

ts_status ts_authn_keysource_refresh(ts_authn_keysource *ks, ts_error *err)
{
    if (!ks)
        return ts_error_set(err, TS_EINVAL, "ts_authn_keysource_refresh", "NULL key source");
    pthread_mutex_lock(&ks->mu);
    ts_status st = ks->nr ? fetch_locked(ks, true, err) : TS_OK;
    pthread_mutex_unlock(&ks->mu);
    return st;
}

static ts_jwks *current_locked(ts_authn_keysource *ks, ts_error *err)
{
    if (ts_jwks_count(ks->merged) == 0) {
        ts_error_set(err, TS_ENOTFOUND, "keysource", "no keys available");
        return NULL;
    }
    return ts_jwks_ref(ks->merged);
}

ts_jwks *ts_authn_keysource_keys(ts_authn_keysource *ks, ts_error *err)
{
    if (!ks)
        return NULL;
    pthread_mutex_lock(&ks->mu);
    if (ks->nr) {
        int64_t now = mono_now();
        bool stale = false;
        for (size_t i = 0; i < ks->nr; i++)
            stale |= now >= ks->r[i].fresh_until;
        if (stale) {
            /* Stale-while-revalidate: with usable keys, other threads do not wait. */
            bool have = ts_jwks_count(ks->merged) > 0;
            (void)fetch_locked(ks, !have, err);
        } else {
            /* Only a remote set past its hard age changes the merged set here. */
            bool aged = false;
            for (size_t i = 0; i < ks->nr; i++)
                aged |= ks->r[i].keys && now - ks->r[i].fetched > (int64_t)ks->o.max_stale_s;
            if (aged)
                rebuild_locked(ks, now);
        }
    }
    ts_jwks *s = current_locked(ks, err);
    pthread_mutex_unlock(&ks->mu);
    return s;
}

ts_jwks *ts_authn_keysource_keys_for_unknown_kid(ts_authn_keysource *ks, ts_error *err)
{
    if (!ks)
        return NULL;
    pthread_mutex_lock(&ks->mu);
    if (ks->nr) {
        int64_t now = mono_now();
        if (ks->fetching)
            (void)fetch_locked(ks, true, err);
        else if (ks->last_attempt == 0 ||
                 now - ks->last_attempt >= (int64_t)ks->o.refetch_cooldown_s)
            (void)fetch_locked(ks, true, err);
    }
    ts_jwks *s = current_locked(ks, err);
    pthread_mutex_unlock(&ks->mu);
    return s;
}
