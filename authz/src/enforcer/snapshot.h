/* An immutable compiled policy: model, rules in decision order, hash indexes, role managers
 * and compiled matchers. Built once, shared by every thread that decides, freed when the last
 * reference is dropped. */
#ifndef TS_AUTHZ_SNAPSHOT_H
#define TS_AUTHZ_SNAPSHOT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/authz.h>

#include "builtins.h"
#include "expr.h"
#include "model.h"
#include "policy.h"
#include "rolemgr.h"
#include "util/arena.h"
#include "util/idlut.h"
#include "util/str.h"
#include "util/strmap.h"

#define TS_NO_FIELD ((size_t)-1)

/** A link condition (ts_authz_enforcer_add_link_condition): NULL user/role/domain match any. */
typedef struct ts_link_cond_cfg {
    char gtype[8];
    char *user, *role, *domain;
    const ts_custom_fn *fn;
} ts_link_cond_cfg;

/** Role and domain pattern functions chosen for each role definition (g, g2, ...), registered
 *  functions and link conditions. Registered functions are owned by the enforcer, which
 *  outlives its snapshots; the conditions are read only while a snapshot is built. */
typedef struct ts_match_config {
    ts_authz_match_fn role[TS_MODEL_MAX_KEYS];
    ts_authz_match_fn domain[TS_MODEL_MAX_KEYS];
    const ts_custom_fn *role_cf[TS_MODEL_MAX_KEYS];   /* instead of role[k] when set */
    const ts_custom_fn *domain_cf[TS_MODEL_MAX_KEYS]; /* instead of domain[k] when set */
    const ts_custom_fn *fns[TS_AUTHZ_MAX_FUNCTIONS];  /* registration order */
    size_t nfns;
    const ts_link_cond_cfg *conds; /* registration order; NULL in a built snapshot */
    size_t nconds;
} ts_match_config;

/** The rules of one policy definition (p, p2, ...), sorted as Casbin decides them. */
typedef struct ts_rule_set {
    const ts_model_def *def;
    const ts_policy_rule **rules; /* decision order */
    ts_str *fields;               /* n * nfields, row-major, same order */
    size_t n;
    size_t nfields;
    size_t eft_idx; /* index of the `<key>_eft` token, or TS_NO_FIELD */
} ts_rule_set;

/** Hash index of one rule field: value -> ascending rule ordinals. */
typedef struct ts_field_index {
    ts_strmap map;      /* value -> bucket number */
    uint32_t *offsets;  /* nbuckets + 1 offsets into ordinals */
    uint32_t *ordinals; /* concatenated buckets */
    size_t nbuckets;
} ts_field_index;

/** A role conjunct g(r_x, p_y[, D]) by name ids (plan_roles.c): each rule's p_y and each index
 *  bucket's value as an id of the role manager, so that a decision compares integers. */
typedef struct ts_plan_role {
    uint32_t *rule_id;   /* per rule in decision order; TS_ROLEMGR_NO_ID for a name without links */
    uint32_t *bucket_id; /* per bucket of the field's index */
    ts_idlut bucket_lut; /* bucket by id */
} ts_plan_role;

/* Matchers with more top-level conjuncts are decided by the evaluator only. */
#define TS_PLAN_MAX_FAST_CONJ 16

