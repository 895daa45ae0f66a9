#define _POSIX_C_SOURCE 200809L
/* The revocation list held by a verifier: the issuer's signed answers (full list, then deltas
   by cursor) applied to an immutable open-addressing hash table of jtis that readers probe
   without a lock. A writer builds the next table and publishes it with one atomic store; the
   one it replaces is freed no sooner than TS_AUTHN__REV_GRACE_MS later, long after any probe
   that could have loaded it (a probe is a hash and a few compares). */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "jose/jose_internal.h"
#include "revocations_internal.h"

#define TS_AUTHN__REV_GRACE_MS 5000
#define TS_AUTHN__REV_JTI_MAX 255

typedef struct rev_slot {
    uint64_t h; /* 0: empty (hashes are made non-zero) */
    int64_t exp;
    uint32_t off, len; /* the jti in the table's arena */
} rev_slot;

struct ts_authn__rev_table {
    uint64_t seq;
    size_t mask, n;
    rev_slot *slots;
    char *arena;
    size_t arena_len;
    int64_t retired_ms;
    ts_authn__rev_table *next;
};

/* Eight bytes at a time, each word multiplied in, then an avalanche: the lookup runs on every
   verification, and a byte-serial hash of a 36-byte UUID jti would cost more than the probe.
   jtis come from the issuer's signed list, not from clients, so no keyed hash is needed. */
