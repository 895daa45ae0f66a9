/* Translation: the token the upstream gets instead of the caller's, signed with the gateway's
 * own keys (its key directory, loaded as `tokensmith serve` loads its own), and the bounded
 * cache that lets one caller's repeated requests reuse it (docs/gateway.md, "Decisions").
 * The cache holds bearer tokens, so it wipes every value it frees and is keyed by a hash of the
 * presented token, never the token. */
#define _POSIX_C_SOURCE 200809L /* clock_gettime, strdup, strncasecmp */
/* SHA256_Init() and friends: deprecated in OpenSSL 3 but in every 3.x release, and the one way
   to hash without a provider fetch and two allocations per call (authn/src/jose/sha256.c says
   more); the cache key is hashed on every check. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <dirent.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/sha.h>
#include <tokensmith/jose.h>

#include "common/json_writer.h"
#include "common/lru.h"
#include "common/mem.h"
#include "core_internal.h"
#include "jti.h"
#include "keys.h"

/* A cached token is reused until this long before it (or the presented token) expires, so an
 * upstream never receives a token about to lapse in flight: max(10 s, ttl / 10). */
#define REUSE_MARGIN_MIN_S 10

#define KIDS_MAX 8u
#define TS_GATEWAY__KID_MAX 96u

typedef struct cached {
    int64_t reuse_until;
    uint16_t len;
    char jwt[TS_GATEWAY__MAX_JWT];
} cached;

struct ts_gateway__translator {
    ts_svc_keyring *keys;
    ts_common__lru *cache; /* NULL: no cache */
    char *issuer;
    char *token_type;
    int64_t ttl_s;
    int64_t (*now)(void *ud);
    void *now_ud;
    _Atomic uint64_t signed_tokens;
    _Atomic uint64_t hits, misses; /* a stale entry is a miss, unlike the map's own count */
    /* The kids of the keys the cached tokens were signed with (a reload checks that each is
     * still published); more than KIDS_MAX different ones since the last emptying counts as
     * "unknown", and the next reload that changes the keys empties the cache. */
    pthread_mutex_t kids_mu;
    char kids[KIDS_MAX][TS_GATEWAY__KID_MAX];
    size_t n_kids;
    bool kids_unknown;
};

/* Remember that a cached token may be signed by the key @p kid. */
static void note_kid(ts_gateway__translator *t, const char *kid)
{
    pthread_mutex_lock(&t->kids_mu);
    bool known = false;
    for (size_t i = 0; i < t->n_kids && !known; i++)
        known = strcmp(t->kids[i], kid) == 0;
    if (!known && t->n_kids < KIDS_MAX && strlen(kid) < TS_GATEWAY__KID_MAX)
        snprintf(t->kids[t->n_kids++], TS_GATEWAY__KID_MAX, "%s", kid);
    else if (!known)
        t->kids_unknown = true;
    pthread_mutex_unlock(&t->kids_mu);
}

static int64_t wall_clock(void *ud)
{
    (void)ud;
    return (int64_t)time(NULL);
}

static bool dir_has_key(const char *dir)
{
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *de;
    while (!found && (de = readdir(d)) != NULL) {
        size_t n = strlen(de->d_name);
        found = n > 4 && strcmp(de->d_name + n - 4, ".pem") == 0;
    }
    closedir(d);
    return found;
}

