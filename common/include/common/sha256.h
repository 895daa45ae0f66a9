/*
 * SHA-256 (FIPS 180-4) in plain C, for the names of secrets (common/digest.h). Not a general
 * crypto primitive: it exists so that naming a token in a log line does not start OpenSSL's
 * provider machinery, which costs a small process like tokensmith-agent about 2 MiB of resident
 * memory (docs/benchmarks.md, "agent"). Signatures, keys and the store's hashes keep using
 * OpenSSL. Checked against FIPS 180-4's examples and against OpenSSL (common.test_sha256).
 * Thread-safety: no shared state.
 */
#ifndef TS_COMMON_SHA256_H
#define TS_COMMON_SHA256_H

#include <stddef.h>

/** SHA-256 of @p n bytes at @p p into @p out. @p p may be NULL when @p n is 0. */
void ts_common__sha256(const void *p, size_t n, unsigned char out[32]);

#endif
