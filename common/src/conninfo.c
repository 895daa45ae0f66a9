/* PostgreSQL connection strings (common/conninfo.h). The redaction follows libpq's own parsing
 * (URI userinfo, percent-decoded query keys, quoted and backslash-escaped conninfo values) and,
 * where a string could be read two ways, hides the larger part: it only ever feeds logs and
 * error messages. */
#include "common/conninfo.h"

#include <string.h>
#include <strings.h>

#include "common/hex.h"

/* libpq's connection keywords (PostgreSQL 15, "Parameter Key Words"). */
static const char *const KEYWORDS[] = {
    "host",
    "hostaddr",
    "port",
    "dbname",
    "user",
    "password",
    "passfile",
    "channel_binding",
    "connect_timeout",
    "client_encoding",
    "options",
    "application_name",
    "fallback_application_name",
    "keepalives",
    "keepalives_idle",
    "keepalives_interval",
    "keepalives_count",
    "tcp_user_timeout",
    "replication",
    "gssencmode",
    "sslmode",
    "requiressl",
    "sslcompression",
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslrootcert",
    "sslcrl",
    "sslcrldir",
    "sslsni",
    "requirepeer",
    "ssl_min_protocol_version",
    "ssl_max_protocol_version",
    "krbsrvname",
    "gsslib",
    "service",
    "target_session_attrs",
};

/* Keys whose value is a secret: the password, and the passphrase of the client key. */
static bool is_secret_key(const char *k, size_t n)
{
    return (n == 8 && memcmp(k, "password", 8) == 0) ||
           (n == 11 && memcmp(k, "sslpassword", 11) == 0);
}

static bool is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

static bool is_keyword_char(char c)
{
    return (c >= 'a' && c <= 'z') || c == '_';
}

static size_t uri_prefix(const char *s)
{
    if (strncasecmp(s, "postgresql://", 13) == 0)
        return 13;
    if (strncasecmp(s, "postgres://", 11) == 0)
        return 11;
    return 0;
}

bool ts_common__conninfo_is_postgres(const char *s)
{
    if (!s || !*s)
        return false;
    if (uri_prefix(s))
        return true;
    while (is_space(*s))
        s++;
    size_t n = 0;
    while (is_keyword_char(s[n]))
        n++;
    const char *p = s + n;
    while (is_space(*p))
        p++;
    if (n == 0 || *p != '=')
        return false;
    for (size_t i = 0; i < sizeof KEYWORDS / sizeof KEYWORDS[0]; i++)
        if (strlen(KEYWORDS[i]) == n && memcmp(KEYWORDS[i], s, n) == 0)
            return true;
    return false;
}

/* An output buffer that counts what it could not hold. */
typedef struct sink {
    char *out;
    size_t cap, len;
} sink;

static void put(sink *k, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++, k->len++)
        if (k->cap && k->len + 1 < k->cap)
            k->out[k->len] = s[i];
}

static void puts_(sink *k, const char *s)
{
    put(k, s, strlen(s));
}

/* Percent-decode @p s (@p n bytes) into @p dst (cap bytes); false when it does not fit. */
static bool pct_decode(const char *s, size_t n, char *dst, size_t cap, size_t *out_n)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        if (c == '%' && i + 2 < n) {
            int hi = ts_common__hexval(s[i + 1]), lo = ts_common__hexval(s[i + 2]);
            if (hi >= 0 && lo >= 0) {
                c = (char)(hi * 16 + lo);
                i += 2;
            }
        }
        if (o >= cap)
            return false;
        dst[o++] = c;
    }
    *out_n = o;
    return true;
}

static void redact_uri(const char *in, size_t scheme, sink *k)
{
    put(k, in, scheme);
    const char *rest = in + scheme;
    /* The userinfo ends at the last '@': a password may hold '/', '?' or '@' unencoded, and a
     * '@' further on (in the query) only makes this hide more. */
    const char *at = strrchr(rest, '@');
    const char *after = rest;
    if (at) {
        const char *colon = memchr(rest, ':', (size_t)(at - rest));
        if (colon) {
            put(k, rest, (size_t)(colon - rest) + 1);
            puts_(k, "***");
        } else {
            put(k, rest, (size_t)(at - rest));
        }
        after = at;
    }
    const char *q = strchr(after, '?');
    if (!q) {
        puts_(k, after);
        return;
    }
    put(k, after, (size_t)(q - after) + 1);
    const char *p = q + 1;
    while (*p) {
        size_t n = strcspn(p, "&");
        const char *eq = memchr(p, '=', n);
        char key[32];
        size_t kn = 0;
        bool secret =
            eq && pct_decode(p, (size_t)(eq - p), key, sizeof key, &kn) && is_secret_key(key, kn);
        if (secret) {
            put(k, p, (size_t)(eq - p) + 1);
            puts_(k, "***");
        } else {
            put(k, p, n);
        }
        p += n;
        if (*p == '&') {
            put(k, "&", 1);
            p++;
        }
    }
}

/* key=value conninfo: keywords, optional spaces around '=', values quoted ('...' with \' and
 * \\) or bare (up to white space, with backslash escapes). */
static void redact_kv(const char *in, sink *k)
{
    const char *p = in;
    while (*p) {
        const char *start = p;
        while (is_space(*p))
            p++;
        const char *key = p;
        while (*p && *p != '=' && !is_space(*p))
            p++;
        size_t kn = (size_t)(p - key);
        while (is_space(*p))
            p++;
        if (*p != '=') {
            /* Trailing white space, or not a conninfo after all: hide the rest rather than
             * guess how libpq would read it. */
            put(k, start, (size_t)(key - start));
            if (kn)
                puts_(k, "***");
            return;
        }
        p++;
        while (is_space(*p))
            p++;
        put(k, start, (size_t)(p - start));
        const char *v = p;
        if (*p == '\'') {
            p++;
            while (*p && *p != '\'') {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
            if (*p == '\'')
                p++;
        } else {
            while (*p && !is_space(*p)) {
                if (*p == '\\' && p[1])
                    p++;
                p++;
            }
        }
        if (is_secret_key(key, kn))
            puts_(k, "***");
        else
            put(k, v, (size_t)(p - v));
    }
}

size_t ts_common__conninfo_redact(const char *in, char *out, size_t cap)
{
    sink k = {out, cap, 0};
    if (!in)
        in = "";
    size_t scheme = uri_prefix(in);
    if (scheme)
        redact_uri(in, scheme, &k);
    else if (ts_common__conninfo_is_postgres(in))
        redact_kv(in, &k);
    else
        puts_(&k, in);
    if (cap)
        out[k.len < cap ? k.len : cap - 1] = '\0';
    return k.len;
}
