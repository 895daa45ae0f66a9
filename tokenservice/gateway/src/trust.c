/* The trusted issuers: one key source and one verifier per trust entry, so that one issuer's
 * keys can never verify a token that names another issuer (a merged key set would let a
 * Kubernetes key sign for tokensmith). The entry is picked by the token's UNVERIFIED `iss`
 * (ts_authn_peek_issuer()), which is only a lookup key: the entry's verifier then checks `iss`
 * again together with the signature.
 *
 * An entry with `revocations` also has a revocation source (authn_revocations.h): its own
 * thread polls the issuer's list, verified with the entry's key source, and the verifier
 * consults it on every verification, a cached token's included. It is built with the key
 * source, so an issuer found by discovery starts polling once its keys are known (before
 * that its tokens cannot be verified anyway). Lifetime: the verifier is freed first, then the
 * source (it borrows the key source), then the key source; the set lives as long as the core,
 * which SIGHUP does not rebuild. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strdup, strncasecmp */
#include <pthread.h>
#include <stdio.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/authn_revocations.h>
#include <tokensmith/oidc.h>

#include "core_internal.h"

/* A failed discovery is not retried sooner than this: a down issuer must not turn every check
 * into a blocking HTTP request. */
#define DISCOVERY_RETRY_S 30

typedef struct entry {
    const ts_gateway_trust *cfg;
    size_t index; /* in trust[], for errors */
    ts_authn_keysource *keysource;
    ts_authn_revocations *revocations;     /* NULL without `revocations` */
    _Atomic(ts_authn_verifier *) verifier; /* published once; NULL until discovery succeeded */
    pthread_mutex_t lock;                  /* one discovery at a time */
    int64_t last_attempt;                  /* under lock; 0 = never */
} entry;

struct ts_gateway__trustset {
    entry *entries;
    size_t n;
    const ts_authn_scope_role *scope_roles;
    size_t n_scope_roles;
};

/* Name the member at fault in @p err: `where` is the configuration's path. */
static ts_status blame(ts_error *err, const entry *e, const char *member)
{
    if (!err)
        return TS_EINVAL;
    snprintf(err->where, sizeof err->where, "trust[%zu].%s", e->index, member);
    return err->code;
}

/* The entry's revocation source, polling at once, its list verified with @p ks. */
static ts_status build_revocations(entry *e, ts_authn_keysource *ks, ts_error *err)
{
    const ts_gateway_trust *c = e->cfg;
    ts_authn_revocations_options ro = TS_AUTHN_REVOCATIONS_OPTIONS_INIT;
    ro.url = c->revocations;
    ro.issuer = c->issuer;
    ro.keysource = ks;
    /* Checked by the configuration: 1..3600 s and 1 s..1 day. */
    ro.poll_interval_ms = (unsigned)c->revocations_poll_s * 1000u;
    ro.max_stale_s = (unsigned)c->revocations_max_stale_s;
    ro.fail_open = c->revocations_fail_open;
    e->revocations = ts_authn_revocations_new(&ro, err);
    if (e->revocations)
        return TS_OK;
    const char *where = err ? err->where : "";
    return blame(err, e,
                 strcmp(where, "poll_interval_ms") == 0 ? "revocations_poll"
                 : strcmp(where, "max_stale_s") == 0    ? "revocations_max_stale"
                                                        : "revocations");
}

/* The entry's key source, revocation source and verifier; on failure none of them, and @p err
 * names the member at fault. */
static ts_status build_verifier(const ts_gateway__trustset *t, entry *e, const char *jwks_uri,
                                ts_error *err)
{
    const char *uri = jwks_uri;
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    /* file:// reads a local JWK Set (keys distributed out of band, and the unit tests). */
    if (strncmp(uri, "file://", 7) == 0) {
        uri += 7;
        ko.jwks_files = &uri;
        ko.n_jwks_files = 1;
    } else {
        ko.urls = &uri;
        ko.n_urls = 1;
    }
    ts_authn_keysource *ks = ts_authn_keysource_new(&ko, err);
    if (!ks)
        return blame(err, e, "jwks_uri");
    if (e->cfg->revocations[0] && build_revocations(e, ks, err) != TS_OK) {
        ts_authn_keysource_free(ks);
        return err ? err->code : TS_EINVAL;
    }
    const char *iss = e->cfg->issuer;
    const char *auds[TS_GATEWAY_MAX_AUDIENCES];
    for (size_t i = 0; i < e->cfg->n_audiences; i++)
        auds[i] = e->cfg->audiences[i];
    ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
    vo.issuers = &iss;
    vo.n_issuers = 1;
    vo.audiences = auds;
    vo.n_audiences = e->cfg->n_audiences;
    vo.keysource = ks;
    vo.scope_roles = t->scope_roles;
    vo.n_scope_roles = t->n_scope_roles;
    vo.revocations = e->revocations;
    ts_authn_verifier *v = ts_authn_verifier_new(&vo, err);
    if (!v) {
        ts_authn_revocations_free(e->revocations);
        e->revocations = NULL;
        ts_authn_keysource_free(ks);
        return blame(err, e, "jwks_uri");
    }
    e->keysource = ks;
    atomic_store_explicit(&e->verifier, v, memory_order_release);
    return TS_OK;
}

