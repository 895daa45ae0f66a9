#include "model/gostr.h"

#include <stdbool.h>

/* The multi-byte White_Space runes in UTF-8. Matching their exact encodings is equivalent to
 * Go's rune decoding, because each is a valid sequence that starts with a lead byte. */
static bool multibyte_space(const unsigned char *p, size_t n)
{
    if (n == 2)
        return p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0);
    if (n != 3)
        return false;
    if (p[0] == 0xE1)
        return p[1] == 0x9A && p[2] == 0x80; /* U+1680 */
    if (p[0] == 0xE2 && p[1] == 0x80)
        return (p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 || p[2] == 0xAF;
    if (p[0] == 0xE2 && p[1] == 0x81)
        return p[2] == 0x9F; /* U+205F */
    if (p[0] == 0xE3)
        return p[1] == 0x80 && p[2] == 0x80; /* U+3000 */
    return false;
}

static bool ascii_space(unsigned char c)
{
    return c == ' ' || (c >= '\t' && c <= '\r');
}

size_t ts_authz__go_space_prefix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return 0;
    if (ascii_space(p[0]))
        return 1;
    if (n >= 2 && multibyte_space(p, 2))
        return 2;
    if (n >= 3 && multibyte_space(p, 3))
        return 3;
    return 0;
}

size_t ts_authz__go_space_suffix(const char *s, size_t n)
{
    const unsigned char *p = (const unsigned char *)s;
    if (n == 0)
        return 0;
    if (ascii_space(p[n - 1]))
        return 1;
    if (n >= 2 && multibyte_space(p + n - 2, 2))
        return 2;
    if (n >= 3 && multibyte_space(p + n - 3, 3))
        return 3;
    return 0;
}

void ts_authz__go_trim_space(const char **s, size_t *n)
{
    size_t k;
    while ((k = ts_authz__go_space_prefix(*s, *n)) > 0) {
        *s += k;
        *n -= k;
    }
    while ((k = ts_authz__go_space_suffix(*s, *n)) > 0)
        *n -= k;
}
