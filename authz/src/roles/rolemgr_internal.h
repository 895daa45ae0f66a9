/* Role manager internals shared by rolemgr.c (construction, finalize), rolemgr_graph.c (graphs,
 * closures, cycle check), rolemgr_domains.c (domain patterns), rolemgr_query.c (plain queries),
 * rolemgr_scratch.c (per-call containers) and rolemgr_pattern.c (Casbin's pattern-aware
 * search). */
#ifndef TS_AUTHZ_ROLES_ROLEMGR_INTERNAL_H
#define TS_AUTHZ_ROLES_ROLEMGR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "rolemgr.h"
#include "util/arena.h"
#include "util/idlut.h"
#include "util/strmap.h"

/** One "name has role" link; names are global ids, dom a domain index (0 for plain). */
typedef struct ts_rm_link {
    uint32_t dom;
    uint32_t from;
    uint32_t to;
    uint32_t id; /* insertion index (conditional managers: index into conds) */
} ts_rm_link;

/** A conditional link's condition: fn(params...) must hold for the link to exist. */
typedef struct ts_rm_cond {
    const ts_custom_fn *fn; /* NULL: always present */
    const ts_str *params;   /* in the manager's arena */
    uint32_t nparams;
} ts_rm_cond;

/* name_fn / dom_fn value meaning "the registered function in name_cf / dom_cf". */
#define TS_RM_MATCH_CUSTOM ((ts_authz_match_fn)0x7f)

/**
 * One role graph in compressed sparse row form. Local ids number the graph's names in order of
 * first appearance in its links, which is the order Go's cycle report follows.
 *
 * A domain's graph keeps no name map of its own: a name is looked up once in the manager's map
 * (name -> global id) and then in a small table of the graph's global ids (integers, 4 bytes a
 * slot, no strings): ten thousand domains of a hundred names each cost 9 bytes a name instead
 * of a string map each.
 */
typedef struct ts_rm_graph {
    const ts_strmap *index; /* the manager's map, name -> global id; NULL for the empty graph */
    const uint32_t *slot;   /* global id -> the slot of *index holding the name */
    uint32_t *gid;          /* local id -> global id; NULL when local ids are global ids */
    ts_idlut lut;           /* with gid: local id by global id */
    uint32_t n;             /* number of names */
    uint32_t *off;          /* n + 1 offsets into adj */
    uint32_t *adj;          /* direct roles, insertion order, duplicates removed */
    uint32_t nclosed;       /* names [0, nclosed) have a precomputed closure */
    uint32_t *coff;         /* nclosed + 1 offsets into cl */
    uint32_t *cl;           /* sorted ids reachable within the hop limit, self excluded */
    /* coff and cl are off and adj themselves when every closure is the direct roles. */
    unsigned char *ispat; /* with a name function: 1 when the name may match other names */
    uint32_t *pats;       /* ids with ispat set */
    uint32_t npats;
    uint32_t *moff, *madj;   /* matched(X) = {N != X : fn(N, X)}; NULL when not precomputed */
    uint32_t *mboff, *mbadj; /* matchedBy(X) = {P != X : fn(X, P)} */
} ts_rm_graph;

struct ts_rolemgr {
    bool with_domains;
    bool finalized;
    ts_authz_match_fn name_fn;
    ts_regex_cache *name_rc;
    ts_authz_match_fn dom_fn;
    ts_regex_cache *dom_rc;
    const ts_custom_fn *name_cf; /* name_fn == TS_RM_MATCH_CUSTOM */
    const ts_custom_fn *dom_cf;  /* dom_fn == TS_RM_MATCH_CUSTOM */
    size_t closure_budget;

    /* Conditional managers (rolemgr_cond.c): one condition per link, and after finalize the
     * links sorted by (domain, from, to), one per triple (the last added wins, as in Go). */
    bool conditional;
    ts_rm_cond *conds;
    size_t cond_cap;
    ts_rm_link *csorted;
    size_t ncsorted;

    ts_arena arena;  /* every name and domain string */
    ts_strmap names; /* name -> global id */
    uint32_t nnames;
    /* Built by finalize, when the map stops growing: global id -> slot of names. The map's
     * slots already hold each name, so a table of strings beside it would store them twice. */
    uint32_t *name_slot;
    ts_strmap doms; /* domain -> index (domain managers only) */
    ts_str *dom_tab;
    uint32_t ndoms;
    size_t dom_cap;

    ts_rm_link *links; /* insertion order; finalize hands the array to by_dom */
    size_t nlinks;
    size_t link_cap;
    size_t nunique;

    /* Built by finalize. */
    /* The links grouped by domain, insertion order within a domain: rm->links itself, reordered
     * in place (a link's id restores insertion order), so the links are stored once. */
    ts_rm_link *by_dom;
    size_t *dom_off;          /* ndoms + 1 */
    ts_rm_graph *own;         /* ndoms graphs: each domain's own links */
    ts_rm_graph *merged;      /* with domain patterns: own(d) plus matching domains */
    const ts_rm_graph **view; /* graph answering queries in domain d; NULL: merge per call */
    /* Stored domains that may match other domains under dom_fn; only these can contribute
     * links to a domain other than themselves. */
    uint32_t *pat_doms;
    uint32_t npat_doms;
};

/* ---- per-call scratch: small inline buffers that move to the heap when they grow -------- */

#define TS_RM_INLINE_SET 128u
#define TS_RM_INLINE_VEC 64u

