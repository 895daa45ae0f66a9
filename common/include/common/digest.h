/*
 * SHA-256 names for secrets: the only form in which a token, a refresh token or a bootstrap
 * token reaches a log line or a state file's bookkeeping. One definition for the client
 * library and the agent, so that an operator can match the "sha256" of an agent's log line
 * with the token_hash_prefix a client reported for the same token. Private to tokensmith.
 *
 * Header-only over common/sha256.h (plain C, in ts_base): naming a token needs no OpenSSL, so
 * that it costs the agent's small process nothing of OpenSSL's start-up (docs/benchmarks.md).
 * Thread-safety: no shared state.
 */
#ifndef TS_COMMON_DIGEST_H
#define TS_COMMON_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include "common/hex.h"
#include "common/sha256.h"

/**
 * SHA-256 of @p n bytes at @p p as 64 lowercase hex digits and a NUL into @p out.
 * @return true (it cannot fail; the result is kept for the callers written when it could).
 */
static inline bool ts_common__sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[32];
    ts_common__sha256(p, n, md);
    ts_common__hex_encode(md, 32, out);
    return true;
}

/**
 * The first 8 hex digits of SHA-256(@p p, @p n) and a NUL into @p out: how a token is named in
 * logs (32 bits tell one token from the next; they give nothing away about it).
 */
static inline void ts_common__sha256_prefix(const void *p, size_t n, char out[9])
{
    char hex[65];
    (void)ts_common__sha256_hex(p, n, hex);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

#endif
