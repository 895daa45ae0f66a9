/* Parser internals shared by parser.c (precedence levels, compile), parser_operands.c
 * (literals, names, calls, prefix operators) and parser_nodes.c (errors, token cursor, node
 * construction, folding). */
#ifndef TS_AUTHZ_EXPR_PARSER_INTERNAL_H
#define TS_AUTHZ_EXPR_PARSER_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "expr_internal.h"

typedef struct parser {
    const tok *t;
    size_t n;
    size_t i;
    ts_expr *e;
    ts_error *err;
    unsigned depth;
    bool failed;
} parser;

/* A growable temporary vector of nodes for n-ary constructs. */
typedef struct nvec {
    node **v;
    size_t n, cap;
} nvec;

/** Record the first error (with "column @p col"); later ones are ignored. */
TS_PRINTF(4, 5)
void ts_authz__expr_perr(parser *p, ts_status code, size_t col, const char *fmt, ...);
/** The current token (the final TOK_EOF past the end). */
const tok *ts_authz__expr_peek(const parser *p);
/** true when the current token is the operator @p op. */
bool ts_authz__expr_peek_op(const parser *p, const char *op);
/** A zeroed node of @p kind in the expression's arena; NULL (error recorded) on OOM. */
node *ts_authz__expr_new_node(parser *p, node_kind kind, size_t col);
/** Attach @p kids to @p n and update its height; false (error recorded) past the depth bound. */
bool ts_authz__expr_set_kids(parser *p, node *n, node *const *kids, size_t nk);
/** Replace @p n by its value when every operand is constant and evaluation succeeds. */
void ts_authz__expr_fold(parser *p, node *n);
/** Append to a heap vector the caller frees; false (error recorded) on OOM. */
bool ts_authz__expr_nvec_push(parser *p, nvec *v, node *x);
/** Record "Unexpected token" (or end of expression) at the current token. */
void ts_authz__expr_unexpected(parser *p);
/** Consume a ')' or record an error. */
bool ts_authz__expr_expect_rparen(parser *p);
/** Count one nesting level; false (error recorded) past TS_AUTHZ_MAX_EXPR_DEPTH. */
bool ts_authz__expr_enter(parser *p, size_t col);

/** The lowest level: `,` lists (folded into a constant list with @p fold_list). */
node *ts_authz__expr_parse_sep(parser *p, bool fold_list);
/** Prefix operators and everything that binds tighter. */
node *ts_authz__expr_parse_unary(parser *p);

#endif
