#define _POSIX_C_SOURCE 200809L
/* Functions shipped with the library for registration: Go's TimeMatchFunc (the link condition
 * of Casbin's temporal role examples) and a demonstration matcher function, hasSuffix. */
#include <string.h>
#include <time.h>

#include "internal.h"

/* ---- timeMatch ---------------------------------------------------------------------------- */

typedef struct instant {
    long long sec; /* seconds since 1970-01-01 00:00:00 UTC (negative before) */
    long nsec;
} instant;

/* Days from 1970-01-01 to y-m-d in the proleptic Gregorian calendar (valid for year 0 too). */
static long long days_from_civil(long long y, unsigned m, unsigned d)
{
    y -= m <= 2;
    long long era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153u * (m > 2 ? m - 3u : m + 9u) + 2u) / 5u + d - 1u;
    unsigned doe = yoe * 365u + yoe / 4u - yoe / 100u + doy;
    return era * 146097 + (long long)doe - 719468;
}

static bool leap(long long y)
{
    return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* Exactly @p n digits at s[*i]. */
static bool fixed(const char *s, size_t len, size_t *i, int n, unsigned *out)
{
    unsigned v = 0;
    for (int k = 0; k < n; k++, (*i)++) {
        if (*i >= len || s[*i] < '0' || s[*i] > '9')
            return false;
        v = v * 10u + (unsigned)(s[*i] - '0');
    }
    *out = v;
    return true;
}

static bool lit(const char *s, size_t len, size_t *i, char c)
{
    if (*i >= len || s[*i] != c)
        return false;
    (*i)++;
    return true;
}

/* Go's time.Parse("2006-01-02 15:04:05", s) in UTC: the hour may have one or two digits, a
 * fractional second (".123" or ",123") may follow the seconds, nothing else may. */
static bool parse_go_time(const char *s, size_t len, instant *out)
{
    size_t i = 0;
    unsigned y, mo, d, h, mi, se;
    if (!fixed(s, len, &i, 4, &y) || !lit(s, len, &i, '-') || !fixed(s, len, &i, 2, &mo) ||
        !lit(s, len, &i, '-') || !fixed(s, len, &i, 2, &d) || !lit(s, len, &i, ' '))
        return false;
    if (!fixed(s, len, &i, 1, &h))
        return false;
    if (i < len && s[i] >= '0' && s[i] <= '9')
        h = h * 10u + (unsigned)(s[i++] - '0');
    if (!lit(s, len, &i, ':') || !fixed(s, len, &i, 2, &mi) || !lit(s, len, &i, ':') ||
        !fixed(s, len, &i, 2, &se))
        return false;
    long nsec = 0;
    if (i < len && (s[i] == '.' || s[i] == ',') && i + 1 < len && s[i + 1] >= '0' &&
        s[i + 1] <= '9') {
        i++;
        long scale = 100000000;
        while (i < len && s[i] >= '0' && s[i] <= '9') {
            nsec += (long)(s[i] - '0') * scale;
            scale /= 10;
            i++;
        }
    }
    if (i != len)
        return false;
    static const unsigned mdays[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (mo < 1 || mo > 12 || h > 23 || mi > 59 || se > 59 || d < 1)
        return false;
    if (d > mdays[mo - 1] + (mo == 2 && leap(y) ? 1u : 0u))
        return false;
    out->sec = days_from_civil(y, mo, d) * 86400 + (long long)h * 3600 + (long long)mi * 60 + se;
    out->nsec = nsec;
    return true;
}

static int cmp_instant(instant a, instant b)
{
    if (a.sec != b.sec)
        return a.sec < b.sec ? -1 : 1;
    if (a.nsec != b.nsec)
        return a.nsec < b.nsec ? -1 : 1;
    return 0;
}

static ts_status time_match(void *ud, const ts_authz_value *args, size_t nargs, ts_authz_value *out,
                            ts_error *err)
{
    if (nargs != 2)
        return ts_error_set(err, TS_EEVAL, "timeMatch", "expected 2 arguments, but got %zu", nargs);
    struct timespec ts;
    const ts_authz_clock *clock = ud;
    if (clock && clock->now)
        clock->now(clock->ud, &ts);
    else
        clock_gettime(CLOCK_REALTIME, &ts);
    instant now = {(long long)ts.tv_sec, ts.tv_nsec};
    out->kind = TS_AUTHZ_KIND_BOOL;
    out->b = false;
    for (size_t k = 0; k < 2; k++) {
        const char *s = args[k].str;
        size_t n = args[k].len;
        if (n == 1 && s[0] == '_')
            continue;
        instant t;
        if (!parse_go_time(s, n, &t))
            return ts_error_set(err, TS_EEVAL, "timeMatch",
                                "cannot parse \"%.*s\" as \"2006-01-02 15:04:05\"",
                                (int)(n > 64 ? 64 : n), s);
        int c = cmp_instant(now, t);
        if ((k == 0 && c <= 0) || (k == 1 && c >= 0))
            return TS_OK;
    }
    out->b = true;
    return TS_OK;
}

static const ts_authz_function time_match_desc = {
    .name = "timeMatch",
    .arity = 2,
    .args = {TS_AUTHZ_KIND_STRING, TS_AUTHZ_KIND_STRING},
    .result = TS_AUTHZ_KIND_BOOL,
    .fn = time_match,
};

TS_API const ts_authz_function *ts_authz_function_time_match(void)
{
    return &time_match_desc;
}

/* ---- hasSuffix ---------------------------------------------------------------------------- */

static ts_status has_suffix(void *ud, const ts_authz_value *args, size_t nargs, ts_authz_value *out,
                            ts_error *err)
{
    (void)ud;
    (void)nargs;
    (void)err;
    const ts_authz_value *s = &args[0], *suf = &args[1];
    out->kind = TS_AUTHZ_KIND_BOOL;
    out->b = suf->len <= s->len &&
             (suf->len == 0 || memcmp(s->str + s->len - suf->len, suf->str, suf->len) == 0);
    return TS_OK;
}

static const ts_authz_function has_suffix_desc = {
    .name = "hasSuffix",
    .arity = 2,
    .args = {TS_AUTHZ_KIND_STRING, TS_AUTHZ_KIND_STRING},
    .result = TS_AUTHZ_KIND_BOOL,
    .fn = has_suffix,
};

TS_API const ts_authz_function *ts_authz_function_has_suffix(void)
{
    return &has_suffix_desc;
}

TS_API const ts_authz_function *ts_authz_function_builtin(const char *name)
{
    if (!name)
        return NULL;
    if (!strcmp(name, time_match_desc.name))
        return &time_match_desc;
    if (!strcmp(name, has_suffix_desc.name))
        return &has_suffix_desc;
    return NULL;
}
