/* The verifier's state, shared by its construction (verifier_new.c) and verification
   (verifier.c). Private to authn. */
#ifndef TS_AUTHN_VERIFIER_INTERNAL_H
#define TS_AUTHN_VERIFIER_INTERNAL_H

#include "authn_internal.h"

typedef struct strv {
    char **v;
    size_t n;
} strv;

struct ts_authn_verifier {
    strv issuers, audiences, typs, required, acr_values;
    ts_authn_requirement req; /* points into acr_values */
    ts_jwks *keys;
    ts_authn_keysource *ks;
    const ts_authn_revocations *rev; /* borrowed; NULL = none */
    char *legacy_k8s_iss;            /* NULL = legacy service-account tokens refused */
    unsigned algs;
    bool require_typ, rfc7638_kid, nist, reject_local_mint;
    int64_t leeway;
    size_t max_bytes;
    ts_authn__mapping map;
    ts_authn__cache *cache;
    int64_t (*now)(void *);
    void *now_ud;
};

#endif
