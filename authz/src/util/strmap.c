#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "str.h"

void ts_authz__strmap_init(ts_strmap *m)
{
    m->hashes = NULL;
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void ts_authz__strmap_cleanup(ts_strmap *m)
{
    free(m->hashes);
    free(m->slots);
    ts_authz__strmap_init(m);
}

/* The stored 32-bit hash (the two halves of FNV-1a folded) gives both the home slot and the
 * tag a probe compares, so growing needs no key. 0 means "empty". */
static uint32_t hash32(const char *key, size_t len)
{
    uint64_t h = ts_str_hash(key, len);
    uint32_t t = (uint32_t)(h >> 32) ^ (uint32_t)h;
    return t ? t : 1;
}

/* The slot holding @p key, or the empty slot where it would go. */
static size_t find(const ts_strmap *m, const char *key, size_t len, uint32_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = h & mask;; i = (i + 1) & mask) {
        uint32_t t = m->hashes[i];
        if (t == 0)
            return i;
        if (t == h) {
            const ts_strmap_slot *s = &m->slots[i];
            if (ts_str_eq(ts_str_make(s->key, s->len), ts_str_make(key, len)))
                return i;
        }
    }
}

bool ts_authz__strmap_get(const ts_strmap *m, const char *key, size_t len, uint32_t *value)
{
    if (m->cap == 0 || len > UINT32_MAX)
        return false;
    size_t i = find(m, key, len, hash32(key, len));
    if (m->hashes[i] == 0)
        return false;
    if (value)
        *value = m->slots[i].value;
    return true;
}

static int grow(ts_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    if (ncap > ((size_t)1 << 32))
        return -1; /* the home slot comes from a 32-bit hash */
    uint32_t *nh = calloc(ncap, sizeof *nh);
    ts_strmap_slot *ns = malloc(ncap * sizeof *ns);
    if (!nh || !ns) {
        free(nh);
        free(ns);
        return -1;
    }
    size_t mask = ncap - 1;
    for (size_t i = 0; i < m->cap; i++) {
        uint32_t h = m->hashes[i];
        if (h == 0)
            continue;
        size_t j = h & mask;
        while (nh[j])
            j = (j + 1) & mask;
        nh[j] = h;
        ns[j] = m->slots[i];
    }
    free(m->hashes);
    free(m->slots);
    m->hashes = nh;
    m->slots = ns;
    m->cap = ncap;
    return 0;
}

int ts_authz__strmap_put(ts_strmap *m, const char *key, size_t len, uint32_t value,
                         uint32_t *existing)
{
    if (len > UINT32_MAX)
        return -1;
    /* Up to 80% full: probes read the dense hash array (16 slots a cache line), so a longer
     * probe costs little, and a role manager with one graph per domain holds thousands of
     * small maps. */
    if ((m->count + 1) * 5 > m->cap * 4 && grow(m) != 0)
        return -1;
    uint32_t h = hash32(key, len);
    size_t i = find(m, key, len, h);
    if (m->hashes[i]) {
        if (existing)
            *existing = m->slots[i].value;
        return 0;
    }
    /* An empty key is stored as "" so that memcmp never sees NULL. */
    m->hashes[i] = h;
    m->slots[i].key = key ? key : "";
    m->slots[i].len = (uint32_t)len;
    m->slots[i].value = value;
    m->count++;
    return 1;
}
