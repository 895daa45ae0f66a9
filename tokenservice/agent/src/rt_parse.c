/* A source's answer to tokens: RFC 6901 JSON pointers into the body, header fields, the JWT
 * `exp` claim, and the expiry formats (seconds from now, Unix time, RFC 3339). Nothing here
 * puts a token's value into a message. */
#define _DEFAULT_SOURCE /* timegm */

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <jansson.h>

#include "common/mem.h"
#include "rt_internal.h"

void ts_agent__tokens_clear(ts_agent__token *t, size_t n)
{
    for (size_t i = 0; t && i < n; i++) {
        ts_agent__secret_free(t[i].value, t[i].len);
        t[i].value = NULL;
        t[i].len = 0;
        t[i].expires_at = 0;
    }
}

/* RFC 6901: "" is the whole document; each "/step" a member (~1 is '/', ~0 is '~') or an
 * array index. */
static json_t *json_pointer(json_t *doc, const char *ptr)
{
    if (!*ptr)
        return doc;
    if (*ptr != '/')
        return NULL;
    json_t *cur = doc;
    char step[512];
    while (cur && *ptr == '/') {
        ptr++;
        size_t n = 0;
        while (*ptr && *ptr != '/') {
            char c = *ptr++;
            if (c == '~') {
                if (*ptr == '0')
                    c = '~';
                else if (*ptr == '1')
                    c = '/';
                else
                    return NULL;
                ptr++;
            }
            if (n + 1 >= sizeof step)
                return NULL;
            step[n++] = c;
        }
        step[n] = '\0';
        if (json_is_object(cur))
            cur = json_object_get(cur, step);
        else if (json_is_array(cur)) {
            if (n == 0 || (n > 1 && step[0] == '0') || strspn(step, "0123456789") != n || n > 9)
                return NULL;
            cur = json_array_get(cur, strtoul(step, NULL, 10));
        } else
            return NULL;
    }
    return cur;
}

/* The value of header @p name in @p headers (lines as received, CRLF-separated); the last one
 * wins, as a redirect's headers come before the final answer's. */
static bool header_value(const char *headers, const char *name, const char **v, size_t *vlen)
{
    size_t nl = strlen(name);
    bool found = false;
    for (const char *p = headers; *p;) {
        const char *e = strchr(p, '\n');
        size_t len = e ? (size_t)(e - p) : strlen(p);
        if (len > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *s = p + nl + 1, *end = p + len;
            while (s < end && (*s == ' ' || *s == '\t'))
                s++;
            while (end > s && (end[-1] == '\r' || end[-1] == ' ' || end[-1] == '\t'))
                end--;
            *v = s;
            *vlen = (size_t)(end - s);
            found = true;
        }
        if (!e)
            break;
        p = e + 1;
    }
    return found;
}

static int b64url_val(char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '-')
        return 62;
    if (c == '_')
        return 63;
    return -1;
}

ts_status ts_agent__jwt_exp(const char *jwt, size_t len, int64_t *exp)
{
    const char *d1 = memchr(jwt, '.', len);
    if (!d1)
        return TS_EPARSE;
    const char *p = d1 + 1, *end = jwt + len;
    const char *d2 = memchr(p, '.', (size_t)(end - p));
    if (!d2 || d2 - p > 16384)
        return TS_EPARSE;
    size_t n = (size_t)(d2 - p);
    unsigned char *out = malloc(n + 1);
    if (!out)
        return TS_ENOMEM;
    size_t o = 0;
    unsigned acc = 0, bits = 0;
    for (size_t i = 0; i < n; i++) {
        int v = b64url_val(p[i]);
        if (v < 0) {
            free(out);
            return TS_EPARSE;
        }
        acc = (acc << 6) | (unsigned)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (unsigned char)(acc >> bits);
            acc &= (1u << bits) - 1u;
        }
    }
    json_t *claims = json_loadb((const char *)out, o, 0, NULL);
    ts_common__memzero(out, n + 1);
    free(out);
    json_t *e = claims ? json_object_get(claims, "exp") : NULL;
    ts_status st = TS_EPARSE;
    if (json_is_integer(e)) {
        *exp = (int64_t)json_integer_value(e);
        st = TS_OK;
    } else if (json_is_real(e) && json_real_value(e) > 0 && json_real_value(e) < 1e15) {
        *exp = (int64_t)json_real_value(e);
        st = TS_OK;
    }
    json_decref(claims);
    return st;
}

