/* Role search with a name matching function, following Go's RoleManagerImpl:
 *
 *  - matched(X)   = stored names N != X with fn(N, X): the names pattern X stands for;
 *  - matchedBy(X) = stored names P != X with fn(X, P): the patterns X falls under;
 *  - neighbours(X) = X.roles, matched(R) for each direct role R, and P.roles for each P in
 *    matchedBy(X); the X -> P step costs no hop;
 *  - a name Y is the target when Y == b or fn(Y, b).
 *
 * Go creates request names that are not stored as temporary roles, so they take part in
 * matched/matchedBy as well: a temporary a reaches the roles of the patterns it falls under, and
 * a temporary b is reached when it falls under a role R of a visited name.
 *
 * Names without any character special to the function can only match themselves, so only the
 * other names ("patterns") are ever tested against; for the usual policy with a handful of
 * patterns this keeps both finalize and queries far from Go's all-pairs cost. */
#include "rolemgr_internal.h"

#include <stdlib.h>
#include <string.h>

#include "builtins.h"

#define HOPS TS_AUTHZ_ROLE_MAX_HOPS
/* Go relates every pair of stored names when they are added. Above this many names the pairs
 * are evaluated per query instead, only for the names a search reaches. */
/* Go relates every pair of stored names when they are added. Here only pairs with a pattern
 * are evaluated, at finalize while their number stays below this; otherwise per query. */
#define PATTERN_PRECOMPUTE_CALLS ((size_t)1024 * 1024)
/* Function evaluations one query may spend. Pattern graphs are searched by scanning names, so
 * a huge graph could otherwise make a single decision take minutes. */
#define PATTERN_QUERY_CALLS ((size_t)4 * 1024 * 1024)

bool ts_authz__rm_match(const ts_rolemgr *rm, bool domain, ts_str s, ts_str pattern)
{
    bool m = false;
    ts_authz_match_fn fn = domain ? rm->dom_fn : rm->name_fn;
    if (fn == TS_AUTHZ_MATCH_NONE)
        return false;
    if (fn == TS_RM_MATCH_CUSTOM) {
        const ts_custom_fn *f = domain ? rm->dom_cf : rm->name_cf;
        ts_str args[2] = {s, pattern};
        return f && ts_authz__custom_bool(f, args, 2, &m, NULL) == TS_OK && m;
    }
    if (ts_authz__builtin_match(fn, s, pattern, domain ? rm->dom_rc : rm->name_rc, &m, NULL) !=
        TS_OK)
        return false;
    return m;
}

/*
 * true when fn(N, s) can only hold for N == s: s has no character that is special to the
 * function (wildcards, placeholders, regular-expression syntax). regexMatch searches unanchored
 * and keyMatch5 rewrites its first argument (it drops a query string), so no name is literal
 * for them.
 */
