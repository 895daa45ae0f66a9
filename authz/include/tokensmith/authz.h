/**
 * @file authz.h
 * @brief The tokensmith policy engine: Casbin-compatible models, policies and decisions.
 *
 * Three objects:
 *  - ::ts_authz_model: a parsed `model.conf` (request, policy, role, effect and matcher
 *    definitions). Immutable once parsed.
 *  - ::ts_authz_policy: an ordered list of `p`/`g` rules, each remembering the file and line it
 *    came from. A plain container; it is checked against a model when an enforcer is built.
 *  - ::ts_authz_enforcer: decides requests. It holds an immutable compiled snapshot (model,
 *    rules, hash indexes, role graphs); every mutation or reload builds a new snapshot and swaps
 *    it in atomically, so decisions never see a half-applied change and a failed reload keeps
 *    the old snapshot.
 *
 * Semantics follow Casbin (Go, v3); see docs/casbin-compatibility.md for the few differences.
 *
 * Thread-safety: ts_authz_enforce() and every other function taking a `const ts_authz_enforcer *`
 * may be called from any number of threads at once, also while another thread mutates or
 * reloads the same enforcer. Models are immutable and shareable. A ts_authz_policy is not
 * synchronised: one thread at a time.
 *
 * Errors: an error from a decision call means "no decision"; callers must treat it as deny.
 * @since 0.1.0
 */
#ifndef TOKENSMITH_AUTHZ_H
#define TOKENSMITH_AUTHZ_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <tokensmith/error.h>
#include <tokensmith/export.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Size caps applied to untrusted input (model text, CSV, requests). */
#define TS_AUTHZ_MAX_MODEL_BYTES (1u << 20)   /**< a model.conf larger than 1 MiB is refused */
#define TS_AUTHZ_MAX_LINE_BYTES (64u * 1024u) /**< CSV and model lines: Go's bufio limit */
#define TS_AUTHZ_MAX_FIELDS 64u               /**< fields per rule or request */
#define TS_AUTHZ_MAX_EXPR_DEPTH 200u          /**< nesting depth of a matcher expression */
#define TS_AUTHZ_MAX_EXPR_BYTES (64u * 1024u) /**< length of one matcher or eval() rule */
#define TS_AUTHZ_MAX_JSON_BYTES (64u * 1024u) /**< one JSON request attribute */
#define TS_AUTHZ_ROLE_MAX_HOPS 10             /**< Casbin's role-hierarchy depth limit */

/* ------------------------------------------------------------------------------------------ */
/* Model                                                                                      */

typedef struct ts_authz_model ts_authz_model;

/**
 * Parse model.conf text.
 * @param text  model text (need not be NUL-terminated); at most TS_AUTHZ_MAX_MODEL_BYTES.
 * @param name  name used in error messages (a file name), may be NULL.
 * @return a new model, or NULL with @p err set ("name:line: problem").
 * Ownership: caller frees with ts_authz_model_free().
 */
TS_API TS_NODISCARD ts_authz_model *ts_authz_model_parse(const char *text, size_t len,
                                                         const char *name, ts_error *err);

/** Read and parse a model file. Ownership as ts_authz_model_parse(). */
TS_API TS_NODISCARD ts_authz_model *ts_authz_model_load_file(const char *path, ts_error *err);

/** NULL-safe. */
TS_API void ts_authz_model_free(ts_authz_model *m);

/* ------------------------------------------------------------------------------------------ */
/* Policy (rules)                                                                             */

typedef struct ts_authz_policy ts_authz_policy;

/** @return an empty rule list, or NULL when out of memory. Free with ts_authz_policy_free(). */
TS_API TS_NODISCARD ts_authz_policy *ts_authz_policy_new(void);

/** NULL-safe. */
TS_API void ts_authz_policy_free(ts_authz_policy *p);

