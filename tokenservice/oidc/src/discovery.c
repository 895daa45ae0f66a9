/* The relying party and its per-provider discovery state: the discovery document is fetched on
   first use, kept for discovery_ttl_s, revalidated single-flight, and a stale one is used after
   a failed revalidation only up to jwks_max_stale_s. Each document yields an authn key source
   (remote JWKS) and verifier; they live as long as any caller still holds the state. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authn.h>

#include "oidc_internal.h"

struct ts_oidc__state {
    atomic_uint refs;
    char *jwks_uri;
    char *introspection_endpoint;
    ts_authn_keysource *ks;
    ts_authn_verifier *v;
    _Atomic int64_t fetched; /* monotonic seconds of the last successful discovery */
};

struct ts_oidc__rp_provider {
    const ts_oidc__provider *cfg;
    pthread_mutex_t mu;
    pthread_cond_t cv;
    bool discovering;
    ts_oidc__state *st;
    int64_t retry_after; /* monotonic; no new attempt before this after a failure */
    atomic_ulong discoveries;
};

static int64_t mono_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec + 1000000;
}

static void state_release(ts_oidc__state *s)
{
    if (!s || atomic_fetch_sub(&s->refs, 1) != 1)
        return;
    ts_authn_verifier_free(s->v);
    ts_authn_keysource_free(s->ks);
    free(s->jwks_uri);
    free(s->introspection_endpoint);
    free(s);
}

void ts_oidc__live_release(ts_oidc__live *l)
{
    if (l) {
        state_release(l->st);
        l->st = NULL;
        l->verifier = NULL;
        l->introspection_endpoint = NULL;
    }
}

int64_t ts_oidc__now(const ts_oidc *rp)
{
    return rp->now ? rp->now(rp->now_ud) : (int64_t)time(NULL);
}

static int64_t verifier_now(void *ud)
{
    return ts_oidc__now(ud);
}

ts_oidc *ts_oidc_new(ts_oidc_config *cfg, const ts_oidc_options *opt, ts_error *err)
{
    if (!cfg)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_new", "NULL config"), NULL;
    if (opt && opt->version != TS_OIDC_OPTIONS_VERSION)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_options", "unknown options version"), NULL;
    ts_oidc *rp = calloc(1, sizeof *rp);
    if (!rp || !(rp->p = calloc(cfg->n ? cfg->n : 1, sizeof *rp->p))) {
        free(rp);
        return ts_error_set(err, TS_ENOMEM, "ts_oidc_new", "out of memory"), NULL;
    }
    rp->cfg = ts_oidc_config_ref(cfg);
    if (opt) {
        rp->now = opt->now;
        rp->now_ud = opt->now_ud;
    }
    for (size_t i = 0; i < cfg->n; i++) {
        rp->p[i].cfg = &cfg->p[i];
        pthread_mutex_init(&rp->p[i].mu, NULL);
        pthread_cond_init(&rp->p[i].cv, NULL);
        atomic_init(&rp->p[i].discoveries, 0);
    }
    return rp;
}

void ts_oidc_free(ts_oidc *rp)
{
    if (!rp)
        return;
    for (size_t i = 0; i < rp->cfg->n; i++) {
        state_release(rp->p[i].st);
        pthread_mutex_destroy(&rp->p[i].mu);
        pthread_cond_destroy(&rp->p[i].cv);
    }
    free(rp->p);
    ts_oidc_config_free(rp->cfg);
    free(rp);
}

ts_oidc__rp_provider *ts_oidc__rp_find(const ts_oidc *rp, const char *iss, size_t len)
{
    const ts_oidc__provider *c = ts_oidc__config_find(rp->cfg, iss, len);
    return c ? &rp->p[c - rp->cfg->p] : NULL;
}

const ts_oidc__provider *ts_oidc__rp_config(const ts_oidc__rp_provider *p)
{
    return p->cfg;
}

static bool same(const char *a, const char *b)
{
    return (!a && !b) || (a && b && strcmp(a, b) == 0);
}

