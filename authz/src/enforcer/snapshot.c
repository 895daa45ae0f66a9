/* Building an immutable snapshot: validate and copy the rules, order them as Casbin decides,
 * build role managers, compile matchers and indexes. */
#include "snapshot.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define MAX_PLANS 64

static void where_of(const ts_policy_rule *r, char *buf, size_t cap)
{
    if (r->origin)
        snprintf(buf, cap, "%s:%d", r->origin, r->line);
    else
        snprintf(buf, cap, "rule added through the API");
}

/* Casbin prints rules as Go's fmt of a []string: "[a b c]". */
static void format_go_list(char *buf, size_t cap, char *const *fields, size_t n)
{
    size_t off = 0;
    int w = snprintf(buf, cap, "[");
    off = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < n && off < cap; i++) {
        w = snprintf(buf + off, cap - off, "%s%s", i ? " " : "", fields[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    if (off < cap)
        snprintf(buf + off, cap - off, "]");
}

/* Only policy and role definitions hold rules. */
static const ts_model_section *section_of(const ts_authz_model *m, char sec)
{
    return sec == 'p' ? &m->p : sec == 'g' ? &m->g : NULL;
}

static size_t def_index(const ts_model_section *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->defs[i].key, key) == 0)
            return i;
    return TS_NO_FIELD;
}

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
    size_t gi = def_index(&s->model->g, "g");
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

/* ---- rule copying and validation ------------------------------------------------------ */

static char *arena_dup(ts_arena *a, const char *s)
{
    return ts_authz__arena_strndup(a, s, strlen(s));
}

