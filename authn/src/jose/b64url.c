/* Strict base64url (RFC 4648 §5 without padding) and small helpers for untrusted JSON. */
#include <stdlib.h>
#include <string.h>

#include "jose/jose_internal.h"

static const char enc_table[64] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/* 0..63 for alphabet bytes, 64 for everything else (padding and white space included). */
static const uint8_t dec_table[256] = {
#define X64 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64, 64
    X64,           X64,
    /* 0x20 */ 64, 64,  64,  64,  64,  64,  64,  64, 64, 64, 64, 64, 64, 62, 64, 64,
    /* 0x30 */ 52, 53,  54,  55,  56,  57,  58,  59, 60, 61, 64, 64, 64, 64, 64, 64,
    /* 0x40 */ 64, 0,   1,   2,   3,   4,   5,   6,  7,  8,  9,  10, 11, 12, 13, 14,
    /* 0x50 */ 15, 16,  17,  18,  19,  20,  21,  22, 23, 24, 25, 64, 64, 64, 64, 63,
    /* 0x60 */ 64, 26,  27,  28,  29,  30,  31,  32, 33, 34, 35, 36, 37, 38, 39, 40,
    /* 0x70 */ 41, 42,  43,  44,  45,  46,  47,  48, 49, 50, 51, 64, 64, 64, 64, 64,
    X64,           X64, X64, X64, X64, X64, X64, X64
#undef X64
};

/* Deprecated alias of ts_free(), kept exported for programs built against 0.1.0. */
void ts_authn_free(void *p)
{
    free(p);
}

size_t ts_authn__b64url_encoded_len(size_t len)
{
    return (len / 3) * 4 + (len % 3 == 0 ? 0 : len % 3 + 1);
}

size_t ts_authn__b64url_decoded_max(size_t len)
{
    return (len / 4) * 3 + (len % 4 == 0 ? 0 : len % 4 - 1);
}

size_t ts_authn__b64url_encode_buf(const uint8_t *in, size_t len, char *out)
{
    size_t o = 0, i = 0;
    for (; i + 3 <= len; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        out[o++] = enc_table[v >> 18];
        out[o++] = enc_table[(v >> 12) & 63];
        out[o++] = enc_table[(v >> 6) & 63];
        out[o++] = enc_table[v & 63];
    }
    if (len - i == 1) {
        uint32_t v = (uint32_t)in[i] << 16;
        out[o++] = enc_table[v >> 18];
        out[o++] = enc_table[(v >> 12) & 63];
    } else if (len - i == 2) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8;
        out[o++] = enc_table[v >> 18];
        out[o++] = enc_table[(v >> 12) & 63];
        out[o++] = enc_table[(v >> 6) & 63];
    }
    out[o] = '\0';
    return o;
}

bool ts_authn__b64url_decode_buf(const char *in, size_t len, uint8_t *out, size_t cap,
                                 size_t *out_len)
{
    /* A length of 1 mod 4 cannot come from any byte string. */
    if (len % 4 == 1)
        return false;
    size_t need = ts_authn__b64url_decoded_max(len);
    if (need > cap)
        return false;
    const unsigned char *u = (const unsigned char *)in;
    size_t o = 0, i = 0;
    for (; i + 4 <= len; i += 4) {
        uint8_t a = dec_table[u[i]], b = dec_table[u[i + 1]], c = dec_table[u[i + 2]],
                d = dec_table[u[i + 3]];
        if ((a | b | c | d) & 64)
            return false;
        uint32_t v = (uint32_t)a << 18 | (uint32_t)b << 12 | (uint32_t)c << 6 | d;
        out[o++] = (uint8_t)(v >> 16);
        out[o++] = (uint8_t)(v >> 8);
        out[o++] = (uint8_t)v;
    }
    size_t rest = len - i;
    if (rest == 2) {
        uint8_t a = dec_table[u[i]], b = dec_table[u[i + 1]];
        /* Unused low bits must be zero, so that each byte string has exactly one encoding. */
        if ((a | b) & 64 || (b & 0x0F))
            return false;
        out[o++] = (uint8_t)(a << 2 | b >> 4);
    } else if (rest == 3) {
        uint8_t a = dec_table[u[i]], b = dec_table[u[i + 1]], c = dec_table[u[i + 2]];
        if ((a | b | c) & 64 || (c & 0x03))
            return false;
        out[o++] = (uint8_t)(a << 2 | b >> 4);
        out[o++] = (uint8_t)((b & 0x0F) << 4 | c >> 2);
    }
    *out_len = o;
    return true;
}

