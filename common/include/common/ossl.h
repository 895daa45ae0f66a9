/*
 * Telling why an OpenSSL call failed. Private to tokensmith; header-only, for the libraries
 * that link OpenSSL (ts_base does not).
 *
 * Many OpenSSL calls answer "no" the same way whether the input was bad (a signature that does
 * not verify, key members that form no key) or memory ran out on the way; only the thread's
 * error queue tells them apart. Reporting the second as the first would call a good signature
 * forged, or a good key invalid.
 */
#ifndef TS_COMMON_OSSL_H
#define TS_COMMON_OSSL_H

#include <stdbool.h>

#include <openssl/err.h>

/**
 * True when OpenSSL's error queue of this thread records an allocation failure. Empties the
 * queue: the caller has judged the failure, and errors left there would be blamed on the next
 * OpenSSL call of the thread.
 */
static inline bool ts_common__ossl_oom(void)
{
    bool oom = false;
    unsigned long e;
    while ((e = ERR_get_error()) != 0)
        oom = oom || ERR_GET_REASON(e) == ERR_R_MALLOC_FAILURE;
    return oom;
}

#endif
