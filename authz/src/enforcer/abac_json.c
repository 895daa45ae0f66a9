/* ABAC request JSON as Go decodes it. Casbin's Go matcher sees a JSON request attribute as the
 * result of json.Unmarshal into map[string]interface{}: every number a float64. jansson's
 * default would turn integers into int64 and refuse those beyond its range ("too big integer"),
 * and would read `-0` as the integer 0; JSON_DECODE_INT_AS_REAL gives Go's float64 for both
 * (strtod rounds as Go's strconv.ParseFloat does, and overflow to infinity is an error in
 * both).
 *
 * Kept stricter than Go, because an error is a denial and each accepted form would let two
 * readers of one request disagree on what it says:
 *  - duplicate keys (Go keeps the last value; other parsers keep the first),
 *  - `\u0000` in a string (C code downstream could cut the string there),
 *  - lone UTF-16 surrogates and invalid UTF-8 (Go substitutes U+FFFD, so distinct byte strings
 *    would compare equal),
 *  - nesting deeper than jansson's 2048 (Go allows 10000): a bound on the decoder's stack. */
#include "abac_json.h"

#include <stdbool.h>

#include <tokensmith/authz.h>

#include "common/json_load.h"

ts_status ts_authz__abac_json_decode(const char *ptr, size_t len, size_t argno, json_t **out,
                                     ts_error *err)
{
    *out = NULL;
    if (len > TS_AUTHZ_MAX_JSON_BYTES)
        return ts_error_set(err, TS_ELIMIT, "request", "argument %zu: JSON larger than %u bytes",
                            argno, TS_AUTHZ_MAX_JSON_BYTES);
    json_error_t jerr;
    json_t *j =
        json_loadb(ptr ? ptr : "", len, JSON_REJECT_DUPLICATES | JSON_DECODE_INT_AS_REAL, &jerr);
    if (j && json_is_object(j)) {
        *out = j;
        return TS_OK;
    }
    bool oom = !j && ts_common__json_load_oom(&jerr);
    const char *why = j ? "not an object" : jerr.text[0] ? jerr.text : "invalid JSON";
    json_decref(j);
    if (oom)
        return ts_error_set(err, TS_ENOMEM, "request", "argument %zu: out of memory", argno);
    return ts_error_set(err, TS_EPARSE, "request", "argument %zu: invalid JSON object: %s", argno,
                        why);
}
