/* Role manager: construction, interning of names and domains, and finalize, which groups the
 * links by domain and builds the graphs, closures and pattern tables that queries read.
 *
 * Queries never write to the manager: every search keeps its visited set on the caller's
 * stack (or heap when it grows), so one finalized manager serves any number of threads. */
#include "rolemgr_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

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

static size_t graph_count(const ts_rolemgr *rm)
{
    return rm->with_domains ? rm->ndoms : 1;
}

static void reset_built(ts_rolemgr *rm)
{
    size_t nd = graph_count(rm);
    if (rm->own) {
        for (size_t k = 0; k < nd; k++)
            ts_authz__rm_graph_free(&rm->own[k]);
    }
    if (rm->merged) {
        for (size_t k = 0; k < nd; k++)
            ts_authz__rm_graph_free(&rm->merged[k]);
    }
    free(rm->own);
    free(rm->merged);
    free((void *)rm->view);
    free(rm->by_dom);
    free(rm->dom_off);
    free(rm->pat_doms);
    free(rm->name_slot);
    rm->name_slot = NULL;
    rm->pat_doms = NULL;
    rm->npat_doms = 0;
    rm->own = NULL;
    rm->merged = NULL;
    rm->view = NULL;
    rm->by_dom = NULL;
    rm->dom_off = NULL;
}

ts_rolemgr *ts_authz__rolemgr_new_conditional(bool with_domains)
{
    ts_rolemgr *rm = ts_authz__rolemgr_new(with_domains);
    if (rm)
        rm->conditional = true;
    return rm;
}