ts_gateway__translator *ts_gateway__translator_new(const ts_gateway__translator_options *o,
                                                   ts_error *err)
{
    ts_jws_alg want = TS_JWS_ALG_UNKNOWN;
    if (o->algorithm && *o->algorithm) {
        want = ts_jws_alg_parse(o->algorithm, strlen(o->algorithm));
        if (want == TS_JWS_ALG_UNKNOWN) {
            ts_error_set(err, TS_EINVAL, "algorithm", "unknown algorithm");
            return NULL;
        }
    }
    /* A key in a PKCS#11 token exists or the keyring says why not; one is never created. */
    bool in_token = o->key_file && *o->key_file;
    bool have_key = in_token || dir_has_key(o->key_dir);
    if (!have_key && o->read_only_keys) {
        ts_error_set(err, TS_ENOTFOUND, o->key_dir, "no *.pem key (not created by --check)");
        return NULL;
    }
    /* A new key is ES256 unless the configuration names another algorithm: an RSA signature
     * per translation would dominate the cost of a cache miss. */
    if (!have_key && want == TS_JWS_ALG_UNKNOWN)
        want = TS_JWS_ES256;
    ts_gateway__translator *t = calloc(1, sizeof *t);
    if (!t) {
        ts_error_set(err, TS_ENOMEM, "translate", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&t->kids_mu, NULL);
    t->issuer = strdup(o->issuer ? o->issuer : "");
    t->token_type = strdup(o->token_type && *o->token_type ? o->token_type : "JWT");
    t->ttl_s = o->ttl_s > 0 ? o->ttl_s : 300;
    t->now = o->now ? o->now : wall_clock;
    t->now_ud = o->now_ud;
    if (!t->issuer || !t->token_type ||
        (o->cache_entries &&
         !(t->cache = ts_common__lru_new(o->cache_entries, sizeof(cached), TS_COMMON__LRU_WIPE)))) {
        ts_error_set(err, TS_ENOMEM, "translate", "out of memory");
        ts_gateway__translator_free(t);
        return NULL;
    }
    if (!(t->keys = in_token ? ts_svc_keyring_open(o->key_file, "", want, false, err)
                             : ts_svc_keyring_open("", o->key_dir, want, false, err))) {
        ts_gateway__translator_free(t);
        return NULL;
    }
    return t;
}

void ts_gateway__translator_free(ts_gateway__translator *t)
{
    if (!t)
        return;
    ts_svc_keyring_free(t->keys);
    ts_common__lru_free(t->cache);
    free(t->issuer);
    free(t->token_type);
    pthread_mutex_destroy(&t->kids_mu);
    free(t);
}

static int64_t margin(const ts_gateway__translator *t)
{
    return t->ttl_s / 10 > REUSE_MARGIN_MIN_S ? t->ttl_s / 10 : REUSE_MARGIN_MIN_S;
}

char *ts_gateway__translate_claims(ts_gateway__translator *t, const ts_authn_principal *p,
                                   const ts_gateway__identity *id, const char *aud, int64_t now,
                                   size_t *len)
{
    char jti[TS_SVC_JTI_LEN + 1];
    if (ts_svc_new_jti(jti, NULL) != TS_OK)
        return NULL;
    int64_t exp = now + t->ttl_s;
    /* Never outlive what the caller presented. */
    if (ts_authn_principal_exp(p) < exp)
        exp = ts_authn_principal_exp(p);
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_UTF8);
    ts_common__json_open(&w);
    ts_common__json_kstr(&w, "iss", t->issuer);
    ts_common__json_kstr(&w, "sub", id->id);
    ts_common__json_kstrs(&w, "aud", &aud, 1);
    ts_common__json_kint(&w, "exp", exp);
    ts_common__json_kint(&w, "nbf", now);
    ts_common__json_kint(&w, "iat", now);
    ts_common__json_kstr(&w, "jti", jti);
    /* The presented token's issuer (the claim serve's OIDC exchange documents); not `act`,
     * which names an actor. */
    ts_common__json_kstr(&w, "idp", ts_authn_principal_issuer(p));
    ts_common__json_kstr(&w, "principal_type", id->type);
    ts_common__json_kstrs(&w, "roles", id->roles, id->n_roles);
    size_t ns = 0;
    const char *const *scopes = ts_authn_principal_scopes(p, &ns);
    if (ns) {
        ts_common__json_key(&w, "scope");
        ts_common__json_raw(&w, "\"", 1);
        for (size_t i = 0; i < ns; i++) {
            /* Scopes are NQSCHAR (RFC 6749 §3.3): no quote, backslash or control character,
             * so they are written as they are, between one pair of quotes. */
            if (i)
                ts_common__json_raw(&w, " ", 1);
            ts_common__json_raws(&w, scopes[i]);
        }
        ts_common__json_raw(&w, "\"", 1);
    }
    if (id->kubernetes) {
        ts_common__json_key(&w, "kubernetes.io");
        ts_common__json_open(&w);
        ts_common__json_kstr(&w, "namespace", id->k8s_namespace);
        ts_common__json_key(&w, "serviceaccount");
        ts_common__json_open(&w);
        ts_common__json_kstr(&w, "name", id->k8s_sa_name);
        if (id->k8s_sa_uid[0])
            ts_common__json_kstr(&w, "uid", id->k8s_sa_uid);
        ts_common__json_close(&w);
        ts_common__json_close(&w);
    }
    ts_common__json_close(&w);
    return ts_common__json_take(&w, len);
}

