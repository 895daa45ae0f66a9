/* The decision cache key (no dependency beyond the C library, so that tests can check it). */
#ifndef TS_AUTHZ_CONTRACT_DECISION_KEY_H
#define TS_AUTHZ_CONTRACT_DECISION_KEY_H

#include <stddef.h>

#include "util/str.h"

/**
 * Write the cache key of a decision into @p buf (at most @p cap bytes, not NUL-terminated):
 * every input of the decision, so that two requests share a key only when they must get the
 * same answer.
 * @param roles the normalised role names, in order.
 * @return the key's length; when it is larger than @p cap, only @p cap bytes were written
 * (call again with a buffer that large).
 */
size_t ts_authz__decision_key(char *buf, size_t cap, const char *policy_version, const char *type,
                              const char *id, const ts_str *roles, size_t nroles,
                              const char *object, const char *action, const char *domain);

#endif
