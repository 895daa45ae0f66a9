/* Role manager: interning, per-domain CSR graphs, closures, cycle check, plain queries.
 *
 * Queries never write to the manager: every search keeps its visited set on the caller's
 * stack (or heap when it grows), so one finalized manager serves any number of threads. */
#include "rolemgr_internal.h"
#include "util/sort.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HOPS TS_AUTHZ_ROLE_MAX_HOPS
#define NO_ID UINT32_MAX
/* Two ids above the last name are reserved for the pattern search's temporary names. */
#define MAX_IDS (UINT32_MAX - 3u)
/* Precomputed domain merges: beyond these, a query merges the matching domains itself. */
#define MERGE_MAX_DOMAINS 1024u
#define MERGE_BUDGET ((size_t)16 * 1024 * 1024)
/* Edge scans allowed while computing closures, per closure entry of budget: a dense graph
 * gives up on closures instead of spending quadratic time at finalize. */
#define CLOSURE_WORK_FACTOR 4u

typedef struct seg {
    const ts_rm_link *p;
    size_t n;
} seg;

/* A domain without links (or an unknown one): only a == b and fn(a, b) can hold. */
static const ts_rm_graph empty_graph;

/* ---- scratch containers ----------------------------------------------------------------- */

void ts_authz__rm_idset_init(ts_rm_idset *s)
{
    memset(s->inline_slots, 0, sizeof s->inline_slots);
    s->slots = s->inline_slots;
    s->cap = TS_RM_INLINE_SET;
    s->count = 0;
}

void ts_authz__rm_idset_cleanup(ts_rm_idset *s)
{
    if (s->slots != s->inline_slots)
        free(s->slots);
    s->slots = s->inline_slots;
    s->cap = 0;
    s->count = 0;
}

static size_t id_hash(uint32_t id)
{
    uint32_t h = id * 2654435761u;
    return (size_t)(h ^ (h >> 15));
}

static void idset_insert(uint32_t *slots, size_t cap, uint32_t key)
{
    size_t mask = cap - 1;
    for (size_t i = id_hash(key) & mask;; i = (i + 1) & mask) {
        if (slots[i] == 0) {
            slots[i] = key;
            return;
        }
    }
}

int ts_authz__rm_idset_add(ts_rm_idset *s, uint32_t id)
{
    uint32_t key = id + 1;
    size_t mask = s->cap - 1;
    for (size_t i = id_hash(key) & mask;; i = (i + 1) & mask) {
        if (s->slots[i] == key)
            return 0;
        if (s->slots[i] == 0)
            break;
    }
    if ((s->count + 1) * 2 > s->cap) {
        size_t ncap = s->cap * 2;
        uint32_t *ns = calloc(ncap, sizeof *ns);
        if (!ns)
            return -1;
        for (size_t i = 0; i < s->cap; i++) {
            if (s->slots[i])
                idset_insert(ns, ncap, s->slots[i]);
        }
        if (s->slots != s->inline_slots)
            free(s->slots);
        s->slots = ns;
        s->cap = ncap;
    }
    idset_insert(s->slots, s->cap, key);
    s->count++;
    return 1;
}

void ts_authz__rm_idvec_init(ts_rm_idvec *v)
{
    v->v = v->inline_v;
    v->len = 0;
    v->cap = TS_RM_INLINE_VEC;
}

void ts_authz__rm_idvec_cleanup(ts_rm_idvec *v)
{
    if (v->v != v->inline_v)
        free(v->v);
    ts_authz__rm_idvec_init(v);
}

int ts_authz__rm_idvec_push(ts_rm_idvec *v, uint32_t id)
{
    if (v->len == v->cap) {
        size_t ncap = v->cap * 2;
        uint32_t *nv;
        if (v->v == v->inline_v) {
            nv = malloc(ncap * sizeof *nv);
            if (nv)
                memcpy(nv, v->v, v->len * sizeof *nv);
        } else {
            nv = realloc(v->v, ncap * sizeof *nv);
        }
        if (!nv)
            return -1;
        v->v = nv;
        v->cap = ncap;
    }
    v->v[v->len++] = id;
    return 0;
}

/* ---- construction ----------------------------------------------------------------------- */