/* SHA-256(presented token) || 0x00 || audience || 0x00 || policy_version. The version is
 * there when the claims depend on the policy (a Kubernetes caller's roles): after a reload the
 * old entries are never found again and age out, while callers whose claims the policy does
 * not shape keep theirs. */
static size_t cache_key(const char *tok, size_t len, const char *aud, const char *pv,
                        unsigned char *key, size_t cap)
{
    size_t alen = strlen(aud), vlen = pv ? strlen(pv) : 0;
    if (34 + alen + vlen > cap)
        return 0;
    SHA256_CTX h; /* on the stack: see the top of this file */
    SHA256_Init(&h);
    SHA256_Update(&h, tok, len);
    SHA256_Final(key, &h);
    key[32] = 0;
    memcpy(key + 33, aud, alen);
    key[33 + alen] = 0;
    memcpy(key + 34 + alen, pv ? pv : "", vlen);
    return 34 + alen + vlen;
}

static bool scopes_quotable(const ts_authn_principal *p)
{
    size_t n = 0;
    const char *const *s = ts_authn_principal_scopes(p, &n);
    for (size_t i = 0; i < n; i++)
        for (const unsigned char *c = (const unsigned char *)s[i]; *c; c++)
            if (*c < 0x21 || *c == '"' || *c == '\\' || *c > 0x7e)
                return false;
    return true;
}

