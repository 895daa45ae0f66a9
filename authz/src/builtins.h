/* Casbin's built-in matcher functions (Go util/builtin_operators.go semantics) and the regex
 * cache they share. Every function is pure except for the cache, which is owned by a snapshot
 * (never global) and safe to use from many threads. */
#ifndef TS_AUTHZ_BUILTINS_H
#define TS_AUTHZ_BUILTINS_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/authz.h>
#include <tokensmith/authz_functions.h>

#include "util/arena.h"
#include "util/str.h"
#include "value.h"

typedef enum ts_builtin_id {
    TS_FN_KEYMATCH = 0,
    TS_FN_KEYGET,
    TS_FN_KEYMATCH2,
    TS_FN_KEYGET2,
    TS_FN_KEYMATCH3,
    TS_FN_KEYGET3,
    TS_FN_KEYMATCH4,
    TS_FN_KEYMATCH5,
    TS_FN_REGEXMATCH,
    TS_FN_IPMATCH,
    TS_FN_GLOBMATCH,
    TS_FN__COUNT
} ts_builtin_id;

/* ---- regex cache ------------------------------------------------------------------------ */

/** Compiled PCRE2 patterns keyed by pattern text, with match and depth limits so that no
 *  pattern can hang a decision. Lookups take a short lock; hits never compile. */
typedef struct ts_regex_cache ts_regex_cache;

/** @param max_entries bound on cached patterns (0 = default 4096); beyond it patterns are
 *  compiled per call and not kept. NULL on OOM. */
ts_regex_cache *ts_authz__regex_cache_new(size_t max_entries);
void ts_authz__regex_cache_free(ts_regex_cache *c);
/** Number of patterns currently cached (for tests and statistics). */
size_t ts_authz__regex_cache_size(ts_regex_cache *c);

/**
 * Unanchored search of Go/RE2-syntax @p pat in @p s (Go regexp.MatchString(pat, s)).
 * @return TS_OK and *match; TS_EEVAL for an invalid pattern ("regexMatch: ... at offset N") or
 * when the match limit is hit. @p c may be NULL (compile per call).
 */
ts_status ts_authz__regex_search(ts_regex_cache *c, const char *pat, size_t plen, const char *s,
                                 size_t slen, bool *match, ts_error *err);

/* ---- function table --------------------------------------------------------------------- */

/** @return the builtin named @p name (Casbin spelling: "keyMatch2"), or -1. */
int ts_authz__builtin_lookup(const char *name, size_t len);
/** @return the Casbin name of @p id. */
const char *ts_authz__builtin_name(ts_builtin_id id);

typedef struct ts_builtin_env {
    ts_regex_cache *regex; /* may be NULL */
    ts_arena *scratch;     /* for results that are not substrings of an argument; may be NULL */
} ts_builtin_env;

/**
 * Call builtin @p id as the matcher does. Arguments must be strings, with Go's arity and
 * messages ("keyMatch2: expected 2 arguments, but got 1", "keyMatch2: argument must be a
 * string"). keyMatch* / regexMatch / ipMatch / globMatch yield a bool; keyGet* yield a string
 * (a slice of the first argument, valid as long as it is).
 */
ts_status ts_authz__builtin_call(ts_builtin_id id, const ts_val *args, size_t nargs,
                                 const ts_builtin_env *env, ts_val *out, ts_error *err);

/**
 * A boolean builtin used as a role or domain pattern function: fn(name, pattern).
 * Errors (bad regex, bad IP) are reported; callers in the role manager treat them as false.
 */
ts_status ts_authz__builtin_match(ts_authz_match_fn fn, ts_str name, ts_str pattern,
                                  ts_regex_cache *regex, bool *out, ts_error *err);

/* ---- custom functions (custom.c) -------------------------------------------------------- */

/** A registered function: the caller's descriptor (name copied) and user data. Immutable
 *  once registered and owned by the enforcer, which outlives every snapshot using it. */
typedef struct ts_custom_fn {
    ts_authz_function desc;
    char name[64];
    void *ud;
} ts_custom_fn;

/** Check @p desc (name, arity, kinds, callback). */
ts_status ts_authz__custom_validate(const ts_authz_function *desc, ts_error *err);

/**
 * Call @p f as the matcher does: argument count and kinds checked ("hasSuffix: expected 2
 * arguments, but got 1", "hasSuffix: argument 2 must be a string"), the result's kind checked
 * and a result string copied into @p scratch. Errors are TS_EEVAL (or the function's status).
 */
ts_status ts_authz__custom_call(const ts_custom_fn *f, const ts_val *args, size_t nargs,
                                ts_arena *scratch, ts_val *out, ts_error *err);

/** @p f as a role or domain pattern function fn(name, pattern) or a link condition: string
 *  arguments, a bool result. */
ts_status ts_authz__custom_bool(const ts_custom_fn *f, const ts_str *args, size_t nargs, bool *out,
                                ts_error *err);

/** true when @p f can be called with @p nargs strings and returns a bool (or ANY). */
bool ts_authz__custom_is_predicate(const ts_custom_fn *f, size_t nargs);

#endif
