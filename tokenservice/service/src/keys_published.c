/* The keyring: the current key set (swapped on SIGHUP), its publication into the store, and
 * the served JWKS, which is the union of this replica's keys and the unexpired keys that other
 * replicas published there. Replicas need not share a key directory: a token signed by any of
 * them verifies against the JWKS of every one (docs/store.md, "Published keys").
 *
 * Lifetimes. A replica publishes each of its keys with not_after = now + the longest lifetime
 * of a token it signs + leeway, and republishes every minute, so the keys of a live replica
 * never expire; a key that left the key set (or whose replica died) stays served until every
 * token it signed has expired, then disappears and is collected.
 *
 * Memory safety without reference counts at the call sites: callers hold borrowed pointers to
 * keys and to the JWKS text. Replaced key sets are retired and freed only with the keyring
 * (one per reload that changed the keys: rare, operator driven). The JWKS text changes more
 * often (whenever any replica's keys do), so each thread that asks for it gets its own copy,
 * replaced only by that thread's next call. */
#define _GNU_SOURCE

#include "keys.h"

#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <tokensmith/store.h>

#include "keys_pkcs11.h"

typedef struct retired {
    struct retired *next;
    ts_svc_keyset *ks;
} retired;

/* One thread's copy of the served document. */
typedef struct tcopy {
    struct tcopy *next;
    uint64_t gen;
    char *doc;
} tcopy;

struct ts_svc_keyring {
    _Atomic(ts_svc_keyset *) cur;
    /* What ts_svc_keyring_reload() reads again. */
    char key_file[PATH_MAX], key_dir[PATH_MAX];
    ts_jws_alg want;
    bool allow_insecure;
    ts_svc_p11 *token; /* key_file is a pkcs11: URI: the token, opened once, freed last */

    pthread_mutex_t mu; /* guards everything below except gen; never held during I/O */
    retired *old;
    char *doc;            /* the current served document (malloc) */
    _Atomic uint64_t gen; /* bumped whenever doc changes */
    pthread_key_t tkey;   /* this thread's tcopy */
    bool tkey_ok;
    tcopy *copies;     /* every thread's copy, freed with the keyring */
    unsigned failures; /* refresher failures since ts_svc_keyring_take_failures() */
    char fail_reason[400];

    /* One publication or reload at a time, so that a timer publication of the old set cannot
     * interleave with a reload's publication of the new one. */
    pthread_mutex_t pub_mu;
    ts_store *store;
    int64_t lifetime_s;
    unsigned republish_s;
    pthread_cond_t cv; /* wakes the refresher early: stop */
    pthread_t thread;
    bool running, stop;
};

static ts_svc_keyset *current(const ts_svc_keyring *kr)
{
    return atomic_load(&((ts_svc_keyring *)(uintptr_t)kr)->cur);
}

/* Replace the served document with @p doc (taken); a document equal to the current one changes
 * nothing, so that threads do not copy it again for no reason. */
static void install_doc(ts_svc_keyring *kr, char *doc)
{
    pthread_mutex_lock(&kr->mu);
    if (kr->doc && strcmp(kr->doc, doc) == 0) {
        free(doc);
    } else {
        free(kr->doc);
        kr->doc = doc;
        atomic_fetch_add(&kr->gen, 1);
    }
    pthread_mutex_unlock(&kr->mu);
}

static void note_failure(ts_svc_keyring *kr, const ts_error *e)
{
    pthread_mutex_lock(&kr->mu);
    kr->failures++;
    snprintf(kr->fail_reason, sizeof kr->fail_reason, "%s: %s", e->where, e->msg);
    pthread_mutex_unlock(&kr->mu);
}

/* The token named by a pkcs11: URI in keyFile, logged in. */
static ts_svc_p11 *open_token(const char *uri, bool allow_insecure, ts_error *err)
{
    ts_svc_p11_options o;
    if (ts_svc_p11_uri_parse(uri, &o, err) != TS_OK)
        return NULL;
    o.allow_insecure_pin_file = allow_insecure;
    return ts_svc_p11_open(&o, err);
}