/** A compiled matcher for one (request, policy, effect, matcher) definition choice. */
typedef struct ts_plan {
    const ts_model_def *rdef, *pdef, *edef, *mdef;
    const ts_rule_set *rules;
    ts_expr *expr; /* NULL when it did not compile (then compile_error says why) */
    ts_error compile_error;
    bool uses_rule; /* Casbin evaluates per rule only when the matcher mentions `<ptype>_` */
    ts_expr_conj *conj;
    size_t nconj;
    ts_field_index **field_index; /* per rule field, NULL when not indexed */
    /* Role conjuncts by id (NULL when the matcher has more than TS_PLAN_MAX_FAST_CONJ
     * conjuncts), parallel to conj; entries of other conjuncts are empty. */
    ts_plan_role *roles;
    /* Every top-level conjunct is an equality or a role conjunct of a simple manager: a rule
     * matches when each holds, checked without the evaluator (plan_roles.c: its answer is the
     * evaluator's) whenever the request values in fast_req are strings. */
    bool fast;
    uint64_t fast_req; /* bit i: request token i must be a string */
    /* eval(p_x): distinct rule texts compiled once. */
    ts_strmap eval_map;
    ts_expr **eval_exprs;
    size_t neval;
} ts_plan;

typedef struct ts_snapshot {
    uint64_t generation;
    ts_authz_model *model; /* owned clone */
    ts_arena arena;        /* every rule string and rule array */
    ts_policy_rule *all;   /* canonical rule list in load order (deduplicated) */
    size_t nall;
    ts_rule_set psets[TS_MODEL_MAX_KEYS]; /* parallel to model->p.defs */
    ts_rolemgr *rms[TS_MODEL_MAX_KEYS];   /* parallel to model->g.defs */
    ts_match_config match;
    ts_regex_cache *regex;
    ts_plan *plans; /* one per (r, p, e, m) combination */
    size_t nplans;
    const ts_plan *default_plan;
} ts_snapshot;

/**
 * Build a snapshot from @p model and @p rules (copied). Validates every rule (ptype defined,
 * field counts, role cycles) with errors naming the rule's file and line.
 */
ts_snapshot *ts_authz__snapshot_build(const ts_authz_model *model, const ts_policy_rule *rules,
                                      size_t nrules, const ts_match_config *match, ts_error *err);

/** Free @p s; the enforcer calls it once no reader can still see the snapshot. NULL-safe. */
void ts_authz__snapshot_free(ts_snapshot *s);

/** @return the plan for the given definition keys (NULL = default key), or NULL. */
const ts_plan *ts_authz__snapshot_plan(const ts_snapshot *s, const char *rkey, const char *pkey,
                                       const char *ekey, const char *mkey);

/** Rule-set lookup by key ("p2"). */
const ts_rule_set *ts_authz__snapshot_rules(const ts_snapshot *s, const char *pkey);

/* Building (snapshot_rules.c, snapshot_order.c) */

/** "file:line" of @p r (or that it came through the API), for error messages. */
void ts_authz__snapshot_where_of(const ts_policy_rule *r, char *buf, size_t cap);
/** Index of the definition @p key in @p s, or TS_NO_FIELD. */
size_t ts_authz__snapshot_def_index(const ts_model_section *s, const char *key);
/** Validate @p rules and copy them, deduplicated, into @p s (s->all, s->nall). */
ts_status ts_authz__snapshot_copy_rules(ts_snapshot *s, const ts_policy_rule *rules, size_t nrules,
                                        ts_error *err);
/** Fill s->psets: each policy definition's rules in decision order, and their fields. */
ts_status ts_authz__snapshot_build_rule_sets(ts_snapshot *s, ts_error *err);

/* Role conjuncts by id and the fast match (plan_roles.c) */

/** Build plan->roles and plan->fast once the field indexes exist. */
ts_status ts_authz__plan_build_roles(ts_plan *plan, const ts_snapshot *s, ts_error *err);
void ts_authz__plan_free_roles(ts_plan *plan);

/** What one decision learned about its role conjuncts: the requester's id and the domain's
 *  graph, each resolved at most once however many rules are tried. */
typedef struct ts_role_memo {
    const ts_snapshot *s;
    const ts_plan *plan;
    const ts_val *req;
    /* Rule matches are decided by ts_authz__plan_fast_match: the plan is fast and the request
     * values it reads are strings. */
    bool fast;
    struct {
        bool have_id, have_view;
        uint32_t id;
        ts_rolemgr_view view;
    } c[TS_PLAN_MAX_FAST_CONJ];
} ts_role_memo;