static uint64_t jti_hash(const char *s, size_t n)
{
    uint64_t h = 0x9e3779b97f4a7c15ull ^ (n * 0xff51afd7ed558ccdull);
    while (n >= 8) {
        uint64_t w;
        memcpy(&w, s, 8);
        h = (h ^ w) * 0xbf58476d1ce4e5b9ull;
        h ^= h >> 31;
        s += 8;
        n -= 8;
    }
    uint64_t w = 0;
    memcpy(&w, s, n);
    h = (h ^ w) * 0x94d049bb133111ebull;
    h ^= h >> 29;
    h *= 0xbf58476d1ce4e5b9ull;
    h ^= h >> 32;
    return h ? h : 1;
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

int64_t ts_authn__rev_now(const ts_authn_revocations *rs)
{
    return rs->now ? rs->now(rs->now_ud) : (int64_t)time(NULL);
}

/* ---- parsing ------------------------------------------------------------------------------ */

void ts_authn__revlist_clear(ts_authn__revlist *l)
{
    json_decref(l->root);
    free(l->e);
    memset(l, 0, sizeof *l);
}

static bool jti_ok(const char *s, size_t n)
{
    if (n == 0 || n > TS_AUTHN__REV_JTI_MAX)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

static bool seq_of(const json_t *j, uint64_t *out)
{
    if (!json_is_integer(j) || json_integer_value(j) < 0)
        return false;
    *out = (uint64_t)json_integer_value(j);
    return true;
}

ts_status ts_authn__revlist_parse(const char *json, size_t len, ts_authn__revlist *out,
                                  ts_error *err)
{
    memset(out, 0, sizeof *out);
    ts_error je;
    ts_error_clear(&je);
    out->root = ts_authn__json_parse_object(json, len, len + 1, "payload", &je);
    if (!out->root)
        return ts_error_set(err, je.code == TS_ENOMEM ? TS_ENOMEM : TS_EINVAL, "payload", "%s",
                            je.msg);
    json_t *r = out->root, *iss = json_object_get(r, "iss"), *full = json_object_get(r, "full"),
           *more = json_object_get(r, "more"), *list = json_object_get(r, "revoked");
    const char *bad = NULL;
    if (!json_is_string(iss) || json_string_length(iss) == 0)
        bad = "iss";
    else if (!seq_of(json_object_get(r, "seq"), &out->seq))
        bad = "seq";
    else if (!json_is_boolean(full))
        bad = "full";
    else if (more && !json_is_boolean(more))
        bad = "more";
    else if (!json_is_true(full) && !seq_of(json_object_get(r, "since"), &out->since))
        bad = "since";
    else if (!json_is_array(list) || json_array_size(list) > TS_AUTHN_REVOCATIONS_MAX_BATCH)
        bad = "revoked";
    else if (!json_is_true(full) && out->since > out->seq)
        bad = "since";
    if (bad) {
        ts_authn__revlist_clear(out);
        return ts_error_set(err, TS_EINVAL, bad,
                            "\"%s\" is missing, of the wrong type or out of "
                            "bounds",
                            bad);
    }
    out->iss = json_string_value(iss);
    out->full = json_is_true(full);
    out->more = json_is_true(more);
    size_t n = json_array_size(list);
    out->e = n ? calloc(n, sizeof *out->e) : NULL;
    if (n && !out->e) {
        ts_authn__revlist_clear(out);
        return ts_error_set(err, TS_ENOMEM, "revoked", "out of memory");
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i), *jti = json_object_get(e, "jti"),
               *exp = json_object_get(e, "exp");
        if (!json_is_object(e) || !json_is_string(jti) || !json_is_integer(exp) ||
            !jti_ok(json_string_value(jti), json_string_length(jti))) {
            ts_authn__revlist_clear(out);
            return ts_error_set(err, TS_EINVAL, "revoked",
                                "entry %zu needs a printable jti (1..%d bytes) and an integer exp",
                                i, TS_AUTHN__REV_JTI_MAX);
        }
        out->e[i] = (ts_authn__rev_entry){json_string_value(jti), json_string_length(jti),
                                          (int64_t)json_integer_value(exp)};
    }
    out->n = n;
    return TS_OK;
}

/* ---- the table ---------------------------------------------------------------------------- */

static void table_free(ts_authn__rev_table *t)
{
    if (t) {
        free(t->slots);
        free(t->arena);
        free(t);
    }
}

/* The slot of @p jti, or SIZE_MAX. */
static size_t table_find(const ts_authn__rev_table *t, const char *jti, size_t len, uint64_t h)
{
    for (size_t i = (size_t)h & t->mask;; i = (i + 1) & t->mask) {
        const rev_slot *s = &t->slots[i];
        if (s->h == 0)
            return SIZE_MAX;
        if (s->h == h && s->len == len && memcmp(t->arena + s->off, jti, len) == 0)
            return i;
    }
}

/* Insert into a table with room (the load factor stays at or below one half). */
static void table_put(ts_authn__rev_table *t, const char *jti, size_t len, int64_t exp)
{
    uint64_t h = jti_hash(jti, len);
    size_t at = table_find(t, jti, len, h);
    if (at != SIZE_MAX) { /* revoked again: the later exp is kept */
        if (exp > t->slots[at].exp)
            t->slots[at].exp = exp;
        return;
    }
    size_t i = (size_t)h & t->mask;
    while (t->slots[i].h)
        i = (i + 1) & t->mask;
    memcpy(t->arena + t->arena_len, jti, len);
    t->slots[i] = (rev_slot){h, exp, (uint32_t)t->arena_len, (uint32_t)len};
    t->arena_len += len;
    t->n++;
}

/* The next table: the unexpired entries of @p old (none for a full list) and of @p l. */
static ts_authn__rev_table *table_build(const ts_authn__rev_table *old, const ts_authn__revlist *l,
                                        int64_t now)
{
    size_t n = l->n + (old ? old->n : 0), bytes = 0;
    if (n > TS_AUTHN_REVOCATIONS_MAX_ENTRIES)
        return NULL;
    for (size_t i = 0; i < l->n; i++)
        bytes += l->e[i].len;
    bytes += old ? old->arena_len : 0;
    size_t cap = 16;
    while (cap < 2 * n)
        cap <<= 1;
    ts_authn__rev_table *t = calloc(1, sizeof *t);
    if (!t || !(t->slots = calloc(cap, sizeof *t->slots)) || !(t->arena = malloc(bytes + 1))) {
        table_free(t);
        return NULL;
    }
    t->mask = cap - 1;
    t->seq = l->seq;
    for (size_t i = 0; old && i <= old->mask; i++) {
        const rev_slot *s = &old->slots[i];
        if (s->h && s->exp > now)
            table_put(t, old->arena + s->off, s->len, s->exp);
    }
    for (size_t i = 0; i < l->n; i++)
        if (l->e[i].exp > now)
            table_put(t, l->e[i].jti, l->e[i].len, l->e[i].exp);
    return t;
}

/* Publish @p t; under apply_mu. */
static void table_swap(ts_authn_revocations *rs, ts_authn__rev_table *t)
{
    ts_authn__rev_table *old = atomic_exchange_explicit(&rs->cur, t, memory_order_acq_rel);
    int64_t now = mono_ms();
    ts_authn__rev_table **pp = &rs->retired;
    while (*pp) { /* newest first: everything after the first old enough is older still */
        if (now - (*pp)->retired_ms >= TS_AUTHN__REV_GRACE_MS) {
            ts_authn__rev_table *r = *pp;
            *pp = NULL;
            while (r) {
                ts_authn__rev_table *nx = r->next;
                table_free(r);
                r = nx;
            }
            break;
        }
        pp = &(*pp)->next;
    }
    if (old) {
        old->retired_ms = now;
        old->next = rs->retired;
        rs->retired = old;
    }
}

void ts_authn__rev_tables_free(ts_authn_revocations *rs)
{
    table_free(atomic_load(&rs->cur));
    while (rs->retired) {
        ts_authn__rev_table *nx = rs->retired->next;
        table_free(rs->retired);
        rs->retired = nx;
    }
}

/* ---- the signed answer -------------------------------------------------------------------- */

static ts_status verify_jws(ts_authn_revocations *rs, const char *jws, size_t len, uint8_t **pl,
                            size_t *pn, ts_error *err)
{
    const char *d1 = memchr(jws, '.', len);
    const char *d2 = d1 ? memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - jws)) : NULL;
    if (!d1 || !d2 || memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - jws)))
        return ts_error_set(err, TS_EINVAL, "jws", "not a compact JWS");
    size_t hl = (size_t)(d1 - jws), pln = (size_t)(d2 - d1 - 1), sl = len - (size_t)(d2 + 1 - jws);
    size_t hmax = ts_authn__b64url_decoded_max(hl), pmax = ts_authn__b64url_decoded_max(pln),
           smax = ts_authn__b64url_decoded_max(sl);
    uint8_t *hb = malloc(hmax + 1), *sb = malloc(smax + 1), *pb = malloc(pmax + 1);
    json_t *hdr = NULL;
    ts_jwks *remote = NULL;
    ts_status st = TS_EINVAL;
    size_t hn = 0, sn = 0;
    if (!hb || !sb || !pb) {
        st = ts_error_set(err, TS_ENOMEM, "jws", "out of memory");
        goto out;
    }
    if (!ts_authn__b64url_decode_buf(jws, hl, hb, hmax, &hn) ||
        !ts_authn__b64url_decode_buf(d1 + 1, pln, pb, pmax, pn) || sl == 0 ||
        !ts_authn__b64url_decode_buf(d2 + 1, sl, sb, smax, &sn)) {
        ts_error_set(err, TS_EINVAL, "jws", "a part is not strict base64url");
        goto out;
    }
    ts_error e;
    ts_error_clear(&e);
    hdr =
        ts_authn__json_parse_object((const char *)hb, hn, TS_AUTHN__MAX_HEADER_BYTES, "header", &e);
    json_t *alg_j = json_object_get(hdr, "alg"), *kid_j = json_object_get(hdr, "kid"),
           *typ = json_object_get(hdr, "typ");
    ts_jws_alg alg = json_is_string(alg_j)
                         ? ts_jws_alg_parse(json_string_value(alg_j), json_string_length(alg_j))
                         : TS_JWS_ALG_UNKNOWN;
    if (!hdr || alg == TS_JWS_ALG_UNKNOWN || !json_is_string(kid_j) ||
        json_object_get(hdr, "crit") || !json_is_string(typ) ||
        strcmp(json_string_value(typ), "revocation-list+jwt") != 0) {
        ts_error_set(err, TS_EINVAL, "header",
                     "header needs a known alg, a kid, typ revocation-list+jwt and no crit");
        goto out;
    }
    const char *kid = json_string_value(kid_j);
    size_t kl = json_string_length(kid_j);
    const ts_jwk *key = ts_jwks_find(rs->keys, kid, kl);
    if (!key && rs->ks) {
        ts_error ke;
        ts_error_clear(&ke);
        remote = ts_authn_keysource_keys(rs->ks, &ke);
        if (!(key = ts_jwks_find(remote, kid, kl))) {
            ts_jwks_free(remote);
            remote = ts_authn_keysource_keys_for_unknown_kid(rs->ks, &ke);
            key = ts_jwks_find(remote, kid, kl);
        }
    }
    if (!key || !(ts_jwk_allowed_algs(key) & TS_JWS_ALG_BIT(alg))) {
        ts_error_set(err, TS_EINVAL, "header.kid", "no issuer key for this kid and alg");
        goto out;
    }
    ts_error_clear(&e);
    st = ts_jws_verify_raw(key, alg, jws, (size_t)(d2 - jws), sb, sn, &e);
    if (st != TS_OK)
        ts_error_set(err, st, "signature", "%s", e.msg);
