/* Private structures of the matcher language: tokens, the compiled tree and the helpers shared
 * by the lexer, the parser/compiler, the evaluator (eval.c, operators.c, format.c) and the
 * introspection code.
 *
 * Known differences from govaluate v1.3.0 as Casbin drives it:
 *  - eval(x) is a function node: the rule text is compiled on its own and behaves as if
 *    parenthesised. Casbin splices the text into the matcher, so a rule `a || b` used as
 *    `eval(p.r) && c` means `a || b && c` there and `(a || b) && c` here.
 *  - Date-like string literals become unix seconds as in Go, but interpreted in UTC (Go uses the
 *    machine's local zone), and the ANSIC/UnixDate/RubyDate layouts are not recognised.
 *  - Accessors work on JSON objects only (`r_sub.Age`); method calls (`r_sub.Get(1)`) are
 *    refused at compile time. A JSON null member is TS_VAL_NULL; a missing one is Go's
 *    "No method or field 'X' present on parameter 'Y'" error.
 *  - `**` supports integer exponents only (the library does not link libm).
 *  - JSON values print as compact JSON in `+` and in messages (Go prints map[...]).
 *  - An explicitly parenthesised list passed as the only argument, f((1, 2)), is one list
 *    argument; Go spreads it into two. */
#ifndef TS_AUTHZ_EXPR_INTERNAL_H
#define TS_AUTHZ_EXPR_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../expr.h"

/* ---- tokens ----------------------------------------------------------------------------- */

typedef enum tok_kind {
    TOK_EOF = 0,
    TOK_NUM,    /* number literal, also date-like strings (govaluate's TIME, as unix seconds) */
    TOK_STR,    /* string literal, escapes undone */
    TOK_BOOL,   /* true / false */
    TOK_IDENT,  /* variable or function name, or [escaped variable] */
    TOK_ACCESS, /* identifier containing '.', e.g. r_sub.Age */
    TOK_LPAREN,
    TOK_RPAREN,
    TOK_COMMA,
    TOK_OP, /* a run of operator characters, validated against every operator set */
} tok_kind;

typedef struct tok {
    tok_kind kind;
    bool is_time;     /* TOK_NUM that came from a date-like string literal */
    size_t col;       /* 1-based byte column in the source */
    const char *text; /* decoded text (arena, NUL-terminated); operators and names */
    size_t len;
    double num;
    bool b;
} tok;

typedef struct tok_list {
    tok *v;
    size_t n, cap;
} tok_list;

/** Tokenise @p src the way govaluate's lexer does. Token texts live in @p arena.
 *  On error returns non-OK with @p err set (message and "column N"). */
ts_status ts_authz__expr_lex(const char *src, size_t len, ts_arena *arena, tok_list *out,
                             ts_error *err);

/** govaluate turns string literals that parse as one of Go's date layouts into TIME values
 *  (unix seconds). @return true and *secs when @p s is such a literal. */
bool ts_authz__expr_parse_time(const char *s, size_t n, double *secs);

/* ---- tree ------------------------------------------------------------------------------- */

typedef enum node_kind {
    N_CONST = 0, /* literal or folded constant: val */
    N_REQ,       /* request slot idx */
    N_RULE,      /* rule slot idx */
    N_UNKNOWN,   /* unknown identifier: fails when evaluated */
    N_ACCESS,    /* base (kids[0]: N_REQ/N_RULE/N_UNKNOWN) . path[0] . path[1] ... */
    N_AND,       /* n-ary && (left to right) */
    N_OR,        /* n-ary || */
    N_BIN,       /* op, kids[0] op kids[1] */
    N_UNARY,     /* op, kids[0] */
    N_LIST,      /* (a, b, ...) */
    N_BUILTIN,   /* idx = ts_builtin_id, kids = args */
    N_CUSTOM,    /* fn = registered function, kids = args */
    N_ROLE,      /* idx = role function index, kids = args */
    N_EVAL,      /* eval(kids[0]) */
} node_kind;

