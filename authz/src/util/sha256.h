/* SHA-256 (FIPS 180-4) for policy_version; authz carries no crypto library dependency. */
#ifndef TS_AUTHZ_UTIL_SHA256_H
#define TS_AUTHZ_UTIL_SHA256_H

#include <stddef.h>
#include <stdint.h>

typedef struct ts_sha256 {
    uint32_t h[8];
    uint64_t total;
    unsigned char block[64];
    size_t used;
} ts_sha256;

void ts_authz__sha256_init(ts_sha256 *s);
void ts_authz__sha256_update(ts_sha256 *s, const void *data, size_t len);
void ts_authz__sha256_final(ts_sha256 *s, unsigned char out[32]);

#endif