ts_rolemgr *ts_authz__rolemgr_new(bool with_domains)
{
    ts_rolemgr *rm = calloc(1, sizeof *rm);
    if (!rm)
        return NULL;
    rm->with_domains = with_domains;
    rm->closure_budget = TS_ROLEMGR_CLOSURE_BUDGET;
    ts_authz__arena_init(&rm->arena, 16384);
    ts_authz__strmap_init(&rm->names);
    ts_authz__strmap_init(&rm->doms);
    return rm;
}

static void graph_free(ts_rm_graph *g)
{
    free(g->off);
    free(g->adj);
    free(g->coff);
    free(g->cl);
    free(g->ispat);
    free(g->pats);
    free(g->moff);
    free(g->madj);
    free(g->mboff);
    free(g->mbadj);
    free(g->own_names);
    ts_authz__strmap_cleanup(&g->own_index);
    memset(g, 0, sizeof *g);
}

static size_t graph_count(const ts_rolemgr *rm)
{
    return rm->with_domains ? rm->ndoms : 1;
}

static void reset_built(ts_rolemgr *rm)
{
    size_t nd = graph_count(rm);
    if (rm->own) {
        for (size_t k = 0; k < nd; k++)
            graph_free(&rm->own[k]);
    }
    if (rm->merged) {
        for (size_t k = 0; k < nd; k++)
            graph_free(&rm->merged[k]);
    }
    free(rm->own);
    free(rm->merged);
    free((void *)rm->view);
    free(rm->by_dom);
    free(rm->dom_off);
    free(rm->pat_doms);
    rm->pat_doms = NULL;
    rm->npat_doms = 0;
    rm->own = NULL;
    rm->merged = NULL;
    rm->view = NULL;
    rm->by_dom = NULL;
    rm->dom_off = NULL;
}

void ts_authz__rolemgr_free(ts_rolemgr *rm)
{
    if (!rm)
        return;
    reset_built(rm);
    free(rm->links);
    free(rm->name_tab);
    free(rm->dom_tab);
    ts_authz__strmap_cleanup(&rm->names);
    ts_authz__strmap_cleanup(&rm->doms);
    ts_authz__arena_cleanup(&rm->arena);
    free(rm);
}

void ts_authz__rolemgr_set_matching(ts_rolemgr *rm, ts_authz_match_fn fn, ts_regex_cache *rc)
{
    /* A finalized manager is shared read-only; changing how it matches would race. */
    if (!rm || rm->finalized)
        return;
    rm->name_fn = fn;
    rm->name_rc = rc;
}

void ts_authz__rolemgr_set_domain_matching(ts_rolemgr *rm, ts_authz_match_fn fn, ts_regex_cache *rc)
{
    if (!rm || rm->finalized)
        return;
    rm->dom_fn = fn;
    rm->dom_rc = rc;
}

void ts_authz__rolemgr_set_closure_budget(ts_rolemgr *rm, size_t max_entries)
{
    if (!rm || rm->finalized)
        return;
    rm->closure_budget = max_entries;
}

bool ts_authz__rolemgr_is_simple(const ts_rolemgr *rm)
{
    /* Domain patterns only choose which graph answers; role names are still exact. */
    return rm && rm->name_fn == TS_AUTHZ_MATCH_NONE;
}

size_t ts_authz__rolemgr_link_count(const ts_rolemgr *rm)
{
    if (!rm)
        return 0;
    return rm->finalized ? rm->nunique : rm->nlinks;
}

/* Accept (NULL, 0) as the empty string so that hashing and memcmp never see NULL. */
static bool norm_str(ts_str *s)
{
    if (!s->ptr) {
        if (s->len)
            return false;
        s->ptr = "";
    }
    return true;
}

static ts_status intern(ts_rolemgr *rm, ts_strmap *map, ts_str **tab, uint32_t *count, size_t *cap,
                        ts_str s, uint32_t *id, ts_error *err)
{
    uint32_t existing;
    if (ts_authz__strmap_get(map, s.ptr, s.len, &existing)) {
        *id = existing;
        return TS_OK;
    }
    if (s.len > TS_AUTHZ_MAX_LINE_BYTES)
        return ts_error_set(err, TS_ELIMIT, "role manager", "role name longer than %u bytes",
                            (unsigned)TS_AUTHZ_MAX_LINE_BYTES);
    if (*count >= MAX_IDS)
        return ts_error_set(err, TS_ELIMIT, "role manager", "too many role names");
    if (*count == *cap) {
        size_t ncap = *cap ? *cap * 2 : 64;
        ts_str *nt = realloc(*tab, ncap * sizeof *nt);
        if (!nt)
            return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        *tab = nt;
        *cap = ncap;
    }
    char *copy = ts_authz__arena_strndup(&rm->arena, s.ptr, s.len);
    if (!copy || ts_authz__strmap_put(map, copy, s.len, *count, NULL) < 0)
        return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
    (*tab)[*count] = ts_str_make(copy, s.len);
    *id = (*count)++;
    return TS_OK;
}