bool ts_authz__rm_is_literal(ts_authz_match_fn fn, ts_str s)
{
    switch (fn) {
    case TS_AUTHZ_MATCH_KEYMATCH:
    case TS_AUTHZ_MATCH_KEYMATCH2:
    case TS_AUTHZ_MATCH_KEYMATCH3:
    case TS_AUTHZ_MATCH_KEYMATCH4:
    case TS_AUTHZ_MATCH_GLOB:
        break;
    default:
        return false;
    }
    for (size_t i = 0; i < s.len; i++) {
        unsigned char c = (unsigned char)s.ptr[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '_' || c == '-' || c == '/' || c == '@' || c == ' ';
        if (!ok)
            return false;
    }
    return true;
}

typedef struct pair {
    uint32_t n; /* name */
    uint32_t p; /* pattern it falls under */
} pair;

static ts_status build_pairs(const ts_rolemgr *rm, ts_rm_graph *g)
{
    uint32_t n = g->n;
    size_t cnt = 0, cap = 64;
    pair *pairs = malloc(cap * sizeof *pairs);
    g->moff = calloc((size_t)n + 2, sizeof *g->moff);
    g->mboff = calloc((size_t)n + 2, sizeof *g->mboff);
    ts_status st = TS_ENOMEM;
    if (!pairs || !g->moff || !g->mboff)
        goto out;
    for (uint32_t k = 0; k < g->npats; k++) {
        uint32_t p = g->pats[k];
        for (uint32_t i = 0; i < n; i++) {
            if (i == p ||
                !ts_authz__rm_match(rm, false, ts_authz__rm_name(g, i), ts_authz__rm_name(g, p)))
                continue;
            if (cnt == cap) {
                pair *np = realloc(pairs, cap * 2 * sizeof *np);
                if (!np)
                    goto out;
                pairs = np;
                cap *= 2;
            }
            pairs[cnt].n = i;
            pairs[cnt].p = p;
            cnt++;
            g->moff[p + 2]++;
            g->mboff[i + 2]++;
        }
    }
    for (uint32_t u = 0; u < n; u++) {
        g->moff[u + 2] += g->moff[u + 1];
        g->mboff[u + 2] += g->mboff[u + 1];
    }
    g->madj = malloc((cnt + 1) * sizeof *g->madj);
    g->mbadj = malloc((cnt + 1) * sizeof *g->mbadj);
    if (!g->madj || !g->mbadj)
        goto out;
    for (size_t k = 0; k < cnt; k++) {
        g->madj[g->moff[pairs[k].p + 1]++] = pairs[k].n;
        g->mbadj[g->mboff[pairs[k].n + 1]++] = pairs[k].p;
    }
    st = TS_OK;
out:
    free(pairs);
    if (st != TS_OK) {
        free(g->moff);
        free(g->mboff);
        free(g->madj);
        free(g->mbadj);
        g->moff = g->mboff = g->madj = g->mbadj = NULL;
    }
    return st;
}

ts_status ts_authz__rm_graph_patterns(const ts_rolemgr *rm, ts_rm_graph *g, bool precompute)
{
    uint32_t n = g->n;
    g->ispat = calloc((size_t)n + 1, 1);
    g->pats = malloc(((size_t)n + 1) * sizeof *g->pats);
    if (!g->ispat || !g->pats)
        return TS_ENOMEM;
    g->npats = 0;
    for (uint32_t i = 0; i < n; i++) {
        if (!ts_authz__rm_is_literal(rm->name_fn, ts_authz__rm_name(g, i))) {
            g->ispat[i] = 1;
            g->pats[g->npats++] = i;
        }
    }
    if (!precompute || n == 0 || (size_t)g->npats * n > PATTERN_PRECOMPUTE_CALLS)
        return TS_OK;
    return build_pairs(rm, g);
}

typedef struct pctx {
    const ts_rolemgr *rm;
    const ts_rm_graph *g;
    ts_str a, b;
    uint32_t ib;     /* b's id: stored, or temp_b */
    bool b_literal;  /* fn(Y, b) only for Y == b */
    uint32_t temp_a; /* ids of request names that are not stored */
    uint32_t temp_b;
    ts_rm_idset seen;
    ts_rm_idset roles_done; /* direct roles whose matched() set was already added */
    ts_rm_idvec queue;
    size_t calls;
    bool over; /* PATTERN_QUERY_CALLS reached */
    bool found;
} pctx;

static ts_str pname(const pctx *c, uint32_t id)
{
    if (id == c->temp_a)
        return c->a;
    if (id == c->temp_b)
        return c->b;
    return ts_authz__rm_name(c->g, id);
}

static bool pmatch(pctx *c, ts_str s, ts_str pattern)
{
    if (++c->calls > PATTERN_QUERY_CALLS) {
        /* Stop the search: every loop checks c->found. */
        c->over = true;
        c->found = true;
        return false;
    }
    return ts_authz__rm_match(c->rm, false, s, pattern);
}

/* @return -1 out of memory, else 0 (c->found tells whether the target was reached). */
static int padd(pctx *c, uint32_t id)
{
    int r = ts_authz__rm_idset_add(&c->seen, id);
    if (r <= 0)
        return r;
    if (id == c->ib || (!c->b_literal && pmatch(c, pname(c, id), c->b))) {
        c->found = true;
        return 0;
    }
    return ts_authz__rm_idvec_push(&c->queue, id);
}

static int add_roles_of(pctx *c, uint32_t p)
{
    const ts_rm_graph *g = c->g;
    for (uint32_t i = g->off[p]; i < g->off[p + 1] && !c->found; i++) {
        if (padd(c, g->adj[i]) < 0)
            return -1;
    }
    return 0;
}

static int add_matched(pctx *c, uint32_t r)
{
    const ts_rm_graph *g = c->g;
    if (!g->ispat[r])
        return 0;
    if (g->moff) {
        for (uint32_t i = g->moff[r]; i < g->moff[r + 1] && !c->found; i++) {
            if (padd(c, g->madj[i]) < 0)
                return -1;
        }
    } else {
        for (uint32_t nm = 0; nm < g->n && !c->found; nm++) {
            if (nm != r && pmatch(c, ts_authz__rm_name(g, nm), ts_authz__rm_name(g, r)) &&
                padd(c, nm) < 0)
                return -1;
        }
    }
    if (!c->found && c->ib == c->temp_b && pmatch(c, c->b, ts_authz__rm_name(g, r)))
        return padd(c, c->temp_b);
    return 0;
}

static int expand(pctx *c, uint32_t x)
{
    const ts_rm_graph *g = c->g;
    if (x < g->n) {
        for (uint32_t i = g->off[x]; i < g->off[x + 1] && !c->found; i++) {
            uint32_t r = g->adj[i];
            if (padd(c, r) < 0)
                return -1;
            int first = ts_authz__rm_idset_add(&c->roles_done, r);
            if (first < 0 || (first > 0 && !c->found && add_matched(c, r) < 0))
                return -1;
        }
        if (c->found)
            return 0;
        if (g->mboff) {
            for (uint32_t i = g->mboff[x]; i < g->mboff[x + 1] && !c->found; i++) {
                if (add_roles_of(c, g->mbadj[i]) < 0)
                    return -1;
            }
            return 0;
        }
    } else if (x != c->temp_a) {
        return 0;
    }
    /* matchedBy(x) computed on the spot; a pattern without roles contributes nothing, so it is
     * not even tested. */
    ts_str xs = pname(c, x);
    for (uint32_t k = 0; k < g->npats && !c->found; k++) {
        uint32_t p = g->pats[k];
        if (p == x || g->off[p + 1] == g->off[p] || !pmatch(c, xs, ts_authz__rm_name(g, p)))
            continue;
        if (add_roles_of(c, p) < 0)
            return -1;
    }
    return 0;
}

ts_status ts_authz__rm_pattern_has_link(const ts_rolemgr *rm, const ts_rm_graph *g, ts_str a,
                                        ts_str b, bool *out)
{
    pctx c;
    c.rm = rm;
    c.g = g;
    c.a = a;
    c.b = b;
    c.temp_a = g->n;
    c.temp_b = g->n + 1;
    c.found = false;
    c.b_literal = ts_authz__rm_is_literal(rm->name_fn, b);
    c.over = false;
    c.calls = 0;
    uint32_t ia;
    if (!ts_authz__rm_graph_find(g, a, &ia))
        ia = c.temp_a;
    if (!ts_authz__rm_graph_find(g, b, &c.ib))
        c.ib = c.temp_b;
    ts_authz__rm_idset_init(&c.seen);
    ts_authz__rm_idset_init(&c.roles_done);
    ts_authz__rm_idvec_init(&c.queue);
    ts_status st = TS_OK;
    if (ts_authz__rm_idset_add(&c.seen, ia) < 0 || ts_authz__rm_idvec_push(&c.queue, ia) < 0) {
        st = TS_ENOMEM;
        goto out;
    }
    /* Every name is expanded once, at its smallest depth, which reaches exactly the names Go's
     * level-by-level search reaches within the hop limit. */
    size_t qh = 0;
    for (int depth = 0; depth < HOPS && qh < c.queue.len && !c.found; depth++) {
        size_t level_end = c.queue.len;
        for (; qh < level_end && !c.found; qh++) {
            if (expand(&c, c.queue.v[qh]) < 0) {
                st = TS_ENOMEM;
                goto out;
            }
        }
    }
    if (c.over)
        st = TS_ELIMIT;
out:
    *out = st == TS_OK && c.found;
    ts_authz__rm_idset_cleanup(&c.seen);
    ts_authz__rm_idset_cleanup(&c.roles_done);
    ts_authz__rm_idvec_cleanup(&c.queue);
    return st;
}
