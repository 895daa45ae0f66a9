/* SHA-256 without allocation (jose/sha256.c says why). Private to authn. */
#ifndef TS_AUTHN_JOSE_SHA256_H
#define TS_AUTHN_JOSE_SHA256_H

#include <stddef.h>

/** The SHA-256 of @p len bytes at @p data into @p out. Cannot fail; thread-safe. */
void ts_authn__sha256(const void *data, size_t len, unsigned char out[32]);

#endif
