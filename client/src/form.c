/* Request bodies: a wiped-on-release buffer, application/x-www-form-urlencoded parameters
 * (RFC 6749 Appendix B) and the base64 of HTTP Basic. */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

void ts_client__form_encode(ts_common__secbuf *b, const char *s, size_t n)
{
    static const char hex[] = "0123456789ABCDEF";
    size_t i = 0;
    while (i < n) {
        /* Runs of unreserved characters in one append. */
        size_t j = i;
        while (j < n && ((s[j] >= 'a' && s[j] <= 'z') || (s[j] >= 'A' && s[j] <= 'Z') ||
                         (s[j] >= '0' && s[j] <= '9') || s[j] == '-' || s[j] == '.' ||
                         s[j] == '_' || s[j] == '~'))
            j++;
        ts_common__secbuf_add(b, s + i, j - i);
        if (j == n)
            break;
        unsigned char c = (unsigned char)s[j];
        if (c == ' ') {
            ts_common__secbuf_add(b, "+", 1);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            ts_common__secbuf_add(b, e, 3);
        }
        i = j + 1;
    }
}

void ts_client__form_param(ts_common__secbuf *b, const char *name, const char *value, size_t len)
{
    if (b->n)
        ts_common__secbuf_add(b, "&", 1);
    ts_client__form_encode(b, name, strlen(name));
    ts_common__secbuf_add(b, "=", 1);
    ts_client__form_encode(b, value, len);
}

void ts_client__base64(ts_common__secbuf *b, const unsigned char *s, size_t n)
{
    static const char tbl[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    for (size_t i = 0; i < n; i += 3) {
        unsigned v = (unsigned)s[i] << 16;
        if (i + 1 < n)
            v |= (unsigned)s[i + 1] << 8;
        if (i + 2 < n)
            v |= s[i + 2];
        char q[4] = {tbl[(v >> 18) & 63], tbl[(v >> 12) & 63], i + 1 < n ? tbl[(v >> 6) & 63] : '=',
                     i + 2 < n ? tbl[v & 63] : '='};
        ts_common__secbuf_add(b, q, 4);
    }
}
