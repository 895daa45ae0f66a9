/* Role manager for one role definition (g, g2, ...): Casbin's RoleManagerImpl and
 * DomainManager semantics, with name and domain pattern functions. Built once per snapshot,
 * then read-only and safe to query from many threads. */
#ifndef TS_AUTHZ_ROLEMGR_H
#define TS_AUTHZ_ROLEMGR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/authz.h>

#include "builtins.h"
#include "util/str.h"

typedef struct ts_rolemgr ts_rolemgr;

/** @param with_domains true for `g = _, _, _` (one graph per domain). NULL on OOM. */
ts_rolemgr *ts_authz__rolemgr_new(bool with_domains);
void ts_authz__rolemgr_free(ts_rolemgr *rm);

/** Pattern function for role names (AddNamedMatchingFunc); set before links are added or
 *  before finalize. @p rc is borrowed and must outlive the manager. */
void ts_authz__rolemgr_set_matching(ts_rolemgr *rm, ts_authz_match_fn fn, ts_regex_cache *rc);
/** Pattern function for domains (AddNamedDomainMatchingFunc). */
void ts_authz__rolemgr_set_domain_matching(ts_rolemgr *rm, ts_authz_match_fn fn,
                                           ts_regex_cache *rc);

/** Use the registered function @p f (name, pattern) -> bool for role names / domains instead of
 *  a built-in; same rules as ts_authz__rolemgr_set_matching(). @p f must outlive @p rm. */
void ts_authz__rolemgr_set_matching_custom(ts_rolemgr *rm, const ts_custom_fn *f);
void ts_authz__rolemgr_set_domain_matching_custom(ts_rolemgr *rm, const ts_custom_fn *f);

/**
 * A manager for a conditional role definition (`g = _, _, (_, _)`): links carry a condition
 * evaluated per query (ts_authz__rolemgr_add_cond_link). Pattern functions are not supported.
 * NULL on OOM.
 */
ts_rolemgr *ts_authz__rolemgr_new_conditional(bool with_domains);

/**
 * Add a link of a conditional manager whose presence is @p cond(@p params...) (@p cond NULL:
 * always present). Strings are copied; @p cond must outlive @p rm. Adding the same link again
 * replaces its condition and parameters, as Go's SetLinkConditionFuncParams does.
 */
ts_status ts_authz__rolemgr_add_cond_link(ts_rolemgr *rm, ts_str name, ts_str role, ts_str domain,
                                          const ts_str *params, size_t nparams,
                                          const ts_custom_fn *cond, ts_error *err);

/** Add "@p name has role @p role" (in @p domain when the manager has domains; ignored
 *  otherwise). Strings are copied. */
ts_status ts_authz__rolemgr_add_link(ts_rolemgr *rm, ts_str name, ts_str role, ts_str domain,
                                     ts_error *err);

/**
 * Freeze the manager: build lookup structures (and closures). With @p reject_cycles, a cycle in
 * a manager without domains is TS_ECYCLE with Go v3's message
 * "cycle detected: alice -> data2_admin -> super_admin -> alice".
 */
ts_status ts_authz__rolemgr_finalize(ts_rolemgr *rm, bool reject_cycles, ts_error *err);

/**
 * Casbin's HasLink: true if a == b (or the pattern function says a matches b), or b is reachable
 * from a within TS_AUTHZ_ROLE_MAX_HOPS links. @p domain NULL means no domain argument: a domain
 * manager then uses domain "", a plain manager ignores any domain. Never hangs on cycles.
 * With a name pattern function the search is bounded: TS_ELIMIT when a huge pattern graph would
 * need more work than one decision may take. Errors leave *out false.
 */
ts_status ts_authz__rolemgr_has_link(const ts_rolemgr *rm, ts_str a, ts_str b, const ts_str *domain,
                                     bool *out, ts_error *err);

/** true when no pattern function is set, so that ts_authz__rolemgr_reachable() is exact. */
bool ts_authz__rolemgr_is_simple(const ts_rolemgr *rm);

/**
 * Call @p cb for @p a itself and every role reachable from @p a within the hop limit, each once
 * (only valid when ts_authz__rolemgr_is_simple(), else TS_EUNSUPPORTED). The callback's names are
 * valid while @p rm lives, except for an unknown @p a, which is passed back as given. Stops early
 * when
 * @p cb returns false.
 */
ts_status ts_authz__rolemgr_reachable(const ts_rolemgr *rm, ts_str a, const ts_str *domain,
                                      bool (*cb)(void *ud, ts_str name), void *ud, ts_error *err);

/* ---- questions by name id (simple managers), for decisions that ask many of them ----------- */

/** No such name: the manager's links never mention it. */
#define TS_ROLEMGR_NO_ID UINT32_MAX

/** The id of @p name in @p rm (the same in every domain), or TS_ROLEMGR_NO_ID. A finalized
 *  manager's ids are stable for its lifetime. */
uint32_t ts_authz__rolemgr_name_id(const ts_rolemgr *rm, ts_str name);

struct ts_rm_graph;

/** The graph answering questions in one domain, resolved once (see _view_open). */
typedef struct ts_rolemgr_view {
    const struct ts_rm_graph *g;
    struct ts_rm_graph *tmp; /* a merge built for this view only; released by _view_close */
} ts_rolemgr_view;

/**
 * Resolve the graph of @p domain (NULL: no domain argument, as ts_authz__rolemgr_has_link) in a
 * finalized simple manager (ts_authz__rolemgr_is_simple). Close every opened view.
 */
ts_status ts_authz__rolemgr_view_open(const ts_rolemgr *rm, const ts_str *domain,
                                      ts_rolemgr_view *v, ts_error *err);
void ts_authz__rolemgr_view_close(ts_rolemgr_view *v);

/**
 * HasLink(a, b) by ids in view @p v: true when @p a == @p b (and neither is TS_ROLEMGR_NO_ID) or
 * @p b is reachable from @p a within the hop limit. Two unknown names are equal only if their
 * strings are: the caller compares those. @return TS_OK, or TS_ENOMEM from a search.
 */
ts_status ts_authz__rolemgr_view_has_link(const ts_rolemgr_view *v, uint32_t a, uint32_t b,
                                          bool *out);

/** ts_authz__rolemgr_reachable() by ids: @p cb sees @p a (known) and every role reachable from
 *  it, each once, until it returns false. */
ts_status ts_authz__rolemgr_view_reachable(const ts_rolemgr_view *v, uint32_t a,
                                           bool (*cb)(void *ud, uint32_t id), void *ud);

/** Number of distinct links (after finalize; before it, the number of add calls). */
size_t ts_authz__rolemgr_link_count(const ts_rolemgr *rm);

/** Default bound on precomputed closure entries (4 bytes each) across all graphs. */
#define TS_ROLEMGR_CLOSURE_BUDGET ((size_t)32 * 1024 * 1024)

/**
 * Bound the closure entries precomputed at finalize (default TS_ROLEMGR_CLOSURE_BUDGET); roles
 * beyond it are answered by a per-call search. 0 disables closures. Set before finalize.
 */
void ts_authz__rolemgr_set_closure_budget(ts_rolemgr *rm, size_t max_entries);

#endif
