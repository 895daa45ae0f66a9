/**
 * @file authz_query.h
 * @brief Questions about a policy rather than decisions: who has which role, which rules apply
 * to a subject (Casbin's RBAC API), and many decisions on one snapshot (BatchEnforce).
 *
 * Every call here reads one snapshot of the enforcer from start to end, so an answer never mixes
 * two versions of the policy, also while another thread reloads or mutates the enforcer. Lists
 * are sorted by bytes (Casbin returns them in its own insertion order), each entry once, and
 * bounded by the caller's @p max: a longer answer is TS_ELIMIT and nothing is returned.
 *
 * Role queries follow the reach of g() in a decision: at most TS_AUTHZ_ROLE_MAX_HOPS links, a
 * name is never its own role or user, and with a domain the links of that domain count (plus
 * those of matching stored domains when a domain matching function is set). A role definition
 * with a role pattern function (ts_authz_enforcer_set_role_matching()) makes the roles of a
 * name an open set: those queries are TS_EUNSUPPORTED.
 * @since 0.5.0
 */
#ifndef TOKENSMITH_AUTHZ_QUERY_H
#define TOKENSMITH_AUTHZ_QUERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/authz.h>
#include <tokensmith/error.h>
#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Most requests ts_authz_enforce_batch() takes at once: writers wait while a batch runs. */
#define TS_AUTHZ_MAX_BATCH 65536u

/**
 * The direct roles of @p name (Casbin's GetRolesForUser): the roles of the `g` rules whose first
 * field is @p name, in @p domain for a role definition with domains.
 * @param gtype  role definition ("g", "g2", ...); NULL is "g". A model without "g" gives no
 *               roles; another unknown @p gtype is TS_ENOTFOUND.
 * @param name   untrusted bytes, need not be NUL-terminated.
 * @param domain for `g = _, _, _`: the domain; NULL is the domain "". Ignored without domains.
 * @param max    most roles wanted: more is TS_ELIMIT.
 * @param roles  out: @p *nroles NUL-terminated names in byte order, followed by NULL.
 * @return TS_OK, TS_EUNSUPPORTED (role pattern function), TS_ELIMIT, TS_ENOTFOUND, TS_EINVAL,
 *         TS_ENOMEM.
 * Ownership: free *roles with ts_authz_roles_free() (one block).
 * Thread-safety: any number of threads, also during reloads (one snapshot per call).
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_roles(const ts_authz_enforcer *e, const char *gtype,
                                                      const char *name, size_t name_len,
                                                      const char *domain, size_t max, char ***roles,
                                                      size_t *nroles, ts_error *err);

/**
 * The users of @p role: with @p implicit false the names that have it directly (Casbin's
 * GetUsersForRole); with @p implicit true also those that have it through other roles, within
 * TS_AUTHZ_ROLE_MAX_HOPS links (GetImplicitUsersForRole), i.e. exactly the names whose
 * ts_authz_enforcer_implicit_roles() lists @p role. "Users" are any names on the left of a link,
 * roles included.
 * @param gtype, domain, max as for ts_authz_enforcer_roles().
 * @param role   untrusted bytes, need not be NUL-terminated.
 * @param users  out: @p *nusers NUL-terminated names in byte order, followed by NULL.
 * @return TS_OK, TS_EUNSUPPORTED (role pattern function), TS_ELIMIT, TS_ENOTFOUND, TS_EINVAL,
 *         TS_ENOMEM.
 * Ownership: free *users with ts_authz_roles_free() (one block).
 * Thread-safety: any number of threads, also during reloads (one snapshot per call).
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_users(const ts_authz_enforcer *e, const char *gtype,
                                                      const char *role, size_t role_len,
                                                      const char *domain, bool implicit, size_t max,
                                                      char ***users, size_t *nusers, ts_error *err);

/**
 * The rules that apply to @p name (Casbin's GetImplicitPermissionsForUser): every @p ptype rule
 * whose subject is @p name or one of its implicit roles (ts_authz_enforcer_implicit_roles() over
 * @p gtype in @p domain). The subject is the field the policy definition calls `sub`
 * (the first field when none is). With a non-empty @p domain only rules whose `dom` field (the
 * second field when none is called so) equals @p domain byte for byte are listed.
 * @param ptype  policy definition ("p", "p2", ...); NULL is "p". Unknown: TS_ENOTFOUND.
 * @param gtype  role definition; NULL is "g" (a model without roles: @p name's own rules).
 * @param name   untrusted bytes, need not be NUL-terminated.
 * @param domain NULL or "": no domain filter, and roles in the domain "".
 * @param max    most rules wanted (and most implicit roles considered): more is TS_ELIMIT.
 * @param rules  out: @p *nrules rules as NUL-terminated CSV lines in byte order, formatted as
 *               ts_authz_decision.rule is ("p, alice, data1, read"), followed by NULL.
 * @return TS_OK, TS_EUNSUPPORTED (role pattern function), TS_ELIMIT, TS_ENOTFOUND, TS_EINVAL,
 *         TS_ENOMEM.
 * Ownership: free *rules with ts_authz_rules_free() (one block).
 * Thread-safety: any number of threads, also during reloads (one snapshot per call).
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_implicit_permissions(
    const ts_authz_enforcer *e, const char *ptype, const char *gtype, const char *name,
    size_t name_len, const char *domain, size_t max, char ***rules, size_t *nrules, ts_error *err);

/** Free a rule list of ts_authz_enforcer_implicit_permissions(). NULL-safe. @since 0.5.0 */
TS_API void ts_authz_rules_free(char **rules);

