/*
 * SHA-256 (FIPS 180-4) in plain C, for the two places that hash without a crypto library:
 * authz's policy_version (authz links no crypto library) and the names of secrets in logs
 * (common/digest.h), where starting OpenSSL's provider machinery would cost a small process like
 * tokensmith-agent about 2 MiB of resident memory (docs/benchmarks.md, "agent"). Signatures,
 * keys and the store's hashes use OpenSSL. Checked against FIPS 180-4's examples and against
 * OpenSSL (common.test_sha256).
 * Thread-safety: no shared state; a context belongs to one thread at a time.
 */
#ifndef TS_COMMON_SHA256_H
#define TS_COMMON_SHA256_H

#include <stddef.h>
#include <stdint.h>

/** An incremental hash: ts_common__sha256_init(), any number of updates, one final. */
typedef struct ts_common__sha256_ctx {
    uint32_t h[8];
    uint64_t total;
    unsigned char block[64];
    size_t used;
} ts_common__sha256_ctx;

void ts_common__sha256_init(ts_common__sha256_ctx *s);
/** Add @p len bytes at @p data (which may be NULL when @p len is 0). */
void ts_common__sha256_update(ts_common__sha256_ctx *s, const void *data, size_t len);
/** The digest into @p out; the context must be initialised again before another use. */
void ts_common__sha256_final(ts_common__sha256_ctx *s, unsigned char out[32]);

/** SHA-256 of @p n bytes at @p p into @p out, in one call. */
void ts_common__sha256(const void *p, size_t n, unsigned char out[32]);

#endif
