/* GET /oauth/revocations: the revoked jtis that verifiers poll (authn's revocation source), as
   a compact JWS signed with the active key. Without `since` the full unexpired list, with
   `since=SEQ` the revocations after that cursor; at most TS_SVC_REVOCATIONS_MAX entries per
   answer ("more": true, ask again from "seq"). Only jti and exp leave the service: who revoked
   what, and why, stays in the audit log.

   Every verifier polls every few seconds, mostly for an unchanged list: the last full answer
   is kept (one per process) and served again while no revocation came after its cursor and it
   is younger than TS_SVC_REVOCATIONS_REUSE_S, so a poll costs one indexed store read instead of
   a listing and a signature. */
#define _GNU_SOURCE

#include "revocations.h"

#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* A reused full answer is at most this old (its iat). */
#define TS_SVC_REVOCATIONS_REUSE_S 5
/* Entries read from the store per call (its maximum). */
#define TS_SVC_REVOCATIONS_PAGE 10000u

typedef struct rendered {
    const ts_svc *s;
    char issuer[TS_SVC_STR]; /* with s: a service freed and another at its address never match */
    int64_t seq, built;
    char *jws;
    size_t len;
} rendered;

static pthread_mutex_t cache_mu = PTHREAD_MUTEX_INITIALIZER;
static rendered cache;

/* The cursor: 0..INT64_MAX in decimal, nothing else. */
static bool parse_since(const char *v, int64_t *out)
{
    size_t n = strlen(v);
    if (n == 0 || n > 18)
        return false;
    int64_t x = 0;
    for (size_t i = 0; i < n; i++) {
        if (v[i] < '0' || v[i] > '9')
            return false;
        x = x * 10 + (v[i] - '0');
    }
    *out = x;
    return true;
}

/* The payload, listing from the store; *seq the cursor it ends at. */
static ts_status build(ts_svc *s, bool full, int64_t since, int64_t now, char **payload,
                       int64_t *seq, ts_error *err)
{
    ts_store_revocation *page = malloc(TS_SVC_REVOCATIONS_PAGE * sizeof *page);
    json_t *doc = json_object(), *list = json_array();
    ts_status st = TS_OK;
    if (!page || !doc || !list) {
        st = ts_error_set(err, TS_ENOMEM, "revocations", "out of memory");
        goto out;
    }
    int64_t after = full ? 0 : since;
    size_t total = 0, n = TS_SVC_REVOCATIONS_PAGE;
    while (n == TS_SVC_REVOCATIONS_PAGE && total < TS_SVC_REVOCATIONS_MAX) {
        size_t want = TS_SVC_REVOCATIONS_MAX - total;
        if (want > TS_SVC_REVOCATIONS_PAGE)
            want = TS_SVC_REVOCATIONS_PAGE;
        st = ts_store_revocations_list(s->store, after, now, page, want, &n, err);
        if (st != TS_OK)
            goto out;
        for (size_t i = 0; i < n; i++) {
            json_t *e = json_object();
            json_object_set_new(e, "jti", json_string(page[i].jti));
            json_object_set_new(e, "exp", json_integer(page[i].expires_at));
            json_array_append_new(list, e);
            after = page[i].seq;
        }
        total += n;
        if (n < want)
            break;
    }
    /* Full at the cap: there may be more (an exact fit costs one empty poll). */
    bool more = total == TS_SVC_REVOCATIONS_MAX;
    *seq = after;
    json_object_set_new(doc, "iss", json_string(s->cfg.issuer));
    json_object_set_new(doc, "iat", json_integer(now));
    json_object_set_new(doc, "seq", json_integer(after));
    json_object_set_new(doc, "full", json_boolean(full));
    if (!full)
        json_object_set_new(doc, "since", json_integer(since));
    json_object_set_new(doc, "more", json_boolean(more));
    json_object_set(doc, "revoked", list);
    *payload = json_dumps(doc, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!*payload)
        st = ts_error_set(err, TS_ENOMEM, "revocations", "out of memory");
out:
    json_decref(list);
    json_decref(doc);
    free(page);
    return st;
}

