/* Role manager queries without a name pattern function: HasLink and the list of reachable
 * roles, from the precomputed closure when there is one and otherwise by a bounded search.
 *
 * Queries never write to the manager: every search keeps its visited set on the caller's
 * stack (or heap when it grows), so one finalized manager serves any number of threads. */
#include "rolemgr_internal.h"

#include <stdint.h>
#include <stdlib.h>

#define HOPS TS_AUTHZ_ROLE_MAX_HOPS

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

/* Is local id @p ib reachable from local id @p ia (ia != ib)? */
static ts_status linked(const ts_rm_graph *g, uint32_t ia, uint32_t ib, bool *out)
{
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

static ts_status simple_has_link(const ts_rm_graph *g, ts_str a, ts_str b, bool *out)
{
    uint32_t ia, ib;
    if (!ts_authz__rm_graph_find(g, a, &ia) || !ts_authz__rm_graph_find(g, b, &ib))
        return TS_OK;
    return linked(g, ia, ib, out);
}

ts_status ts_authz__rolemgr_has_link(const ts_rolemgr *rm, ts_str a, ts_str b, const ts_str *domain,
                                     bool *out, ts_error *err)
{
    if (out)
        *out = false;
    if (!rm || !out || !ts_authz__rm_norm_str(&a) || !ts_authz__rm_norm_str(&b))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (!rm->finalized)
        return ts_error_set(err, TS_EINVAL, "role manager", "role manager is not finalized");
    if (ts_str_eq(a, b) ||
        (rm->name_fn != TS_AUTHZ_MATCH_NONE && ts_authz__rm_match(rm, false, a, b))) {
        *out = true;
        return TS_OK;
    }
    if (rm->conditional)
        return ts_authz__rm_cond_has_link(rm, a, b, domain, out, err);
    const ts_rm_graph *g = NULL;
    ts_rm_graph tmp;
    bool built = false;
    ts_status st = ts_authz__rm_resolve(rm, domain, &g, &tmp, &built, err);
    if (st != TS_OK)
        return st;
    if (rm->name_fn != TS_AUTHZ_MATCH_NONE)
        st = ts_authz__rm_pattern_has_link(rm, g, a, b, out);
    else
        st = simple_has_link(g, a, b, out);
    if (built)
        ts_authz__rm_graph_free(&tmp);
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
    const ts_rolemgr *rm;
    bool (*cb)(void *ud, ts_str name);
    void *ud;
} reach_ctx;

/* Names by global id: the manager's map holds each name once. */
static bool reach_visit(void *ctx, uint32_t id)
{
    reach_ctx *r = ctx;
    const ts_strmap_slot *s = &r->rm->names.slots[r->rm->name_slot[id]];
    return r->cb(r->ud, ts_str_make(s->key, s->len));
}

ts_status ts_authz__rolemgr_reachable(const ts_rolemgr *rm, ts_str a, const ts_str *domain,
                                      bool (*cb)(void *ud, ts_str name), void *ud, ts_error *err)
{
    if (!rm || !cb || !ts_authz__rm_norm_str(&a))
        return ts_error_set(err, TS_EINVAL, "role manager", "invalid argument");
    if (!rm->finalized)
        return ts_error_set(err, TS_EINVAL, "role manager", "role manager is not finalized");
    if (!ts_authz__rolemgr_is_simple(rm))
        return ts_error_set(err, TS_EUNSUPPORTED, "role manager",
                            "reachable roles cannot be listed with pattern functions");
    uint32_t ia = ts_authz__rolemgr_name_id(rm, a);
    if (ia == TS_ROLEMGR_NO_ID) {
        cb(ud, a); /* no link mentions it: itself only */
        return TS_OK;
    }
    ts_rolemgr_view v;
    ts_status st = ts_authz__rolemgr_view_open(rm, domain, &v, err);
    if (st != TS_OK)
        return st;
    reach_ctx r = {rm, cb, ud};
    st = ts_authz__rolemgr_view_reachable(&v, ia, reach_visit, &r);
    /* A graph merged for this call only is released after the callbacks have run. */
    ts_authz__rolemgr_view_close(&v);
    if (st != TS_OK)
        return ts_error_set(err, st, "role manager", "out of memory");
    return TS_OK;
}

/* ---- by name id ------------------------------------------------------------------------- */

uint32_t ts_authz__rolemgr_name_id(const ts_rolemgr *rm, ts_str name)
{
    uint32_t id;
    if (!rm || !rm->finalized || !ts_authz__rm_norm_str(&name) ||
        !ts_authz__strmap_get(&rm->names, name.ptr, name.len, &id))
        return TS_ROLEMGR_NO_ID;
    return id;
}

ts_status ts_authz__rolemgr_view_open(const ts_rolemgr *rm, const ts_str *domain,
                                      ts_rolemgr_view *v, ts_error *err)
{
    v->g = NULL;
    v->tmp = NULL;
    if (!rm || !rm->finalized || !ts_authz__rolemgr_is_simple(rm))
        return ts_error_set(err, TS_EINVAL, "role manager", "not a finalized simple manager");
    ts_rm_graph tmp;
    bool built = false;
    const ts_rm_graph *g = NULL;
    ts_status st = ts_authz__rm_resolve(rm, domain, &g, &tmp, &built, err);
    if (st != TS_OK)
        return st;
    if (built) {
        /* Rare (several pattern domains match an unknown domain): keep the merge on the heap
         * for the view's lifetime. */
        v->tmp = malloc(sizeof *v->tmp);
        if (!v->tmp) {
            ts_authz__rm_graph_free(&tmp);
            return ts_error_set(err, TS_ENOMEM, "role manager", "out of memory");
        }
        *v->tmp = tmp;
        g = v->tmp;
    }
    v->g = g;
    return TS_OK;
}

void ts_authz__rolemgr_view_close(ts_rolemgr_view *v)
{
    if (v->tmp) {
        ts_authz__rm_graph_free(v->tmp);
        free(v->tmp);
    }
    v->tmp = NULL;
    v->g = NULL;
}

ts_status ts_authz__rolemgr_view_has_link(const ts_rolemgr_view *v, uint32_t a, uint32_t b,
                                          bool *out)
{
    *out = false;
    if (a == TS_ROLEMGR_NO_ID || b == TS_ROLEMGR_NO_ID)
        return TS_OK;
    if (a == b) {
        *out = true;
        return TS_OK;
    }
    uint32_t ia, ib;
    if (!v->g || !ts_authz__rm_graph_local(v->g, a, &ia) || !ts_authz__rm_graph_local(v->g, b, &ib))
        return TS_OK;
    ts_status st = linked(v->g, ia, ib, out);
    if (st != TS_OK)
        *out = false;
    return st;
}

typedef struct reach_id_ctx {
    const ts_rm_graph *g;
    bool (*cb)(void *ud, uint32_t id);
    void *ud;
} reach_id_ctx;

static bool reach_id_visit(void *ctx, uint32_t id)
{
    reach_id_ctx *r = ctx;
    return r->cb(r->ud, r->g->gid ? r->g->gid[id] : id);
}

ts_status ts_authz__rolemgr_view_reachable(const ts_rolemgr_view *v, uint32_t a,
                                           bool (*cb)(void *ud, uint32_t id), void *ud)
{
    if (a == TS_ROLEMGR_NO_ID || !cb(ud, a))
        return TS_OK;
    uint32_t ia;
    const ts_rm_graph *g = v->g;
    if (!g || !ts_authz__rm_graph_local(g, a, &ia))
        return TS_OK;
    if (ia < g->nclosed) {
        for (uint32_t i = g->coff[ia]; i < g->coff[ia + 1]; i++)
            if (!cb(ud, g->gid ? g->gid[g->cl[i]] : g->cl[i]))
                break;
        return TS_OK;
    }
    reach_id_ctx r = {g, cb, ud};
    return bfs(g, ia, reach_id_visit, &r);
}
