/* An ABAC request argument (a JSON object) decoded as Go's encoding/json decodes it into
 * map[string]interface{}, the way Casbin's EnableAcceptJsonRequest reads it. */
#ifndef TS_AUTHZ_ABAC_JSON_H
#define TS_AUTHZ_ABAC_JSON_H

#include <stddef.h>

#include <jansson.h>
#include <tokensmith/error.h>

/**
 * Decode @p len bytes at @p ptr (untrusted, at most TS_AUTHZ_MAX_JSON_BYTES) into a JSON object.
 * Every number is a float64, as in Go: integers beyond int64 are not an error, `-0` keeps its
 * sign. Refused where Go accepts (see docs/casbin-compatibility.md): duplicate keys, `\u0000`,
 * lone UTF-16 surrogates, invalid UTF-8, nesting deeper than 2048.
 * @param argno 1-based argument number for the message.
 * @param out the object, a new reference (json_decref() it); NULL on error.
 * @return TS_OK; TS_ELIMIT (too large), TS_EPARSE (not a JSON object, or refused), TS_ENOMEM.
 */
ts_status ts_authz__abac_json_decode(const char *ptr, size_t len, size_t argno, json_t **out,
                                     ts_error *err);

#endif
