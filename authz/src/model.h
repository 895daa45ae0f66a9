/* The parsed model.conf (ts_authz_model). Produced by model.c, read by the compiler. */
#ifndef TS_AUTHZ_MODEL_H
#define TS_AUTHZ_MODEL_H

#include <stddef.h>

#include <tokensmith/authz.h>

#define TS_MODEL_MAX_KEYS 16 /* p, p2, ... p16 per section */

typedef enum ts_effect_kind {
    TS_EFFECT_ALLOW_OVERRIDE,   /* some(where (p_eft == allow)) */
    TS_EFFECT_DENY_OVERRIDE,    /* !some(where (p_eft == deny)) */
    TS_EFFECT_ALLOW_AND_DENY,   /* some(where (p_eft == allow)) && !some(where (p_eft == deny)) */
    TS_EFFECT_PRIORITY,         /* priority(p_eft) || deny */
    TS_EFFECT_SUBJECT_PRIORITY, /* subjectPriority(p_eft) || deny */
} ts_effect_kind;

/** One `key = value` of a section, e.g. `p2 = sub, obj, act`. All strings NUL-terminated. */
typedef struct ts_model_def {
    char key[8]; /* "r", "r2", "p", "g2", "e", "m2", ... */
    char *value; /* the value as read (comments cut, continuation joined, trimmed) */
    int line;    /* 1-based line of the key in the source */
    /* r and p: tokens with the key prefix, e.g. "p2_sub"; g: none. */
    char **tokens;
    size_t ntokens;
    /* g: count of '_' in the value (2 = user/role, >=3 = with domain): the fields a rule needs. */
    size_t g_arity;
    /* g: the fields of a condition group "(_, _)" (0 = a plain definition) and the fields
     * before it (Go's Tokens: 2 = user/role, 3 = with domain), as Go's getParamsToken splits. */
    size_t g_nparams;
    size_t g_ntokens;
    /* e: the effect. */
    ts_effect_kind effect;
    /* m: the matcher after Casbin's rewriting (r.x -> r_x, literal backslashes doubled,
     * [ ] -> ( ) when "in" occurs). Ready for the expression compiler. */
    char *matcher;
} ts_model_def;

typedef struct ts_model_section {
    ts_model_def defs[TS_MODEL_MAX_KEYS];
    size_t n; /* defs[0] is "x", defs[1] "x2", ... in order; stops at the first gap */
} ts_model_section;

struct ts_authz_model {
    char *name; /* file name for messages, may be NULL */
    char *text; /* the source text as given (for policy_version) */
    size_t text_len;
    ts_model_section r, p, g, e, m;
};

/** @return the definition with @p key ("p2") in @p s, or NULL. */
const ts_model_def *ts_authz__model_find(const ts_model_section *s, const char *key);

/**
 * Casbin's EscapeAssertion: rewrite `r.x`/`p2.x` to `r_x`/`p2_x` after a delimiter.
 * Used for eval() rule texts at run time. @return malloc'd string or NULL (OOM).
 */
char *ts_authz__model_escape_assertion(const char *s, size_t len);

/** Deep copy (for enforcers, which own their model). NULL on OOM. */
ts_authz_model *ts_authz__model_clone(const ts_authz_model *m);

#endif