/**
 * Append the rules of a CSV text (Casbin's file-adapter format: `ptype, field, ...`).
 * Go's rules: each line trimmed; empty lines and lines starting with `#` skipped; RFC 4180
 * quotes; only leading spaces of a field trimmed; a bare quote is an error.
 * @param name file name for error messages ("name:line: problem"), may be NULL.
 * On error nothing is appended.
 */
TS_API TS_NODISCARD ts_status ts_authz_policy_load_csv(ts_authz_policy *p, const char *text,
                                                       size_t len, const char *name, ts_error *err);

/** Read a CSV file and append its rules, as ts_authz_policy_load_csv(). */
TS_API TS_NODISCARD ts_status ts_authz_policy_load_file(ts_authz_policy *p, const char *path,
                                                        ts_error *err);

/**
 * Append one rule. @p ptype is "p", "p2", "g", "g2", ...; fields are copied.
 */
TS_API TS_NODISCARD ts_status ts_authz_policy_add(ts_authz_policy *p, const char *ptype,
                                                  const char *const *fields, size_t nfields,
                                                  ts_error *err);

/** Number of rules (all ptypes). */
TS_API size_t ts_authz_policy_count(const ts_authz_policy *p);

/** Fields one CSV line may hold: a ptype plus TS_AUTHZ_MAX_FIELDS values. */
#define TS_AUTHZ_CSV_MAX_FIELDS (TS_AUTHZ_MAX_FIELDS + 1u)

/**
 * Split one line into fields with exactly the CSV rules of policy files (Go's encoding/csv as
 * Casbin's file adapter uses it: ',' separates fields, leading spaces of a field are trimmed,
 * RFC 4180 quotes, a bare quote in an unquoted field is an error, a quoted field cannot continue
 * on the next line). For programs that read lines in the syntax of policy files, such as the
 * request lines of `tokensmith policy check`. Trim the line first: an empty line, or one that
 * starts with '#', gives zero fields (Go's reader gives no record).
 * @param line   untrusted bytes, need not be NUL-terminated; at most TS_AUTHZ_MAX_LINE_BYTES.
 * @param fields out: an array of @p *nfields NUL-terminated strings (NULL entries never).
 * @param col    out on error, may be NULL: the 1-based byte column of the problem.
 * @return TS_OK; TS_EPARSE with Go's message (`bare " in non-quoted-field`, `extraneous or
 *         missing " in quoted-field`); TS_ELIMIT for a line over TS_AUTHZ_MAX_LINE_BYTES or with
 *         more than TS_AUTHZ_CSV_MAX_FIELDS fields; TS_EINVAL; TS_ENOMEM.
 * Ownership: free *fields with ts_authz_csv_fields_free().
 * Thread-safety: no shared state; any thread.
 * @since 0.1.0
 */
TS_API TS_NODISCARD ts_status ts_authz_csv_split_line(const char *line, size_t len, char ***fields,
                                                      size_t *nfields, size_t *col, ts_error *err);

/** Free the fields of ts_authz_csv_split_line(). NULL-safe. @since 0.1.0 */
TS_API void ts_authz_csv_fields_free(char **fields, size_t n);

/* ------------------------------------------------------------------------------------------ */
/* Enforcer                                                                                   */

typedef struct ts_authz_enforcer ts_authz_enforcer;

/** Names of the built-in functions usable as role or domain matching functions. */
typedef enum ts_authz_match_fn {
    TS_AUTHZ_MATCH_NONE = 0,
    TS_AUTHZ_MATCH_KEYMATCH,
    TS_AUTHZ_MATCH_KEYMATCH2,
    TS_AUTHZ_MATCH_KEYMATCH3,
    TS_AUTHZ_MATCH_KEYMATCH4,
    TS_AUTHZ_MATCH_KEYMATCH5,
    TS_AUTHZ_MATCH_REGEX,
    TS_AUTHZ_MATCH_GLOB,
} ts_authz_match_fn;

/** @return the matching function called @p name ("keyMatch2", "globMatch", ...), or NONE. */
TS_API ts_authz_match_fn ts_authz_match_fn_from_name(const char *name);

