/* Request path normalisation: one definition for every hook that decides on a path (authz's
   guard, authn's public paths), so that they can never disagree about what a URL names.
   Private to tokensmith. */
#ifndef TS_COMMON_PATH_H
#define TS_COMMON_PATH_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

/**
 * Normalise a request path: cut the query; unless @p decoded, decode every %XX except %2F/%2f
 * (kept as is, so an encoded slash never becomes a separator); then clean it as Go's
 * path.Clean("/" + p) does ("." and ".." resolved, never above the root; repeated slashes
 * collapsed; no trailing slash). Case and ';' are left alone.
 * @param path the path as received (need not be NUL-terminated); NULL is the empty path.
 * @param max_len the longest input accepted (after the query is cut).
 * @param out at least min(len, max_len) + 2 bytes; NUL-terminated on success.
 * @return TS_OK; TS_EPARSE ("malformed URL path", where "path") for a NUL byte, a malformed
 * escape or an encoded NUL; TS_ELIMIT ("URL path too long") beyond @p max_len or @p cap;
 * TS_EINVAL when @p out is NULL or @p cap < 2.
 */
ts_status ts_common__path_normalize(const char *path, size_t len, bool decoded, size_t max_len,
                                    char *out, size_t cap, size_t *out_len, ts_error *err);

/**
 * @return true when the path part of @p path (up to '?' or @p len) holds a '%' that does not
 * start a valid escape of a non-NUL byte ("%zz", "%4", "%00"). For a path that should already
 * be decoded this means it was left as received (ts_authz_mhd_strict_unescape() does that for
 * such URLs), so nothing may be concluded from it.
 */
bool ts_common__path_has_bad_escape(const char *path, size_t len);

#endif