ts_status ts_authz__rolemgr_add_link(ts_rolemgr *rm, ts_str name, ts_str role, ts_str domain,
                                     ts_error *err)
{
    if (!rm || !norm_str(&name) || !norm_str(&role) || !norm_str(&domain))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (rm->finalized)
        return ts_error_set(err, TS_EINVAL, "role manager",
                            "links cannot be added to a finalized role manager");
    if (rm->nlinks >= MAX_IDS)
        return ts_error_set(err, TS_ELIMIT, "role manager", "too many role links");
    ts_rm_link l = {0, 0, 0};
    ts_status st =
        intern(rm, &rm->names, &rm->name_tab, &rm->nnames, &rm->name_cap, name, &l.from, err);
    if (st == TS_OK)
        st = intern(rm, &rm->names, &rm->name_tab, &rm->nnames, &rm->name_cap, role, &l.to, err);
    if (st == TS_OK && rm->with_domains)
        st = intern(rm, &rm->doms, &rm->dom_tab, &rm->ndoms, &rm->dom_cap, domain, &l.dom, err);
    if (st != TS_OK)
        return st;
    if (rm->nlinks == rm->link_cap) {
        size_t ncap = rm->link_cap ? rm->link_cap * 2 : 64;
        ts_rm_link *nl = realloc(rm->links, ncap * sizeof *nl);
        if (!nl)
            return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        rm->links = nl;
        rm->link_cap = ncap;
    }
    rm->links[rm->nlinks++] = l;
    return TS_OK;
}

/* ---- graphs ----------------------------------------------------------------------------- */

bool ts_authz__rm_graph_find(const ts_rm_graph *g, ts_str name, uint32_t *id)
{
    if (!g->index)
        return false;
    return ts_authz__strmap_get(g->index, name.ptr, name.len, id);
}

/*
 * Build a CSR graph from @p segs. With @p loc (global id -> local id scratch, all NO_ID on entry
 * and on return) names get local ids; without it the graph borrows the global numbering.
 */
