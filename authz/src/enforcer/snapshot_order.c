/* Building a snapshot, part two: order each policy definition's rules as Casbin decides them
 * (priority, then subject priority through the role hierarchy) and lay out their fields. */
#include "snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static size_t token_index(const ts_model_def *d, const char *suffix)
{
    char want[64];
    snprintf(want, sizeof want, "%s_%s", d->key, suffix);
    for (size_t i = 0; i < d->ntokens; i++)
        if (strcmp(d->tokens[i], want) == 0)
            return i;
    return TS_NO_FIELD;
}

/* strconv.Atoi: optional sign, decimal digits, nothing else, within int range. */
static bool go_atoi(const char *s, long long *out)
{
    const char *p = s;
    if (*p == '+' || *p == '-')
        p++;
    if (!*p)
        return false;
    for (const char *q = p; *q; q++)
        if (*q < '0' || *q > '9')
            return false;
    errno = 0;
    long long v = strtoll(s, NULL, 10);
    if (errno)
        return false;
    *out = v;
    return true;
}

typedef struct sort_item {
    const ts_policy_rule *rule;
    long long key;
    size_t pos;
} sort_item;

/* Stable order: ascending key, then original position. */
static int cmp_key_asc(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    if (x->key != y->key)
        return x->key < y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

static int cmp_key_desc(const void *a, const void *b)
{
    const sort_item *x = a, *y = b;
    if (x->key != y->key)
        return x->key > y->key ? -1 : 1;
    return x->pos < y->pos ? -1 : (x->pos > y->pos);
}

/* ---- subject hierarchy (subjectPriority) ----------------------------------------------- */

typedef struct hier {
    ts_strmap ids; /* "dom::name" -> node */
    char **names;
    size_t n, cap;
    int *depth;
    bool *is_child;
    size_t *child_off, *child_ids, *cnt; /* CSR children lists */
} hier;

static uint32_t hier_node(hier *h, ts_arena *a, const char *dom, const char *name, bool *oom)
{
    size_t dl = strlen(dom), nl = strlen(name);
    char *key = ts_authz__arena_alloc(a, dl + nl + 3);
    if (!key) {
        *oom = true;
        return 0;
    }
    memcpy(key, dom, dl);
    memcpy(key + dl, "::", 2);
    memcpy(key + dl + 2, name, nl + 1);
    uint32_t id;
    if (ts_authz__strmap_get(&h->ids, key, dl + nl + 2, &id))
        return id;
    if (h->n == h->cap) {
        size_t ncap = h->cap ? h->cap * 2 : 64;
        char **nn = realloc(h->names, ncap * sizeof *nn);
        if (!nn) {
            *oom = true;
            return 0;
        }
        h->names = nn;
        h->cap = ncap;
    }
    id = (uint32_t)h->n;
    h->names[h->n++] = key;
    if (ts_authz__strmap_put(&h->ids, key, dl + nl + 2, id, NULL) < 0)
        *oom = true;
    return id;
}

/* Depth of every "dom::subject" in the g hierarchy: roots 0, children parent + 1 (Casbin's
 * level-order walk). Bounded by the node count so that cycles cannot loop. */
static ts_status subject_depths(const ts_snapshot *s, hier *h, ts_arena *a, ts_error *err)
{
    size_t gi = ts_authz__snapshot_def_index(&s->model->g, "g");
    ts_authz__strmap_init(&h->ids);
    if (gi == TS_NO_FIELD)
        return TS_OK;
    bool oom = false;
    size_t nlinks = 0;
    for (size_t i = 0; i < s->nall; i++)
        if (strcmp(s->all[i].ptype, "g") == 0)
            nlinks++;
    uint32_t *from = calloc(nlinks + 1, sizeof *from), *to = calloc(nlinks + 1, sizeof *to);
    if (!from || !to) {
        free(from);
        free(to);
        return ts_error_set(err, TS_ENOMEM, "subjectPriority", "out of memory");
    }
    size_t k = 0;
    for (size_t i = 0; i < s->nall && !oom; i++) {
        const ts_policy_rule *r = &s->all[i];
        if (strcmp(r->ptype, "g") != 0)
            continue;
        const char *dom = r->nfields > 2 ? r->fields[2] : "";
        uint32_t child = hier_node(h, a, dom, r->fields[0], &oom);
        uint32_t parent = hier_node(h, a, dom, r->fields[1], &oom);
        from[k] = parent;
        to[k] = child;
        k++;
    }
    if (oom) {
        free(from);
        free(to);
        return ts_error_set(err, TS_ENOMEM, "subjectPriority", "out of memory");
    }
    size_t n = h->n;
    h->depth = calloc(n + 1, sizeof *h->depth);
    h->is_child = calloc(n + 1, sizeof *h->is_child);
    h->child_off = calloc(n + 2, sizeof *h->child_off);
    h->child_ids = calloc(k + 1, sizeof *h->child_ids);
    h->cnt = calloc(n + 1, sizeof *h->cnt);
    size_t *queue = calloc(n + 1, sizeof *queue), *next = calloc(n + 1, sizeof *next);
    if (!h->depth || !h->is_child || !h->child_off || !h->child_ids || !h->cnt || !queue || !next) {
        free(from);
        free(to);
        free(queue);
        free(next);
        return ts_error_set(err, TS_ENOMEM, "subjectPriority", "out of memory");
    }
    for (size_t i = 0; i < k; i++) {
        h->child_off[from[i] + 1]++;
        h->is_child[to[i]] = true;
    }
    for (size_t i = 0; i < n; i++)
        h->child_off[i + 1] += h->child_off[i];
    for (size_t i = 0; i < k; i++)
        h->child_ids[h->child_off[from[i]] + h->cnt[from[i]]++] = to[i];
    for (size_t root = 0; root < n; root++) {
        if (h->is_child[root])
            continue;
        size_t qn = 1, lv = 0;
        queue[0] = root;
        while (qn && lv <= n) {
            size_t nn = 0;
            for (size_t i = 0; i < qn; i++) {
                size_t v = queue[i];
                if ((size_t)h->depth[v] < lv)
                    h->depth[v] = (int)lv;
                for (size_t c = h->child_off[v]; c < h->child_off[v + 1] && nn < n; c++)
                    next[nn++] = h->child_ids[c];
            }
            memcpy(queue, next, nn * sizeof *queue);
            qn = nn;
            lv++;
        }
    }
    free(from);
    free(to);
    free(queue);
    free(next);
    return TS_OK;
}

static void hier_free(hier *h)
{
    ts_authz__strmap_cleanup(&h->ids);
    free(h->names);
    free(h->depth);
    free(h->is_child);
    free(h->child_off);
    free(h->child_ids);
    free(h->cnt);
}

static int hier_depth(const hier *h, const char *dom, const char *name)
{
    char buf[512];
    int w = snprintf(buf, sizeof buf, "%s::%s", dom, name);
    if (w < 0 || (size_t)w >= sizeof buf)
        return 0;
    uint32_t id;
    if (!ts_authz__strmap_get(&h->ids, buf, (size_t)w, &id))
        return 0;
    return h->depth[id];
}

ts_status ts_authz__snapshot_build_rule_sets(ts_snapshot *s, ts_error *err)
{
    const ts_authz_model *m = s->model;
    size_t counts[TS_MODEL_MAX_KEYS] = {0};
    for (size_t i = 0; i < s->nall; i++)
        if (s->all[i].ptype[0] == 'p')
            counts[ts_authz__snapshot_def_index(&m->p, s->all[i].ptype)]++;
    bool subject_priority = false;
    const ts_model_def *e0 = ts_authz__model_find(&m->e, "e");
    if (e0 && e0->effect == TS_EFFECT_SUBJECT_PRIORITY)
        subject_priority = true;
    hier h;
    memset(&h, 0, sizeof h);
    ts_arena harena;
    ts_authz__arena_init(&harena, 4096);
    ts_status st = TS_OK;
    if (subject_priority) {
        st = subject_depths(s, &h, &harena, err);
        if (st != TS_OK)
            goto out;
    }
    for (size_t k = 0; k < m->p.n; k++) {
        ts_rule_set *rs = &s->psets[k];
        rs->def = &m->p.defs[k];
        rs->nfields = rs->def->ntokens;
        rs->eft_idx = token_index(rs->def, "eft");
        rs->n = counts[k];
        sort_item *items = calloc(rs->n + 1, sizeof *items);
        rs->rules = ts_authz__arena_alloc(&s->arena, (rs->n + 1) * sizeof *rs->rules);
        rs->fields =
            ts_authz__arena_alloc(&s->arena, (rs->n * rs->nfields + 1) * sizeof *rs->fields);
        if (!items || !rs->rules || !rs->fields) {
            free(items);
            st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            goto out;
        }
        size_t j = 0;
        for (size_t i = 0; i < s->nall; i++)
            if (strcmp(s->all[i].ptype, rs->def->key) == 0) {
                items[j].rule = &s->all[i];
                items[j].pos = j;
                items[j].key = 0;
                j++;
            }
        size_t prio = token_index(rs->def, "priority");
        if (prio != TS_NO_FIELD) {
            /* Ascending priority; values that are not integers go first, as Casbin's
             * comparator ranks them before everything. */
            for (size_t i = 0; i < rs->n; i++) {
                long long v;
                items[i].key = go_atoi(items[i].rule->fields[prio], &v) ? v : LLONG_MIN;
            }
            qsort(items, rs->n, sizeof *items, cmp_key_asc);
            for (size_t i = 0; i < rs->n; i++)
                items[i].pos = i;
        }
        if (subject_priority) {
            size_t dom = token_index(rs->def, "dom");
            for (size_t i = 0; i < rs->n; i++) {
                const ts_policy_rule *r = items[i].rule;
                items[i].key =
                    hier_depth(&h, dom != TS_NO_FIELD ? r->fields[dom] : "", r->fields[0]);
            }
            qsort(items, rs->n, sizeof *items, cmp_key_desc);
        }
        for (size_t i = 0; i < rs->n; i++) {
            rs->rules[i] = items[i].rule;
            for (size_t f = 0; f < rs->nfields; f++)
                rs->fields[i * rs->nfields + f] = ts_str_c(items[i].rule->fields[f]);
        }
        free(items);
    }
out:
    if (subject_priority)
        hier_free(&h);
    ts_authz__arena_cleanup(&harena);
    return st;
}
