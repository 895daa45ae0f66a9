/* Token ids: the `jti` of every token the token service's modules sign (serve's access tokens,
 * the gateway's translated tokens), made one way so that they share one format and one source
 * of randomness. */
#ifndef TS_SVC_JTI_H
#define TS_SVC_JTI_H

#include <tokensmith/error.h>

#define TS_SVC_JTI_LEN 36 /**< UUIDv4 text */

/**
 * A fresh random jti: a UUIDv4 in lowercase text (8-4-4-4-12 hex digits), 122 random bits from
 * OpenSSL's CSPRNG.
 * @param out receives the NUL-terminated text.
 * @return TS_OK; TS_EINTERNAL ("CSPRNG failure", where "jti") when no random bytes are to be had.
 * Thread-safety: may be called from any thread.
 */
TS_NODISCARD ts_status ts_svc_new_jti(char out[TS_SVC_JTI_LEN + 1], ts_error *err);

#endif
