/* Helpers shared by the commands: messages, line reading, names and scope lists. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <string.h>

#include <tokensmith/store.h>

bool ts_cli_is_help(const char *arg)
{
    return arg && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0);
}

void ts_cli_format_error(const ts_error *err, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    if (!err || err->code == TS_OK) {
        snprintf(buf, cap, "unknown error");
        return;
    }
    const char *msg = err->msg[0] ? err->msg : ts_status_str(err->code);
    size_t wlen = strlen(err->where);
    /* Parsers often put "file:line: problem" in the message already; do not say it twice. */
    if (wlen == 0 || strncmp(msg, err->where, wlen) == 0)
        snprintf(buf, cap, "%s", msg);
    else
        snprintf(buf, cap, "%s: %s", err->where, msg);
}

void ts_cli_report(const char *prefix, const ts_error *err)
{
    char line[512];
    ts_cli_format_error(err, line, sizeof line);
    if (prefix)
        fprintf(stderr, "tokensmith: %s: %s\n", prefix, line);
    else
        fprintf(stderr, "tokensmith: %s\n", line);
}

bool ts_cli_read_line(FILE *in, char *buf, size_t cap, size_t *len, bool *too_long)
{
    size_t n = 0;
    int c;
    bool any = false;

    *too_long = false;
    /* getc_unlocked keeps big batches cheap and, unlike fgets, keeps NUL bytes counted so that
     * they reach the parser (which rejects them) instead of silently truncating the line. */
    while ((c = getc_unlocked(in)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = (char)c;
        else
            *too_long = true;
    }
    buf[n < cap ? n : cap - 1] = '\0';
    *len = n;
    return any;
}

/* Length of the well-formed UTF-8 sequence at @p s (of @p left bytes), or 0 when malformed,
 * overlong, a surrogate or beyond U+10FFFF: the store's rule (tokenservice/store validate.c),
 * checked here before the store is opened. */
static size_t utf8_seq(const unsigned char *s, size_t left)
{
    unsigned char c = s[0];
    size_t n;
    unsigned cp;
    if (c < 0x80)
        return 1;
    if (c >= 0xc2 && c <= 0xdf) {
        n = 2;
        cp = c & 0x1fu;
    } else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        cp = c & 0x0fu;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        cp = c & 0x07u;
    } else {
        return 0;
    }
    if (left < n)
        return 0;
    for (size_t i = 1; i < n; i++) {
        if ((s[i] & 0xc0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3fu);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) ||
        (cp >= 0xd800 && cp <= 0xdfff))
        return 0;
    return n;
}

ts_status ts_cli_check_name(const char *s, bool required, const char *where, ts_error *err)
{
    if (!s || !*s)
        return required ? ts_error_set(err, TS_EINVAL, where, "is required") : TS_OK;
    size_t len = strlen(s);
    if (len > TS_STORE_MAX_NAME_LEN)
        return ts_error_set(err, TS_EINVAL, where, "longer than %d bytes", TS_STORE_MAX_NAME_LEN);
    const unsigned char *u = (const unsigned char *)s;
    bool blank = true;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return ts_error_set(err, TS_EINVAL, where, "control character at byte %zu", i);
        size_t n = utf8_seq(u + i, len - i);
        if (n == 0)
            return ts_error_set(err, TS_EINVAL, where, "not valid UTF-8 at byte %zu", i);
        blank = blank && u[i] == ' ';
        i += n;
    }
    if (blank && required)
        return ts_error_set(err, TS_EINVAL, where, "must not be blank");
    return TS_OK;
}

/* RFC 6749 scope-token characters (%x21 / %x23-5B / %x5D-7E), without the list separator ','. */
static bool scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b && c != ',') || (c >= 0x5d && c <= 0x7e);
}

ts_status ts_cli_scopes(const char *in, char *out, size_t cap, const char *where, ts_error *err)
{
    size_t o = 0, count = 0;
    out[0] = '\0';
    for (const char *p = in ? in : ""; *p;) {
        p += strspn(p, ", \t\r\n");
        size_t n = strcspn(p, ", \t\r\n");
        if (n == 0)
            continue;
        for (size_t k = 0; k < n; k++)
            if (!scope_char((unsigned char)p[k]))
                return ts_error_set(err, TS_EINVAL, where, "'%.*s' is not an RFC 6749 scope token",
                                    (int)(n > 64 ? 64 : n), p);
        bool dup = false;
        for (size_t q = 0; q < o && !dup;) {
            size_t l = strcspn(out + q, " ");
            dup = l == n && memcmp(out + q, p, n) == 0;
            q += l + 1;
        }
        if (!dup) {
            if (++count > TS_STORE_MAX_SCOPES)
                return ts_error_set(err, TS_EINVAL, where, "more than %d scopes",
                                    TS_STORE_MAX_SCOPES);
            if (o + (o ? 1 : 0) + n >= cap)
                return ts_error_set(err, TS_EINVAL, where, "longer than %zu bytes once joined",
                                    cap - 1);
            if (o)
                out[o++] = ' ';
            memcpy(out + o, p, n);
            out[o += n] = '\0';
        }
        p += n;
    }
    return TS_OK;
}