void ts_authz__rolemgr_free(ts_rolemgr *rm)
{
    if (!rm)
        return;
    reset_built(rm);
    ts_authz__rm_cond_free(rm);
    free(rm->links);
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

void ts_authz__rolemgr_set_matching_custom(ts_rolemgr *rm, const ts_custom_fn *f)
{
    if (!rm || rm->finalized)
        return;
    rm->name_fn = f ? TS_RM_MATCH_CUSTOM : TS_AUTHZ_MATCH_NONE;
    rm->name_cf = f;
}

void ts_authz__rolemgr_set_domain_matching_custom(ts_rolemgr *rm, const ts_custom_fn *f)
{
    if (!rm || rm->finalized)
        return;
    rm->dom_fn = f ? TS_RM_MATCH_CUSTOM : TS_AUTHZ_MATCH_NONE;
    rm->dom_cf = f;
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
    return rm && rm->name_fn == TS_AUTHZ_MATCH_NONE && !rm->conditional;
}

size_t ts_authz__rolemgr_link_count(const ts_rolemgr *rm)
{
    if (!rm)
        return 0;
    return rm->finalized ? rm->nunique : rm->nlinks;
}

/* Accept (NULL, 0) as the empty string so that hashing and memcmp never see NULL. */
bool ts_authz__rm_norm_str(ts_str *s)
{
    if (!s->ptr) {
        if (s->len)
            return false;
        s->ptr = "";
    }
    return true;
}

/* Names get no table here (@p tab NULL): finalize indexes the map's slots instead. */
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
    if (*count >= TS_RM_MAX_IDS)
        return ts_error_set(err, TS_ELIMIT, "role manager", "too many role names");
    if (tab && *count == *cap) {
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
    if (tab)
        (*tab)[*count] = ts_str_make(copy, s.len);
    *id = (*count)++;
    return TS_OK;
}

ts_status ts_authz__rolemgr_add_link(ts_rolemgr *rm, ts_str name, ts_str role, ts_str domain,
                                     ts_error *err)
{
    if (!rm || !ts_authz__rm_norm_str(&name) || !ts_authz__rm_norm_str(&role) ||
        !ts_authz__rm_norm_str(&domain))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (rm->finalized)
        return ts_error_set(err, TS_EINVAL, "role manager",
                            "links cannot be added to a finalized role manager");
    if (rm->nlinks >= TS_RM_MAX_IDS)
        return ts_error_set(err, TS_ELIMIT, "role manager", "too many role links");
    ts_rm_link l = {0, 0, 0, 0};
    ts_status st = intern(rm, &rm->names, NULL, &rm->nnames, NULL, name, &l.from, err);
    if (st == TS_OK)
        st = intern(rm, &rm->names, NULL, &rm->nnames, NULL, role, &l.to, err);
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
    l.id = (uint32_t)rm->nlinks;
    rm->links[rm->nlinks++] = l;
    return TS_OK;
}

/* Index the names map by id (names gets no more keys, so slots stay put). @return 0 or -1. */
static int build_name_slots(ts_rolemgr *rm)
{
    rm->name_slot = malloc(((size_t)rm->nnames + 1) * sizeof *rm->name_slot);
    if (!rm->name_slot)
        return -1;
    for (size_t i = 0; i < rm->names.cap; i++) {
        if (rm->names.hashes[i])
            rm->name_slot[rm->names.slots[i].value] = (uint32_t)i;
    }
    return 0;
}

/* Drop the room that doubling reserved: after finalize nothing is added. */
static void *shrink(void *p, size_t n, size_t size, size_t *cap)
{
    if (!p || n == 0 || n == *cap)
        return p;
    void *q = realloc(p, n * size);
    if (!q)
        return p;
    *cap = n;
    return q;
}

/*
 * Group the links by domain in place, each domain in insertion order (rm->dom_off gets the
 * domain offsets). Moving them instead of copying keeps one copy of the largest array.
 * @return 0, or -1 out of memory (the links untouched).
 */
static int group_links(ts_rolemgr *rm, size_t nd)
{
    size_t n = rm->nlinks;
    if (!rm->links) {
        /* by_dom is never NULL after finalize, even without links. */
        rm->links = malloc(sizeof *rm->links);
        if (!rm->links)
            return -1;
        rm->link_cap = 1;
    }
    uint32_t *dest = malloc((n + 1) * sizeof *dest);
    if (!dest)
        return -1;
    for (size_t i = 0; i < n; i++)
        rm->dom_off[rm->links[i].dom + 2]++;
    for (size_t k = 0; k < nd; k++)
        rm->dom_off[k + 2] += rm->dom_off[k + 1];
    for (size_t i = 0; i < n; i++)
        dest[i] = (uint32_t)rm->dom_off[rm->links[i].dom + 1]++;
    /* Each swap puts one link in its final place. */
    for (size_t i = 0; i < n; i++) {
        while (dest[i] != i) {
            uint32_t j = dest[i];
            ts_rm_link t = rm->links[j];
            rm->links[j] = rm->links[i];
            rm->links[i] = t;
            dest[i] = dest[j];
            dest[j] = j;
        }
    }
    free(dest);
    rm->by_dom = rm->links;
    return 0;
}

/* Undo group_links after a failed finalize: a link's id is its insertion index. */
static void ungroup_links(ts_rolemgr *rm)
{
    if (rm->by_dom != rm->links)
        return;
    for (size_t i = 0; i < rm->nlinks; i++) {
        while (rm->links[i].id != i) {
            uint32_t j = rm->links[i].id;
            ts_rm_link t = rm->links[j];
            rm->links[j] = rm->links[i];
            rm->links[i] = t;
        }
    }
    rm->by_dom = NULL;
}

ts_status ts_authz__rolemgr_finalize(ts_rolemgr *rm, bool reject_cycles, ts_error *err)
{
    if (!rm)
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (rm->finalized)
        return TS_OK;
    free(rm->name_slot);
    if (build_name_slots(rm) != 0)
        return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
    if (rm->conditional)
        return ts_authz__rm_cond_finalize(rm, err);
    size_t nd = graph_count(rm);
    ts_status st = TS_OK;
    uint32_t *loc = NULL;
    rm->links = shrink(rm->links, rm->nlinks, sizeof *rm->links, &rm->link_cap);
    rm->own = calloc(nd + 1, sizeof *rm->own);
    rm->view = calloc(nd + 1, sizeof *rm->view);
    rm->dom_off = calloc(nd + 2, sizeof *rm->dom_off);
    if (!rm->own || !rm->view || !rm->dom_off)
        goto oom;
    if (group_links(rm, nd) != 0)
        goto oom;

    if (rm->with_domains) {
        loc = malloc(((size_t)rm->nnames + 1) * sizeof *loc);
        if (!loc)
            goto oom;
        memset(loc, 0xff, ((size_t)rm->nnames + 1) * sizeof *loc);
    }
    rm->nunique = 0;
    for (uint32_t k = 0; k < nd; k++) {
        ts_rm_seg s = ts_authz__rm_dom_seg(rm, k);
        if (ts_authz__rm_graph_build(rm, &rm->own[k], &s, 1, loc) != TS_OK)
            goto oom;
        rm->nunique += rm->own[k].off[rm->own[k].n];
        rm->view[k] = &rm->own[k];
    }
    if (reject_cycles && !rm->with_domains) {
        st = ts_authz__rm_find_cycle(&rm->own[0], err);
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
        st = ts_authz__rm_build_merged(rm, loc, err);
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
            st = ts_authz__rm_graph_closures(g, &budget);
        else
            st = ts_authz__rm_graph_patterns(rm, g, true);
        if (st != TS_OK)
            goto oom;
    }
    free(loc);
    /* The grouped links are now by_dom's alone. */
    rm->links = NULL;
    rm->link_cap = 0;
    rm->finalized = true;
    return TS_OK;

oom:
    st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
fail:
    free(loc);
    ungroup_links(rm);
    reset_built(rm);
    return st;
}
