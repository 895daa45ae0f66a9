/* Setting values (config.h): durations, the kinds' syntax and bounds, listen addresses. No
 * configuration state: the flag parser, the config file and the gateway's settings share it. */
#define _POSIX_C_SOURCE 200809L

#include "config.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/conninfo.h"

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                     */

bool ts_svc_parse_duration(const char *s, int64_t *out_s)
{
    const int64_t cap = 10LL * 366 * 86400;
    size_t len = s ? strlen(s) : 0;
    bool plain = len > 0 && strspn(s, "0123456789") == len; /* plain digits are seconds */
    int64_t total = 0;
    if (len == 0)
        return false;
    for (const char *p = s; *p;) {
        const char *start = p;
        int64_t v = 0;
        while (isdigit((unsigned char)*p)) {
            if (p - start == 12)
                return false;
            v = v * 10 + (*p++ - '0');
        }
        int64_t unit = plain ? 1 : *p == 'h' ? 3600 : *p == 'm' ? 60 : *p == 's' ? 1 : 0;
        if (p == start || !unit || v > cap / unit)
            return false;
        p += !plain;
        total += v * unit;
        if (total > cap)
            return false;
    }
    *out_s = total;
    return true;
}

static bool is_port(const char *p)
{
    size_t n = strlen(p);
    if (n == 0 || n > 5 || strspn(p, "0123456789") != n)
        return false;
    return atol(p) <= 65535;
}

/* HOST:PORT or [V6]:PORT; the host may be empty (all addresses). */
static bool listen_syntax_ok(const char *v)
{
    const char *port;
    if (v[0] == '[') {
        const char *rb = strchr(v, ']');
        if (!rb || rb[1] != ':')
            return false;
        port = rb + 2;
    } else {
        const char *colon = strrchr(v, ':');
        if (!colon || memchr(v, ':', (size_t)(colon - v)))
            return false;
        port = colon + 1;
    }
    return is_port(port);
}

/* "scheme://" at the start: a URI, not a file name. */
static bool looks_like_uri(const char *v)
{
    size_t n = strspn(v, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789+.-");
    return n > 0 && isalpha((unsigned char)v[0]) && strncmp(v + n, "://", 3) == 0;
}

static bool enum_has(const char *choices, const char *v)
{
    size_t vl = strlen(v);
    for (const char *p = choices; p;) {
        const char *bar = strchr(p, '|');
        size_t l = bar ? (size_t)(bar - p) : strlen(p);
        if (l == vl && strncmp(p, v, l) == 0)
            return true;
        p = bar ? bar + 1 : NULL;
    }
    return false;
}

ts_status ts_svc_value_parse(const ts_svc_value_spec *spec, const char *v, int64_t *num,
                             const char *where, ts_error *err)
{
    long long lo = (long long)spec->min, hi = (long long)spec->max;
    size_t len = strlen(v);
    if (spec->kind <= TS_SVC_K_LOCAL_LISTEN || spec->kind == TS_SVC_K_ENUM) {
        if ((int64_t)len > spec->max && spec->kind != TS_SVC_K_ENUM)
            return ts_error_set(err, TS_EINVAL, where, "value longer than %lld bytes",
                                (long long)spec->max);
        for (size_t i = 0; i < len; i++)
            if ((unsigned char)v[i] < 0x20 || v[i] == 0x7f)
                return ts_error_set(err, TS_EINVAL, where, "control character in value");
    }
    int64_t n = 0;
    switch (spec->kind) {
    case TS_SVC_K_STR:
        break;
    case TS_SVC_K_STORE:
        /* A libpq URI or key=value conninfo selects the PostgreSQL store (the same test
         * ts_store_path_is_postgres() makes; the common one keeps this file free of a link to
         * the store). Any other "scheme://" falls through and is refused: it must never become
         * a SQLite file named "foo:/...". No error repeats the value: it may hold a password. */
        if (ts_common__conninfo_is_postgres(v))
            break;
        if (looks_like_uri(v))
            return ts_error_set(err, TS_EINVAL, where,
                                "a URI is not a store location: give the path of a SQLite file "
                                "or a PostgreSQL connection string (postgres://... or "
                                "host=... dbname=...)");
        /* fall through */
    case TS_SVC_K_PATH:
        if (looks_like_uri(v))
            return ts_error_set(err, TS_EINVAL, where,
                                "a URI is not a file name: give the path of a file or directory");
        break;
    case TS_SVC_K_LISTEN:
        if (!listen_syntax_ok(v))
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not HOST:PORT or [ADDR]:PORT", v);
        break;
    case TS_SVC_K_LOCAL_LISTEN:
        if (*v &&
            (!ts_svc_listen_is_local(v) || (strncmp(v, "unix:", 5) != 0 && !listen_syntax_ok(v))))
            return ts_error_set(err, TS_EINVAL, where,
                                "'%s' is neither a loopback HOST:PORT nor unix:PATH", v);
        break;
    case TS_SVC_K_DUR:
        if (!ts_svc_parse_duration(v, &n) || n < spec->min || n > spec->max)
            return ts_error_set(err, TS_EINVAL, where,
                                "'%s' is not a duration between %llds and %llds", v, lo, hi);
        break;
    case TS_SVC_K_UINT:
    case TS_SVC_K_INT:
    case TS_SVC_K_PORT: {
        char *end;
        errno = 0;
        long long ll = strtoll(v, &end, 10);
        if (!*v || *end || errno || ll < spec->min || ll > spec->max || isspace((unsigned char)*v))
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not an integer in %lld..%lld", v,
                                lo, hi);
        n = ll;
        break;
    }
    case TS_SVC_K_BOOL:
        if (strcmp(v, "true") == 0 || strcmp(v, "1") == 0)
            n = 1;
        else if (strcmp(v, "false") != 0 && strcmp(v, "0") != 0)
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not true or false", v);
        break;
    case TS_SVC_K_ENUM:
        if (!enum_has(spec->choices, v))
            return ts_error_set(err, TS_EINVAL, where, "'%s' is not one of %s", v,
                                spec->choices + (spec->choices[0] == '|'));
        break;
    }
    if (num)
        *num = n;
    return TS_OK;
}

bool ts_svc_listen_is_local(const char *listen)
{
    if (strncmp(listen, "unix:", 5) == 0)
        return listen[5] == '/';
    char host[TS_SVC_STR];
    if (listen[0] == '[') {
        const char *rb = strchr(listen, ']');
        if (!rb || rb[1] != ':' || (size_t)(rb - listen) >= sizeof host)
            return false;
        snprintf(host, sizeof host, "%.*s", (int)(rb - listen - 1), listen + 1);
        return strcmp(host, "::1") == 0;
    }
    const char *colon = strrchr(listen, ':');
    if (!colon || (size_t)(colon - listen) >= sizeof host)
        return false;
    snprintf(host, sizeof host, "%.*s", (int)(colon - listen), listen);
    if (strcmp(host, "localhost") == 0)
        return true;
    unsigned a, b, cc, d;
    char extra;
    return sscanf(host, "%u.%u.%u.%u%c", &a, &b, &cc, &d, &extra) == 4 && a == 127 && b < 256 &&
           cc < 256 && d < 256;
}
