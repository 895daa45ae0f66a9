/* When to renew: the refresh-ahead time (a share of the lifetime, minus jitter), how long a
 * token may be handed out, and the "full jitter" backoff after failures (AWS architecture
 * blog, "Exponential Backoff and Jitter": a uniform draw below a capped exponential, which
 * spreads the retries of many clients best). Pure functions of their inputs, so that the tests
 * check their bounds exactly. */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/hash.h"
#include "common/mem.h"

uint64_t ts_client__rand(uint64_t *state)
{
    *state += 0x9e3779b97f4a7c15ull;
    return ts_common__mix64(*state);
}

uint64_t ts_client__backoff_ms(unsigned failures, unsigned initial_ms, unsigned max_ms, uint64_t r)
{
    if (failures == 0)
        return 0;
    uint64_t ceiling = initial_ms;
    for (unsigned i = 1; i < failures && ceiling < max_ms; i++)
        ceiling *= 2;
    if (ceiling > max_ms)
        ceiling = max_ms;
    return r % (ceiling + 1);
}

ts_client__times ts_client__schedule(int64_t obtained_ms, int64_t lifetime_ms, unsigned min_valid_s,
                                     unsigned at_pct, unsigned jitter_pct, uint64_t r)
{
    ts_client__times t;
    int64_t skew = (int64_t)min_valid_s * 1000;
    /* A token issued for less than twice the skew would never be good enough to hand out;
     * it is handed out for the first half of its life instead of not at all. */
    if (skew > lifetime_ms / 2)
        skew = lifetime_ms / 2;
    t.usable_until_ms = obtained_ms + lifetime_ms - skew;
    /* Lifetimes are at most ten years (response.h): no product here overflows. */
    int64_t ahead = lifetime_ms * (int64_t)at_pct / 100;
    int64_t span = lifetime_ms * (int64_t)jitter_pct / 100;
    if (span > 0)
        ahead -= (int64_t)(r % (uint64_t)(span + 1));
    if (ahead < 0)
        ahead = 0;
    t.refresh_at_ms = obtained_ms + ahead;
    if (t.refresh_at_ms > t.usable_until_ms)
        t.refresh_at_ms = t.usable_until_ms;
    return t;
}

/* base64url without padding (RFC 7515 §2); @return the decoded length, or -1. */
static long b64url_decode(const char *s, size_t n, unsigned char *out, size_t cap)
{
    unsigned v = 0, bits = 0;
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        int d;
        char c = s[i];
        if (c >= 'A' && c <= 'Z')
            d = c - 'A';
        else if (c >= 'a' && c <= 'z')
            d = c - 'a' + 26;
        else if (c >= '0' && c <= '9')
            d = c - '0' + 52;
        else if (c == '-')
            d = 62;
        else if (c == '_')
            d = 63;
        else
            return -1;
        v = (v << 6) | (unsigned)d;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            if (k == cap)
                return -1;
            out[k++] = (unsigned char)(v >> bits);
            v &= (1u << bits) - 1;
        }
    }
    return (long)k;
}

int64_t ts_client__jwt_exp(const char *tok, size_t len)
{
    const char *d1 = memchr(tok, '.', len);
    if (!d1)
        return 0;
    const char *p = d1 + 1;
    const char *d2 = memchr(p, '.', len - (size_t)(p - tok));
    if (!d2 || d2 == p)
        return 0;
    size_t plen = (size_t)(d2 - p);
    unsigned char buf[8192];
    long n = plen <= sizeof buf / 3 * 4 ? b64url_decode(p, plen, buf, sizeof buf) : -1;
    if (n <= 0)
        return 0;
    json_t *o = json_loadb((const char *)buf, (size_t)n, JSON_REJECT_DUPLICATES, NULL);
    ts_common__memzero(buf, (size_t)n);
    int64_t exp = 0;
    const json_t *e = json_object_get(o, "exp");
    if (json_is_integer(e) && json_integer_value(e) > 0)
        exp = (int64_t)json_integer_value(e);
    json_decref(o);
    return exp;
}