/* One reading of the keys: the token's keys (key_dir: where their rotation state is), or the
 * key file or directory. */
static ts_svc_keyset *open_set(ts_svc_p11 *token, const char *key_file, const char *key_dir,
                               ts_jws_alg want, bool allow_insecure, ts_error *err)
{
    if (token)
        return ts_svc_keyset_open_token(token, key_dir, want, err);
    return ts_svc_keyset_open(key_file, key_dir, want, allow_insecure, err);
}

ts_svc_keyring *ts_svc_keyring_open(const char *key_file, const char *key_dir, ts_jws_alg want,
                                    bool allow_insecure_permissions, ts_error *err)
{
    ts_svc_p11 *token = NULL;
    if (ts_svc_p11_is_uri(key_file) &&
        !(token = open_token(key_file, allow_insecure_permissions, err)))
        return NULL;
    ts_svc_keyset *ks = open_set(token, key_file, key_dir, want, allow_insecure_permissions, err);
    if (!ks) {
        ts_svc_p11_free(token);
        return NULL;
    }
    ts_svc_keyring *kr = calloc(1, sizeof *kr);
    char *doc = strdup(ts_svc_keyset_jwks_json(ks));
    if (!kr || !doc) {
        free(kr);
        free(doc);
        ts_svc_keyset_free(ks);
        ts_svc_p11_free(token);
        ts_error_set(err, TS_ENOMEM, "keys", "out of memory");
        return NULL;
    }
    kr->token = token;
    atomic_init(&kr->cur, ks);
    atomic_init(&kr->gen, 1);
    snprintf(kr->key_file, sizeof kr->key_file, "%s", key_file ? key_file : "");
    snprintf(kr->key_dir, sizeof kr->key_dir, "%s", key_dir ? key_dir : "");
    kr->want = want;
    kr->allow_insecure = allow_insecure_permissions;
    kr->doc = doc;
    pthread_mutex_init(&kr->mu, NULL);
    pthread_mutex_init(&kr->pub_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&kr->cv, &ca);
    pthread_condattr_destroy(&ca);
    kr->tkey_ok = pthread_key_create(&kr->tkey, NULL) == 0;
    return kr;
}

void ts_svc_keyring_free(ts_svc_keyring *kr)
{
    if (!kr)
        return;
    ts_svc_keyring_detach(kr);
    if (kr->tkey_ok)
        pthread_key_delete(kr->tkey);
    for (tcopy *c = kr->copies, *n; c; c = n) {
        n = c->next;
        free(c->doc);
        free(c);
    }
    for (retired *r = kr->old, *n; r; r = n) {
        n = r->next;
        ts_svc_keyset_free(r->ks);
        free(r);
    }
    ts_svc_keyset_free(atomic_load(&kr->cur));
    ts_svc_p11_free(kr->token); /* after every set: their keys borrow it */
    free(kr->doc);
    pthread_cond_destroy(&kr->cv);
    pthread_mutex_destroy(&kr->pub_mu);
    pthread_mutex_destroy(&kr->mu);
    free(kr);
}

const ts_jwk *ts_svc_keyring_active(const ts_svc_keyring *kr)
{
    return kr ? ts_svc_keyset_active(current(kr)) : NULL;
}

ts_status ts_svc_keyring_sign(const ts_svc_keyring *kr, const char *typ, const char *payload,
                              size_t len, char **out, size_t *out_len, ts_error *err)
{
    if (!kr)
        return ts_error_set(err, TS_EINVAL, "sign", "no keyring");
    return ts_svc_keyset_sign(current(kr), typ, payload, len, out, out_len, err);
}

ts_svc_p11 *ts_svc_keyring_token(const ts_svc_keyring *kr)
{
    return kr ? kr->token : NULL;
}

ts_jws_alg ts_svc_keyring_alg(const ts_svc_keyring *kr)
{
    return kr ? ts_svc_keyset_alg(current(kr)) : TS_JWS_ALG_UNKNOWN;
}

size_t ts_svc_keyring_count(const ts_svc_keyring *kr)
{
    return kr ? ts_svc_keyset_count(current(kr)) : 0;
}

