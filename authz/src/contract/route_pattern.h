/*
 * Route patterns of the route-table mapper, compiled once when the mapper is built.
 *
 * A route pattern has keyMatch2 semantics (a regular expression after slash-star -> "/.*" and
 * ":name" -> "[^/]+", anchored at both ends). Nearly every real route uses only literal text,
 * ":name" parameters and at most one trailing wildcard; those are matched here directly on
 * bytes, without building or running a regular expression per request. Any other pattern
 * (regular-expression syntax in its literal parts, several wildcards, non-ASCII bytes) is
 * reported as not native and the mapper keeps using keyMatch2 itself, so results never differ.
 */
#ifndef TS_AUTHZ_ROUTE_PATTERN_H
#define TS_AUTHZ_ROUTE_PATTERN_H

#include <stdbool.h>
#include <stddef.h>

typedef struct ts_route_pattern ts_route_pattern;

/** Compile @p pattern (NUL-terminated). @return NULL when out of memory. */
ts_route_pattern *ts_authz__route_compile(const char *pattern);
void ts_authz__route_free(ts_route_pattern *rp);

/** @return true when ts_authz__route_match() decides this pattern on its own. */
bool ts_authz__route_native(const ts_route_pattern *rp);

/** keyMatch2(path, pattern) for a native pattern. */
bool ts_authz__route_match(const ts_route_pattern *rp, const char *path, size_t len);

#endif
