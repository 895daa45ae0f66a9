/* Small text helpers of the client: SHA-256 names for secrets (the only form in which a token
 * reaches a log or a state file's bookkeeping), copies, and wiping frees. */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>

#include "common/hex.h"
#include "common/mem.h"

bool ts_client__sha256_hex(const void *p, size_t n, char out[65])
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

void ts_client__hash_prefix(const void *p, size_t n, char out[9])
{
    char hex[65];
    if (!ts_client__sha256_hex(p, n, hex))
        memcpy(hex, "????????", 9);
    memcpy(out, hex, 8);
    out[8] = '\0';
}

char *ts_client__strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void ts_client__free_secret(char *s, size_t n)
{
    if (s) {
        ts_common__memzero(s, n);
        free(s);
    }
}

void ts_client__free_secret_z(char *s)
{
    if (s)
        ts_client__free_secret(s, strlen(s));
}
