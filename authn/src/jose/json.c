/* A strict JSON parser for untrusted JOSE input that builds jansson values. Same acceptance as
   jansson's json_loadb(JSON_REJECT_DUPLICATES) for object documents (RFC 8259: UTF-8 checked,
   no control characters in strings, no \u0000, paired surrogates, integers within long long),
   at a fraction of the cost: jansson's byte-at-a-time lexer dominated token verification. */
#include <errno.h>
#include <locale.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "common/utf8.h"
#include "jose/jose_internal.h"

typedef struct parser {
    const unsigned char *s;
    size_t n, i;
    unsigned depth;
    const char *err;
} parser;

static json_t *value(parser *p);

static void ws(parser *p)
{
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c != ' ' && c != '\t' && c != '\n' && c != '\r')
            break;
        p->i++;
    }
}

static json_t *fail(parser *p, const char *msg)
{
    if (!p->err)
        p->err = msg;
    return NULL;
}

/* Four hex digits as a number, or -1. */
static int hex4(const unsigned char *s)
{
    int v = 0;
    for (int k = 0; k < 4; k++) {
        int d = ts_common__hexval((char)s[k]);
        if (d < 0)
            return -1;
        v = v * 16 + d;
    }
    return v;
}

/* Parse a string at p->i (on the opening quote). Plain strings are returned in place
   (*out points into the input, *owned NULL); strings with escapes are decoded into *owned. */
static bool string(parser *p, const char **out, size_t *len, char **owned)
{
    *owned = NULL;
    size_t start = ++p->i;
    bool esc = false;
    while (p->i < p->n) {
        unsigned char c = p->s[p->i];
        if (c == '"')
            break;
        if (c < 0x20) {
            p->err = p->err ? p->err : "control character in string";
            return false;
        }
        if (c == '\\') {
            esc = true;
            if (p->i + 1 >= p->n) {
                p->err = p->err ? p->err : "unterminated string";
                return false;
            }
            p->i += 2;
            continue;
        }
        if (c < 0x80) { /* ASCII: the common case */
            p->i++;
            continue;
        }
        size_t l = ts_common__utf8_decode(p->s + p->i, p->n - p->i, NULL);
        if (!l) {
            p->err = p->err ? p->err : "invalid UTF-8 in string";
            return false;
        }
        p->i += l;
    }
    if (p->i >= p->n) {
        p->err = p->err ? p->err : "unterminated string";
        return false;
    }
    size_t end = p->i++;
    if (!esc) {
        *out = (const char *)p->s + start;
        *len = end - start;
        return true;
    }
    /* Decoded text is never longer than its escaped form. */
    char *o = malloc(end - start + 1);
    if (!o) {
        p->err = p->err ? p->err : "out of memory";
        return false;
    }
    size_t w = 0;
    for (size_t i = start; i < end;) {
        unsigned char c = p->s[i];
        if (c != '\\') {
            o[w++] = (char)c;
            i++;
            continue;
        }
        unsigned char e = p->s[i + 1];
        i += 2;
        switch (e) {
        case '"':
        case '\\':
        case '/':
            o[w++] = (char)e;
            break;
        case 'b':
            o[w++] = '\b';
            break;
        case 'f':
            o[w++] = '\f';
            break;
        case 'n':
            o[w++] = '\n';
            break;
        case 'r':
            o[w++] = '\r';
            break;
        case 't':
            o[w++] = '\t';
            break;
        case 'u': {
            int v = i + 4 <= end ? hex4(p->s + i) : -1;
            if (v < 0)
                goto bad;
            i += 4;
            unsigned cp = (unsigned)v;
            if (cp >= 0xDC00 && cp <= 0xDFFF)
                goto bad; /* lone low surrogate */
            if (cp >= 0xD800 && cp <= 0xDBFF) {
                int lo =
                    i + 6 <= end && p->s[i] == '\\' && p->s[i + 1] == 'u' ? hex4(p->s + i + 2) : -1;
                if (lo < 0xDC00 || lo > 0xDFFF)
                    goto bad;
                i += 6;
                cp = 0x10000 + ((cp - 0xD800) << 10) + ((unsigned)lo - 0xDC00);
            }
            if (cp == 0)
                goto bad; /* \u0000 is refused, as jansson does without JSON_ALLOW_NUL */
            w += ts_common__utf8_encode(cp, o + w);
            break;
        }
        default:
            goto bad;
        }
    }
    o[w] = 0;
    *owned = o;
    *out = o;
    *len = w;
    return true;
bad:
    free(o);
    p->err = p->err ? p->err : "invalid escape in string";
    return false;
}