const char *ts_svc_keyring_active_path(const ts_svc_keyring *kr)
{
    return kr ? ts_svc_keyset_active_path(current(kr)) : "";
}

const char *ts_svc_keyring_jwks_json(ts_svc_keyring *kr)
{
    if (!kr)
        return NULL;
    tcopy *c = kr->tkey_ok ? pthread_getspecific(kr->tkey) : NULL;
    if (!c && kr->tkey_ok && (c = calloc(1, sizeof *c)) != NULL) {
        pthread_mutex_lock(&kr->mu);
        c->next = kr->copies;
        kr->copies = c;
        pthread_mutex_unlock(&kr->mu);
        pthread_setspecific(kr->tkey, c);
    }
    if (c && c->gen != atomic_load(&kr->gen)) {
        pthread_mutex_lock(&kr->mu);
        char *d = strdup(kr->doc);
        if (d) {
            free(c->doc);
            c->doc = d;
            c->gen = atomic_load(&kr->gen);
        }
        pthread_mutex_unlock(&kr->mu);
    }
    /* Out of memory: this replica's own keys, which are never freed before the keyring. */
    return c && c->doc ? c->doc : ts_svc_keyset_jwks_json(current(kr));
}

ts_status ts_svc_key_publish_until(struct ts_store *store, const ts_jwk *key, int64_t now,
                                   int64_t token_exp, ts_error *err)
{
    if (!store || !key)
        return ts_error_set(err, TS_EINVAL, "keys", "no store or key to publish");
    char *jwk = ts_jwk_to_json(key, err); /* the public members only */
    if (!jwk)
        return err ? err->code : TS_ENOMEM;
    ts_status st = ts_store_key_publish(store, ts_jwk_kid(key), ts_jws_alg_name(ts_jwk_alg(key)),
                                        jwk, now, token_exp + TS_SVC_KEY_LEEWAY_S, err);
    ts_free(jwk);
    return st;
}

/* Publish every key of @p ks. Caller holds pub_mu. */
static ts_status publish_set(ts_svc_keyring *kr, const ts_svc_keyset *ks, size_t *published,
                             ts_error *err)
{
    int64_t now = (int64_t)time(NULL);
    *published = 0;
    for (size_t i = 0; i < ts_svc_keyset_count(ks); i++) {
        const ts_jwk *k = ts_svc_keyset_key(ks, i);
        char *jwk = ts_jwk_to_json(k, err); /* the public members only */
        if (!jwk)
            return err ? err->code : TS_ENOMEM;
        ts_status st =
            ts_store_key_publish(kr->store, ts_jwk_kid(k), ts_jws_alg_name(ts_jwk_alg(k)), jwk, now,
                                 now + kr->lifetime_s, err);
        ts_free(jwk);
        if (st != TS_OK)
            return st;
        (*published)++;
    }
    return TS_OK;
}

/* The union of @p ks and the store's unexpired published keys. */
typedef struct gather {
    ts_jwk *keys[TS_JOSE_MAX_JWKS_KEYS];
    size_t n, skipped;
} gather;

static int gather_key(const ts_store_published_key *row, void *ud)
{
    gather *g = ud;
    if (g->n >= TS_JOSE_MAX_JWKS_KEYS) {
        g->skipped++;
        return 0;
    }
    ts_error e;
    ts_error_clear(&e);
    ts_jwk *k = ts_jwk_parse(row->jwk, strlen(row->jwk), &e);
    /* A row is served only under the kid that is its key's thumbprint: a row written by
     * anything else than a replica cannot take over another key's kid. */
    if (!k || strcmp(ts_jwk_thumbprint(k), row->kid) != 0 || strcmp(ts_jwk_kid(k), row->kid) != 0) {
        ts_jwk_free(k);
        g->skipped++;
        return 0;
    }
    g->keys[g->n++] = k;
    return 0;
}