static ts_status graph_build(const ts_rolemgr *rm, ts_rm_graph *g, const seg *segs, size_t nsegs,
                             uint32_t *loc)
{
    memset(g, 0, sizeof *g);
    ts_authz__strmap_init(&g->own_index);
    size_t m = 0;
    for (size_t s = 0; s < nsegs; s++)
        m += segs[s].n;

    uint32_t *gids = NULL;
    uint32_t n = 0;
    ts_status st = TS_ENOMEM;
    uint32_t *mark = NULL;
    if (!loc) {
        n = rm->nnames;
        g->index = &rm->names;
        g->names = rm->name_tab;
    } else {
        gids = malloc((2 * m + 1) * sizeof *gids);
        if (!gids)
            goto out;
        for (size_t s = 0; s < nsegs; s++) {
            for (size_t i = 0; i < segs[s].n; i++) {
                uint32_t ends[2] = {segs[s].p[i].from, segs[s].p[i].to};
                for (int e = 0; e < 2; e++) {
                    if (loc[ends[e]] == NO_ID) {
                        loc[ends[e]] = n;
                        gids[n++] = ends[e];
                    }
                }
            }
        }
        g->own_names = malloc(((size_t)n + 1) * sizeof *g->own_names);
        if (!g->own_names)
            goto out;
        for (uint32_t i = 0; i < n; i++) {
            g->own_names[i] = rm->name_tab[gids[i]];
            if (ts_authz__strmap_put(&g->own_index, g->own_names[i].ptr, g->own_names[i].len, i,
                                     NULL) < 0)
                goto out;
        }
        g->index = &g->own_index;
        g->names = g->own_names;
    }
    g->n = n;

    g->off = calloc((size_t)n + 2, sizeof *g->off);
    g->adj = malloc((m + 1) * sizeof *g->adj);
    mark = calloc((size_t)n + 1, sizeof *mark);
    if (!g->off || !g->adj || !mark)
        goto out;
    /* Counting sort by source; the fill keeps insertion order within each source. */
    for (size_t s = 0; s < nsegs; s++) {
        for (size_t i = 0; i < segs[s].n; i++) {
            uint32_t u = loc ? loc[segs[s].p[i].from] : segs[s].p[i].from;
            g->off[u + 2]++;
        }
    }
    for (uint32_t u = 0; u < n; u++)
        g->off[u + 2] += g->off[u + 1];
    for (size_t s = 0; s < nsegs; s++) {
        for (size_t i = 0; i < segs[s].n; i++) {
            const ts_rm_link *l = &segs[s].p[i];
            uint32_t u = loc ? loc[l->from] : l->from;
            uint32_t v = loc ? loc[l->to] : l->to;
            g->adj[g->off[u + 1]++] = v;
        }
    }
    /* Remove duplicate links (Go keeps roles in a map keyed by name). */
    uint32_t w = 0, start = 0;
    for (uint32_t u = 0; u < n; u++) {
        uint32_t end = g->off[u + 1];
        g->off[u] = w;
        for (uint32_t i = start; i < end; i++) {
            uint32_t v = g->adj[i];
            if (mark[v] != u + 1) {
                mark[v] = u + 1;
                g->adj[w++] = v;
            }
        }
        start = end;
    }
    g->off[n] = w;
    st = TS_OK;
out:
    if (loc && gids) {
        for (uint32_t i = 0; i < n; i++)
            loc[gids[i]] = NO_ID;
    }
    free(gids);
    free(mark);
    if (st != TS_OK)
        graph_free(g);
    return st;
}

/*
 * Precompute, in node order, each node's roles within the hop limit until @p budget entries
 * (shared by all graphs) or the matching amount of work is used up.
 */
static ts_status graph_closures(ts_rm_graph *g, size_t *budget)
{
    uint32_t n = g->n;
    g->nclosed = 0;
    if (n == 0 || *budget == 0)
        return TS_OK;
    size_t limit = *budget < (size_t)MAX_IDS ? *budget : (size_t)MAX_IDS;
    size_t work_limit = limit * CLOSURE_WORK_FACTOR + (size_t)n;
    size_t work = 0, used = 0, cap = (size_t)n < limit ? (size_t)n : limit;
    uint32_t *stamp = calloc(n, sizeof *stamp);
    uint32_t *queue = malloc((size_t)n * sizeof *queue);
    g->coff = malloc(((size_t)n + 1) * sizeof *g->coff);
    g->cl = malloc((cap ? cap : 1) * sizeof *g->cl);
    ts_status st = TS_ENOMEM;
    if (!stamp || !queue || !g->coff || !g->cl)
        goto out;

    uint32_t u = 0;
    for (; u < n; u++) {
        size_t qh = 0, qt = 0;
        bool over = false;
        stamp[u] = u + 1;
        queue[qt++] = u;
        for (int depth = 0; depth < HOPS && qh < qt && !over; depth++) {
            size_t level_end = qt;
            while (qh < level_end) {
                uint32_t x = queue[qh++];
                work += (size_t)(g->off[x + 1] - g->off[x]) + 1;
                if (work > work_limit) {
                    over = true;
                    break;
                }
                for (uint32_t i = g->off[x]; i < g->off[x + 1]; i++) {
                    uint32_t v = g->adj[i];
                    if (stamp[v] != u + 1) {
                        stamp[v] = u + 1;
                        queue[qt++] = v;
                    }
                }
            }
        }
        size_t cnt = qt - 1;
        if (over || used + cnt > limit)
            break;
        if (used + cnt > cap) {
            size_t ncap = cap * 2 > used + cnt ? cap * 2 : used + cnt;
            if (ncap > limit)
                ncap = limit;
            uint32_t *ncl = realloc(g->cl, ncap * sizeof *ncl);
            if (!ncl)
                goto out;
            g->cl = ncl;
            cap = ncap;
        }
        g->coff[u] = (uint32_t)used;
        memcpy(g->cl + used, queue + 1, cnt * sizeof *queue);
        ts_sort_u32(g->cl + used, cnt);
        used += cnt;
    }
    g->nclosed = u;
    g->coff[u] = (uint32_t)used;
    *budget -= used;
    st = TS_OK;
out:
    free(stamp);
    free(queue);
    if (st != TS_OK) {
        free(g->coff);
        free(g->cl);
        g->coff = NULL;
        g->cl = NULL;
        g->nclosed = 0;
    }
    return st;
}