typedef enum op_kind {
    OP_NONE = 0,
    OP_EQ,
    OP_NE,
    OP_GT,
    OP_GE,
    OP_LT,
    OP_LE,
    OP_REQ,
    OP_NREQ,
    OP_IN,
    OP_BOR,
    OP_BAND,
    OP_BXOR,
    OP_SHL,
    OP_SHR,
    OP_ADD,
    OP_SUB,
    OP_MUL,
    OP_DIV,
    OP_MOD,
    OP_POW,
    OP_TIF,   /* a ? b */
    OP_TELSE, /* x : c */
    OP_COALESCE,
    OP_NEG,
    OP_NOT,
    OP_BNOT,
} op_kind;

typedef struct node {
    node_kind kind;
    op_kind op;
    size_t col;
    size_t height; /* 1 for leaves; bounded by TS_AUTHZ_MAX_EXPR_DEPTH */
    size_t idx;
    ts_val val;         /* N_CONST */
    ts_str name;        /* N_UNKNOWN / N_ACCESS: the identifier as written, for messages */
    ts_str base;        /* N_ACCESS: first segment */
    const ts_str *path; /* N_ACCESS: the remaining segments */
    size_t npath;
    struct node **kids;
    size_t nkids;
    const ts_expr_names *names;  /* N_EVAL: names for compiling the rule text */
    const ts_custom_fn *fn;      /* N_CUSTOM */
    const struct ts_expr *owner; /* N_EVAL: its functions compile the rule text too */
} node;

struct ts_expr {
    ts_arena arena; /* every node, string and the names copy */
    node *root;
    ts_expr_names names;      /* deep copy, for compiling eval() rule texts */
    const ts_custom_fn **fns; /* copy of the array (the functions are borrowed) */
    size_t nfns;
};

/** Symbol text of an operator (for messages). */
const char *ts_authz__expr_op_str(op_kind op);

/** Evaluate @p n. @p eval_depth counts nested eval() calls. */
ts_status ts_authz__expr_eval_node(const node *n, const ts_expr_ctx *ctx, unsigned eval_depth,
                                   ts_val *out, ts_error *err);

/* ---- evaluator pieces shared by eval.c, operators.c and format.c ----------------------- */

/** A bounded text sink: writes what fits, counts what the full text needs. */
typedef struct sbuf {
    char *p;
    size_t cap; /* bytes writable at p (excluding nothing: no NUL is written) */
    size_t len; /* bytes the full text needs */
} sbuf;

/** Go's fmt "%v" of @p v into @p b (JSON values as compact JSON). */
void ts_authz__expr_fmt_val(sbuf *b, const ts_val *v, unsigned depth);
/** A short rendering of @p v for error messages, in @p buf. */
const char *ts_authz__expr_val_msg(const ts_val *v, char *buf, size_t cap);
/** Set @p err with @p code, the message and "column N" of @p n; @return @p code. */
TS_PRINTF(4, 5)
ts_status ts_authz__expr_fail(ts_error *err, ts_status code, const node *n, const char *fmt, ...);
/** govaluate's type error for @p v used with @p n's operator; @p what is "logical",
 *  "modifier", "comparator", "ternary" or "prefix". @return TS_ETYPE. */
ts_status ts_authz__expr_type_err(ts_error *err, const node *n, const ts_val *v, const char *what);
/** TS_OK when @p ctx has a scratch arena for run-time values, else TS_EINVAL. */
ts_status ts_authz__expr_need_scratch(const ts_expr_ctx *ctx, const node *n, ts_error *err);
/** N_BIN: binary operators, `in`, ternary and coalescing. */
ts_status ts_authz__expr_eval_bin(const node *n, const ts_expr_ctx *ctx, unsigned depth,
                                  ts_val *out, ts_error *err);
/** N_UNARY: `!`, `-` and `~`. */
ts_status ts_authz__expr_eval_unary(const node *n, const ts_expr_ctx *ctx, unsigned depth,
                                    ts_val *out, ts_error *err);

/** Go's fmt "%v" of a float64: shortest round-trip digits, exponent form when the decimal
 *  exponent is < -4 or >= 6 (so 1e+06, 123456, 0.0001, 1e-05). */
size_t ts_authz__expr_fmt_num(double d, char *buf, size_t cap);

#define TS_EXPR_MAX_EVAL_NESTING 8u
#define TS_EXPR_MAX_ARGS 16u

#endif
