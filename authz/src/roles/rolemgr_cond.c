/* Conditional role managers (Go's ConditionalRoleManager and ConditionalDomainManager): every
 * link may carry a condition function and its parameters (the rule's fields after the role
 * definition's plain ones), evaluated at each query. A link whose condition is false or fails
 * is absent for that query; a link without a condition is always present.
 *
 * HasLink(a, b[, d]) is a breadth-first search from a over the links of domain d within
 * TS_AUTHZ_ROLE_MAX_HOPS links, as Go's hasLinkHelper. Differences from Go, which are defects
 * there: Go checks the domain's conditions on the first link only (it drops the domain when it
 * recurses, so deeper links of a domain manager are unconditional), and an error from one
 * condition makes Go skip the remaining roles of that name; here every link is checked with its
 * own domain and an error removes only its own link.
 *
 * Nothing is precomputed beyond the links sorted by (domain, from): conditions depend on the
 * moment of the query (time windows), so closures would be wrong. */
#include "rolemgr_internal.h"

#include <stdlib.h>
#include <string.h>

#define HOPS TS_AUTHZ_ROLE_MAX_HOPS

void ts_authz__rm_cond_free(ts_rolemgr *rm)
{
    free(rm->conds);
    free(rm->csorted);
    rm->conds = NULL;
    rm->csorted = NULL;
    rm->cond_cap = 0;
    rm->ncsorted = 0;
}

ts_status ts_authz__rolemgr_add_cond_link(ts_rolemgr *rm, ts_str name, ts_str role, ts_str domain,
                                          const ts_str *params, size_t nparams,
                                          const ts_custom_fn *cond, ts_error *err)
{
    if (!rm || !rm->conditional || (nparams && !params))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (nparams > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, "role manager", "more than %u condition parameters",
                            TS_AUTHZ_MAX_FIELDS);
    ts_status st = ts_authz__rolemgr_add_link(rm, name, role, domain, err);
    if (st != TS_OK)
        return st;
    size_t id = rm->nlinks - 1;
    if (id >= rm->cond_cap) {
        size_t ncap = rm->cond_cap ? rm->cond_cap * 2 : 64;
        while (ncap <= id)
            ncap *= 2;
        ts_rm_cond *nc = realloc(rm->conds, ncap * sizeof *nc);
        if (!nc)
            return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        rm->conds = nc;
        rm->cond_cap = ncap;
    }
    ts_str *copy = NULL;
    if (nparams) {
        copy = ts_authz__arena_alloc(&rm->arena, nparams * sizeof *copy);
        if (!copy)
            return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        for (size_t i = 0; i < nparams; i++) {
            ts_str p = params[i];
            if (!ts_authz__rm_norm_str(&p))
                return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
            char *s = ts_authz__arena_strndup(&rm->arena, p.ptr, p.len);
            if (!s)
                return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
            copy[i] = ts_str_make(s, p.len);
        }
    }
    rm->conds[id].fn = cond;
    rm->conds[id].params = copy;
    rm->conds[id].nparams = (uint32_t)nparams;
    return TS_OK;
}

static int link_cmp(const void *x, const void *y)
{
    const ts_rm_link *a = x, *b = y;
    if (a->dom != b->dom)
        return a->dom < b->dom ? -1 : 1;
    if (a->from != b->from)
        return a->from < b->from ? -1 : 1;
    if (a->to != b->to)
        return a->to < b->to ? -1 : 1;
    return a->id < b->id ? -1 : a->id > b->id;
}

