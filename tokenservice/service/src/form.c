/* Strict application/x-www-form-urlencoded parser. */
#include "form.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "common/hex.h"

typedef struct field {
    const char *name;
    const char *value;
    size_t value_len;
} field;

struct ts_form {
    field fields[TS_FORM_MAX_FIELDS];
    size_t n;
    char *buf; /* decoded names and values, each NUL-terminated */
    size_t cap;
};

static bool name_char(unsigned char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '.' || c == '-';
}

/* Decoding only ever shrinks, so the output never outgrows the input span. */
static ts_status decode(const char *in, size_t len, char *out, size_t *out_len, const char *what,
                        ts_error *err)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '+') {
            c = ' ';
        } else if (c == '%') {
            if (len - i < 3)
                return ts_error_set(err, TS_EPARSE, what, "truncated percent escape");
            int hi = ts_common__hexval(in[i + 1]), lo = ts_common__hexval(in[i + 2]);
            if (hi < 0 || lo < 0)
                return ts_error_set(err, TS_EPARSE, what, "malformed percent escape");
            c = (unsigned char)(hi * 16 + lo);
            i += 2;
        } else if (c < 0x21 || c == 0x7f) {
            /* Raw spaces and controls are not part of a urlencoded body. */
            return ts_error_set(err, TS_EPARSE, what, "unencoded character 0x%02x", c);
        }
        if (c < 0x20 || c == 0x7f)
            return ts_error_set(err, TS_EPARSE, what, "control character 0x%02x", c);
        out[o++] = (char)c;
    }
    out[o] = '\0';
    *out_len = o;
    return TS_OK;
}

static bool utf8_valid(const unsigned char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = s[i];
        size_t k;
        uint32_t cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if ((c & 0xe0) == 0xc0) {
            k = 1;
            cp = c & 0x1fu;
        } else if ((c & 0xf0) == 0xe0) {
            k = 2;
            cp = c & 0x0fu;
        } else if ((c & 0xf8) == 0xf0) {
            k = 3;
            cp = c & 0x07u;
        } else {
            return false;
        }
        if (n - i <= k)
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xc0) != 0x80)
                return false;
            cp = (cp << 6) | (s[i + j] & 0x3fu);
        }
        if ((k == 1 && cp < 0x80) || (k == 2 && cp < 0x800) || (k == 3 && cp < 0x10000) ||
            cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
            return false;
        i += k + 1;
    }
    return true;
}

ts_status ts_form_parse(const char *body, size_t len, ts_form **out, ts_error *err)
{
    if (!out)
        return ts_error_set(err, TS_EINVAL, "form", "NULL output");
    *out = NULL;
    if (!body && len)
        return ts_error_set(err, TS_EINVAL, "form", "NULL body");
    if (len > TS_FORM_MAX_BODY)
        return ts_error_set(err, TS_ELIMIT, "form", "body of %zu bytes exceeds %u", len,
                            TS_FORM_MAX_BODY);
    ts_form *f = calloc(1, sizeof *f);
    if (!f)
        return ts_error_set(err, TS_ENOMEM, "form", "out of memory");
    f->cap = len + TS_FORM_MAX_FIELDS * 2 + 1;
    f->buf = malloc(f->cap);
    if (!f->buf) {
        free(f);
        return ts_error_set(err, TS_ENOMEM, "form", "out of memory");
    }
    if (len == 0) {
        *out = f;
        return TS_OK;
    }
    size_t pos = 0, o = 0;
    ts_status st = TS_OK;
    for (;;) {
        const char *pair = body + pos;
        const char *amp = memchr(pair, '&', len - pos);
        size_t plen = amp ? (size_t)(amp - pair) : len - pos;
        char where[48];
        snprintf(where, sizeof where, "form parameter %zu", f->n + 1);
        if (plen == 0) {
            st = ts_error_set(err, TS_EPARSE, where, "empty parameter");
            break;
        }
        if (f->n == TS_FORM_MAX_FIELDS) {
            st =
                ts_error_set(err, TS_ELIMIT, "form", "more than %u parameters", TS_FORM_MAX_FIELDS);
            break;
        }
        const char *eq = memchr(pair, '=', plen);
        if (!eq) {
            st = ts_error_set(err, TS_EPARSE, where, "missing '='");
            break;
        }
        size_t nlen = (size_t)(eq - pair);
        char *name = f->buf + o;
        size_t dn;
        if ((st = decode(pair, nlen, name, &dn, where, err)) != TS_OK)
            break;
        if (dn == 0 || dn > TS_FORM_MAX_NAME_LEN) {
            st = ts_error_set(err, TS_EPARSE, where, "empty or overlong name");
            break;
        }
        for (size_t i = 0; i < dn; i++) {
            if (!name_char((unsigned char)name[i])) {
                st = ts_error_set(err, TS_EPARSE, where, "invalid character in name");
                break;
            }
        }
        if (st != TS_OK)
            break;
        o += dn + 1;
        snprintf(where, sizeof where, "form parameter '%s'", name);
        for (size_t i = 0; i < f->n; i++) {
            if (strcmp(f->fields[i].name, name) == 0) {
                st = ts_error_set(err, TS_EPARSE, where, "given more than once");
                break;
            }
        }
        if (st != TS_OK)
            break;
        char *value = f->buf + o;
        size_t dv;
        if ((st = decode(eq + 1, plen - nlen - 1, value, &dv, where, err)) != TS_OK)
            break;
        if (!utf8_valid((const unsigned char *)value, dv)) {
            st = ts_error_set(err, TS_EPARSE, where, "value is not valid UTF-8");
            break;
        }
        o += dv + 1;
        f->fields[f->n].name = name;
        f->fields[f->n].value = value;
        f->fields[f->n].value_len = dv;
        f->n++;
        if (!amp)
            break;
        pos += plen + 1;
        if (pos == len) {
            st = ts_error_set(err, TS_EPARSE, "form", "trailing '&'");
            break;
        }
    }
    if (st != TS_OK) {
        ts_form_free(f);
        return st;
    }
    *out = f;
    return TS_OK;
}

const char *ts_form_get(const ts_form *f, const char *name, size_t *len)
{
    if (!f || !name)
        return NULL;
    for (size_t i = 0; i < f->n; i++) {
        if (strcmp(f->fields[i].name, name) == 0) {
            if (len)
                *len = f->fields[i].value_len;
            return f->fields[i].value;
        }
    }
    return NULL;
}

size_t ts_form_count(const ts_form *f)
{
    return f ? f->n : 0;
}

void ts_form_free(ts_form *f)
{
    if (!f)
        return;
    if (f->buf) {
        OPENSSL_cleanse(f->buf, f->cap);
        free(f->buf);
    }
    free(f);
}