/* The last full answer when still current; a copy (free()), or NULL. */
static char *reuse(ts_svc *s, int64_t now, size_t *len, int64_t *seq)
{
    pthread_mutex_lock(&cache_mu);
    char *copy = NULL;
    if (cache.s == s && cache.jws && strcmp(cache.issuer, s->cfg.issuer) == 0 &&
        now - cache.built < TS_SVC_REVOCATIONS_REUSE_S && now >= cache.built) {
        ts_store_revocation one;
        size_t n = 1;
        ts_error e;
        ts_error_clear(&e);
        if (ts_store_revocations_list(s->store, cache.seq, now, &one, 1, &n, &e) == TS_OK &&
            n == 0 && (copy = malloc(cache.len + 1))) {
            memcpy(copy, cache.jws, cache.len + 1);
            *len = cache.len;
            *seq = cache.seq;
        }
    }
    pthread_mutex_unlock(&cache_mu);
    return copy;
}

static void keep(ts_svc *s, int64_t now, int64_t seq, const char *jws, size_t len)
{
    char *copy = malloc(len + 1);
    if (!copy)
        return;
    memcpy(copy, jws, len + 1);
    pthread_mutex_lock(&cache_mu);
    free(cache.jws);
    cache.s = s;
    snprintf(cache.issuer, sizeof cache.issuer, "%s", s->cfg.issuer);
    cache.seq = seq;
    cache.built = now;
    cache.jws = copy;
    cache.len = len;
    pthread_mutex_unlock(&cache_mu);
}

enum MHD_Result ts_svc__revocations_endpoint(ts_svc *s, mhd_conn *conn, req *rq, const char *method,
                                             const char *path)
{
    const char *sv = MHD_lookup_connection_value(conn, MHD_GET_ARGUMENT_KIND, "since");
    int64_t since = 0;
    bool full = sv == NULL;
    if (!full && !parse_since(sv, &since)) {
        json_t *doc = json_object();
        json_object_set_new(doc, "error", json_string("invalid_request"));
        json_object_set_new(doc, "error_description",
                            json_string("since must be a non-negative decimal cursor"));
        return ts_svc__send_json(s, conn, rq, method, path, 400, doc, "no-store", NULL);
    }
    int64_t now = (int64_t)time(NULL), seq = 0;
    ts_error e;
    ts_error_clear(&e);
    size_t len = 0;
    char *jws = full ? reuse(s, now, &len, &seq) : NULL;
    bool reused = jws != NULL;
    if (!jws) {
        char *payload = NULL;
        ts_status st = build(s, full, since, now, &payload, &seq, &e);
        if (st != TS_OK)
            return ts_svc__store_failure(s, conn, rq, path, st, &e);
        st = ts_svc_keyring_sign(s->keys, TS_SVC_REVOCATIONS_TYP, payload, strlen(payload), &jws,
                                 &len, &e);
        free(payload);
        if (st != TS_OK)
            return ts_svc__store_failure(s, conn, rq, path, st, &e);
        if (full)
            keep(s, now, seq, jws, len);
    }
    /* The entity is the cursor (and the kind of answer): a poll with the tag of the answer it
       holds gets 304 while nothing was revoked since. */
    char etag[64], members[128];
    if (full)
        snprintf(etag, sizeof etag, "\"f%" PRId64 "\"", seq);
    else
        snprintf(etag, sizeof etag, "\"d%" PRId64 "-%" PRId64 "\"", since, seq);
    const char *inm = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "If-None-Match");
    bool not_modified = inm && strcmp(inm, etag) == 0;
    int ml = snprintf(members, sizeof members, "\"seq\":%" PRId64 ",\"full\":%s,\"reused\":%s", seq,
                      full ? "true" : "false", reused ? "true" : "false");
    enum MHD_Result r =
        ts_svc__respond_m(s, conn, rq, method, path, not_modified ? 304 : 200, "application/jwt",
                          not_modified ? "" : jws, not_modified ? 0 : len, "public, max-age=1",
                          members, (size_t)ml, "ETag", etag);
    if (reused)
        free(jws);
    else
        ts_free(jws);
    return r;
}
