/*
 * authz, custom functions (part of <tokensmith/authz.h>): C functions registered under a name
 * for the matcher (Casbin's AddFunction), as role and domain pattern functions
 * (AddNamedMatchingFunc / AddNamedDomainMatchingFunc with a function of your own) and as link
 * conditions of conditional role definitions `g = _, _, (_, _)` (AddNamedLinkConditionFunc).
 * docs/authz-engine.md describes the semantics.
 */
#ifndef TOKENSMITH_AUTHZ_FUNCTIONS_H
#define TOKENSMITH_AUTHZ_FUNCTIONS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include <tokensmith/authz.h>

#ifdef __cplusplus
extern "C" {
#endif

/** Kinds of values a function receives and returns. */
typedef enum ts_authz_kind {
    TS_AUTHZ_KIND_ANY = 0, /**< in a descriptor: any kind accepted (never a value's kind) */
    TS_AUTHZ_KIND_STRING,
    TS_AUTHZ_KIND_NUMBER, /**< float64, as the matcher's numbers */
    TS_AUTHZ_KIND_BOOL,
} ts_authz_kind;

/** One argument or result. Strings are (pointer, length), not NUL-terminated. */
typedef struct ts_authz_value {
    ts_authz_kind kind;
    const char *str; /**< STRING */
    size_t len;      /**< STRING */
    double num;      /**< NUMBER */
    bool b;          /**< BOOL */
} ts_authz_value;

/** Most arguments one function takes (also for variadic functions). */
#define TS_AUTHZ_FUNCTION_MAX_ARGS 16u
/** Arity of a function that takes 0 to TS_AUTHZ_FUNCTION_MAX_ARGS arguments. */
#define TS_AUTHZ_FUNCTION_VARIADIC ((size_t)-1)
/** Most functions one enforcer holds (a re-registration of a name counts again). */
#define TS_AUTHZ_MAX_FUNCTIONS 64u

/**
 * A function body. Write the result into @p out (its kind must be the descriptor's result kind
 * unless that is ANY). A result string may point into an argument, into static storage or into
 * storage of @p ud: the engine copies it before the next call. Any status other than TS_OK is
 * an evaluation error: the decision fails with it (and so denies), as an error returned by a
 * Go function fails Casbin's Enforce.
 * Contract: pure (the same arguments give the same result: decisions may be indexed and
 * reordered), called from many threads at once without locking, and must not call back into
 * the enforcer.
 */
typedef ts_status (*ts_authz_function_cb)(void *ud, const ts_authz_value *args, size_t nargs,
                                          ts_authz_value *out, ts_error *err);

/** Describes a function. The engine copies the descriptor (and the name). */
typedef struct ts_authz_function {
    const char *name; /**< an identifier: [A-Za-z_][A-Za-z0-9_]* */
    size_t arity;     /**< argument count, or TS_AUTHZ_FUNCTION_VARIADIC */
    /** Kinds of the arguments (arity entries; a variadic function checks args[0] for all).
     *  ANY accepts every kind, JSON attributes are refused by every kind. */
    ts_authz_kind args[TS_AUTHZ_FUNCTION_MAX_ARGS];
    ts_authz_kind result; /**< ANY: the function says per call */
    ts_authz_function_cb fn;
} ts_authz_function;

/** A function to register and its user data (borrowed: must outlive the enforcer). */
typedef struct ts_authz_function_reg {
    const ts_authz_function *desc;
    void *ud;
} ts_authz_function_reg;

/**
 * ts_authz_enforcer_new() with functions registered before the matcher is compiled, for
 * models whose matcher calls them (Casbin compiles the matcher at the first Enforce, after
 * AddFunction; here an unknown function is an error when the enforcer is built).
 * @param fns @p nfns registrations, in order (a later one with the same name wins).
 * @return the enforcer or NULL with @p err set (also for a bad descriptor).
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_authz_enforcer *
ts_authz_enforcer_new_with_functions(const ts_authz_model *model, const ts_authz_policy *policy,
                                     const ts_authz_function_reg *fns, size_t nfns, ts_error *err);

/**
 * Register @p desc on @p e under desc->name (Casbin's AddFunction) and rebuild the snapshot
 * with it: the matcher is compiled again against it, so wrong argument counts and literal
 * arguments of the wrong kind are reported now, with the matcher's line. A name that is a
 * built-in (keyMatch2, regexMatch, ...) overrides it, as AddFunction does in Casbin; role
 * definitions (g, g2, ...) keep their names in the matcher, as in Go; "eval" is refused. The
 * registration survives ts_authz_enforcer_reload().
 * @param ud passed to every call; borrowed: must outlive @p e.
 * @return TS_OK; TS_EINVAL (bad descriptor or name); TS_ELIMIT (TS_AUTHZ_MAX_FUNCTIONS);
 *         the matcher's compile error (the old snapshot and functions stay in force); TS_ENOMEM.
 * Thread-safety: a writer, like ts_authz_enforcer_reload(); decisions may run meanwhile.
 * @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_add_function(ts_authz_enforcer *e,
                                                             const ts_authz_function *desc,
                                                             void *ud, ts_error *err);

/**
 * Use the registered function @p name as the pattern function of role definition @p gtype for
 * role names (AddNamedMatchingFunc with a function of your own). The function must take two
 * string arguments (name, pattern) and return a bool; an error from it counts as "no match".
 * Rebuilds the snapshot. @p name NULL removes any pattern function (built-in or custom).
 * @return TS_OK; TS_ENOTFOUND (no such gtype or function); TS_EINVAL (wrong signature);
 *         TS_EUNSUPPORTED (conditional role definition); TS_ENOMEM.
 * Thread-safety: a writer. @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_set_role_matching_fn(ts_authz_enforcer *e,
                                                                     const char *gtype,
                                                                     const char *name,
                                                                     ts_error *err);

/** As ts_authz_enforcer_set_role_matching_fn() for domains (AddNamedDomainMatchingFunc).
 *  @since 0.5.0 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_set_domain_matching_fn(ts_authz_enforcer *e,
                                                                       const char *gtype,
                                                                       const char *name,
                                                                       ts_error *err);

/**
 * Make the registered function @p fname the link condition of the link @p user -> @p role of
 * the conditional role definition @p gtype (`g = _, _, (_, _)`; Casbin's
 * AddNamedLinkConditionFunc), or of that link in @p domain (`g = _, _, _, (_, _)`;
 * AddNamedDomainLinkConditionFunc). @p user and @p role NULL: every link of @p gtype (in
 * @p domain, or in every domain when @p domain is NULL too).
 * The function receives the rule's fields after the role definition's plain `_` fields as
 * string arguments and must return a bool. A link whose condition is false, or fails, is absent
 * for that decision; a link without a condition is always present. Rebuilds the snapshot; the
 * conditions survive reloads. A later call for the same link replaces the earlier one.
 * @return TS_OK; TS_ENOTFOUND (no such gtype or function); TS_EINVAL (gtype not conditional,
 *         domain given for one without domains, or a function that does not take that
 *         many strings or does not return a bool);
 *         TS_ELIMIT; TS_ENOMEM.
 * Thread-safety: a writer. @since 0.5.0
 */
TS_API TS_NODISCARD ts_status ts_authz_enforcer_add_link_condition(
    ts_authz_enforcer *e, const char *gtype, const char *user, const char *role, const char *domain,
    const char *fname, ts_error *err);

/** Most link conditions one enforcer holds. */
#define TS_AUTHZ_MAX_LINK_CONDITIONS 4096u

/* ------------------------------------------------------------------------------------------ */
/* Functions shipped with the library                                                         */

/** Clock for ts_authz_function_time_match(): fills @p now (UTC, CLOCK_REALTIME's epoch). */
typedef struct ts_authz_clock {
    void (*now)(void *ud, struct timespec *now);
    void *ud;
} ts_authz_clock;

/**
 * Go's util.TimeMatchFunc as a link condition, registered under "timeMatch": two string
 * arguments, start and end, in the layout "2006-01-02 15:04:05" read as UTC (Go's time.Parse
 * without a zone), or "_" for no bound. True when start < now < end (both strict). Any other
 * text (also "") is an error, so the link is absent, as in Go.
 * User data: a `const ts_authz_clock *` to read the time from (tests), or NULL for the
 * system clock. Static descriptor. @since 0.5.0
 */
TS_API const ts_authz_function *ts_authz_function_time_match(void);

/**
 * A demonstration matcher function, registered under "hasSuffix": hasSuffix(s, suffix), two
 * strings, true when @p s ends with @p suffix (Go's strings.HasSuffix). `tokensmith policy
 * check --function hasSuffix` enables it. Static descriptor, no user data. @since 0.5.0
 */
TS_API const ts_authz_function *ts_authz_function_has_suffix(void);

/** @return the function shipped with the library called @p name ("timeMatch", "hasSuffix"),
 *  or NULL. @since 0.5.0 */
TS_API const ts_authz_function *ts_authz_function_builtin(const char *name);

#ifdef __cplusplus
}
#endif

#endif
