/* JWK Sets: immutable, sorted by kid for O(log n) lookup, reference counted. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"
#include "jose/jose_internal.h"

static int kid_cmp(const char *a, size_t al, const char *b, size_t bl)
{
    int c = memcmp(a, b, al < bl ? al : bl);
    if (c)
        return c;
    return al < bl ? -1 : al > bl;
}

static int key_cmp(const void *pa, const void *pb)
{
    const ts_jwk *a = *(const ts_jwk *const *)pa, *b = *(const ts_jwk *const *)pb;
    return kid_cmp(a->kid, a->kid_len, b->kid, b->kid_len);
}

ts_jwks *ts_jwks_ref(ts_jwks *set)
{
    if (set)
        atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
    return set;
}

void ts_jwks_free(ts_jwks *set)
{
    if (!set || atomic_fetch_sub_explicit(&set->refs, 1, memory_order_acq_rel) != 1)
        return;
    for (size_t i = 0; i < set->n; i++)
        ts_jwk_free(set->keys[i]);
    free(set->keys);
    free(set);
}

size_t ts_jwks_count(const ts_jwks *set)
{
    return set ? set->n : 0;
}

const ts_jwk *ts_jwks_get(const ts_jwks *set, size_t i)
{
    return set && i < set->n ? set->keys[i] : NULL;
}

const ts_jwk *ts_jwks_find(const ts_jwks *set, const char *kid, size_t kid_len)
{
    if (!set || !kid)
        return NULL;
    size_t lo = 0, hi = set->n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ts_jwk *k = set->keys[mid];
        int c = kid_cmp(kid, kid_len, k->kid, k->kid_len);
        if (c == 0)
            return k;
        if (c < 0)
            hi = mid;
        else
            lo = mid + 1;
    }
    return NULL;
}

/* Takes ownership of the references in @p keys (n entries) in every case. */
static ts_jwks *build(ts_jwk **keys, size_t n, ts_error *err)
{
    if (n > 1)
        qsort(keys, n, sizeof *keys, key_cmp);
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        if (w > 0 && key_cmp(&keys[w - 1], &keys[i]) == 0) {
            if (strcmp(keys[w - 1]->thumbprint, keys[i]->thumbprint) == 0 &&
                keys[w - 1]->alg == keys[i]->alg) {
                ts_jwk_free(keys[i]);
                continue;
            }
            ts_error_set(err, TS_EINVAL, "jwks", "two different keys share kid \"%s\"",
                         keys[i]->kid);
            for (size_t j = 0; j < n; j++)
                if (j < w || j >= i)
                    ts_jwk_free(keys[j]);
            free(keys);
            return NULL;
        }
        keys[w++] = keys[i];
    }
    ts_jwks *set = calloc(1, sizeof *set);
    if (!set) {
        for (size_t j = 0; j < w; j++)
            ts_jwk_free(keys[j]);
        free(keys);
        ts_error_set(err, TS_ENOMEM, "jwks", "out of memory");
        return NULL;
    }
    atomic_init(&set->refs, 1);
    set->n = w;
    set->keys = keys;
    return set;
}

ts_jwks *ts_jwks_new(ts_jwk *const *keys, size_t n, ts_error *err)
{
    if (n > TS_JOSE_MAX_JWKS_KEYS * 16) {
        ts_error_set(err, TS_ELIMIT, "jwks", "too many keys");
        return NULL;
    }
    ts_jwk **arr = malloc((n ? n : 1) * sizeof *arr);
    if (!arr) {
        ts_error_set(err, TS_ENOMEM, "jwks", "out of memory");
        return NULL;
    }
    for (size_t i = 0; i < n; i++)
        arr[i] = ts_jwk_ref(keys[i]);
    return build(arr, n, err);
}

ts_jwks *ts_jwks_merge(const ts_jwks *const *sets, size_t n, ts_error *err)
{
    size_t total = 0;
    for (size_t i = 0; i < n; i++)
        total += sets[i] ? sets[i]->n : 0;
    ts_jwk **arr = malloc((total ? total : 1) * sizeof *arr);
    if (!arr) {
        ts_error_set(err, TS_ENOMEM, "jwks", "out of memory");
        return NULL;
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++)
        for (size_t j = 0; sets[i] && j < sets[i]->n; j++)
            arr[w++] = ts_jwk_ref(sets[i]->keys[j]);
    return build(arr, w, err);
}