ts_gateway__trustset *ts_gateway__trust_new(const ts_gateway_config *cfg,
                                            const ts_authn_scope_role *scope_roles,
                                            size_t n_scope_roles, ts_error *err)
{
    if (!cfg || cfg->n_trust == 0) {
        ts_error_set(err, TS_EINVAL, "trust", "no trusted issuer");
        return NULL;
    }
    ts_gateway__trustset *t = calloc(1, sizeof *t);
    if (t)
        t->entries = calloc(cfg->n_trust, sizeof *t->entries);
    if (!t || !t->entries) {
        free(t);
        ts_error_set(err, TS_ENOMEM, "trust", "out of memory");
        return NULL;
    }
    t->scope_roles = scope_roles;
    t->n_scope_roles = n_scope_roles;
    for (size_t i = 0; i < cfg->n_trust; i++) {
        entry *e = &t->entries[i];
        e->cfg = &cfg->trust[i];
        e->index = i;
        atomic_init(&e->verifier, NULL);
        pthread_mutex_init(&e->lock, NULL);
        t->n = i + 1;
        if (e->cfg->jwks_uri[0] && build_verifier(t, e, e->cfg->jwks_uri, err) != TS_OK) {
            ts_gateway__trust_free(t);
            return NULL;
        }
    }
    return t;
}

void ts_gateway__trust_free(ts_gateway__trustset *t)
{
    if (!t)
        return;
    for (size_t i = 0; i < t->n; i++) {
        /* The verifier borrows the revocation source, which borrows the key source. */
        ts_authn_verifier_free(atomic_load(&t->entries[i].verifier));
        ts_authn_revocations_free(t->entries[i].revocations);
        ts_authn_keysource_free(t->entries[i].keysource);
        pthread_mutex_destroy(&t->entries[i].lock);
    }
    free(t->entries);
    free(t);
}

/* The entry's verifier, discovering its jwks_uri first when it has none yet. */
static ts_authn_verifier *verifier_of(const ts_gateway__trustset *t, entry *e, ts_error *err)
{
    ts_authn_verifier *v = atomic_load_explicit(&e->verifier, memory_order_acquire);
    if (v)
        return v;
    pthread_mutex_lock(&e->lock);
    v = atomic_load_explicit(&e->verifier, memory_order_acquire);
    int64_t now = (int64_t)time(NULL);
    if (!v && (e->last_attempt == 0 || now - e->last_attempt >= DISCOVERY_RETRY_S)) {
        e->last_attempt = now;
        ts_oidc_discovery d = {0};
        if (ts_oidc_discovery_fetch(e->cfg->issuer, 0, &d, err) == TS_OK &&
            build_verifier(t, e, d.jwks_uri, err) == TS_OK)
            v = atomic_load_explicit(&e->verifier, memory_order_acquire);
        ts_oidc_discovery_cleanup(&d);
    } else if (!v) {
        ts_error_set(err, TS_EIO, "trust", "discovery failed less than %d s ago",
                     DISCOVERY_RETRY_S);
    }
    pthread_mutex_unlock(&e->lock);
    return v;
}

ts_authn_reason ts_gateway__trust_verify(ts_gateway__trustset *t, const char *token, size_t len,
                                         const ts_gateway_trust **entry_out,
                                         ts_authn_principal **out, ts_authn_detail *detail,
                                         ts_error *err)
{
    *out = NULL;
    *entry_out = NULL;
    entry *e = NULL;
    if (t->n == 1 && atomic_load_explicit(&t->entries[0].verifier, memory_order_acquire)) {
        /* One entry with its keys: its verifier accepts only its issuer, so reading `iss` first
           would only repeat that check (and cost a decode and a parse of every token, cache hit
           or not). Before its discovery succeeded, `iss` is read first, so that a malformed or
           foreign token is a 401, not a 503 while the issuer is down. */
        e = &t->entries[0];
    } else {
        char *iss = NULL;
        ts_authn_reason r = ts_authn_peek_issuer(token, len, 0, &iss, err);
        if (r != TS_AUTHN_OK)
            return r;
        for (size_t i = 0; i < t->n && !e; i++)
            if (strcmp(t->entries[i].cfg->issuer, iss) == 0)
                e = &t->entries[i];
        ts_free(iss);
    }
    if (!e) {
        ts_error_set(err, TS_EINVAL, "iss", "no trust entry for this issuer");
        return TS_AUTHN_WRONG_ISSUER;
    }
    *entry_out = e->cfg;
    ts_authn_verifier *v = verifier_of(t, e, err);
    if (!v)
        return TS_AUTHN_KEYS_UNAVAILABLE;
    return ts_authn_verify(v, token, len, out, detail, err);
}

void ts_gateway__trust_cache_stats(ts_gateway__trustset *t, uint64_t *hits, uint64_t *misses)
{
    *hits = *misses = 0;
    for (size_t i = 0; i < t->n; i++) {
        ts_authn_verifier *v = atomic_load_explicit(&t->entries[i].verifier, memory_order_acquire);
        if (!v)
            continue;
        uint64_t h = 0, m = 0;
        size_t n = 0;
        ts_authn_verifier_cache_stats(v, &h, &m, &n);
        *hits += h;
        *misses += m;
    }
}