/**
 * Build an enforcer from a model and a policy (both copied; the caller keeps ownership).
 * Every rule is checked against the model: unknown ptype, wrong field count, a role cycle
 * (Casbin v3 refuses cycles in role graphs without domains) are errors naming file and line.
 * @param policy may be NULL (no rules).
 * @return the enforcer or NULL with @p err set. Free with ts_authz_enforcer_free().
 */
TS_API TS_NODISCARD ts_authz_enforcer *
ts_authz_enforcer_new(const ts_authz_model *model, const ts_authz_policy *policy, ts_error *err);

/** NULL-safe. No decision may be in progress on @p e. */
TS_API void ts_authz_enforcer_free(ts_authz_enforcer *e);

/**
 * Replace model and policy. Builds and validates a new snapshot first; on any error the old
 * snapshot stays in force and @p err says why. Role and domain matching functions set on the
 * enforcer are kept.
 * @param model NULL keeps the current model.
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_reload(ts_authz_enforcer *e,
                                                       const ts_authz_model *model,
                                                       const ts_authz_policy *policy,
                                                       ts_error *err);

/**
 * Set the pattern function of role definition @p gtype ("g", "g2", ...) for role names
 * (Casbin's AddNamedMatchingFunc). Rebuilds the snapshot.
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_set_role_matching(ts_authz_enforcer *e,
                                                                  const char *gtype,
                                                                  ts_authz_match_fn fn,
                                                                  ts_error *err);

/** As ts_authz_enforcer_set_role_matching() for domains (AddNamedDomainMatchingFunc). */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_set_domain_matching(ts_authz_enforcer *e,
                                                                    const char *gtype,
                                                                    ts_authz_match_fn fn,
                                                                    ts_error *err);

/**
 * Add rules of one ptype in a single new snapshot. Rules already present are skipped (as
 * Casbin does); with a `priority` field, p rules go to their sorted position.
 * @param rows  @p nrows rules, each an array of @p nfields strings.
 * @param added out: how many were new (may be NULL).
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_add_rules(ts_authz_enforcer *e, const char *ptype,
                                                          const char *const *const *rows,
                                                          size_t nrows, size_t nfields,
                                                          size_t *added, ts_error *err);

/** Remove rules of one ptype (exact field match) in a single new snapshot. */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_remove_rules(ts_authz_enforcer *e,
                                                             const char *ptype,
                                                             const char *const *const *rows,
                                                             size_t nrows, size_t nfields,
                                                             size_t *removed, ts_error *err);

/** Convenience: add one rule. */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_add_rule(ts_authz_enforcer *e, const char *ptype,
                                                         const char *const *fields, size_t nfields,
                                                         ts_error *err);

/** Convenience: remove one rule. @p removed may be NULL. */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_remove_rule(ts_authz_enforcer *e, const char *ptype,
                                                            const char *const *fields,
                                                            size_t nfields, bool *removed,
                                                            ts_error *err);

/** Number of rules of @p ptype in the current snapshot (0 if unknown). */
TS_API size_t ts_authz_enforcer_rule_count(const ts_authz_enforcer *e, const char *ptype);

/** A monotonically increasing number, bumped by every snapshot swap. */
TS_API uint64_t ts_authz_enforcer_generation(const ts_authz_enforcer *e);

/** One request argument: a string, or (is_json) the text of a JSON object for ABAC. */
typedef struct ts_authz_arg {
    const char *ptr;
    size_t len;
    bool is_json;
} ts_authz_arg;

/** Selects alternative definitions (Casbin's EnforceContext); NULL fields mean r, p, e, m. */
typedef struct ts_authz_context {
    const char *rtype;
    const char *ptype;
    const char *etype;
    const char *mtype;
} ts_authz_context;

