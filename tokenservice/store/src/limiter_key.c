/* The key the limiter counts an address under. A host that owns an IPv6 /64 (the usual
 * assignment to one subscriber or one machine) could otherwise present 2^64 addresses and
 * never reach a limit, so IPv6 addresses count for their /64. An IPv4-mapped IPv6 address is
 * the IPv4 host it names, whichever form a proxy or a dual-stack socket reports. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

/* Copy @p addr without surrounding brackets and zone ("%eth0") into @p buf; false when it
 * cannot be an IPv6 literal. */
static bool ipv6_text(const char *addr, size_t len, char *buf, size_t cap)
{
    if (len >= 2 && addr[0] == '[' && addr[len - 1] == ']') {
        addr++;
        len -= 2;
    }
    const char *pct = memchr(addr, '%', len);
    if (pct)
        len = (size_t)(pct - addr);
    if (len == 0 || len >= cap || !memchr(addr, ':', len))
        return false;
    memcpy(buf, addr, len);
    buf[len] = '\0';
    return true;
}

size_t ts_store_limiter_key(const char *addr, size_t len, char out[TS_STORE_LIMITER_KEY_MAX + 1])
{
    if (!addr)
        len = 0;
    char text[INET6_ADDRSTRLEN + 16];
    unsigned char a[16];
    if (addr && ipv6_text(addr, len, text, sizeof text) && inet_pton(AF_INET6, text, a) == 1) {
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(a, mapped, sizeof mapped) == 0) {
            inet_ntop(AF_INET, a + 12, out, TS_STORE_LIMITER_KEY_MAX + 1);
            return strlen(out);
        }
        memset(a + 8, 0, 8);
        char net[INET6_ADDRSTRLEN];
        inet_ntop(AF_INET6, a, net, sizeof net);
        int n = snprintf(out, TS_STORE_LIMITER_KEY_MAX + 1, "%s/64", net);
        return n > 0 ? (size_t)n : 0;
    }
    /* Dotted IPv4 in canonical form, so that it matches the form derived from a mapped one. */
    if (addr && len > 0 && len < sizeof text) {
        memcpy(text, addr, len);
        text[len] = '\0';
        if (inet_pton(AF_INET, text, a) == 1) {
            inet_ntop(AF_INET, a, out, TS_STORE_LIMITER_KEY_MAX + 1);
            return strlen(out);
        }
    }
    if (len > TS_STORE_LIMITER_KEY_MAX)
        len = TS_STORE_LIMITER_KEY_MAX;
    if (len)
        memcpy(out, addr, len);
    out[len] = '\0';
    return len;
}