/* Go v3's detector: depth-first from each name in order of first appearance, links in insertion
 * order; the first back edge closes the reported cycle. */
static ts_status find_cycle(const ts_rm_graph *g, ts_error *err)
{
    uint32_t n = g->n;
    if (n == 0)
        return TS_OK;
    unsigned char *color = calloc(n, 1); /* 0 unvisited, 1 on the path, 2 done */
    uint32_t *stk = malloc((size_t)n * sizeof *stk);
    uint32_t *pos = malloc((size_t)n * sizeof *pos);
    ts_status st = TS_OK;
    if (!color || !stk || !pos) {
        st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        goto out;
    }
    for (uint32_t root = 0; root < n; root++) {
        if (color[root])
            continue;
        size_t sp = 0;
        stk[sp] = root;
        pos[sp] = g->off[root];
        sp++;
        color[root] = 1;
        while (sp) {
            uint32_t u = stk[sp - 1];
            if (pos[sp - 1] == g->off[u + 1]) {
                color[u] = 2;
                sp--;
                continue;
            }
            uint32_t v = g->adj[pos[sp - 1]++];
            if (color[v] == 0) {
                color[v] = 1;
                stk[sp] = v;
                pos[sp] = g->off[v];
                sp++;
            } else if (color[v] == 1) {
                size_t first = 0;
                while (stk[first] != v)
                    first++;
                char buf[256];
                size_t len = 0;
                for (size_t i = first; i <= sp; i++) {
                    ts_str nm = g->names[i < sp ? stk[i] : v];
                    const char *sep = i > first ? " -> " : "";
                    size_t room = sizeof buf - 1 - len;
                    size_t sl = strlen(sep) < room ? strlen(sep) : room;
                    memcpy(buf + len, sep, sl);
                    len += sl;
                    room -= sl;
                    size_t nl = nm.len < room ? nm.len : room;
                    memcpy(buf + len, nm.ptr, nl);
                    len += nl;
                }
                buf[len] = '\0';
                st = ts_error_set(err, TS_ECYCLE, NULL, "cycle detected: %s", buf);
                goto out;
            }
        }
    }
out:
    free(color);
    free(stk);
    free(pos);
    return st;
}

static seg dom_seg(const ts_rolemgr *rm, uint32_t k)
{
    seg s = {rm->by_dom + rm->dom_off[k], rm->dom_off[k + 1] - rm->dom_off[k]};
    return s;
}

/* Go's DomainManager: links(d) = own(d) plus own(P) for every other stored P with fn(d, P). */
static ts_status collect_domain_segs(const ts_rolemgr *rm, ts_str d, uint32_t self, seg *segs,
                                     size_t *nsegs, size_t *nlinks)
{
    size_t ns = 0, nl = 0;
    if (self != NO_ID) {
        segs[ns++] = dom_seg(rm, self);
        nl += segs[0].n;
    }
    /* A literal stored domain matches only itself, so only pattern domains can add links. */
    for (uint32_t i = 0; i < rm->npat_doms; i++) {
        uint32_t p = rm->pat_doms[i];
        if (p == self || !ts_authz__rm_match(rm->dom_fn, rm->dom_rc, d, rm->dom_tab[p]))
            continue;
        segs[ns] = dom_seg(rm, p);
        nl += segs[ns].n;
        ns++;
    }
    *nsegs = ns;
    *nlinks = nl;
    return TS_OK;
}