void ts_authz__role_memo_init(ts_role_memo *m, const ts_snapshot *s, const ts_plan *plan,
                              const ts_val *req, size_t nreq);
void ts_authz__role_memo_close(ts_role_memo *m);
/** The id of the request's name in role conjunct @p c (plan->roles set, c < nconj). */
uint32_t ts_authz__role_memo_id(ts_role_memo *m, size_t c);
/** The graph role conjunct @p c asks in. */
ts_status ts_authz__role_memo_view(ts_role_memo *m, size_t c, const ts_rolemgr_view **v,
                                   ts_error *err);

/** Does rule @p i (decision order) match? Same answer and errors as evaluating the matcher. */
ts_status ts_authz__plan_fast_match(ts_role_memo *m, size_t i, bool *out, ts_error *err);

/* Index (index.c) */

/** An equality conjunct, or a role conjunct of a simple manager, whose tokens exist: one the
 *  index and the fast match can use. */
bool ts_authz__plan_conj_usable(const ts_plan *plan, const ts_snapshot *s, const ts_expr_conj *c);
ts_status ts_authz__plan_build_index(ts_plan *plan, const ts_snapshot *s, ts_error *err);
void ts_authz__plan_free_index(ts_plan *plan);

/**
 * Candidate rule ordinals for a request, ascending. @return true and fills *out and *n when an
 * index applies (the candidates are a superset of the rules that can match); false to scan all.
 * *out points into the index, into @p buf (a caller scratch of @p bufcap entries), or to
 * malloc'd memory when *owned is true.
 */
bool ts_authz__plan_candidates(const ts_plan *plan, ts_role_memo *memo, const ts_val *req,
                               size_t nreq, uint32_t *buf, size_t bufcap, const uint32_t **out,
                               size_t *n, bool *owned);

/* Decisions (decide.c) */
ts_status ts_authz__snapshot_decide(const ts_snapshot *s, const ts_plan *plan,
                                    const ts_authz_arg *args, size_t nargs, bool explain,
                                    ts_authz_decision *out, ts_error *err);

/* Roles (roles.c) */

/** ts_authz_enforcer_implicit_roles() on snapshot @p s, which the caller holds. */
ts_status ts_authz__snapshot_implicit_roles(const ts_snapshot *s, const char *gtype, ts_str name,
                                            const char *domain, size_t max, char ***roles,
                                            size_t *nroles, ts_error *err);

/* Registered functions and link conditions (builtins/custom_register.c, enforcer.c) */

/** Change of the enforcer's match configuration: edit @p m (a copy of the current one) for
 *  snapshot @p cur. */
typedef ts_status (*ts_match_update_fn)(ts_match_config *m, const ts_snapshot *cur, void *ud,
                                        ts_error *err);

/** Under the write lock: apply @p fn to a copy of the configuration and rebuild the snapshot with
 *  it; on failure the old configuration stays and what @p fn added is released. */
ts_status ts_authz__enforcer_update_match(ts_authz_enforcer *e, ts_match_update_fn fn, void *ud,
                                          ts_error *err);

/** ts_authz_enforcer_new() with a configuration (may be NULL) whose functions and conditions
 *  the enforcer takes over on success; on failure they stay the caller's. */
ts_authz_enforcer *ts_authz__enforcer_new_match(const ts_authz_model *model,
                                                const ts_authz_policy *policy,
                                                const ts_match_config *match, ts_error *err);

/** Free what @p drop owns (registered functions, conditions) that @p keep (may be NULL) does not
 *  share. */
void ts_authz__match_config_release(const ts_match_config *keep, ts_match_config *drop);

/** Format a rule as a CSV line "ptype, f1, f2" (quoted where needed). malloc'd. */
char *ts_authz__rule_format(const char *ptype, const ts_str *fields, size_t n);

#endif
