/* gRPC over HTTP/2 framing rules (grpc/grpc doc/PROTOCOL-HTTP2.md) that the gateway's session
 * needs and nghttp2 does not know: the 5-byte Length-Prefixed-Message prefix, the grpc-timeout
 * header, the percent-encoding of grpc-message, and the names of call status codes for logs.
 * Pure functions (grpc.h). */
#include <string.h>

#include "grpc.h"

const char *ts_gateway__grpc_code_name(unsigned code)
{
    switch (code) {
#define NAME_(name, value)                                                                         \
    case value:                                                                                    \
        return #name;
        TS_GATEWAY__GRPC_CODES(NAME_)
#undef NAME_
    default:
        return "UNKNOWN";
    }
}

ts_status ts_gateway__grpc_prefix_decode(const uint8_t *p, bool *compressed, uint32_t *len)
{
    if (p[0] > 1)
        return TS_EPARSE;
    *compressed = p[0] == 1;
    *len = (uint32_t)p[1] << 24 | (uint32_t)p[2] << 16 | (uint32_t)p[3] << 8 | (uint32_t)p[4];
    return TS_OK;
}

void ts_gateway__grpc_prefix_encode(uint8_t *p, uint32_t len)
{
    p[0] = 0;
    p[1] = (uint8_t)(len >> 24);
    p[2] = (uint8_t)(len >> 16);
    p[3] = (uint8_t)(len >> 8);
    p[4] = (uint8_t)len;
}

/* Nanoseconds per TimeoutUnit; 0 for a byte that is not one. */
static uint64_t unit_ns(char u)
{
    switch (u) {
    case 'H':
        return 3600ull * 1000000000ull;
    case 'M':
        return 60ull * 1000000000ull;
    case 'S':
        return 1000000000ull;
    case 'm':
        return 1000000ull;
    case 'u':
        return 1000ull;
    case 'n':
        return 1ull;
    default:
        return 0;
    }
}

ts_status ts_gateway__grpc_timeout_parse(const char *s, size_t len, uint64_t *ns)
{
    /* "positive integer as ASCII string of at most 8 digits" + one unit. */
    if (len < 2 || len > 9)
        return TS_EPARSE;
    uint64_t per = unit_ns(s[len - 1]);
    if (per == 0)
        return TS_EPARSE;
    uint64_t v = 0;
    for (size_t i = 0; i + 1 < len; i++) {
        if (s[i] < '0' || s[i] > '9')
            return TS_EPARSE;
        v = v * 10 + (uint64_t)(s[i] - '0'); /* <= 99999999: no overflow */
    }
    if (v > UINT64_MAX / per)
        return TS_ELIMIT;
    *ns = v * per;
    return TS_OK;
}

size_t ts_gateway__grpc_message_encode(const char *msg, size_t len, char *out, size_t cap)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t w = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)msg[i];
        bool plain = c >= 0x20 && c <= 0x7e && c != '%';
        size_t need = plain ? 1 : 3;
        if (w + need >= cap)
            break;
        if (plain) {
            out[w++] = (char)c;
        } else {
            out[w++] = '%';
            out[w++] = hex[c >> 4];
            out[w++] = hex[c & 15];
        }
    }
    out[w] = '\0';
    return w;
}