out:
    ts_jwks_free(remote);
    json_decref(hdr);
    free(hb);
    free(sb);
    if (st == TS_OK)
        *pl = pb;
    else
        free(pb);
    return st;
}

/* Apply a parsed answer; under apply_mu. */
ts_status ts_authn__rev_apply_list(ts_authn_revocations *rs, const ts_authn__revlist *l,
                                   ts_error *err)
{
    if (strcmp(l->iss, rs->issuer) != 0)
        return ts_error_set(err, TS_EINVAL, "iss", "the list is not the configured issuer's");
    ts_authn__rev_table *cur = atomic_load_explicit(&rs->cur, memory_order_acquire);
    if (!l->full && (!cur || l->since != cur->seq))
        return ts_error_set(err, TS_EINVAL, "since",
                            "a delta that does not start at the held cursor");
    if (!l->full && l->n == 0 && l->seq == cur->seq) /* nothing new: the list is fresh */
        return TS_OK;
    ts_authn__rev_table *t = table_build(l->full ? NULL : cur, l, ts_authn__rev_now(rs));
    if (!t)
        return ts_error_set(err, TS_ENOMEM, "revoked", "out of memory or more than %u entries",
                            TS_AUTHN_REVOCATIONS_MAX_ENTRIES);
    table_swap(rs, t);
    return TS_OK;
}