ts_jwks *ts_jwks_parse(const char *json, size_t len, ts_error *err)
{
    if (!json) {
        ts_error_set(err, TS_EINVAL, "jwks", "NULL input");
        return NULL;
    }
    json_t *root = ts_authn__json_parse_object(json, len, TS_JOSE_MAX_JWKS_BYTES, "jwks", err);
    if (!root)
        return NULL;
    json_t *arr = json_object_get(root, "keys");
    ts_jwks *set = NULL;
    if (!json_is_array(arr)) {
        ts_error_set(err, TS_EPARSE, "jwks.keys", "member \"keys\" must be an array");
        goto out;
    }
    size_t n = json_array_size(arr);
    if (n > TS_JOSE_MAX_JWKS_KEYS) {
        ts_error_set(err, TS_ELIMIT, "jwks.keys", "%zu keys, more than the limit of %u", n,
                     TS_JOSE_MAX_JWKS_KEYS);
        goto out;
    }
    ts_jwk **keys = malloc((n ? n : 1) * sizeof *keys);
    if (!keys) {
        ts_error_set(err, TS_ENOMEM, "jwks", "out of memory");
        goto out;
    }
    size_t w = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *k = json_array_get(arr, i);
        char where[48];
        snprintf(where, sizeof where, "jwks.keys[%zu]", i);
        if (!json_is_object(k)) {
            ts_error_set(err, TS_EPARSE, where, "not a JSON object");
            goto fail;
        }
        /* Encryption keys and non-asymmetric key types are not ours to verify with. */
        json_t *use = json_object_get(k, "use"), *kty = json_object_get(k, "kty");
        if (json_is_string(use) && strcmp(json_string_value(use), "sig") != 0)
            continue;
        if (json_is_string(kty) && strcmp(json_string_value(kty), "RSA") != 0 &&
            strcmp(json_string_value(kty), "EC") != 0)
            continue;
        /* Keys for operations other than verify are not ours either. */
        json_t *ops = json_object_get(k, "key_ops");
        if (json_is_array(ops)) {
            bool verify = false;
            size_t oi;
            json_t *op;
            json_array_foreach(ops, oi, op)
            {
                verify |= json_is_string(op) && strcmp(json_string_value(op), "verify") == 0;
            }
            if (!verify)
                continue;
        }
        ts_error ke;
        ts_error_clear(&ke);
        ts_jwk *key = ts_authn__jwk_from_json(k, where, &ke);
        if (!key) {
            /* A key we do not support (curve, algorithm, weak RSA) is skipped, as peers do;
               a malformed one fails the set, so that a broken document keeps the last good. */
            if (ke.code == TS_EUNSUPPORTED)
                continue;
            ts_error_set(err, ke.code, ke.where, "%s", ke.msg);
            goto fail;
        }
        keys[w++] = key;
    }
    set = build(keys, w, err);
    goto out;
fail:
    for (size_t j = 0; j < w; j++)
        ts_jwk_free(keys[j]);
    free(keys);
out:
    json_decref(root);
    return set;
}

ts_jwks *ts_jwks_load_file(const char *path, ts_error *err)
{
    size_t len = 0;
    char *buf = NULL;
    if (ts_common__read_file(path, TS_JOSE_MAX_JWKS_BYTES, 0, &buf, &len, err) != TS_OK)
        return NULL;
    ts_error e2;
    ts_error_clear(&e2);
    ts_jwks *set = ts_jwks_parse(buf, len, &e2);
    free(buf);
    if (!set)
        ts_error_set(err, e2.code, path, "%s: %s", e2.where, e2.msg);
    return set;
}

char *ts_jwks_to_json(const ts_jwks *set, ts_error *err)
{
    json_t *root = json_object(), *arr = json_array();
    char *s = NULL;
    if (!root || !arr || json_object_set(root, "keys", arr))
        goto out;
    for (size_t i = 0; set && i < set->n; i++) {
        json_t *o = ts_authn__jwk_to_object(set->keys[i]);
        if (!o || json_array_append_new(arr, o))
            goto out;
    }
    s = json_dumps(root, JSON_COMPACT);
out:
    json_decref(arr);
    json_decref(root);
    if (!s)
        ts_error_set(err, TS_ENOMEM, "ts_jwks_to_json", "cannot serialize the key set");
    return s;
}