ts_status ts_gateway__translate(ts_gateway__translator *t, const char *presented,
                                size_t presented_len, const ts_authn_principal *p,
                                const ts_gateway__identity *id, const char *aud,
                                const char *policy_version, char *out, size_t *out_len, bool *hit,
                                ts_error *err)
{
    if (hit)
        *hit = false;
    int64_t now = t->now(t->now_ud);
    unsigned char key[34 + TS_GATEWAY_STR + TS_AUTHZ_POLICY_VERSION_LEN];
    size_t klen =
        t->cache ? cache_key(presented, presented_len, aud, policy_version, key, sizeof key) : 0;
    cached c;
    if (klen && ts_common__lru_get(t->cache, key, klen, &c)) {
        bool fresh = now < c.reuse_until;
        if (fresh) {
            memcpy(out, c.jwt, c.len);
            out[c.len] = '\0';
            *out_len = c.len;
            if (hit)
                *hit = true;
        }
        ts_common__memzero(c.jwt, c.len); /* the rest of an entry is zeros */
        if (fresh) {
            atomic_fetch_add_explicit(&t->hits, 1, memory_order_relaxed);
            return TS_OK;
        }
    }
    if (t->cache)
        atomic_fetch_add_explicit(&t->misses, 1, memory_order_relaxed);
    if (!scopes_quotable(p))
        return ts_error_set(err, TS_EINVAL, "scope", "a scope that is not NQSCHAR");
    size_t plen = 0;
    char *payload = ts_gateway__translate_claims(t, p, id, aud, now, &plen);
    if (!payload)
        return ts_error_set(err, TS_ENOMEM, "translate", "cannot write the claims");
    char *jwt = NULL;
    size_t jlen = 0;
    /* The kid that signs is the active one at some moment of the call: a reload in between
     * (rare, operator driven) makes both candidates, and both are noted for the cache. */
    const char *kid_before = ts_jwk_kid(ts_svc_keyring_active(t->keys));
    ts_status st = ts_svc_keyring_sign(t->keys, t->token_type, payload, plen, &jwt, &jlen, err);
    free(payload);
    if (st != TS_OK)
        return st;
    if (t->cache) {
        const char *kid_after = ts_jwk_kid(ts_svc_keyring_active(t->keys));
        note_kid(t, kid_before);
        if (kid_after != kid_before)
            note_kid(t, kid_after);
    }
    if (jlen > TS_GATEWAY__MAX_JWT) {
        ts_common__memzero(jwt, jlen);
        ts_free(jwt);
        return ts_error_set(err, TS_ELIMIT, "translate", "translated token over %u bytes",
                            TS_GATEWAY__MAX_JWT);
    }
    atomic_fetch_add_explicit(&t->signed_tokens, 1, memory_order_relaxed);
    memcpy(out, jwt, jlen);
    out[jlen] = '\0';
    *out_len = jlen;
    if (klen) {
        int64_t until = now + t->ttl_s;
        if (ts_authn_principal_exp(p) < until)
            until = ts_authn_principal_exp(p);
        c.reuse_until = until - margin(t);
        c.len = (uint16_t)jlen;
        memcpy(c.jwt, jwt, jlen);
        memset(c.jwt + jlen, 0, sizeof c.jwt - jlen);
        ts_common__lru_replace(t->cache, key, klen, &c);
        ts_common__memzero(&c, sizeof c);
    }
    ts_common__memzero(jwt, jlen);
    ts_free(jwt);
    return TS_OK;
}

/* A reload that stops publishing the key cached tokens were signed with (a key in a PKCS#11
 * token replaced under its label, a key file removed) would leave those tokens unverifiable
 * upstream until their reuse time ends: the cache is emptied then, so that every caller gets a
 * token of the new key on its next check. While the old key stays published, cached tokens
 * stay good and are kept. */
ts_status ts_gateway__translator_reload(ts_gateway__translator *t, ts_error *err)
{
    ts_svc_keys_report rep;
    ts_status st = ts_svc_keyring_reload(t->keys, &rep, err);
    if (st != TS_OK || !rep.changed || !t->cache)
        return st;
    const char *jwks = ts_svc_keyring_jwks_json(t->keys);
    pthread_mutex_lock(&t->kids_mu);
    bool stale = t->kids_unknown || !jwks;
    for (size_t i = 0; i < t->n_kids && !stale; i++) {
        char member[TS_GATEWAY__KID_MAX + 16];
        snprintf(member, sizeof member, "\"kid\":\"%s\"", t->kids[i]);
        stale = !strstr(jwks, member);
    }
    if (stale) {
        ts_common__lru_clear(t->cache);
        t->n_kids = 0;
        t->kids_unknown = false;
    }
    pthread_mutex_unlock(&t->kids_mu);
    return st;
}

const char *ts_gateway__translator_jwks(ts_gateway__translator *t)
{
    return ts_svc_keyring_jwks_json(t->keys);
}

void ts_gateway__translator_counts(ts_gateway__translator *t, uint64_t *hits, uint64_t *misses,
                                   uint64_t *signed_tokens)
{
    *hits = atomic_load_explicit(&t->hits, memory_order_relaxed);
    *misses = atomic_load_explicit(&t->misses, memory_order_relaxed);
    *signed_tokens = atomic_load_explicit(&t->signed_tokens, memory_order_relaxed);
}
