/* Private contracts between the JWK files: jwk.c (the key object, thumbprints, generation,
 * export) and jwk_import.c (a JWK's JSON, PEM, key files). */
#ifndef TS_AUTHN_JOSE_JWK_INTERNAL_H
#define TS_AUTHN_JOSE_JWK_INTERNAL_H

#include <stdbool.h>
#include <stddef.h>

#include "jose/jose_internal.h"

/** An EC curve we support: JWK name, OpenSSL group name, NID, coordinate bytes, field bits and
 *  the one ES alg it fits. */
typedef struct ts_jose_curve {
    const char *crv;
    const char *group;
    int nid;
    unsigned coord;
    unsigned bits;
    ts_jws_alg alg;
} ts_jose_curve;

/** The supported curve whose JWK name is @p crv exactly, or NULL. */
const ts_jose_curve *ts_authn__jwk_curve_by_crv(const char *crv);

/** A kid we accept: 1..TS_JOSE_MAX_KID_BYTES printable ASCII characters, no space. */
bool ts_authn__jwk_kid_ok(const char *kid, size_t len);

#endif