/* Fetch and check the discovery document; build a state unless @p cur already matches it. */
static ts_oidc__state *discover(ts_oidc *rp, const ts_oidc__provider *c, const ts_oidc__state *cur,
                                bool *unchanged, ts_error *err)
{
    *unchanged = false;
    ts_oidc_discovery d;
    /* A cluster whose discovery is not reachable has its keys in a file: nothing is fetched,
       and the file is read again at every revalidation (discovery_ttl_s), so that a rotated
       file is picked up. */
    if (ts_oidc__provider_discover(c, &d, err) != TS_OK)
        return NULL;
    char *jwks = d.jwks_uri, *intro = d.introspection_endpoint; /* taken over from d */
    if (c->introspection && !intro) {
        char *url = ts_oidc__discovery_url(c->issuer);
        ts_error_set(err, TS_EINVAL, url ? url : "discovery",
                     "introspection is configured but the provider publishes no "
                     "introspection_endpoint");
        free(url);
        free(jwks);
        return NULL;
    }
    /* A fetched document always names a jwks_uri; none means the keys are in a file, which
       is never "unchanged". */
    if (jwks && cur && same(cur->jwks_uri, jwks) && same(cur->introspection_endpoint, intro)) {
        free(jwks);
        free(intro);
        *unchanged = true;
        return NULL;
    }
    ts_oidc__state *s = calloc(1, sizeof *s);
    if (!s) {
        free(jwks);
        free(intro);
        return ts_error_set(err, TS_ENOMEM, "discovery", "out of memory"), NULL;
    }
    atomic_init(&s->refs, 1);
    s->jwks_uri = jwks;
    s->introspection_endpoint = intro;
    s->ks = ts_oidc__provider_keysource(c, &d, err);
    if (s->ks) {
        ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
        const char *iss[1] = {c->issuer}, *aud[1] = {c->client_id};
        /* An ID token has no typ or "JWT"; access-token types (at+jwt) are not ID tokens. */
        const char *typs[1] = {"JWT"};
        const char *req[2] = {"sub", "iat"};
        vo.issuers = iss;
        vo.n_issuers = 1;
        vo.audiences = aud;
        vo.n_audiences = 1;
        vo.keysource = s->ks;
        vo.algorithms = c->algorithms;
        vo.typs = typs;
        vo.n_typs = 1;
        vo.leeway_s = c->leeway_s;
        vo.required_claims = req;
        vo.n_required_claims = 2;
        if (c->kind == TS_OIDC__KIND_KUBERNETES) {
            /* Service-account tokens: a dedicated audience of ours, no typ in their header,
               and an opaque kid (kube-apiserver's SHA-256 of the SPKI, not RFC 7638). The
               account, iat's age and legacy shapes are kubernetes.c's. */
            vo.audiences = (const char *const *)c->accepted_audiences.v;
            vo.n_audiences = c->accepted_audiences.n;
            vo.typs = NULL;
            vo.n_typs = 0;
            vo.n_required_claims = 1;
            /* Legacy Secret-based tokens have no aud and no exp: taken only when the operator
               allows them, and then only in their own shape (authn's legacy_k8s_issuer). */
            if (c->allow_legacy_tokens)
                vo.legacy_k8s_issuer = TS_OIDC__K8S_LEGACY_ISSUER;
        }
        vo.cache_entries = 1024;
        vo.now = verifier_now;
        vo.now_ud = rp;
        s->v = ts_authn_verifier_new(&vo, err);
    }
    if (!s->ks || !s->v) {
        state_release(s);
        return NULL;
    }
    return s;
}