ts_status ts_authz__rm_cond_finalize(ts_rolemgr *rm, ts_error *err)
{
    rm->csorted = malloc((rm->nlinks + 1) * sizeof *rm->csorted);
    if (!rm->csorted)
        return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
    if (rm->nlinks)
        memcpy(rm->csorted, rm->links, rm->nlinks * sizeof *rm->csorted);
    qsort(rm->csorted, rm->nlinks, sizeof *rm->csorted, link_cmp);
    /* One link per (domain, from, to): the one added last, whose parameters Go keeps. */
    size_t w = 0;
    for (size_t i = 0; i < rm->nlinks; i++) {
        const ts_rm_link *l = &rm->csorted[i];
        if (w && rm->csorted[w - 1].dom == l->dom && rm->csorted[w - 1].from == l->from &&
            rm->csorted[w - 1].to == l->to)
            w--;
        rm->csorted[w++] = *l;
    }
    rm->ncsorted = w;
    rm->nunique = w;
    rm->finalized = true;
    return TS_OK;
}

/* First index of a link with (dom, from) or later in sort order. */
static size_t lower_bound(const ts_rolemgr *rm, uint32_t dom, uint32_t from)
{
    size_t lo = 0, hi = rm->ncsorted;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        const ts_rm_link *l = &rm->csorted[mid];
        if (l->dom < dom || (l->dom == dom && l->from < from))
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool link_present(const ts_rolemgr *rm, const ts_rm_link *l)
{
    const ts_rm_cond *c = &rm->conds[l->id];
    if (!c->fn)
        return true;
    bool ok = false;
    /* An error is "absent" (Go logs it); the message is not the decision's error. */
    return ts_authz__custom_bool(c->fn, c->params, c->nparams, &ok, NULL) == TS_OK && ok;
}

ts_status ts_authz__rm_cond_has_link(const ts_rolemgr *rm, ts_str a, ts_str b, const ts_str *domain,
                                     bool *out, ts_error *err)
{
    *out = false;
    uint32_t dom = 0, ia, ib;
    if (rm->with_domains) {
        ts_str d = domain ? *domain : ts_str_make("", 0);
        if (!ts_authz__rm_norm_str(&d))
            return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
        if (!ts_authz__strmap_get(&rm->doms, d.ptr, d.len, &dom))
            return TS_OK;
    }
    if (!ts_authz__strmap_get(&rm->names, a.ptr, a.len, &ia) ||
        !ts_authz__strmap_get(&rm->names, b.ptr, b.len, &ib))
        return TS_OK;
    ts_rm_idset seen;
    ts_rm_idvec queue;
    ts_authz__rm_idset_init(&seen);
    ts_authz__rm_idvec_init(&queue);
    ts_status st = TS_OK;
    if (ts_authz__rm_idset_add(&seen, ia) < 0 || ts_authz__rm_idvec_push(&queue, ia) < 0) {
        st = TS_ENOMEM;
        goto out;
    }
    size_t qh = 0;
    for (int depth = 0; depth < HOPS && qh < queue.len && !*out; depth++) {
        size_t level_end = queue.len;
        for (; qh < level_end && !*out; qh++) {
            uint32_t x = queue.v[qh];
            for (size_t i = lower_bound(rm, dom, x); i < rm->ncsorted && !*out; i++) {
                const ts_rm_link *l = &rm->csorted[i];
                if (l->dom != dom || l->from != x)
                    break;
                /* An absent link leaves its role reachable by another path; every link is
                 * looked at once, as every name is expanded once. */
                if (!link_present(rm, l))
                    continue;
                int fresh = ts_authz__rm_idset_add(&seen, l->to);
                if (fresh < 0) {
                    st = TS_ENOMEM;
                    goto out;
                }
                if (fresh == 0)
                    continue;
                if (l->to == ib) {
                    *out = true;
                    break;
                }
                if (ts_authz__rm_idvec_push(&queue, l->to) < 0) {
                    st = TS_ENOMEM;
                    goto out;
                }
            }
        }
    }
out:
    ts_authz__rm_idset_cleanup(&seen);
    ts_authz__rm_idvec_cleanup(&queue);
    if (st != TS_OK) {
        *out = false;
        return ts_error_set(err, st, "role manager", "out of memory");
    }
    return TS_OK;
}
