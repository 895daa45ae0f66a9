/* Private interfaces shared by the built-in function files (keymatch.c, regex.c,
 * regex_compile.c, ipmatch.c, glob.c, builtins.c). Not part of the engine's module contracts. */
#ifndef TS_AUTHZ_BUILTINS_INTERNAL_H
#define TS_AUTHZ_BUILTINS_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "../builtins.h"

/** Longest regex (after keyMatch rewriting) accepted; longer ones are an error, not a slow
 *  compile. Casbin has no limit, but no sane policy field comes close. */
#define TS_REGEX_MAX_PATTERN (32u * 1024u)

/** Marks an unset capture group in ts_authz__regex_exec()'s output. */
#define TS_REGEX_UNSET ((size_t)-1)

/* PCRE2's compiled code (pcre2_code with 8-bit code units), named without including pcre2.h. */
struct pcre2_real_code_8;

/**
 * Check Go-syntax @p pat (UTF-8, length), rewrite it to PCRE2 syntax with RE2's meaning and
 * compile it (JIT-compiled too with @p jit). Errors are TS_EEVAL prefixed with @p fname, or
 * TS_ENOMEM. The caller frees *@p out with pcre2_code_free().
 */
ts_status ts_authz__regex_compile(const char *pat, size_t plen, bool jit, const char *fname,
                                  struct pcre2_real_code_8 **out, ts_error *err);

/**
 * Unanchored search of Go-syntax @p pat in @p s, reporting capture groups.
 * @param fname   function name used as the prefix of error messages ("keyMatch2").
 * @param caps    may be NULL; otherwise 2 * @p max_caps offsets receiving (start, end) of
 *                groups 1..max_caps (offsets into @p s; TS_REGEX_UNSET when unset).
 * @param ncaps   out (may be NULL): the number of capture groups of the pattern.
 */
ts_status ts_authz__regex_exec(ts_regex_cache *c, const char *fname, const char *pat, size_t plen,
                               const char *s, size_t slen, bool *match, size_t *caps,
                               size_t max_caps, size_t *ncaps, ts_error *err);

bool ts_authz__key_match(ts_str k1, ts_str k2);
ts_str ts_authz__key_get(ts_str k1, ts_str k2);
ts_status ts_authz__key_match2(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err);
ts_status ts_authz__key_match3(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err);
ts_status ts_authz__key_match4(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err);
ts_status ts_authz__key_match5(ts_regex_cache *c, ts_str k1, ts_str k2, bool *out, ts_error *err);
ts_status ts_authz__key_get2(ts_regex_cache *c, ts_str k1, ts_str k2, ts_str var, ts_str *out,
                             ts_error *err);
ts_status ts_authz__key_get3(ts_regex_cache *c, ts_str k1, ts_str k2, ts_str var, ts_str *out,
                             ts_error *err);

/** Go's util.IPMatch; a bad address is TS_EEVAL ("ipMatch: ..."). */
ts_status ts_authz__ip_match(ts_str ip1, ts_str ip2, bool *out, ts_error *err);

/** doublestar v4 Match(pattern, name); a bad pattern or an over-complex one is TS_EEVAL. */
ts_status ts_authz__glob_match(ts_str name, ts_str pattern, bool *out, ts_error *err);

#endif