typedef struct ts_rm_idset {
    uint32_t *slots; /* id + 1, 0 = empty */
    size_t cap;
    size_t count;
    uint32_t inline_slots[TS_RM_INLINE_SET];
} ts_rm_idset;

typedef struct ts_rm_idvec {
    uint32_t *v;
    size_t len;
    size_t cap;
    uint32_t inline_v[TS_RM_INLINE_VEC];
} ts_rm_idvec;

void ts_authz__rm_idset_init(ts_rm_idset *s);
void ts_authz__rm_idset_cleanup(ts_rm_idset *s);
/** @return 1 added, 0 already present, -1 out of memory. */
int ts_authz__rm_idset_add(ts_rm_idset *s, uint32_t id);

void ts_authz__rm_idvec_init(ts_rm_idvec *v);
void ts_authz__rm_idvec_cleanup(ts_rm_idvec *v);
/** @return 0, or -1 out of memory. */
int ts_authz__rm_idvec_push(ts_rm_idvec *v, uint32_t id);

/* No such id (local-id scratch, unknown domain). */
#define TS_RM_NO_ID UINT32_MAX
/* Two ids above the last name are reserved for the pattern search's temporary names. */
#define TS_RM_MAX_IDS (UINT32_MAX - 3u)

/** A run of links (one domain's, in insertion order). */
typedef struct ts_rm_seg {
    const ts_rm_link *p;
    size_t n;
} ts_rm_seg;

/** Accept (NULL, 0) as the empty string; false for (NULL, len > 0). */
bool ts_authz__rm_norm_str(ts_str *s);

/** Build a CSR graph from @p segs (see rolemgr_graph.c). @return TS_OK or TS_ENOMEM. */
ts_status ts_authz__rm_graph_build(const ts_rolemgr *rm, ts_rm_graph *g, const ts_rm_seg *segs,
                                   size_t nsegs, uint32_t *loc);
/** Free what @p g owns and zero it. */
void ts_authz__rm_graph_free(ts_rm_graph *g);
/** Precompute closures within the hop limit, spending from @p budget. */
ts_status ts_authz__rm_graph_closures(ts_rm_graph *g, size_t *budget);
/** TS_ECYCLE with Go v3's message for the first cycle in @p g, else TS_OK (or TS_ENOMEM). */
ts_status ts_authz__rm_find_cycle(const ts_rm_graph *g, ts_error *err);

/** The links of stored domain @p k (after finalize grouped them). */
ts_rm_seg ts_authz__rm_dom_seg(const ts_rolemgr *rm, uint32_t k);
/** With a domain pattern function: merge each domain's graph with its matching pattern domains,
 *  within a budget (rm->view[k] NULL where the merge is left to queries). */
ts_status ts_authz__rm_build_merged(ts_rolemgr *rm, uint32_t *loc, ts_error *err);
/** The graph answering queries in @p domain; a per-call merge goes into @p tmp and sets
 *  *@p built (the caller then frees it with ts_authz__rm_graph_free). */
ts_status ts_authz__rm_resolve(const ts_rolemgr *rm, const ts_str *domain, const ts_rm_graph **g,
                               ts_rm_graph *tmp, bool *built, ts_error *err);

/** Look @p name up in @p g. */
bool ts_authz__rm_graph_find(const ts_rm_graph *g, ts_str name, uint32_t *id);

/** The local id in @p g of global id @p x (false when @p g does not mention it). */
static inline bool ts_authz__rm_graph_local(const ts_rm_graph *g, uint32_t x, uint32_t *id)
{
    if (!g->gid) {
        *id = x;
        return x < g->n;
    }
    return ts_authz__idlut_find(&g->lut, g->gid, x, id);
}

/** The name of local id @p id of @p g. */
static inline ts_str ts_authz__rm_name(const ts_rm_graph *g, uint32_t id)
{
    const ts_strmap_slot *s = &g->index->slots[g->slot[g->gid ? g->gid[id] : id]];
    return ts_str_make(s->key, s->len);
}

/** The name (or, with @p domain, the domain) function of @p rm applied to (@p s, @p pattern)
 *  as a boolean; an error from the function is "no match". */
bool ts_authz__rm_match(const ts_rolemgr *rm, bool domain, ts_str s, ts_str pattern);
/* true when fn(N, s) can only hold for N == s (s uses nothing special to fn). */
bool ts_authz__rm_is_literal(ts_authz_match_fn fn, ts_str s);

/**
 * Classify @p g's names as patterns or literals for the name function and, with @p precompute
 * and when affordable, precompute matched / matchedBy (otherwise they stay NULL and queries
 * scan). @return TS_OK or TS_ENOMEM.
 */
ts_status ts_authz__rm_graph_patterns(const ts_rolemgr *rm, ts_rm_graph *g, bool precompute);

/** HasLink with a name matching function, Go's neighbourhood rules (a == b and fn(a, b) already
 *  tested). @return TS_OK, TS_ENOMEM, or TS_ELIMIT when the search's work bound is reached. */
ts_status ts_authz__rm_pattern_has_link(const ts_rolemgr *rm, const ts_rm_graph *g, ts_str a,
                                        ts_str b, bool *out);

/* Conditional managers (rolemgr_cond.c) */
ts_status ts_authz__rm_cond_finalize(ts_rolemgr *rm, ts_error *err);
ts_status ts_authz__rm_cond_has_link(const ts_rolemgr *rm, ts_str a, ts_str b, const ts_str *domain,
                                     bool *out, ts_error *err);
void ts_authz__rm_cond_free(ts_rolemgr *rm);

#endif