ts_status ts_authn__rev_apply(ts_authn_revocations *rs, const char *jws, size_t len, bool *more,
                              ts_error *err)
{
    *more = false;
    if (!rs || !jws)
        return ts_error_set(err, TS_EINVAL, "ts_authn_revocations_apply", "NULL argument");
    uint8_t *pl = NULL;
    size_t pn = 0;
    ts_status st = verify_jws(rs, jws, len, &pl, &pn, err);
    if (st != TS_OK)
        return st;
    ts_authn__revlist l;
    st = ts_authn__revlist_parse((const char *)pl, pn, &l, err);
    free(pl);
    if (st != TS_OK)
        return st;
    pthread_mutex_lock(&rs->apply_mu);
    st = ts_authn__rev_apply_list(rs, &l, err);
    if (st == TS_OK)
        atomic_store(&rs->last_ok, ts_authn__rev_now(rs));
    pthread_mutex_unlock(&rs->apply_mu);
    *more = st == TS_OK && l.more;
    ts_authn__revlist_clear(&l);
    return st;
}

ts_status ts_authn_revocations_apply(ts_authn_revocations *rs, const char *jws, size_t len,
                                     ts_error *err)
{
    bool more;
    return ts_authn__rev_apply(rs, jws, len, &more, err);
}

/* ---- lookups ------------------------------------------------------------------------------ */

ts_authn_reason ts_authn_revocations_check(const ts_authn_revocations *rs, const char *jti,
                                           size_t len)
{
    return rs ? ts_authn__rev_check_at(rs, jti, len, ts_authn__rev_now(rs)) : TS_AUTHN_OK;
}

ts_authn_reason ts_authn__rev_check_at(const ts_authn_revocations *rs, const char *jti, size_t len,
                                       int64_t now)
{
    int64_t last = atomic_load_explicit(&rs->last_ok, memory_order_relaxed);
    bool stale = last == 0 || now - last > (int64_t)rs->max_stale_s;
    if (stale && !rs->fail_open)
        return TS_AUTHN_REVOCATIONS_UNAVAILABLE;
    const ts_authn__rev_table *t = atomic_load_explicit(&rs->cur, memory_order_acquire);
    if (!t || !jti || len == 0 || len > TS_AUTHN__REV_JTI_MAX || t->n == 0)
        return TS_AUTHN_OK;
    return table_find(t, jti, len, jti_hash(jti, len)) != SIZE_MAX ? TS_AUTHN_REVOKED : TS_AUTHN_OK;
}

uint64_t ts_authn_revocations_cursor(const ts_authn_revocations *rs)
{
    const ts_authn__rev_table *t = rs ? atomic_load(&rs->cur) : NULL;
    return t ? t->seq : 0;
}

size_t ts_authn_revocations_count(const ts_authn_revocations *rs)
{
    const ts_authn__rev_table *t = rs ? atomic_load(&rs->cur) : NULL;
    return t ? t->n : 0;
}
