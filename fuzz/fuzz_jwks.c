/* libFuzzer target: JWK and JWKS parsing. Invariants: no crash or leak; every accepted key
   survives export and re-import with the same thumbprint, kid and algorithm binding; the strict
   JSON parser accepts exactly what jansson (JSON_REJECT_DUPLICATES) accepts, with equal values. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include <tokensmith/jose.h>

#include "jose/jose_internal.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void roundtrip(const ts_jwk *k)
{
    char *json = ts_jwk_to_json(k, NULL);
    if (!json)
        abort();
    ts_jwk *back = ts_jwk_parse(json, strlen(json), NULL);
    if (!back || strcmp(ts_jwk_thumbprint(back), ts_jwk_thumbprint(k)) != 0 ||
        strcmp(ts_jwk_kid(back), ts_jwk_kid(k)) != 0 || ts_jwk_alg(back) != ts_jwk_alg(k))
        abort();
    ts_jwk_free(back);
    ts_free(json);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *s = (const char *)data;
    const char *why = NULL;
    size_t pos = 0;
    json_t *ours = ts_authn__json_parse_strict(s, size, &why, &pos);
    json_t *theirs = ts_authn__json_depth(s, size) <= TS_JOSE_MAX_JSON_DEPTH
                         ? json_loadb(s, size, JSON_REJECT_DUPLICATES, NULL)
                         : NULL;
    /* jansson reads past a NUL byte inside a number ({"":1.4\0} parses), which is not JSON;
     * the strict parser must refuse any NUL outside strings, so there the two may differ. */
    if (memchr(s, '\0', size) != NULL) {
        if (ours && !theirs)
            abort();
    } else if ((ours != NULL) != (theirs != NULL) || (ours && !json_equal(ours, theirs))) {
        abort();
    }
    json_decref(ours);
    json_decref(theirs);
    ts_jwk *k = ts_jwk_parse(s, size, NULL);
    if (k)
        roundtrip(k);
    ts_jwk_free(k);
    ts_jwks *set = ts_jwks_parse(s, size, NULL);
    for (size_t i = 0; i < ts_jwks_count(set); i++) {
        const ts_jwk *e = ts_jwks_get(set, i);
        roundtrip(e);
        if (ts_jwks_find(set, ts_jwk_kid(e), strlen(ts_jwk_kid(e))) != e)
            abort();
    }
    ts_jwks_free(set);
    return 0;
}
