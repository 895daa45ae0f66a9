/* Request path normalisation (escaped-path rules, then Go's path.Clean). */
#include <string.h>

#include "common/hex.h"
#include "common/path.h"

/* Go's path.Clean for a path that starts with '/', in place; @return the new length. */
static size_t clean_rooted(char *p, size_t n)
{
    size_t w = 1; /* p[0] == '/' stays */
    size_t r = 1;
    while (r < n) {
        if (p[r] == '/') {
            r++;
        } else if (p[r] == '.' && (r + 1 == n || p[r + 1] == '/')) {
            r++;
        } else if (p[r] == '.' && p[r + 1] == '.' && (r + 2 == n || p[r + 2] == '/')) {
            r += 2;
            /* back up to the previous separator; never above the root */
            if (w > 1) {
                w--;
                while (w > 1 && p[w - 1] != '/')
                    w--;
                if (w > 1)
                    w--; /* drop the separator before the removed element */
            }
        } else {
            if (w > 1)
                p[w++] = '/';
            while (r < n && p[r] != '/')
                p[w++] = p[r++];
        }
    }
    p[w] = '\0';
    return w;
}

ts_status ts_common__path_normalize(const char *path, size_t len, bool decoded, size_t max_len,
                                    char *out, size_t cap, size_t *out_len, ts_error *err)
{
    if (!out || cap < 2)
        return ts_error_set(err, TS_EINVAL, "ts_common__path_normalize", "output buffer too small");
    if (!path)
        len = 0;
    const char *q = len ? memchr(path, '?', len) : NULL;
    if (q)
        len = (size_t)(q - path);
    if (len > max_len || len + 2 > cap)
        return ts_error_set(err, TS_ELIMIT, "path", "URL path too long");
    size_t w = 0;
    out[w++] = '/';
    size_t i = (len > 0 && path[0] == '/') ? 1 : 0;
    for (; i < len; i++) {
        char c = path[i];
        if (c == '\0')
            return ts_error_set(err, TS_EPARSE, "path", "malformed URL path");
        if (c == '%' && !decoded) {
            int hi = i + 2 < len ? ts_common__hexval(path[i + 1]) : -1;
            int lo = i + 2 < len ? ts_common__hexval(path[i + 2]) : -1;
            if (i + 2 >= len || hi < 0 || lo < 0)
                return ts_error_set(err, TS_EPARSE, "path", "malformed URL path");
            int v = hi * 16 + lo;
            if (v == 0)
                return ts_error_set(err, TS_EPARSE, "path", "malformed URL path");
            if (v == '/') { /* an encoded slash is data, not a separator */
                out[w++] = path[i];
                out[w++] = path[i + 1];
                out[w++] = path[i + 2];
            } else {
                out[w++] = (char)v;
            }
            i += 2;
            continue;
        }
        out[w++] = c;
    }
    out[w] = '\0';
    w = clean_rooted(out, w);
    if (out_len)
        *out_len = w;
    return TS_OK;
}

bool ts_common__path_has_bad_escape(const char *path, size_t len)
{
    for (size_t i = 0; path && i < len && path[i] != '?'; i++) {
        if (path[i] != '%')
            continue;
        int hi = i + 2 < len ? ts_common__hexval(path[i + 1]) : -1;
        int lo = i + 2 < len ? ts_common__hexval(path[i + 2]) : -1;
        if (hi < 0 || lo < 0 || (hi == 0 && lo == 0))
            return true;
        i += 2;
    }
    return false;
}
