/* Kubernetes service-account tokens as bearer tokens of an API of tokensmith's own
   (oidc_k8s_bearer.h). The checks are the exchange's (kubernetes.c): authn's verifier with the
   provider's issuer, algorithms, leeway and keys, then authn's one reading of the account with
   the provider's age rule. Legacy Secret-based tokens are never taken here, allowed for the
   exchange or not: they carry no audience, and the audience is what says a token was meant for
   this API. Only the audience differs from the exchange, and that is the point: the
   verifier the exchange uses accepts accepted_audiences, this one exactly the API's audience,
   so each needs its own authn verifier; the keys are the provider's, found as the exchange
   finds them (provider_keys.c: its jwks_file, or the jwks_uri its discovery document names),
   fetched through a key source of this verifier's own.
   Identity rules are not applied: they grant what the exchange issues, while an API's policy
   decides what the account may do there. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authn.h>
#include <tokensmith/oidc_k8s_bearer.h>

#include "oidc_internal.h"

/* One Kubernetes provider: its keys and verifier, built on the first token when the keys come
   from discovery. */
typedef struct kprov {
    const ts_oidc__provider *cfg; /* borrowed from the configuration */
    pthread_mutex_t mu;           /* guards the lazy build below */
    ts_authn_keysource *ks;
    ts_authn_verifier *v;
    int64_t retry_after; /* monotonic seconds: no discovery before this after a failure */
} kprov;

struct ts_oidc_k8s_bearer {
    atomic_uint refs;
    ts_oidc_config *cfg;
    char *audience;
    kprov *p;
    size_t n;
};

static int64_t mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec;
}

/* The key source and verifier of @p k: its provider's keys where @p d says, or its jwks_file
   (provider_keys.c: the same keys and key-cache settings as the exchange's), and this
   verifier's audience. */
static ts_status build(ts_oidc_k8s_bearer *b, kprov *k, const ts_oidc_discovery *d, ts_error *err)
{
    const ts_oidc__provider *c = k->cfg;
    ts_authn_keysource *ks = ts_oidc__provider_keysource(c, d, err);
    if (!ks)
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
    const char *iss[1] = {c->issuer}, *aud[1] = {b->audience}, *req[1] = {"sub"};
    vo.issuers = iss;
    vo.n_issuers = 1;
    vo.audiences = aud;
    vo.n_audiences = 1;
    vo.keysource = ks;
    vo.algorithms = c->algorithms;
    vo.leeway_s = c->leeway_s;
    vo.required_claims = req;
    vo.n_required_claims = 1;
    vo.cache_entries = 1024;
    /* No typ in a service-account token's header, and kube-apiserver's kid is opaque (the
       defaults: any typ of JWT, no RFC 7638 requirement). */
    ts_authn_verifier *v = ts_authn_verifier_new(&vo, err);
    if (!v) {
        ts_authn_keysource_free(ks);
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    }
    k->ks = ks;
    k->v = v;
    return TS_OK;
}

ts_oidc_k8s_bearer *ts_oidc_k8s_bearer_new(ts_oidc_config *cfg, const char *audience, ts_error *err)
{
    if (!cfg || !audience || !audience[0])
        return ts_error_set(err, TS_EINVAL, "ts_oidc_k8s_bearer_new", "NULL argument"), NULL;
    ts_oidc_k8s_bearer *b = calloc(1, sizeof *b);
    if (!b || !(b->audience = strdup(audience)) ||
        !(b->p = calloc(cfg->n ? cfg->n : 1, sizeof *b->p))) {
        if (b)
            free(b->audience);
        free(b);
        return ts_error_set(err, TS_ENOMEM, "oidc", "out of memory"), NULL;
    }
    atomic_init(&b->refs, 1);
    b->cfg = ts_oidc_config_ref(cfg);
    for (size_t i = 0; i < cfg->n; i++) {
        const ts_oidc__provider *c = &cfg->p[i];
        if (c->kind != TS_OIDC__KIND_KUBERNETES)
            continue;
        if (ts_oidc__strv_has(&c->accepted_audiences, audience)) {
            /* A token for the exchange would open the API too, and the reverse. */
            char where[64];
            snprintf(where, sizeof where, "oidc.providers[%zu].accepted_audiences", i);
            ts_error_set(err, TS_EINVAL, where,
                         "provider %s: accepted_audiences must not hold \"%s\", the audience of "
                         "tokensmith's own API",
                         c->issuer, audience);
            ts_oidc_k8s_bearer_free(b);
            return NULL;
        }
        kprov *k = &b->p[b->n];
        k->cfg = c;
        pthread_mutex_init(&k->mu, NULL);
        b->n++;
        /* Keys in a file are read now: an unreadable file is a configuration error, not a
           refusal of the first token. Discovery waits for the first token of the cluster. */
        if (c->jwks_file && build(b, k, NULL, err) != TS_OK) {
            ts_oidc_k8s_bearer_free(b);
            return NULL;
        }
    }
    return b;
}

ts_oidc_k8s_bearer *ts_oidc_k8s_bearer_ref(ts_oidc_k8s_bearer *b)
{
    if (b)
        atomic_fetch_add(&b->refs, 1);
    return b;
}