static ts_status build_merged(ts_rolemgr *rm, uint32_t *loc, ts_error *err)
{
    size_t nd = rm->ndoms;
    rm->merged = calloc(nd + 1, sizeof *rm->merged);
    seg *segs = malloc((nd + 1) * sizeof *segs);
    if (!rm->merged || !segs) {
        free(segs);
        return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
    }
    for (size_t k = 0; k < nd; k++)
        ts_authz__strmap_init(&rm->merged[k].own_index);
    size_t total = 0;
    for (uint32_t k = 0; k < nd; k++) {
        size_t ns = 0, nl = 0;
        if (nd > MERGE_MAX_DOMAINS) {
            rm->view[k] = NULL;
            continue;
        }
        collect_domain_segs(rm, rm->dom_tab[k], k, segs, &ns, &nl);
        if (ns == 1) {
            rm->view[k] = &rm->own[k];
        } else if (total + nl > MERGE_BUDGET) {
            rm->view[k] = NULL;
        } else {
            if (graph_build(rm, &rm->merged[k], segs, ns, loc) != TS_OK) {
                free(segs);
                return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
            }
            total += nl;
            rm->view[k] = &rm->merged[k];
        }
    }
    free(segs);
    return TS_OK;
}

ts_status ts_authz__rolemgr_finalize(ts_rolemgr *rm, bool reject_cycles, ts_error *err)
{
    if (!rm)
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (rm->finalized)
        return TS_OK;
    size_t nd = graph_count(rm);
    ts_status st = TS_OK;
    uint32_t *loc = NULL;
    rm->own = calloc(nd + 1, sizeof *rm->own);
    rm->view = calloc(nd + 1, sizeof *rm->view);
    rm->dom_off = calloc(nd + 2, sizeof *rm->dom_off);
    rm->by_dom = malloc((rm->nlinks + 1) * sizeof *rm->by_dom);
    if (!rm->own || !rm->view || !rm->dom_off || !rm->by_dom)
        goto oom;
    for (size_t k = 0; k < nd; k++)
        ts_authz__strmap_init(&rm->own[k].own_index);

    /* Group links by domain, stable, so each domain keeps insertion order. */
    for (size_t i = 0; i < rm->nlinks; i++)
        rm->dom_off[rm->links[i].dom + 2]++;
    for (size_t k = 0; k < nd; k++)
        rm->dom_off[k + 2] += rm->dom_off[k + 1];
    for (size_t i = 0; i < rm->nlinks; i++)
        rm->by_dom[rm->dom_off[rm->links[i].dom + 1]++] = rm->links[i];

    if (rm->with_domains) {
        loc = malloc(((size_t)rm->nnames + 1) * sizeof *loc);
        if (!loc)
            goto oom;
        memset(loc, 0xff, ((size_t)rm->nnames + 1) * sizeof *loc);
    }
    rm->nunique = 0;
    for (uint32_t k = 0; k < nd; k++) {
        seg s = dom_seg(rm, k);
        if (graph_build(rm, &rm->own[k], &s, 1, loc) != TS_OK)
            goto oom;
        rm->nunique += rm->own[k].off[rm->own[k].n];
        rm->view[k] = &rm->own[k];
    }
    if (reject_cycles && !rm->with_domains) {
        st = find_cycle(&rm->own[0], err);
        if (st != TS_OK)
            goto fail;
    }
    if (rm->with_domains && rm->dom_fn != TS_AUTHZ_MATCH_NONE) {
        rm->pat_doms = malloc(((size_t)rm->ndoms + 1) * sizeof *rm->pat_doms);
        if (!rm->pat_doms)
            goto oom;
        for (uint32_t k = 0; k < rm->ndoms; k++)
            if (!ts_authz__rm_is_literal(rm->dom_fn, rm->dom_tab[k]))
                rm->pat_doms[rm->npat_doms++] = k;
        st = build_merged(rm, loc, err);
        if (st != TS_OK)
            goto fail;
    }

    size_t budget = rm->closure_budget;
    for (size_t k = 0; k < nd; k++) {
        ts_rm_graph *g = NULL;
        if (rm->view[k] == &rm->own[k])
            g = &rm->own[k];
        else if (rm->merged && rm->view[k] == &rm->merged[k])
            g = &rm->merged[k];
        if (!g)
            continue;
        if (rm->name_fn == TS_AUTHZ_MATCH_NONE)
            st = graph_closures(g, &budget);
        else
            st = ts_authz__rm_graph_patterns(rm, g, true);
        if (st != TS_OK)
            goto oom;
    }
    free(loc);
    rm->finalized = true;
    return TS_OK;

oom:
    st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
fail:
    free(loc);
    reset_built(rm);
    return st;
}

/* ---- queries ---------------------------------------------------------------------------- */

