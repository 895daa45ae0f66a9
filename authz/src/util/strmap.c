#include "strmap.h"

#include <stdlib.h>
#include <string.h>

#include "str.h"

void ts_authz__strmap_init(ts_strmap *m)
{
    m->slots = NULL;
    m->cap = 0;
    m->count = 0;
}

void ts_authz__strmap_cleanup(ts_strmap *m)
{
    free(m->slots);
    ts_authz__strmap_init(m);
}

static ts_strmap_slot *find(const ts_strmap *m, const char *key, size_t len, uint64_t h)
{
    size_t mask = m->cap - 1;
    for (size_t i = (size_t)h & mask;; i = (i + 1) & mask) {
        ts_strmap_slot *s = &m->slots[i];
        if (!s->key)
            return s;
        if (s->hash == h && s->len == len && memcmp(s->key, key, len) == 0)
            return s;
    }
}

bool ts_authz__strmap_get(const ts_strmap *m, const char *key, size_t len, uint32_t *value)
{
    if (m->cap == 0)
        return false;
    ts_strmap_slot *s = find(m, key, len, ts_str_hash(key, len));
    if (!s->key)
        return false;
    if (value)
        *value = s->value;
    return true;
}

static int grow(ts_strmap *m)
{
    size_t ncap = m->cap ? m->cap * 2 : 16;
    ts_strmap_slot *ns = calloc(ncap, sizeof *ns);
    if (!ns)
        return -1;
    ts_strmap old = *m;
    m->slots = ns;
    m->cap = ncap;
    for (size_t i = 0; i < old.cap; i++) {
        if (old.slots[i].key)
            *find(m, old.slots[i].key, old.slots[i].len, old.slots[i].hash) = old.slots[i];
    }
    free(old.slots);
    return 0;
}

int ts_authz__strmap_put(ts_strmap *m, const char *key, size_t len, uint32_t value,
                         uint32_t *existing)
{
    if (len > UINT32_MAX)
        return -1;
    if ((m->count + 1) * 4 > m->cap * 3 && grow(m) != 0)
        return -1;
    uint64_t h = ts_str_hash(key, len);
    ts_strmap_slot *s = find(m, key, len, h);
    if (s->key) {
        if (existing)
            *existing = s->value;
        return 0;
    }
    /* An empty key must still mark the slot as used. */
    s->key = key ? key : "";
    s->len = (uint32_t)len;
    s->value = value;
    s->hash = h;
    m->count++;
    return 1;
}
