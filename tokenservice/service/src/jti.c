/* Token ids (jti.h). */
#include "jti.h"

#include <stddef.h>

#include <openssl/rand.h>

ts_status ts_svc_new_jti(char out[TS_SVC_JTI_LEN + 1], ts_error *err)
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1)
        return ts_error_set(err, TS_EINTERNAL, "jti", "CSPRNG failure");
    /* RFC 9562 §5.4: version 4 in the high nibble of byte 6, variant 10 in byte 8. */
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hx[] = "0123456789abcdef";
    size_t o = 0;
    for (size_t i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10)
            out[o++] = '-';
        out[o++] = hx[b[i] >> 4];
        out[o++] = hx[b[i] & 15];
    }
    out[o] = '\0';
    return TS_OK;
}