static ts_status refresh(ts_svc_keyring *kr, ts_svc_keys_report *rep, ts_error *err)
{
    gather *g = calloc(1, sizeof *g);
    if (!g)
        return ts_error_set(err, TS_ENOMEM, "jwks", "out of memory");
    const ts_svc_keyset *ks = current(kr);
    size_t local = ts_svc_keyset_count(ks);
    for (size_t i = 0; i < local; i++)
        g->keys[g->n++] = (ts_jwk *)(uintptr_t)ts_svc_keyset_key(ks, i);
    ts_status st = ts_store_key_list(kr->store, (int64_t)time(NULL), gather_key, g, err);
    char *doc = NULL;
    size_t served = 0;
    if (st == TS_OK) {
        ts_jwks *set = ts_jwks_new(g->keys, g->n, err);
        if (set) {
            char *json = ts_jwks_to_json(set, err);
            served = ts_jwks_count(set);
            ts_jwks_free(set);
            doc = json ? strdup(json) : NULL;
            ts_free(json);
            if (json && !doc)
                st = ts_error_set(err, TS_ENOMEM, "jwks", "out of memory");
        }
        if (!doc && st == TS_OK)
            st = err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    }
    for (size_t i = local; i < g->n; i++)
        ts_jwk_free(g->keys[i]);
    if (rep) {
        rep->served = served;
        rep->foreign = served > local ? served - local : 0;
        rep->skipped = g->skipped;
    }
    free(g);
    if (st == TS_OK)
        install_doc(kr, doc);
    return st;
}

static void *refresher(void *arg)
{
    ts_svc_keyring *kr = arg;
    struct timespec last_pub;
    clock_gettime(CLOCK_MONOTONIC, &last_pub);
    pthread_mutex_lock(&kr->mu);
    while (!kr->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += 1;
        while (!kr->stop && pthread_cond_timedwait(&kr->cv, &kr->mu, &until) != ETIMEDOUT)
            ;
        if (kr->stop)
            break;
        pthread_mutex_unlock(&kr->mu);
        struct timespec now;
        clock_gettime(CLOCK_MONOTONIC, &now);
        ts_error e;
        ts_error_clear(&e);
        if (now.tv_sec - last_pub.tv_sec >= (time_t)kr->republish_s) {
            size_t n = 0;
            pthread_mutex_lock(&kr->pub_mu);
            ts_status st = publish_set(kr, current(kr), &n, &e);
            pthread_mutex_unlock(&kr->pub_mu);
            if (st == TS_OK)
                last_pub = now; /* a failed publication is retried every second */
            else
                note_failure(kr, &e);
            ts_error_clear(&e);
        }
        if (refresh(kr, NULL, &e) != TS_OK)
            note_failure(kr, &e);
        pthread_mutex_lock(&kr->mu);
    }
    pthread_mutex_unlock(&kr->mu);
    return NULL;
}

ts_status ts_svc_keyring_attach(ts_svc_keyring *kr, ts_store *store, int64_t key_lifetime_s,
                                unsigned republish_s, ts_svc_keys_report *out, ts_error *err)
{
    ts_svc_keys_report rep;
    memset(&rep, 0, sizeof rep);
    if (!kr || !store || key_lifetime_s < 1 || republish_s < 1)
        return ts_error_set(err, TS_EINVAL, "keys", "keyring attach: bad arguments");
    if (kr->running)
        return ts_error_set(err, TS_EINVAL, "keys", "keyring already attached");
    kr->store = store;
    kr->lifetime_s = key_lifetime_s;
    kr->republish_s = republish_s;
    pthread_mutex_lock(&kr->pub_mu);
    ts_status st = publish_set(kr, current(kr), &rep.published, err);
    pthread_mutex_unlock(&kr->pub_mu);
    if (st == TS_OK)
        st = refresh(kr, &rep, err);
    if (st == TS_OK) {
        kr->stop = false;
        if (pthread_create(&kr->thread, NULL, refresher, kr) != 0)
            st = ts_error_set(err, TS_EINTERNAL, "keys", "cannot start the JWKS refresher");
        else
            kr->running = true;
    }
    if (st != TS_OK)
        kr->store = NULL;
    snprintf(rep.active_kid, sizeof rep.active_kid, "%s",
             ts_jwk_kid(ts_svc_keyset_active(current(kr))));
    if (out)
        *out = rep;
    return st;
}