static ts_status copy_rules(ts_snapshot *s, const ts_policy_rule *rules, size_t nrules,
                            ts_error *err)
{
    ts_strmap seen;
    ts_authz__strmap_init(&seen);
    ts_arena keys;
    ts_authz__arena_init(&keys, 1u << 16);
    ts_status st = TS_OK;
    s->all = ts_authz__arena_alloc(&s->arena, (nrules ? nrules : 1) * sizeof *s->all);
    const char *last_origin_in = NULL;
    char *last_origin_out = NULL;
    if (!s->all) {
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nrules; i++) {
        const ts_policy_rule *r = &rules[i];
        char where[120];
        where_of(r, where, sizeof where);
        const ts_model_section *sec = r->ptype[0] ? section_of(s->model, r->ptype[0]) : NULL;
        size_t di = sec ? def_index(sec, r->ptype) : TS_NO_FIELD;
        if (!sec || di == TS_NO_FIELD) {
            st = ts_error_set(err, TS_EPARSE, where, "missing required definition %s in section %c",
                              r->ptype, r->ptype[0] ? r->ptype[0] : '?');
            goto out;
        }
        const ts_model_def *d = &sec->defs[di];
        if (r->ptype[0] == 'p' && r->nfields != d->ntokens) {
            char list[200];
            format_go_list(list, sizeof list, r->fields, r->nfields);
            st = ts_error_set(err, TS_EPARSE, where,
                              "invalid policy rule size: expected %zu, got %zu, rule: %s",
                              d->ntokens, r->nfields, list);
            goto out;
        }
        if (r->ptype[0] == 'g' && r->nfields < d->g_arity) {
            st = ts_error_set(err, TS_EPARSE, where,
                              "grouping policy elements do not meet role definition: expected "
                              "at least %zu fields, got %zu",
                              d->g_arity, r->nfields);
            goto out;
        }
        /* Exact duplicates are skipped, as Casbin does. The key joins fields with a byte that
         * cannot be confused with field content boundaries. */
        size_t klen = strlen(r->ptype) + 1;
        for (size_t f = 0; f < r->nfields; f++)
            klen += strlen(r->fields[f]) + 1;
        char *key = ts_authz__arena_alloc(&keys, klen);
        if (!key) {
            st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        size_t off = 0;
        size_t pl = strlen(r->ptype);
        memcpy(key, r->ptype, pl);
        off = pl;
        for (size_t f = 0; f < r->nfields; f++) {
            key[off++] = '\x1f';
            size_t fl = strlen(r->fields[f]);
            memcpy(key + off, r->fields[f], fl);
            off += fl;
        }
        int put = ts_authz__strmap_put(&seen, key, off, (uint32_t)i, NULL);
        if (put < 0) {
            st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        if (put == 0)
            continue;
        ts_policy_rule *c = &s->all[s->nall];
        c->ptype = arena_dup(&s->arena, r->ptype);
        c->nfields = r->nfields;
        c->fields =
            ts_authz__arena_alloc(&s->arena, (r->nfields ? r->nfields : 1) * sizeof *c->fields);
        c->line = r->line;
        c->origin = NULL;
        if (r->origin) {
            if (r->origin != last_origin_in) {
                last_origin_in = r->origin;
                last_origin_out = arena_dup(&s->arena, r->origin);
            }
            c->origin = last_origin_out;
        }
        if (!c->ptype || !c->fields || (r->origin && !c->origin)) {
            st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        for (size_t f = 0; f < r->nfields; f++) {
            c->fields[f] = arena_dup(&s->arena, r->fields[f]);
            if (!c->fields[f]) {
                st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
                goto out;
            }
        }
        s->nall++;
    }
out:
    ts_authz__strmap_cleanup(&seen);
    ts_authz__arena_cleanup(&keys);
    return st;
}

static ts_status build_rule_sets(ts_snapshot *s, ts_error *err)
{
    const ts_authz_model *m = s->model;
    size_t counts[TS_MODEL_MAX_KEYS] = {0};
    for (size_t i = 0; i < s->nall; i++)
        if (s->all[i].ptype[0] == 'p')
            counts[def_index(&m->p, s->all[i].ptype)]++;
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

static ts_status build_role_managers(ts_snapshot *s, ts_error *err)
{
    const ts_authz_model *m = s->model;
    for (size_t k = 0; k < m->g.n; k++) {
        const ts_model_def *d = &m->g.defs[k];
        bool domains = d->g_arity >= 3;
        ts_rolemgr *rm = ts_authz__rolemgr_new(domains);
        if (!rm)
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        s->rms[k] = rm;
        if (s->match.role[k] != TS_AUTHZ_MATCH_NONE)
            ts_authz__rolemgr_set_matching(rm, s->match.role[k], s->regex);
        if (s->match.domain[k] != TS_AUTHZ_MATCH_NONE)
            ts_authz__rolemgr_set_domain_matching(rm, s->match.domain[k], s->regex);
        for (size_t i = 0; i < s->nall; i++) {
            const ts_policy_rule *r = &s->all[i];
            if (strcmp(r->ptype, d->key) != 0)
                continue;
            ts_str dom = domains ? ts_str_c(r->fields[2]) : ts_str_make("", 0);
            ts_status st = ts_authz__rolemgr_add_link(rm, ts_str_c(r->fields[0]),
                                                      ts_str_c(r->fields[1]), dom, err);
            if (st != TS_OK) {
                char where[120];
                where_of(r, where, sizeof where);
                if (err)
                    snprintf(err->where, sizeof err->where, "%s", where);
                return st;
            }
        }
        ts_status st = ts_authz__rolemgr_finalize(rm, !domains, err);
        if (st != TS_OK) {
            if (err && !err->where[0])
                snprintf(err->where, sizeof err->where, "role definition %s", d->key);
            return st;
        }
    }
    return TS_OK;
}

/* Casbin registers keyMatch as the domain matcher of g by itself when the matcher contains
 * keyMatch(<second request token>, <second policy token>). */
static void auto_domain_matching(ts_snapshot *s)
{
    const ts_authz_model *m = s->model;
    const ts_model_def *md = ts_authz__model_find(&m->m, "m");
    const ts_model_def *rd = ts_authz__model_find(&m->r, "r");
    const ts_model_def *pd = ts_authz__model_find(&m->p, "p");
    if (!md || !rd || !pd || rd->ntokens < 2 || pd->ntokens < 2 || m->g.n == 0)
        return;
    if (s->match.domain[0] != TS_AUTHZ_MATCH_NONE)
        return;
    char want[256];
    int w = snprintf(want, sizeof want, "keyMatch(%s, %s)", rd->tokens[1], pd->tokens[1]);
    if (w > 0 && (size_t)w < sizeof want && strstr(md->matcher, want))
        s->match.domain[0] = TS_AUTHZ_MATCH_KEYMATCH;
}

static ts_status compile_eval_rules(ts_plan *plan, ts_error *err, const ts_expr_names *names)
{
    size_t fields[16];
    size_t nf = ts_authz__expr_eval_rule_fields(plan->expr, fields, 16);
    if (nf > 16)
        nf = 16;
    ts_authz__strmap_init(&plan->eval_map);
    if (nf == 0 || !plan->rules)
        return TS_OK;
    size_t cap = plan->rules->n * nf + 1;
    plan->eval_exprs = calloc(cap, sizeof *plan->eval_exprs);
    if (!plan->eval_exprs)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; i < plan->rules->n; i++) {
        for (size_t f = 0; f < nf; f++) {
            if (fields[f] >= plan->rules->nfields)
                continue;
            ts_str text = plan->rules->fields[i * plan->rules->nfields + fields[f]];
            if (ts_authz__strmap_get(&plan->eval_map, text.ptr, text.len, NULL))
                continue;
            char *escaped = ts_authz__model_escape_assertion(text.ptr, text.len);
            if (!escaped)
                return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            /* A rule that does not compile is left for the evaluator, which reports the error
             * when (and only if) the rule is evaluated, as Casbin does. */
            ts_error ignored;
            ts_error_clear(&ignored);
            ts_expr *x = ts_authz__expr_compile(escaped, strlen(escaped), names, &ignored);
            free(escaped);
            if (!x)
                continue;
            uint32_t id = (uint32_t)plan->neval;
            plan->eval_exprs[plan->neval++] = x;
            if (ts_authz__strmap_put(&plan->eval_map, text.ptr, text.len, id, NULL) < 0)
                return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        }
    }
    return TS_OK;
}

static ts_status build_plan(ts_snapshot *s, ts_plan *plan, ts_error *err)
{
    const ts_authz_model *m = s->model;
    const char *roles[TS_MODEL_MAX_KEYS];
    for (size_t k = 0; k < m->g.n; k++)
        roles[k] = m->g.defs[k].key;
    ts_expr_names names = {
        (const char *const *)plan->rdef->tokens,
        plan->rdef->ntokens,
        (const char *const *)plan->pdef->tokens,
        plan->pdef->ntokens,
        roles,
        m->g.n,
    };
    plan->rules = ts_authz__snapshot_rules(s, plan->pdef->key);
    ts_error_clear(&plan->compile_error);
    plan->expr = ts_authz__expr_compile(plan->mdef->matcher, strlen(plan->mdef->matcher), &names,
                                        &plan->compile_error);
    /* A matcher that does not compile is reported when its plan is used (the default plan's
     * by build_plans); one that ran out of memory fails the snapshot, or the plan would
     * answer "out of memory" for as long as the snapshot lives. */
    if (!plan->expr && plan->compile_error.code == TS_ENOMEM)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    if (!plan->expr)
        return TS_OK;
    char needle[16];
    snprintf(needle, sizeof needle, "%s_", plan->pdef->key);
    plan->uses_rule = strstr(plan->mdef->matcher, needle) != NULL;
    size_t nconj = ts_authz__expr_conjuncts(plan->expr, NULL, 0);
    plan->conj = calloc(nconj + 1, sizeof *plan->conj);
    if (!plan->conj)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    plan->nconj = ts_authz__expr_conjuncts(plan->expr, plan->conj, nconj);
    ts_status st = compile_eval_rules(plan, err, &names);
    if (st != TS_OK)
        return st;
    return ts_authz__plan_build_index(plan, s, err);
}

static void plan_cleanup(ts_plan *plan)
{
    ts_authz__expr_free(plan->expr);
    free(plan->conj);
    ts_authz__plan_free_index(plan);
    for (size_t i = 0; i < plan->neval; i++)
        ts_authz__expr_free(plan->eval_exprs[i]);
    free(plan->eval_exprs);
    ts_authz__strmap_cleanup(&plan->eval_map);
}

static ts_status build_plans(ts_snapshot *s, ts_error *err)
{
    const ts_authz_model *m = s->model;
    size_t total = m->r.n * m->p.n * m->e.n * m->m.n;
    if (total > MAX_PLANS)
        total = MAX_PLANS;
    s->plans = calloc(total + 1, sizeof *s->plans);
    if (!s->plans)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    /* The default combination (r, p, e, m) comes first; the rest follow while they fit. */
    size_t n = 0;
    for (size_t ri = 0; ri < m->r.n; ri++)
        for (size_t pi = 0; pi < m->p.n; pi++)
            for (size_t ei = 0; ei < m->e.n; ei++)
                for (size_t mi = 0; mi < m->m.n && n < total; mi++) {
                    ts_plan *plan = &s->plans[n++];
                    plan->rdef = &m->r.defs[ri];
                    plan->pdef = &m->p.defs[pi];
                    plan->edef = &m->e.defs[ei];
                    plan->mdef = &m->m.defs[mi];
                    s->nplans = n;
                    ts_status st = build_plan(s, plan, err);
                    if (st != TS_OK)
                        return st;
                }
    s->default_plan = s->nplans ? &s->plans[0] : NULL;
    if (s->default_plan && !s->default_plan->expr) {
        const ts_error *ce = &s->default_plan->compile_error;
        char where[400];
        snprintf(where, sizeof where, "%s%smatchers: m (line %d)%s%s", m->name ? m->name : "",
                 m->name ? ": " : "", s->default_plan->mdef->line, ce->where[0] ? ", " : "",
                 ce->where);
        return ts_error_set(err, ce->code ? ce->code : TS_EPARSE, where, "%s", ce->msg);
    }
    return TS_OK;
}

ts_snapshot *ts_authz__snapshot_build(const ts_authz_model *model, const ts_policy_rule *rules,
                                      size_t nrules, const ts_match_config *match, ts_error *err)
{
    ts_snapshot *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        return NULL;
    }
    ts_authz__arena_init(&s->arena, 1u << 16);
    if (match)
        s->match = *match;
    s->model = ts_authz__model_clone(model);
    s->regex = ts_authz__regex_cache_new(0);
    if (!s->model || !s->regex) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    auto_domain_matching(s);
    if (copy_rules(s, rules, nrules, err) != TS_OK)
        goto fail;
    if (build_rule_sets(s, err) != TS_OK)
        goto fail;
    if (build_role_managers(s, err) != TS_OK)
        goto fail;
    if (build_plans(s, err) != TS_OK)
        goto fail;
    return s;
fail:
    ts_authz__snapshot_free(s);
    return NULL;
}

void ts_authz__snapshot_free(ts_snapshot *s)
{
    if (!s)
        return;
    for (size_t i = 0; i < s->nplans; i++)
        plan_cleanup(&s->plans[i]);
    free(s->plans);
    for (size_t k = 0; k < TS_MODEL_MAX_KEYS; k++)
        ts_authz__rolemgr_free(s->rms[k]);
    ts_authz__regex_cache_free(s->regex);
    ts_authz_model_free(s->model);
    ts_authz__arena_cleanup(&s->arena);
    free(s);
}

const ts_rule_set *ts_authz__snapshot_rules(const ts_snapshot *s, const char *pkey)
{
    for (size_t k = 0; k < s->model->p.n; k++)
        if (strcmp(s->model->p.defs[k].key, pkey) == 0)
            return &s->psets[k];
    return NULL;
}

const ts_plan *ts_authz__snapshot_plan(const ts_snapshot *s, const char *rkey, const char *pkey,
                                       const char *ekey, const char *mkey)
{
    rkey = rkey ? rkey : "r";
    pkey = pkey ? pkey : "p";
    ekey = ekey ? ekey : "e";
    mkey = mkey ? mkey : "m";
    for (size_t i = 0; i < s->nplans; i++) {
        const ts_plan *p = &s->plans[i];
        if (!strcmp(p->rdef->key, rkey) && !strcmp(p->pdef->key, pkey) &&
            !strcmp(p->edef->key, ekey) && !strcmp(p->mdef->key, mkey))
            return p;
    }
    return NULL;
}