/**
 * Whether the policy holds exactly the rule @p ptype, @p fields (Casbin's HasPermissionForUser:
 * the user is fields[0]; same number of fields, each equal). Roles are not consulted: use a
 * decision for "may this user do this".
 * @param ptype  policy definition; NULL is "p".
 * @param fields @p nfields NUL-terminated strings (at most TS_AUTHZ_MAX_FIELDS).
 * @param has    out: the answer (false on error).
 * @return TS_OK, TS_ELIMIT, TS_EINVAL.
 * Thread-safety: any number of threads, also during reloads (one snapshot per call).
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_has_permission(const ts_authz_enforcer *e,
                                                               const char *ptype,
                                                               const char *const *fields,
                                                               size_t nfields, bool *has,
                                                               ts_error *err);

/** One request of a batch: its arguments as for ts_authz_enforce(). @since 0.5.0 */
typedef struct ts_authz_batch_item {
    const ts_authz_arg *args;
    size_t nargs;
} ts_authz_batch_item;

/**
 * Decide @p n requests on one snapshot (Casbin's BatchEnforce, with EnforceEx's deciding rule
 * when @p explain is true): a reload while the batch runs never gives some requests the old
 * policy and others the new one.
 * @param ctx      may be NULL (r, p, e, m); one context for the whole batch.
 * @param reqs     @p n requests (at most TS_AUTHZ_MAX_BATCH).
 * @param out      @p n decisions, each filled (deny and no rule for a request that failed);
 *                 call ts_authz_decision_cleanup() on each afterwards.
 * @param statuses NULL, or @p n statuses: TS_OK for a decided request, otherwise why it was not
 *                 (treat it as deny).
 * @param generation NULL, or out: ts_authz_enforcer_generation() of the snapshot used.
 * @return TS_OK when every request was decided; otherwise the status of the first request that
 *         was not, with @p err naming its index ("request 3: ..."); TS_EINVAL or TS_ELIMIT for
 *         the batch itself (then no request was decided).
 * Thread-safety: any number of threads, also during reloads. Writers wait for a running batch:
 *         keep batches small where reload latency matters.
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforce_batch(const ts_authz_enforcer *e,
                                                     const ts_authz_context *ctx,
                                                     const ts_authz_batch_item *reqs, size_t n,
                                                     bool explain, ts_authz_decision *out,
                                                     ts_status *statuses, uint64_t *generation,
                                                     ts_error *err);

#ifdef __cplusplus
}
#endif

#endif
