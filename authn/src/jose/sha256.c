/* SHA-256 on the caller's stack. OpenSSL 3's SHA256() and EVP_Digest() fetch the algorithm
   from a provider and allocate a context on every call, which costs more than hashing a whole
   token and can fail; the low-level functions run the same assembly (SHA-NI where the CPU has
   it) without either. They are deprecated in OpenSSL 3 but present in every 3.x release; this
   file and the gateway's translation cache key (tokenservice/gateway/src/translate.c) are the
   only places that use them, so a release without them changes two functions. */
#define OPENSSL_SUPPRESS_DEPRECATED
#include <openssl/sha.h>

#include "jose/sha256.h"

void ts_authn__sha256(const void *data, size_t len, unsigned char out[32])
{
    SHA256_CTX c;
    SHA256_Init(&c);
    SHA256_Update(&c, data, len);
    SHA256_Final(out, &c);
}