void ts_svc_keyring_detach(ts_svc_keyring *kr)
{
    if (!kr || !kr->running)
        return;
    pthread_mutex_lock(&kr->mu);
    kr->stop = true;
    pthread_cond_broadcast(&kr->cv);
    pthread_mutex_unlock(&kr->mu);
    pthread_join(kr->thread, NULL);
    kr->running = false;
    kr->store = NULL;
}

/* Whether two sets hold the same keys with the same active one. */
static bool same_set(const ts_svc_keyset *a, const ts_svc_keyset *b)
{
    size_t n = ts_svc_keyset_count(a);
    if (n != ts_svc_keyset_count(b) ||
        strcmp(ts_jwk_kid(ts_svc_keyset_active(a)), ts_jwk_kid(ts_svc_keyset_active(b))) != 0 ||
        ts_svc_keyset_alg(a) != ts_svc_keyset_alg(b))
        return false;
    for (size_t i = 0; i < n; i++) {
        bool found = false;
        for (size_t j = 0; j < n && !found; j++)
            found = strcmp(ts_jwk_kid(ts_svc_keyset_key(a, i)),
                           ts_jwk_kid(ts_svc_keyset_key(b, j))) == 0;
        if (!found)
            return false;
    }
    return true;
}

ts_status ts_svc_keyring_reload(ts_svc_keyring *kr, ts_svc_keys_report *out, ts_error *err)
{
    ts_svc_keys_report rep;
    memset(&rep, 0, sizeof rep);
    if (out)
        *out = rep;
    if (!kr)
        return ts_error_set(err, TS_EINVAL, "keys", "no keyring");
    ts_svc_keyset *ks =
        open_set(kr->token, kr->key_file, kr->key_dir, kr->want, kr->allow_insecure, err);
    if (!ks)
        return err ? err->code : TS_EINVAL;
    retired *r = calloc(1, sizeof *r);
    if (!r) {
        ts_svc_keyset_free(ks);
        return ts_error_set(err, TS_ENOMEM, "keys", "out of memory");
    }
    pthread_mutex_lock(&kr->pub_mu);
    ts_svc_keyset *old = current(kr);
    ts_status st = TS_OK;
    rep.changed = !same_set(old, ks);
    if (rep.changed && kr->store)
        st = publish_set(kr, ks, &rep.published, err); /* before any token is signed with it */
    if (st == TS_OK && rep.changed) {
        atomic_store(&kr->cur, ks);
        r->ks = old;
        pthread_mutex_lock(&kr->mu);
        r->next = kr->old;
        kr->old = r;
        pthread_mutex_unlock(&kr->mu);
        r = NULL;
        ks = NULL;
    }
    pthread_mutex_unlock(&kr->pub_mu);
    free(r);
    ts_svc_keyset_free(ks); /* unchanged or refused: the new reading goes */
    if (st == TS_OK && rep.changed) {
        ts_error e;
        ts_error_clear(&e);
        if (kr->store) {
            /* A failed refresh is not a failed reload: the refresher tries again each second. */
            if (refresh(kr, &rep, &e) != TS_OK)
                note_failure(kr, &e);
        } else {
            char *doc = strdup(ts_svc_keyset_jwks_json(current(kr)));
            if (doc)
                install_doc(kr, doc);
        }
    }
    snprintf(rep.active_kid, sizeof rep.active_kid, "%s",
             ts_jwk_kid(ts_svc_keyset_active(current(kr))));
    if (out)
        *out = rep;
    return st;
}

unsigned ts_svc_keyring_take_failures(ts_svc_keyring *kr, char *reason, size_t cap)
{
    if (!kr)
        return 0;
    pthread_mutex_lock(&kr->mu);
    unsigned n = kr->failures;
    if (reason && cap)
        snprintf(reason, cap, "%s", kr->fail_reason);
    kr->failures = 0;
    pthread_mutex_unlock(&kr->mu);
    return n;
}
