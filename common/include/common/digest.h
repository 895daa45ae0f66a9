/*
 * SHA-256 names for secrets: the only form in which a token, a refresh token or a bootstrap
 * token reaches a log line or a state file's bookkeeping. One definition for the client
 * library and the agent, so that an operator can match the "sha256" of an agent's log line
 * with the token_hash_prefix a client reported for the same token. Private to tokensmith.
 *
 * Header-only, like ossl.h and jws_md.h: ts_base is compiled into libraries that do not link
 * OpenSSL (authz, mhd), and a function of ts_base that called it would leave those libraries
 * with an undefined reference. Only a file that includes this header needs libcrypto.
 * Thread-safety: no shared state.
 */
#ifndef TS_COMMON_DIGEST_H
#define TS_COMMON_DIGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/hex.h"

/**
 * SHA-256 of @p n bytes at @p p as 64 lowercase hex digits and a NUL into @p out.
 * @return false, with "" in @p out, when OpenSSL failed (out of memory).
 */
static inline bool ts_common__sha256_hex(const void *p, size_t n, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(p, n, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        out[0] = '\0';
        return false;
    }
    ts_common__hex_encode(md, 32, out);
    return true;
}

/**
 * The first 8 hex digits of SHA-256(@p p, @p n) and a NUL into @p out: how a token is named in
 * logs (32 bits tell one token from the next; they give nothing away about it). "????????"
 * when OpenSSL failed: a log line still has its field, and names no token.
 */
static inline void ts_common__sha256_prefix(const void *p, size_t n, char out[9])
{
    char hex[65];
    if (!ts_common__sha256_hex(p, n, hex))
        memcpy(hex, "????????", 9);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

#endif
