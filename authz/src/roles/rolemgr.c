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
bool ts_authz__rm_norm_str(ts_str *s)
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
    if (*count >= TS_RM_MAX_IDS)
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
    if (!rm || !ts_authz__rm_norm_str(&name) || !ts_authz__rm_norm_str(&role) ||
        !ts_authz__rm_norm_str(&domain))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (rm->finalized)
        return ts_error_set(err, TS_EINVAL, "role manager",
                            "links cannot be added to a finalized role manager");
    if (rm->nlinks >= TS_RM_MAX_IDS)
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
    rm->finalized = true;
    return TS_OK;

oom:
    st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
fail:
    free(loc);
    reset_built(rm);
    return st;
}