/*
 * The graph answering queries in @p domain. When domain patterns require a merge that was not
 * precomputed, it is built into @p tmp (the caller frees it with graph_free when *built).
 */
static ts_status resolve(const ts_rolemgr *rm, const ts_str *domain, const ts_rm_graph **g,
                         ts_rm_graph *tmp, bool *built, ts_error *err)
{
    *built = false;
    if (!rm->with_domains) {
        *g = rm->view[0];
        return TS_OK;
    }
    ts_str d = domain ? *domain : ts_str_make("", 0);
    if (!norm_str(&d))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid domain");
    uint32_t k = NO_ID;
    bool stored = ts_authz__strmap_get(&rm->doms, d.ptr, d.len, &k);
    if (stored && rm->view[k]) {
        *g = rm->view[k];
        return TS_OK;
    }
    *g = &empty_graph;
    if (rm->dom_fn == TS_AUTHZ_MATCH_NONE)
        return TS_OK;
    if (!stored) {
        /* An unknown domain sees exactly the links of the pattern domains it matches; with a
         * single match (the common "*" binding) that is a graph built at finalize. */
        uint32_t only = NO_ID, nmatch = 0;
        for (uint32_t i = 0; i < rm->npat_doms && nmatch < 2; i++) {
            uint32_t p = rm->pat_doms[i];
            if (ts_authz__rm_match(rm->dom_fn, rm->dom_rc, d, rm->dom_tab[p])) {
                only = p;
                nmatch++;
            }
        }
        if (nmatch == 0)
            return TS_OK;
        if (nmatch == 1) {
            *g = &rm->own[only];
            return TS_OK;
        }
    }
    seg *segs = malloc(((size_t)rm->ndoms + 1) * sizeof *segs);
    uint32_t *loc = malloc(((size_t)rm->nnames + 1) * sizeof *loc);
    ts_status st = TS_OK;
    if (!segs || !loc) {
        st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        goto out;
    }
    memset(loc, 0xff, ((size_t)rm->nnames + 1) * sizeof *loc);
    size_t ns = 0, nl = 0;
    collect_domain_segs(rm, d, stored ? k : NO_ID, segs, &ns, &nl);
    if (ns == 0)
        goto out;
    if (graph_build(rm, tmp, segs, ns, loc) != TS_OK) {
        st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        goto out;
    }
    if (rm->name_fn != TS_AUTHZ_MATCH_NONE &&
        ts_authz__rm_graph_patterns(rm, tmp, false) != TS_OK) {
        graph_free(tmp);
        st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        goto out;
    }
    *built = true;
    *g = tmp;
out:
    free(segs);
    free(loc);
    return st;
}

typedef bool (*visit_fn)(void *ctx, uint32_t id);

/* Breadth-first search within the hop limit with a per-call visited set; @p visit sees every
 * reachable id except @p start once and stops the search by returning false. */
static ts_status bfs(const ts_rm_graph *g, uint32_t start, visit_fn visit, void *ctx)
{
    ts_rm_idset seen;
    ts_rm_idvec queue;
    ts_authz__rm_idset_init(&seen);
    ts_authz__rm_idvec_init(&queue);
    ts_status st = TS_OK;
    if (ts_authz__rm_idset_add(&seen, start) < 0 || ts_authz__rm_idvec_push(&queue, start) < 0) {
        st = TS_ENOMEM;
        goto out;
    }
    size_t qh = 0;
    for (int depth = 0; depth < HOPS && qh < queue.len; depth++) {
        size_t level_end = queue.len;
        for (; qh < level_end; qh++) {
            uint32_t x = queue.v[qh];
            for (uint32_t i = g->off[x]; i < g->off[x + 1]; i++) {
                uint32_t v = g->adj[i];
                int r = ts_authz__rm_idset_add(&seen, v);
                if (r < 0 || (r > 0 && ts_authz__rm_idvec_push(&queue, v) < 0)) {
                    st = TS_ENOMEM;
                    goto out;
                }
                if (r > 0 && !visit(ctx, v))
                    goto out;
            }
        }
    }
out:
    ts_authz__rm_idset_cleanup(&seen);
    ts_authz__rm_idvec_cleanup(&queue);
    return st;
}

typedef struct find_ctx {
    uint32_t target;
    bool found;
} find_ctx;

static bool find_visit(void *ctx, uint32_t id)
{
    find_ctx *f = ctx;
    if (id == f->target) {
        f->found = true;
        return false;
    }
    return true;
}

