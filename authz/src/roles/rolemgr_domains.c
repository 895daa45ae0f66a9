/* Role manager domains: which links answer a query in a domain when a domain pattern function
 * is set (Go's DomainManager), merged at finalize when affordable and otherwise per call. */
#include "rolemgr_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

/* Precomputed domain merges: beyond these, a query merges the matching domains itself. */
#define MERGE_MAX_DOMAINS 1024u
#define MERGE_BUDGET ((size_t)16 * 1024 * 1024)

/* A domain without links (or an unknown one): only a == b and fn(a, b) can hold. */
static const ts_rm_graph empty_graph;

ts_rm_seg ts_authz__rm_dom_seg(const ts_rolemgr *rm, uint32_t k)
{
    ts_rm_seg s = {rm->by_dom + rm->dom_off[k], rm->dom_off[k + 1] - rm->dom_off[k]};
    return s;
}

/* Go's DomainManager: links(d) = own(d) plus own(P) for every other stored P with fn(d, P). */
static ts_status collect_domain_segs(const ts_rolemgr *rm, ts_str d, uint32_t self, ts_rm_seg *segs,
                                     size_t *nsegs, size_t *nlinks)
{
    size_t ns = 0, nl = 0;
    if (self != TS_RM_NO_ID) {
        segs[ns++] = ts_authz__rm_dom_seg(rm, self);
        nl += segs[0].n;
    }
    /* A literal stored domain matches only itself, so only pattern domains can add links. */
    for (uint32_t i = 0; i < rm->npat_doms; i++) {
        uint32_t p = rm->pat_doms[i];
        if (p == self || !ts_authz__rm_match(rm, true, d, rm->dom_tab[p]))
            continue;
        segs[ns] = ts_authz__rm_dom_seg(rm, p);
        nl += segs[ns].n;
        ns++;
    }
    *nsegs = ns;
    *nlinks = nl;
    return TS_OK;
}

ts_status ts_authz__rm_build_merged(ts_rolemgr *rm, uint32_t *loc, ts_error *err)
{
    size_t nd = rm->ndoms;
    rm->merged = calloc(nd + 1, sizeof *rm->merged);
    ts_rm_seg *segs = malloc((nd + 1) * sizeof *segs);
    if (!rm->merged || !segs) {
        free(segs);
        return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
    }
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
            if (ts_authz__rm_graph_build(rm, &rm->merged[k], segs, ns, loc) != TS_OK) {
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

/*
 * The graph answering queries in @p domain. When domain patterns require a merge that was not
 * precomputed, it is built into @p tmp (the caller frees it with ts_authz__rm_graph_free when
 * *built).
 */
ts_status ts_authz__rm_resolve(const ts_rolemgr *rm, const ts_str *domain, const ts_rm_graph **g,
                               ts_rm_graph *tmp, bool *built, ts_error *err)
{
    *built = false;
    if (!rm->with_domains) {
        *g = rm->view[0];
        return TS_OK;
    }
    ts_str d = domain ? *domain : ts_str_make("", 0);
    if (!ts_authz__rm_norm_str(&d))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid domain");
    uint32_t k = TS_RM_NO_ID;
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
        uint32_t only = TS_RM_NO_ID, nmatch = 0;
        for (uint32_t i = 0; i < rm->npat_doms && nmatch < 2; i++) {
            uint32_t p = rm->pat_doms[i];
            if (ts_authz__rm_match(rm, true, d, rm->dom_tab[p])) {
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
    ts_rm_seg *segs = malloc(((size_t)rm->ndoms + 1) * sizeof *segs);
    uint32_t *loc = malloc(((size_t)rm->nnames + 1) * sizeof *loc);
    ts_status st = TS_OK;
    if (!segs || !loc) {
        st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        goto out;
    }
    memset(loc, 0xff, ((size_t)rm->nnames + 1) * sizeof *loc);
    size_t ns = 0, nl = 0;
    collect_domain_segs(rm, d, stored ? k : TS_RM_NO_ID, segs, &ns, &nl);
    if (ns == 0)
        goto out;
    if (ts_authz__rm_graph_build(rm, tmp, segs, ns, loc) != TS_OK) {
        st = ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        goto out;
    }
    if (rm->name_fn != TS_AUTHZ_MATCH_NONE &&
        ts_authz__rm_graph_patterns(rm, tmp, false) != TS_OK) {
        ts_authz__rm_graph_free(tmp);
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