ts_status ts_b64url_decode(const char *in, size_t len, uint8_t **out, size_t *out_len,
                           ts_error *err)
{
    if (!out || !out_len || (!in && len))
        return ts_error_set(err, TS_EINVAL, "ts_b64url_decode", "NULL argument");
    *out = NULL;
    *out_len = 0;
    size_t cap = ts_authn__b64url_decoded_max(len);
    uint8_t *buf = malloc(cap + 1);
    if (!buf)
        return ts_error_set(err, TS_ENOMEM, "ts_b64url_decode", "out of memory");
    size_t n = 0;
    if (!ts_authn__b64url_decode_buf(in ? in : "", len, buf, cap, &n)) {
        free(buf);
        return ts_error_set(err, TS_EPARSE, "base64url",
                            "not strict base64url (alphabet A-Z a-z 0-9 - _, no padding)");
    }
    buf[n] = 0;
    *out = buf;
    *out_len = n;
    return TS_OK;
}

ts_status ts_b64url_encode(const void *in, size_t len, char **out, size_t *out_len, ts_error *err)
{
    if (!out || (!in && len))
        return ts_error_set(err, TS_EINVAL, "ts_b64url_encode", "NULL argument");
    char *buf = malloc(ts_authn__b64url_encoded_len(len) + 1);
    if (!buf)
        return ts_error_set(err, TS_ENOMEM, "ts_b64url_encode", "out of memory");
    size_t n = ts_authn__b64url_encode_buf(in, len, buf);
    *out = buf;
    if (out_len)
        *out_len = n;
    return TS_OK;
}

unsigned ts_authn__json_depth(const char *s, size_t len)
{
    unsigned depth = 0, max = 0;
    bool in_str = false;
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (in_str) {
            if (c == '\\')
                i++;
            else if (c == '"')
                in_str = false;
            continue;
        }
        if (c == '"') {
            in_str = true;
        } else if (c == '{' || c == '[') {
            if (++depth > max)
                max = depth;
        } else if ((c == '}' || c == ']') && depth > 0) {
            depth--;
        }
    }
    return max;
}

json_t *ts_authn__json_parse_object(const char *s, size_t len, size_t max_bytes, const char *what,
                                    ts_error *err)
{
    if (len > max_bytes) {
        ts_error_set(err, TS_ELIMIT, what, "%zu bytes, more than the limit of %zu", len, max_bytes);
        return NULL;
    }
    const char *why = NULL;
    size_t pos = 0;
    json_t *j = ts_authn__json_parse_strict(s, len, &why, &pos);
    if (!j) {
        bool deep = strcmp(why, "nested too deeply") == 0;
        if (strcmp(why, "out of memory") == 0) /* the document may be fine */
            ts_error_set(err, TS_ENOMEM, what, "out of memory");
        else
            ts_error_set(err, deep ? TS_ELIMIT : TS_EPARSE, what, "invalid JSON at byte %zu: %s%s",
                         pos, why, deep ? " (limit 16 levels)" : "");
        return NULL;
    }
    if (!json_is_object(j)) {
        json_decref(j);
        ts_error_set(err, TS_EPARSE, what, "not a JSON object");
        return NULL;
    }
    return j;
}