static json_t *number(parser *p)
{
    size_t st = p->i;
    bool real = false;
    if (p->i < p->n && p->s[p->i] == '-')
        p->i++;
    if (p->i >= p->n)
        return fail(p, "invalid number");
    if (p->s[p->i] == '0') {
        p->i++;
    } else if (p->s[p->i] >= '1' && p->s[p->i] <= '9') {
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
    } else {
        return fail(p, "invalid number");
    }
    if (p->i < p->n && p->s[p->i] == '.') {
        real = true;
        p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
        if (p->i == d)
            return fail(p, "invalid number");
    }
    if (p->i < p->n && (p->s[p->i] == 'e' || p->s[p->i] == 'E')) {
        real = true;
        p->i++;
        if (p->i < p->n && (p->s[p->i] == '+' || p->s[p->i] == '-'))
            p->i++;
        size_t d = p->i;
        while (p->i < p->n && p->s[p->i] >= '0' && p->s[p->i] <= '9')
            p->i++;
        if (p->i == d)
            return fail(p, "invalid number");
    }
    size_t len = p->i - st;
    char buf[512];
    if (len >= sizeof buf)
        return fail(p, "number too long");
    memcpy(buf, p->s + st, len);
    buf[len] = 0;
    errno = 0;
    if (!real) {
        char *end;
        long long v = strtoll(buf, &end, 10);
        if (errno == ERANGE)
            return fail(p, "too big integer");
        json_t *j = json_integer((json_int_t)v);
        return j ? j : fail(p, "out of memory");
    }
    /* strtod follows the locale's decimal point; JSON always uses '.'. */
    const char *dp = localeconv()->decimal_point;
    if (dp && dp[0] && dp[0] != '.' && !dp[1]) {
        char *dot = strchr(buf, '.');
        if (dot)
            *dot = dp[0];
    }
    double d = strtod(buf, NULL);
    if (isinf(d))
        return fail(p, "real number overflow");
    json_t *j = json_real(d);
    return j ? j : fail(p, "out of memory");
}

static bool literal(parser *p, const char *word)
{
    size_t l = strlen(word);
    if (p->n - p->i < l || memcmp(p->s + p->i, word, l) != 0)
        return false;
    p->i += l;
    return true;
}

static json_t *object(parser *p)
{
    p->i++; /* '{' */
    json_t *o = json_object();
    if (!o)
        return fail(p, "out of memory");
    ws(p);
    if (p->i < p->n && p->s[p->i] == '}') {
        p->i++;
        return o;
    }
    for (;;) {
        ws(p);
        if (p->i >= p->n || p->s[p->i] != '"')
            goto bad_key;
        const char *k;
        size_t kl;
        char *owned;
        if (!string(p, &k, &kl, &owned))
            goto fail_;
        /* Keys with an embedded NUL cannot occur: \u0000 is refused above. */
        char kbuf[256];
        const char *key = k;
        char *heap = NULL;
        if (!owned) {
            if (kl < sizeof kbuf) {
                memcpy(kbuf, k, kl);
                kbuf[kl] = 0;
                key = kbuf;
            } else if ((heap = malloc(kl + 1))) {
                memcpy(heap, k, kl);
                heap[kl] = 0;
                key = heap;
            } else {
                fail(p, "out of memory");
                goto fail_;
            }
        }
        if (json_object_getn(o, key, kl)) {
            free(owned);
            free(heap);
            fail(p, "duplicate object key");
            goto fail_;
        }
        ws(p);
        if (p->i >= p->n || p->s[p->i] != ':') {
            free(owned);
            free(heap);
            fail(p, "':' expected");
            goto fail_;
        }
        p->i++;
        json_t *v = value(p);
        int rc = v ? json_object_setn_new_nocheck(o, key, kl, v) : -1;
        free(owned);
        free(heap);
        if (rc) {
            fail(p, "out of memory");
            goto fail_;
        }
        ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == '}') {
            p->i++;
            return o;
        }
        fail(p, "',' or '}' expected");
        goto fail_;
    }
bad_key:
    fail(p, "string or '}' expected");
fail_:
    json_decref(o);
    return NULL;
}

static json_t *array(parser *p)
{
    p->i++; /* '[' */
    json_t *a = json_array();
    if (!a)
        return fail(p, "out of memory");
    ws(p);
    if (p->i < p->n && p->s[p->i] == ']') {
        p->i++;
        return a;
    }
    for (;;) {
        json_t *v = value(p);
        if (!v || json_array_append_new(a, v)) {
            fail(p, v ? "out of memory" : "invalid array element");
            json_decref(a);
            return NULL;
        }
        ws(p);
        if (p->i < p->n && p->s[p->i] == ',') {
            p->i++;
            continue;
        }
        if (p->i < p->n && p->s[p->i] == ']') {
            p->i++;
            return a;
        }
        json_decref(a);
        return fail(p, "',' or ']' expected");
    }
}

static json_t *value(parser *p)
{
    ws(p);
    if (p->i >= p->n)
        return fail(p, "unexpected end of input");
    unsigned char c = p->s[p->i];
    if (c == '{' || c == '[') {
        if (++p->depth > TS_JOSE_MAX_JSON_DEPTH)
            return fail(p, "nested too deeply");
        json_t *v = c == '{' ? object(p) : array(p);
        p->depth--;
        return v;
    }
    if (c == '"') {
        const char *s;
        size_t l;
        char *owned;
        if (!string(p, &s, &l, &owned))
            return NULL;
        json_t *v = json_stringn_nocheck(s, l);
        free(owned);
        return v ? v : fail(p, "out of memory");
    }
    if (c == '-' || (c >= '0' && c <= '9'))
        return number(p);
    if (literal(p, "true"))
        return json_true();
    if (literal(p, "false"))
        return json_false();
    if (literal(p, "null"))
        return json_null();
    return fail(p, "invalid token");
}

json_t *ts_authn__json_parse_strict(const char *s, size_t len, const char **err, size_t *pos)
{
    parser p = {(const unsigned char *)s, len, 0, 0, NULL};
    ws(&p);
    json_t *v = NULL;
    if (p.i < p.n && (p.s[p.i] == '{' || p.s[p.i] == '['))
        v = value(&p);
    else
        fail(&p, "'[' or '{' expected");
    if (v) {
        ws(&p);
        if (p.i != p.n) {
            json_decref(v);
            v = NULL;
            fail(&p, "end of input expected");
        }
    }
    if (!v) {
        *err = p.err ? p.err : "invalid JSON";
        *pos = p.i;
    }
    return v;
}