static bool digits(const char *s, size_t n, int *out)
{
    int v = 0;
    for (size_t i = 0; i < n; i++) {
        if (!isdigit((unsigned char)s[i]))
            return false;
        v = v * 10 + (s[i] - '0');
    }
    *out = v;
    return true;
}

ts_status ts_agent__parse_rfc3339(const char *s, size_t len, int64_t *out)
{
    int Y, M, D, h, m, sec;
    if (len < 20 || s[4] != '-' || s[7] != '-' || (s[10] != 'T' && s[10] != 't') || s[13] != ':' ||
        s[16] != ':' || !digits(s, 4, &Y) || !digits(s + 5, 2, &M) || !digits(s + 8, 2, &D) ||
        !digits(s + 11, 2, &h) || !digits(s + 14, 2, &m) || !digits(s + 17, 2, &sec))
        return TS_EPARSE;
    if (M < 1 || M > 12 || D < 1 || D > 31 || h > 23 || m > 59 || sec > 60)
        return TS_EPARSE;
    size_t i = 19;
    if (i < len && s[i] == '.') {
        i++;
        size_t f = i;
        while (i < len && isdigit((unsigned char)s[i]))
            i++;
        if (i == f)
            return TS_EPARSE;
    }
    int64_t off = 0;
    if (i < len && (s[i] == 'Z' || s[i] == 'z'))
        i++;
    else if (i + 6 == len && (s[i] == '+' || s[i] == '-') && s[i + 3] == ':') {
        int oh, om;
        if (!digits(s + i + 1, 2, &oh) || !digits(s + i + 4, 2, &om) || oh > 23 || om > 59)
            return TS_EPARSE;
        off = (oh * 3600 + om * 60) * (s[i] == '+' ? 1 : -1);
        i += 6;
    } else
        return TS_EPARSE;
    if (i != len)
        return TS_EPARSE;
    struct tm tm = {0};
    tm.tm_year = Y - 1900;
    tm.tm_mon = M - 1;
    tm.tm_mday = D;
    tm.tm_hour = h;
    tm.tm_min = m;
    tm.tm_sec = sec;
    *out = (int64_t)timegm(&tm) - off;
    return TS_OK;
}