/* @p force: run a discovery now and report its failure even when a stale document exists. */
static ts_status live_get(ts_oidc *rp, ts_oidc__rp_provider *p, bool force, ts_oidc__live *out,
                          ts_error *err)
{
    const ts_oidc__provider *c = p->cfg;
    memset(out, 0, sizeof *out);
    pthread_mutex_lock(&p->mu);
    for (;;) {
        int64_t now = mono_now();
        ts_oidc__state *cur = p->st;
        int64_t age = cur ? now - atomic_load(&cur->fetched) : 0;
        if (cur && age > (int64_t)c->jwks_max_stale_s) {
            /* Past its hard age a document is not trusted any more, even if nothing newer. */
            state_release(cur);
            p->st = cur = NULL;
        }
        bool fresh = !force && cur && age < (int64_t)c->discovery_ttl_s;
        if (fresh || (!force && cur && (p->discovering || now < p->retry_after)))
            break; /* fresh, or stale while another thread (or a later attempt) revalidates */
        if (p->discovering) {
            pthread_cond_wait(&p->cv, &p->mu);
            continue;
        }
        if (!force && !cur && now < p->retry_after) {
            pthread_mutex_unlock(&p->mu);
            return ts_error_set(err, TS_EIO, c->issuer,
                                "discovery failed recently; next attempt in %lld s",
                                (long long)(p->retry_after - now));
        }
        p->discovering = true;
        pthread_mutex_unlock(&p->mu);
        bool unchanged = false;
        ts_error de;
        ts_error_clear(&de);
        ts_oidc__state *ns = discover(rp, c, cur, &unchanged, &de);
        atomic_fetch_add(&p->discoveries, 1);
        pthread_mutex_lock(&p->mu);
        p->discovering = false;
        pthread_cond_broadcast(&p->cv);
        now = mono_now();
        if (ns) {
            atomic_store(&ns->fetched, now);
            state_release(p->st);
            p->st = ns;
            p->retry_after = 0;
            force = false;
        } else if (unchanged && p->st) {
            atomic_store(&p->st->fetched, now);
            p->retry_after = 0;
            force = false;
        } else {
            p->retry_after = now + (int64_t)c->jwks_refetch_cooldown_s;
            if (!p->st || force) {
                pthread_mutex_unlock(&p->mu);
                return ts_error_set(err, de.code, de.where, "%s", de.msg);
            }
        }
    }
    ts_oidc__state *s = p->st;
    atomic_fetch_add(&s->refs, 1);
    pthread_mutex_unlock(&p->mu);
    out->st = s;
    out->verifier = s->v;
    out->introspection_endpoint = s->introspection_endpoint;
    return TS_OK;
}

ts_status ts_oidc__live_get(ts_oidc *rp, ts_oidc__rp_provider *p, ts_oidc__live *out, ts_error *err)
{
    return live_get(rp, p, false, out, err);
}

ts_status ts_oidc_discover(ts_oidc *rp, const char *issuer, ts_error *err)
{
    if (!rp)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_discover", "NULL relying party");
    size_t hit = 0;
    for (size_t i = 0; i < rp->cfg->n; i++) {
        ts_oidc__rp_provider *p = &rp->p[i];
        if (issuer && strcmp(issuer, p->cfg->issuer) != 0)
            continue;
        hit++;
        /* A configuration check must see the provider as it is now, not a cached document. */
        ts_oidc__live l;
        ts_status st = live_get(rp, p, true, &l, err);
        if (st != TS_OK)
            return st;
        st = ts_authn_keysource_refresh(l.st->ks, err);
        ts_oidc__live_release(&l);
        if (st != TS_OK)
            return st;
    }
    if (issuer && hit == 0)
        return ts_error_set(err, TS_ENOTFOUND, issuer, "no provider with this issuer");
    return TS_OK;
}

unsigned long ts_oidc_jwks_fetch_count(const ts_oidc *rp, const char *issuer)
{
    if (!rp || !issuer)
        return 0;
    ts_oidc__rp_provider *p = ts_oidc__rp_find(rp, issuer, strlen(issuer));
    if (!p)
        return 0;
    pthread_mutex_lock(&p->mu);
    unsigned long n = p->st ? ts_authn_keysource_fetch_count(p->st->ks) : 0;
    pthread_mutex_unlock(&p->mu);
    return n;
}

unsigned long ts_oidc_discovery_count(const ts_oidc *rp, const char *issuer)
{
    if (!rp || !issuer)
        return 0;
    ts_oidc__rp_provider *p = ts_oidc__rp_find(rp, issuer, strlen(issuer));
    return p ? atomic_load(&p->discoveries) : 0;
}