void ts_oidc_k8s_bearer_free(ts_oidc_k8s_bearer *b)
{
    if (!b || atomic_fetch_sub(&b->refs, 1) != 1)
        return;
    for (size_t i = 0; i < b->n; i++) {
        ts_authn_verifier_free(b->p[i].v);
        ts_authn_keysource_free(b->p[i].ks);
        pthread_mutex_destroy(&b->p[i].mu);
    }
    free(b->p);
    free(b->audience);
    ts_oidc_config_free(b->cfg);
    free(b);
}

const ts_oidc_config *ts_oidc_k8s_bearer_config(const ts_oidc_k8s_bearer *b)
{
    return b ? b->cfg : NULL;
}

/* The provider the unverified issuer of @p token names, or NULL. */
static kprov *find(const ts_oidc_k8s_bearer *b, const char *token, size_t len)
{
    if (!b || !b->n || !token)
        return NULL;
    char *iss = NULL;
    if (ts_authn_peek_issuer(token, len, 0, &iss, NULL) != TS_AUTHN_OK)
        return NULL;
    kprov *hit = NULL;
    for (size_t i = 0; i < b->n && !hit; i++)
        if (strcmp(b->p[i].cfg->issuer, iss) == 0)
            hit = &b->p[i];
    ts_free(iss);
    return hit;
}

bool ts_oidc_k8s_bearer_handles(const ts_oidc_k8s_bearer *b, const char *token, size_t len)
{
    return find(b, token, len) != NULL;
}

/* The verifier of @p k, running its discovery first when there is none yet. Holding the lock
   through the discovery makes it single-flight: the requests meanwhile wait for its outcome
   (at most the provider's timeout) instead of each fetching the document. */
static const ts_authn_verifier *verifier(ts_oidc_k8s_bearer *b, kprov *k, ts_error *err)
{
    pthread_mutex_lock(&k->mu);
    if (!k->v) {
        int64_t now = mono_s();
        if (now < k->retry_after) {
            ts_error_set(err, TS_EIO, k->cfg->issuer,
                         "discovery failed recently; next attempt in %lld s",
                         (long long)(k->retry_after - now));
        } else {
            ts_oidc_discovery d;
            if (ts_oidc__provider_discover(k->cfg, &d, err) != TS_OK ||
                build(b, k, &d, err) != TS_OK)
                k->retry_after = mono_s() + (int64_t)k->cfg->jwks_refetch_cooldown_s;
            ts_oidc_discovery_cleanup(&d);
        }
    }
    const ts_authn_verifier *v = k->v;
    pthread_mutex_unlock(&k->mu);
    return v; /* once set it stays until the bearer is freed */
}

ts_authn_reason ts_oidc_k8s_bearer_verify(ts_oidc_k8s_bearer *b, const char *token, size_t len,
                                          ts_oidc_k8s_caller *out, ts_authn_detail *detail,
                                          ts_error *err)
{
    if (detail)
        memset(detail, 0, sizeof *detail);
    if (!out)
        return TS_AUTHN_INTERNAL;
    memset(out, 0, sizeof *out);
    kprov *k = find(b, token, len);
    if (!k) {
        ts_error_set(err, TS_EINVAL, "iss", "not the issuer of a Kubernetes provider");
        return TS_AUTHN_WRONG_ISSUER;
    }
    const ts_authn_verifier *v = verifier(b, k, err);
    if (!v)
        return TS_AUTHN_INTERNAL;
    ts_authn_principal *pr = NULL;
    ts_authn_reason r = ts_authn_verify(v, token, len, &pr, detail, err);
    if (r != TS_AUTHN_OK)
        return r;
    ts_authn_k8s_rules rules = TS_AUTHN_K8S_RULES_INIT;
    rules.allow_legacy = false; /* see the top of this file */
    rules.max_token_age_s = k->cfg->max_token_age_s;
    r = ts_authn_kubernetes_account(pr, &rules, (int64_t)time(NULL), &out->account, err);
    if (r == TS_AUTHN_OK && strstr(k->cfg->subject_template, "{uid}") && !out->account.uid[0]) {
        ts_error_set(err, TS_EINVAL, "kubernetes.io.serviceaccount.uid",
                     "the subject_template needs the service account's uid");
        r = TS_AUTHN_MISSING_CLAIM;
    }
    char *sub = NULL;
    if (r == TS_AUTHN_OK && !(sub = ts_oidc__k8s_subject(k->cfg, out->account.namespace_name,
                                                         out->account.name, out->account.uid))) {
        ts_error_set(err, TS_ENOMEM, "subject", "out of memory");
        r = TS_AUTHN_INTERNAL;
    }
    if (r == TS_AUTHN_OK && strlen(sub) >= sizeof out->subject) {
        ts_error_set(err, TS_ELIMIT, "subject", "the subject is too long");
        r = TS_AUTHN_INVALID_CLAIM;
    }
    if (r == TS_AUTHN_OK) {
        snprintf(out->subject, sizeof out->subject, "%s", sub);
        snprintf(out->issuer, sizeof out->issuer, "%s", k->cfg->issuer);
        out->exp = ts_authn_principal_exp(pr);
    } else {
        memset(out, 0, sizeof *out);
    }
    free(sub);
    ts_authn_principal_free(pr);
    return r;
}