void ts_agent__format_rfc3339(int64_t t, char *out, size_t cap)
{
    time_t tt = (time_t)t;
    struct tm tm;
    if (!gmtime_r(&tt, &tm)) {
        snprintf(out, cap, "1970-01-01T00:00:00Z");
        return;
    }
    strftime(out, cap, "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* A number of seconds, or a Unix time, written as digits (optionally with a fraction). */
static bool parse_number_text(const char *s, size_t n, int64_t *out)
{
    char buf[32];
    if (n == 0 || n >= sizeof buf)
        return false;
    memcpy(buf, s, n);
    buf[n] = '\0';
    char *end;
    errno = 0;
    double d = strtod(buf, &end);
    if (errno || *end || !(d >= 0) || d > 1e15)
        return false;
    *out = (int64_t)d;
    return true;
}

static ts_status expiry_of(const ts_agent_token_spec *t, json_t *doc, const char *headers,
                           const char *tok, size_t tok_len, int64_t now, int64_t *exp,
                           ts_error *err)
{
    const ts_agent_expiration *x = &t->expiration;
    int64_t v = 0;
    switch (x->source) {
    case TS_AGENT_EXP_MANUAL:
        *exp = now + x->manual_ttl_seconds;
        return TS_OK;
    case TS_AGENT_EXP_SELF:
        if (ts_agent__jwt_exp(tok, tok_len, exp) != TS_OK)
            return ts_error_set(err, TS_EPARSE, t->id, "token '%s' is not a JWT with an exp claim",
                                t->id);
        return TS_OK;
    case TS_AGENT_EXP_JSON_BODY_FIELD: {
        json_t *f = doc ? json_pointer(doc, x->pointer) : NULL;
        bool ok = false;
        if (x->format == TS_AGENT_TIME_RFC3339)
            ok = json_is_string(f) &&
                 ts_agent__parse_rfc3339(json_string_value(f), json_string_length(f), &v) == TS_OK;
        else if (json_is_integer(f) && json_integer_value(f) >= 0) {
            v = (int64_t)json_integer_value(f);
            ok = true;
        } else if (json_is_real(f) && json_real_value(f) >= 0 && json_real_value(f) < 1e15) {
            v = (int64_t)json_real_value(f);
            ok = true;
        } else if (json_is_string(f))
            ok = parse_number_text(json_string_value(f), json_string_length(f), &v);
        if (!ok)
            return ts_error_set(
                err, TS_EPARSE, t->id, "token '%s': no expiry at %s in the answer (format %s)",
                t->id, x->pointer, x->format == TS_AGENT_TIME_RFC3339 ? "rfc3339" : "a number");
        break;
    }
    case TS_AGENT_EXP_HEADER_FIELD: {
        const char *h;
        size_t hl;
        bool ok = header_value(headers, x->pointer, &h, &hl);
        if (ok)
            ok = x->format == TS_AGENT_TIME_RFC3339 ? ts_agent__parse_rfc3339(h, hl, &v) == TS_OK
                                                    : parse_number_text(h, hl, &v);
        if (!ok)
            return ts_error_set(err, TS_EPARSE, t->id,
                                "token '%s': no expiry in header %s of the answer", t->id,
                                x->pointer);
        break;
    }
    }
    *exp = x->format == TS_AGENT_TIME_SECONDS ? now + v : v;
    return TS_OK;
}

/* A token must be printable ASCII: it goes into files, HTTP headers and JSON strings. */
static bool token_text_ok(const char *s, size_t n)
{
    if (n == 0 || n > TS_AGENT__MAX_TOKEN)
        return false;
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

ts_status ts_agent__parse_tokens(const ts_agent_source *src, const char *body, size_t body_len,
                                 const char *headers, int64_t now, ts_agent__token *out,
                                 ts_error *err)
{
    json_t *doc = NULL;
    bool tried = false;
    ts_status st = TS_OK;
    size_t i = 0;
    for (; i < src->n_tokens && st == TS_OK; i++) {
        const ts_agent_token_spec *t = &src->tokens[i];
        bool need_json = (t->parent == TS_AGENT_PARENT_BODY && *t->pointer) ||
                         t->expiration.source == TS_AGENT_EXP_JSON_BODY_FIELD;
        if (need_json && !tried) {
            tried = true;
            json_error_t je;
            doc = json_loadb(body, body_len, JSON_REJECT_DUPLICATES, &je);
        }
        const char *v = NULL;
        size_t vl = 0;
        if (t->parent == TS_AGENT_PARENT_HEADER) {
            if (!header_value(headers, t->pointer, &v, &vl))
                st = ts_error_set(err, TS_EPARSE, t->id, "token '%s': no header %s in the answer",
                                  t->id, t->pointer);
        } else if (!*t->pointer) {
            v = body;
            vl = body_len;
            while (vl > 0 && (v[vl - 1] == '\n' || v[vl - 1] == '\r'))
                vl--; /* a file's trailing line break is not part of the token */
        } else {
            json_t *f = doc ? json_pointer(doc, t->pointer) : NULL;
            if (!json_is_string(f))
                st = ts_error_set(err, TS_EPARSE, t->id,
                                  doc ? "token '%s': no string at %s in the answer"
                                      : "token '%s': the answer is not JSON (looking for %s)",
                                  t->id, t->pointer);
            else {
                v = json_string_value(f);
                vl = json_string_length(f);
            }
        }
        if (st != TS_OK)
            break;
        if (!token_text_ok(v, vl)) {
            st = ts_error_set(err, TS_EPARSE, t->id,
                              "token '%s' is empty, longer than %u bytes or not printable ASCII",
                              t->id, TS_AGENT__MAX_TOKEN);
            break;
        }
        int64_t exp = 0;
        if ((st = expiry_of(t, doc, headers, v, vl, now, &exp, err)) != TS_OK)
            break;
        if (exp <= now) {
            st = ts_error_set(err, TS_EPARSE, t->id, "token '%s' has already expired", t->id);
            break;
        }
        out[i].value = malloc(vl + 1);
        if (!out[i].value) {
            st = ts_error_set(err, TS_ENOMEM, t->id, "out of memory");
            break;
        }
        memcpy(out[i].value, v, vl);
        out[i].value[vl] = '\0';
        out[i].len = vl;
        out[i].expires_at = exp;
    }
    json_decref(doc); /* jansson's copy of the body is not wiped: it has no hook for that */
    if (st != TS_OK)
        ts_agent__tokens_clear(out, src->n_tokens);
    return st;
}