static ts_status simple_has_link(const ts_rm_graph *g, ts_str a, ts_str b, bool *out)
{
    uint32_t ia, ib;
    if (!ts_authz__rm_graph_find(g, a, &ia) || !ts_authz__rm_graph_find(g, b, &ib))
        return TS_OK;
    if (ia < g->nclosed) {
        const uint32_t *lo = g->cl + g->coff[ia];
        size_t n = g->coff[ia + 1] - g->coff[ia];
        while (n > 0) {
            size_t half = n / 2;
            if (lo[half] < ib) {
                lo += half + 1;
                n -= half + 1;
            } else {
                n = half;
            }
        }
        *out = lo < g->cl + g->coff[ia + 1] && *lo == ib;
        return TS_OK;
    }
    find_ctx f = {ib, false};
    ts_status st = bfs(g, ia, find_visit, &f);
    *out = f.found;
    return st;
}

ts_status ts_authz__rolemgr_has_link(const ts_rolemgr *rm, ts_str a, ts_str b, const ts_str *domain,
                                     bool *out, ts_error *err)
{
    if (out)
        *out = false;
    if (!rm || !out || !norm_str(&a) || !norm_str(&b))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (!rm->finalized)
        return ts_error_set(err, TS_EINVAL, "role manager", "role manager is not finalized");
    if (ts_str_eq(a, b) || (rm->name_fn != TS_AUTHZ_MATCH_NONE &&
                            ts_authz__rm_match(rm->name_fn, rm->name_rc, a, b))) {
        *out = true;
        return TS_OK;
    }
    const ts_rm_graph *g = NULL;
    ts_rm_graph tmp;
    bool built = false;
    ts_status st = resolve(rm, domain, &g, &tmp, &built, err);
    if (st != TS_OK)
        return st;
    if (rm->name_fn != TS_AUTHZ_MATCH_NONE)
        st = ts_authz__rm_pattern_has_link(rm, g, a, b, out);
    else
        st = simple_has_link(g, a, b, out);
    if (built)
        graph_free(&tmp);
    if (st != TS_OK) {
        *out = false;
        if (st == TS_ELIMIT)
            return ts_error_set(err, st, "role manager",
                                "role search exceeded its work limit (pattern graph too large)");
        return ts_error_set(err, st, "role manager", "out of memory");
    }
    return TS_OK;
}

typedef struct reach_ctx {
    const ts_rm_graph *g;
    bool (*cb)(void *ud, ts_str name);
    void *ud;
} reach_ctx;

static bool reach_visit(void *ctx, uint32_t id)
{
    reach_ctx *r = ctx;
    return r->cb(r->ud, r->g->names[id]);
}

ts_status ts_authz__rolemgr_reachable(const ts_rolemgr *rm, ts_str a, const ts_str *domain,
                                      bool (*cb)(void *ud, ts_str name), void *ud, ts_error *err)
{
    if (!rm || !cb || !norm_str(&a))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (!rm->finalized)
        return ts_error_set(err, TS_EINVAL, "role manager", "role manager is not finalized");
    if (!ts_authz__rolemgr_is_simple(rm))
        return ts_error_set(err, TS_EUNSUPPORTED, "role manager",
                            "reachable roles cannot be listed with pattern functions");
    const ts_rm_graph *g = NULL;
    ts_rm_graph tmp;
    bool built = false;
    ts_status st = resolve(rm, domain, &g, &tmp, &built, err);
    if (st != TS_OK)
        return st;
    uint32_t ia;
    if (!ts_authz__rm_graph_find(g, a, &ia)) {
        cb(ud, a);
    } else if (!cb(ud, g->names[ia])) {
        /* stopped by the caller */
    } else if (ia < g->nclosed) {
        for (uint32_t i = g->coff[ia]; i < g->coff[ia + 1]; i++) {
            if (!cb(ud, g->names[g->cl[i]]))
                break;
        }
    } else {
        reach_ctx r = {g, cb, ud};
        st = bfs(g, ia, reach_visit, &r);
    }
    /* A graph merged for this call only is released after the callbacks have run. */
    if (built)
        graph_free(&tmp);
    if (st != TS_OK)
        return ts_error_set(err, st, "role manager", "out of memory");
    return TS_OK;
}
