/* ipMatch (Go util.IPMatch): ip1 must be an address; ip2 is a CIDR (net.ParseCIDR +
 * IPNet.Contains) or else an address compared with IP.Equal. Addresses are parsed with
 * inet_pton, which like Go rejects IPv4 octets with leading zeros and IPv6 zones. As in Go, an
 * IPv4 address and its ::ffff: mapped form are the same address. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <string.h>

#include "internal.h"

/* An address in Go's 16-byte form (IPv4 as ::ffff:a.b.c.d). bits is 32 or 128: the width of
 * the text form, which sets a CIDR's mask length. */
typedef struct ipaddr {
    unsigned char b[16];
    unsigned bits;
} ipaddr;

static bool parse_ip(const char *s, size_t n, ipaddr *out)
{
    char buf[64];
    if (n == 0 || n >= sizeof buf || memchr(s, '\0', n))
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    unsigned char v4[4];
    if (inet_pton(AF_INET, buf, v4) == 1) {
        memset(out->b, 0, 10);
        out->b[10] = 0xff;
        out->b[11] = 0xff;
        memcpy(out->b + 12, v4, 4);
        out->bits = 32;
        return true;
    }
    if (inet_pton(AF_INET6, buf, out->b) == 1) {
        out->bits = 128;
        return true;
    }
    return false;
}

static bool is_v4(const ipaddr *a)
{
    static const unsigned char prefix[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
    return memcmp(a->b, prefix, 12) == 0;
}

/* Go's dtoi: decimal digits only, below 0xFFFFFF. */
static bool parse_prefix(const char *s, size_t n, unsigned *out)
{
    unsigned long v = 0;
    if (n == 0)
        return false;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (unsigned long)(s[i] - '0');
        if (v >= 0xFFFFFF)
            return false;
    }
    *out = (unsigned)v;
    return true;
}

/* net.IPNet.Contains for the network (net, prefix bits of a `width`-bit mask). */
static bool cidr_contains(const ipaddr *net, unsigned prefix, unsigned width, const ipaddr *ip)
{
    unsigned char mask[16];
    size_t mlen = width / 8;
    for (size_t i = 0; i < mlen; i++) {
        unsigned have = prefix > 8 * i ? prefix - 8u * (unsigned)i : 0;
        mask[i] = (unsigned char)(have >= 8 ? 0xffu : (0xff00u >> have));
    }
    /* networkNumberAndMask: the network shrinks to 4 bytes when it is IPv4 (or mapped) */
    const unsigned char *nn = net->b;
    size_t nlen = 16;
    if (is_v4(net)) {
        nn = net->b + 12;
        nlen = 4;
    }
    const unsigned char *m = mask;
    if (mlen == 16 && nlen == 4)
        m = mask + 12;
    else if (mlen == 4 && nlen != 4)
        return false;
    const unsigned char *ib = ip->b;
    size_t ilen = 16;
    if (is_v4(ip)) {
        ib = ip->b + 12;
        ilen = 4;
    }
    if (ilen != nlen)
        return false;
    for (size_t i = 0; i < ilen; i++)
        if ((nn[i] & m[i]) != (ib[i] & m[i]))
            return false;
    return true;
}

ts_status ts_authz__ip_match(ts_str ip1, ts_str ip2, bool *out, ts_error *err)
{
    ipaddr a, b;
    *out = false;
    if (!parse_ip(ip1.ptr, ip1.len, &a))
        return ts_error_set(err, TS_EEVAL, "ipMatch",
                            "ipMatch: invalid argument: ip1 in IPMatch() function is not an IP "
                            "address: \"%.*s\"",
                            (int)(ip1.len > 64 ? 64 : ip1.len), ip1.ptr);
    const char *slash = ip2.len ? memchr(ip2.ptr, '/', ip2.len) : NULL;
    if (slash) {
        size_t alen = (size_t)(slash - ip2.ptr);
        unsigned prefix = 0;
        if (parse_ip(ip2.ptr, alen, &b) && parse_prefix(slash + 1, ip2.len - alen - 1, &prefix) &&
            prefix <= b.bits) {
            *out = cidr_contains(&b, prefix, b.bits, &a);
            return TS_OK;
        }
    }
    if (!parse_ip(ip2.ptr, ip2.len, &b))
        return ts_error_set(err, TS_EEVAL, "ipMatch",
                            "ipMatch: invalid argument: ip2 in IPMatch() function is neither an "
                            "IP address nor a CIDR: \"%.*s\"",
                            (int)(ip2.len > 64 ? 64 : ip2.len), ip2.ptr);
    *out = memcmp(a.b, b.b, 16) == 0;
    return TS_OK;
}
