/* Role manager graphs: a domain's links in compressed sparse row form, their closures within
 * the hop limit (precomputed at finalize up to a budget) and Go v3's cycle detector. */
#include "rolemgr_internal.h"
#include "util/sort.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#define HOPS TS_AUTHZ_ROLE_MAX_HOPS
/* Edge scans allowed while computing closures, per closure entry of budget: a dense graph
 * gives up on closures instead of spending quadratic time at finalize. */
#define CLOSURE_WORK_FACTOR 4u

void ts_authz__rm_graph_free(ts_rm_graph *g)
{
    free(g->off);
    free(g->adj);
    if (g->cl != g->adj) {
        free(g->coff);
        free(g->cl);
    }
    free(g->ispat);
    free(g->pats);
    free(g->moff);
    free(g->madj);
    free(g->mboff);
    free(g->mbadj);
    free(g->gid);
    ts_authz__idlut_free(&g->lut);
    memset(g, 0, sizeof *g);
}

/* ---- graphs ----------------------------------------------------------------------------- */

bool ts_authz__rm_graph_find(const ts_rm_graph *g, ts_str name, uint32_t *id)
{
    uint32_t x;
    if (!g->index || !ts_authz__strmap_get(g->index, name.ptr, name.len, &x))
        return false;
    return ts_authz__rm_graph_local(g, x, id);
}

/*
 * Build a CSR graph from @p segs. With @p loc (global id -> local id scratch, all TS_RM_NO_ID on
 * entry and on return) names get local ids; without it the graph borrows the global numbering.
 */
ts_status ts_authz__rm_graph_build(const ts_rolemgr *rm, ts_rm_graph *g, const ts_rm_seg *segs,
                                   size_t nsegs, uint32_t *loc)
{
    memset(g, 0, sizeof *g);
    g->index = &rm->names;
    g->slot = rm->name_slot;
    size_t m = 0;
    for (size_t s = 0; s < nsegs; s++)
        m += segs[s].n;

    uint32_t n = 0;
    ts_status st = TS_ENOMEM;
    uint32_t *mark = NULL;
    if (!loc) {
        n = rm->nnames;
    } else {
        /* Number the names first, then size the table exactly: it outlives the build. */
        for (size_t s = 0; s < nsegs; s++) {
            for (size_t i = 0; i < segs[s].n; i++) {
                uint32_t ends[2] = {segs[s].p[i].from, segs[s].p[i].to};
                for (int e = 0; e < 2; e++) {
                    if (loc[ends[e]] == TS_RM_NO_ID)
                        loc[ends[e]] = n++;
                }
            }
        }
        g->gid = malloc(((size_t)n + 1) * sizeof *g->gid);
        for (size_t s = 0; s < nsegs; s++) {
            for (size_t i = 0; i < segs[s].n; i++) {
                uint32_t ends[2] = {segs[s].p[i].from, segs[s].p[i].to};
                for (int e = 0; e < 2; e++) {
                    if (g->gid)
                        g->gid[loc[ends[e]]] = ends[e];
                    else
                        loc[ends[e]] = TS_RM_NO_ID;
                }
            }
        }
        if (!g->gid)
            goto out;
        g->n = n;
        if (ts_authz__idlut_build(&g->lut, g->gid, n) != 0)
            goto out;
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
    if (loc && g->gid) {
        for (uint32_t i = 0; i < n; i++)
            loc[g->gid[i]] = TS_RM_NO_ID;
    }
    free(mark);
    if (st != TS_OK)
        ts_authz__rm_graph_free(g);
    return st;
}

/*
 * True when every name's closure is its direct roles as they are stored: no role has roles of
 * its own (so nothing lies two links away and there is no self link) and each name's roles are
 * in id order. Users holding roles that hold nothing, the common shape, then share the
 * adjacency arrays instead of copying them.
 */
static bool closure_is_adj(const ts_rm_graph *g)
{
    for (uint32_t u = 0; u < g->n; u++) {
        for (uint32_t i = g->off[u]; i < g->off[u + 1]; i++) {
            uint32_t v = g->adj[i];
            if (g->off[v + 1] != g->off[v] || (i > g->off[u] && g->adj[i - 1] >= v))
                return false;
        }
    }
    return true;
}

/*
 * Precompute, in node order, each node's roles within the hop limit until @p budget entries
 * (shared by all graphs) or the matching amount of work is used up.
 */
ts_status ts_authz__rm_graph_closures(ts_rm_graph *g, size_t *budget)
{
    uint32_t n = g->n;
    g->nclosed = 0;
    if (n == 0 || *budget == 0)
        return TS_OK;
    size_t limit = *budget < (size_t)TS_RM_MAX_IDS ? *budget : (size_t)TS_RM_MAX_IDS;
    if (g->off[n] <= limit && closure_is_adj(g)) {
        g->coff = g->off;
        g->cl = g->adj;
        g->nclosed = n;
        *budget -= g->off[n];
        return TS_OK;
    }
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
ts_status ts_authz__rm_find_cycle(const ts_rm_graph *g, ts_error *err)
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
                    ts_str nm = ts_authz__rm_name(g, i < sp ? stk[i] : v);
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