/** Outcome of one decision. */
typedef struct ts_authz_decision {
    bool allowed;
    /** true when a rule decided (see rule). False e.g. for "nothing matched". */
    bool has_rule;
    /** The deciding rule as a CSV line ("p, alice, data1, read"), only when explain was asked
     *  and has_rule is true. Owned by the decision: release with ts_authz_decision_cleanup(). */
    char *rule;
} ts_authz_decision;

/** Release what a decision owns. NULL-safe, idempotent. */
TS_API void ts_authz_decision_cleanup(ts_authz_decision *d);

/**
 * Decide one request.
 * @param args  one argument per request token (e.g. sub, obj, act).
 * @param allowed out: the decision.
 * @return TS_OK, or an error (wrong argument count, matcher type error, bad regex, ...). Any
 * error means no decision: treat as deny.
 */
TS_API TS_NODISCARD ts_status ts_authz_enforce(const ts_authz_enforcer *e, const ts_authz_arg *args,
                                               size_t nargs, bool *allowed, ts_error *err);

/** Convenience for all-string requests given as NUL-terminated strings. */
TS_API TS_NODISCARD ts_status ts_authz_enforce_strs(const ts_authz_enforcer *e,
                                                    const char *const *args, size_t nargs,
                                                    bool *allowed, ts_error *err);

/**
 * Decide one request with an optional context and, when @p explain is true, report the rule
 * that decided (Casbin's EnforceEx).
 * @param ctx may be NULL (r, p, e, m).
 * @param out filled on TS_OK; call ts_authz_decision_cleanup() afterwards.
 */
TS_API TS_NODISCARD ts_status ts_authz_enforce_ex(const ts_authz_enforcer *e,
                                                  const ts_authz_context *ctx,
                                                  const ts_authz_arg *args, size_t nargs,
                                                  bool explain, ts_authz_decision *out,
                                                  ts_error *err);

/**
 * The implicit roles of @p name (Casbin's GetImplicitRolesForUser over one role definition):
 * the roles it has directly and those they inherit, within TS_AUTHZ_ROLE_MAX_HOPS links (the
 * reach of g() in a decision), each once, in byte order. @p name itself is never listed, also
 * when a cycle leads back to it (Casbin's Node port lists it then). A name the policy does not
 * know has none.
 * @param gtype  role definition ("g", "g2", ...); NULL is "g". A model without "g" gives no
 *               roles; another unknown @p gtype is TS_ENOTFOUND.
 * @param name   the subject as the matcher sees it (e.g. "service:system:serviceaccount:ns:sa");
 *               untrusted bytes, need not be NUL-terminated.
 * @param domain for `g = _, _, _`: the domain (domain matching functions apply); NULL: none
 *               (the domain ""). Ignored by a role definition without domains.
 * @param max    most roles wanted: more is TS_ELIMIT (nothing returned).
 * @param roles  out: an array of @p *nroles NUL-terminated names, followed by NULL.
 * @return TS_OK; TS_EUNSUPPORTED when the role definition has a role pattern function
 *         (ts_authz_enforcer_set_role_matching()): the roles of a name are then an open set;
 *         TS_ELIMIT; TS_ENOTFOUND; TS_EINVAL; TS_ENOMEM.
 * Ownership: free *roles with ts_authz_roles_free() (one block: the names live in it).
 * Thread-safety: reads one snapshot from start to end, also while another thread reloads.
 * @since 0.4.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_implicit_roles(const ts_authz_enforcer *e,
                                                               const char *gtype, const char *name,
                                                               size_t name_len, const char *domain,
                                                               size_t max, char ***roles,
                                                               size_t *nroles, ts_error *err);

/** Free a role list of ts_authz_enforcer_implicit_roles(), ts_authz_authorizer_roles() or
 *  ts_authz_guard_roles() (authz_http.h). NULL-safe. @since 0.4.0 */
TS_API void ts_authz_roles_free(char **roles);

#ifdef __cplusplus
}
#endif

#include <tokensmith/authz_functions.h>
#include <tokensmith/authz_query.h>
#endif
