/* The matcher language: a compiler from Casbin matcher text (after model escaping, so `r_sub`,
 * `p2_obj`) to an immutable tree, and its evaluator. govaluate precedence and typing. */
#ifndef TS_AUTHZ_EXPR_H
#define TS_AUTHZ_EXPR_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/authz.h>

#include "builtins.h"
#include "util/arena.h"
#include "util/str.h"
#include "value.h"

typedef struct ts_expr ts_expr;

/** Names the compiler resolves. Identifiers not listed compile to a node that fails at
 *  evaluation with "No parameter 'x' found." (govaluate's run-time error), so that a
 *  short-circuited branch may still mention them. */
typedef struct ts_expr_names {
    const char *const *req; /* request tokens, e.g. "r_sub" (or "r2_sub") */
    size_t nreq;
    const char *const *rule; /* policy tokens, e.g. "p_sub" */
    size_t nrule;
    const char *const *roles; /* role functions, e.g. "g", "g2" */
    size_t nroles;
} ts_expr_names;

/**
 * Compile @p src. Errors carry govaluate-like messages ("Unclosed string literal",
 * "Unexpected end of expression", ...) and a column in @p err->where.
 * @return NULL on error. Free with ts_authz__expr_free(). An expression is immutable and may be
 * evaluated from many threads at once.
 */
ts_expr *ts_authz__expr_compile(const char *src, size_t len, const ts_expr_names *names,
                                ts_error *err);
void ts_authz__expr_free(ts_expr *e);

/**
 * ts_authz__expr_compile() with registered functions @p fns (borrowed: they must outlive the
 * expression; a later entry with the same name overrides an earlier one and the built-ins).
 * Calls are checked now: the argument count, and argument kinds known at compile time.
 */
ts_expr *ts_authz__expr_compile_with(const char *src, size_t len, const ts_expr_names *names,
                                     const ts_custom_fn *const *fns, size_t nfns, ts_error *err);

/** Evaluation context for one evaluation (one rule). */
typedef struct ts_expr_ctx {
    const ts_val *req; /* request values, indexed like names->req */
    size_t nreq;
    const ts_str *rule; /* current rule's fields, indexed like names->rule; all "" if none */
    size_t nrule;
    ts_builtin_env builtins;
    /* Role function g/g2...: role_idx indexes names->roles; args are the evaluated arguments
     * (2 or 3 of them, Go passes them as given). */
    ts_status (*role)(void *ud, size_t role_idx, const ts_val *args, size_t nargs, bool *out,
                      ts_error *err);
    /* eval(x): return the compiled expression for rule text @p text, or NULL to let the
     * evaluator compile it itself (uncached) after Casbin's EscapeAssertion. */
    const ts_expr *(*eval_lookup)(void *ud, const char *text, size_t len);
    void *ud;
    ts_arena *scratch; /* string results (concatenation) live here */
} ts_expr_ctx;

/** Evaluate. @return TS_OK with *out, or an evaluation error (type errors, function errors). */
ts_status ts_authz__expr_eval(const ts_expr *e, const ts_expr_ctx *ctx, ts_val *out, ts_error *err);

/* ---- introspection for the rule index --------------------------------------------------- */

typedef enum ts_conj_kind {
    TS_CONJ_OTHER = 0,
    TS_CONJ_EQ,   /* r_x == p_y or p_y == r_x */
    TS_CONJ_ROLE, /* g(r_x, p_y) or g(r_x, p_y, D) with D a request token or a string literal */
} ts_conj_kind;

typedef struct ts_expr_conj {
    ts_conj_kind kind;
    size_t req_idx;  /* EQ and ROLE: request token index */
    size_t rule_idx; /* EQ and ROLE: rule token index */
    size_t role_idx; /* ROLE: which role function */
    int dom_kind;    /* ROLE: 0 no domain argument, 1 request token, 2 string literal */
    size_t dom_idx;  /* dom_kind 1 */
    ts_str dom_lit;  /* dom_kind 2; valid while the expression lives */
} ts_expr_conj;

/**
 * Split the top level of @p e at `&&` (left to right) and classify each conjunct.
 * @return the number of conjuncts (may exceed @p cap; only @p cap are written). An expression
 * without a top-level `&&` is one conjunct.
 */
size_t ts_authz__expr_conjuncts(const ts_expr *e, ts_expr_conj *out, size_t cap);

/**
 * Rule token indexes passed directly to eval() (eval(p_sub_rule)), so that the enforcer can
 * compile each distinct rule text once. @return count (may exceed @p cap).
 */
size_t ts_authz__expr_eval_rule_fields(const ts_expr *e, size_t *out, size_t cap);

#endif
