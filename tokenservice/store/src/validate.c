/* Input checks applied by the front end before anything reaches a backend. */
#define _POSIX_C_SOURCE 200809L
#include "store_internal.h"
#include "common/utf8.h"

#include <string.h>

ts_status ts_store__check_name(const char *s, const char *field, bool required, ts_error *err)
{
    if (!s || !*s) {
        if (required)
            return ts_error_set(err, TS_EINVAL, field, "%s is required", field);
        return TS_OK;
    }
    size_t len = strnlen(s, TS_STORE_MAX_NAME_LEN + 1);
    if (len > TS_STORE_MAX_NAME_LEN)
        return ts_error_set(err, TS_EINVAL, field, "%s is longer than %d bytes", field,
                            TS_STORE_MAX_NAME_LEN);
    const unsigned char *u = (const unsigned char *)s;
    bool blank = true;
    for (size_t i = 0; i < len;) {
        if (u[i] < 0x20 || u[i] == 0x7f)
            return ts_error_set(err, TS_EINVAL, field,
                                "%s contains a control character at byte %zu", field, i);
        size_t n = ts_common__utf8_decode(u + i, len - i, NULL);
        if (n == 0)
            return ts_error_set(err, TS_EINVAL, field, "%s is not valid UTF-8 at byte %zu", field,
                                i);
        if (u[i] != ' ')
            blank = false;
        i += n;
    }
    if (blank && required)
        return ts_error_set(err, TS_EINVAL, field, "%s is required (only spaces given)", field);
    return TS_OK;
}

ts_status ts_store__check_hash(const char *s, const char *field, ts_error *err)
{
    if (!ts_store_hash_is_valid(s))
        return ts_error_set(err, TS_EINVAL, field,
                            "%s must be 64 lowercase hex characters (a SHA-256)", field);
    return TS_OK;
}

ts_status ts_store__check_peer(const char *s, ts_error *err)
{
    if (!s)
        return TS_OK;
    size_t len = strnlen(s, TS_STORE_MAX_PEER_LEN + 1);
    if (len > TS_STORE_MAX_PEER_LEN)
        return ts_error_set(err, TS_EINVAL, "peer", "peer is longer than %d bytes",
                            TS_STORE_MAX_PEER_LEN);
    for (size_t i = 0; i < len; i++)
        if (s[i] <= 0x20 || s[i] >= 0x7f)
            return ts_error_set(err, TS_EINVAL, "peer",
                                "peer must be printable ASCII without spaces");
    return TS_OK;
}

ts_status ts_store__check_now(int64_t now, ts_error *err)
{
    if (now <= 0 || now >= TS_STORE__NOW_MAX)
        return ts_error_set(err, TS_EINVAL, "now", "now (%lld) is not a plausible Unix time",
                            (long long)now);
    return TS_OK;
}

ts_status ts_store__check_id(const char *s, const char *field, ts_error *err)
{
    size_t len = s ? strnlen(s, TS_STORE_ID_MAX + 1) : 0;
    if (len == 0 || len > TS_STORE_ID_MAX)
        return ts_error_set(err, TS_EINVAL, field, "%s must be 1..%d characters", field,
                            TS_STORE_ID_MAX);
    for (size_t i = 0; i < len; i++) {
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') || c == '-'))
            return ts_error_set(err, TS_EINVAL, field, "%s contains '%c'", field, c);
    }
    return TS_OK;
}

static bool is_sep(char c)
{
    return c == ',' || c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

/* RFC 6749 §3.3 scope-token characters, minus ',' which separates scopes on the CLI. */
static bool is_scope_char(unsigned char c)
{
    return c == 0x21 || (c >= 0x23 && c <= 0x5b && c != ',') || (c >= 0x5d && c <= 0x7e);
}

ts_status ts_store_scopes_normalize(const char *in, char out[TS_STORE_MAX_SCOPE_LEN + 1],
                                    ts_error *err)
{
    size_t o = 0, count = 0;
    out[0] = '\0';
    if (!in)
        return TS_OK;
    size_t len = strnlen(in, 64u * 1024u + 1);
    if (len > 64u * 1024u)
        return ts_error_set(err, TS_EINVAL, "scopes", "scope list is too long");
    for (size_t i = 0; i < len;) {
        while (i < len && is_sep(in[i]))
            i++;
        size_t start = i;
        while (i < len && !is_sep(in[i]))
            i++;
        size_t n = i - start;
        if (n == 0)
            continue;
        for (size_t k = start; k < i; k++)
            if (!is_scope_char((unsigned char)in[k]))
                return ts_error_set(err, TS_EINVAL, "scopes",
                                    "scope '%.*s' contains a character not allowed by RFC 6749",
                                    (int)(n > 64 ? 64 : n), in + start);
        /* Drop duplicates: look for the same word in what was already written. */
        bool dup = false;
        for (size_t p = 0; p < o;) {
            size_t q = p;
            while (q < o && out[q] != ' ')
                q++;
            if (q - p == n && memcmp(out + p, in + start, n) == 0) {
                dup = true;
                break;
            }
            p = q + 1;
        }
        if (dup)
            continue;
        if (++count > TS_STORE_MAX_SCOPES)
            return ts_error_set(err, TS_EINVAL, "scopes", "more than %d scopes",
                                TS_STORE_MAX_SCOPES);
        if (o + (o ? 1 : 0) + n > TS_STORE_MAX_SCOPE_LEN)
            return ts_error_set(err, TS_EINVAL, "scopes",
                                "scope list is longer than %d bytes once joined",
                                TS_STORE_MAX_SCOPE_LEN);
        if (o)
            out[o++] = ' ';
        memcpy(out + o, in + start, n);
        o += n;
        out[o] = '\0';
    }
    return TS_OK;
}

/* A long hex run (a token or a full hash) or a JWT must never reach the audit trail. */
static bool looks_secret(const char *s)
{
    if (!s)
        return false;
    size_t run = 0;
    for (const char *p = s; *p; p++) {
        char c = *p;
        bool hex = (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
        run = hex ? run + 1 : 0;
        if (run >= 40)
            return true;
        if (p[0] == 'e' && p[1] == 'y' && p[2] == 'J') {
            size_t k = 3;
            while ((p[k] >= 'A' && p[k] <= 'Z') || (p[k] >= 'a' && p[k] <= 'z') ||
                   (p[k] >= '0' && p[k] <= '9') || p[k] == '-' || p[k] == '_')
                k++;
            if (k >= 10 && p[k] == '.')
                return true;
        }
    }
    return false;
}

static ts_status check_field(const char *v, const char *field, size_t max, ts_error *err)
{
    if (!v)
        return TS_OK;
    if (strnlen(v, max + 1) > max)
        return ts_error_set(err, TS_EINVAL, field, "audit %s is longer than %zu bytes", field, max);
    if (looks_secret(v))
        return ts_error_set(err, TS_EINVAL, field,
                            "audit %s looks like a token, full hash or JWT; log a prefix or "
                            "jti instead",
                            field);
    return TS_OK;
}

ts_status ts_store__check_audit_entry(const ts_store_audit_entry *e, ts_error *err)
{
    if (!e)
        return ts_error_set(err, TS_EINVAL, "audit", "entry is NULL");
    size_t tlen = e->type ? strnlen(e->type, TS_STORE__AUDIT_TYPE_MAX + 1) : 0;
    if (tlen == 0 || tlen > TS_STORE__AUDIT_TYPE_MAX)
        return ts_error_set(err, TS_EINVAL, "type", "audit type must be 1..%u characters",
                            TS_STORE__AUDIT_TYPE_MAX);
    for (size_t i = 0; i < tlen; i++) {
        char c = e->type[i];
        if (!((c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'))
            return ts_error_set(err, TS_EINVAL, "type", "audit type may only use [a-z0-9_]");
    }
    ts_status st = ts_store__check_now(e->at, err);
    if (st == TS_OK && e->subject)
        st = ts_store__check_name(e->subject, "subject", false, err);
    if (st == TS_OK)
        st = check_field(e->subject, "subject", TS_STORE_MAX_NAME_LEN, err);
    if (st == TS_OK && e->ref_id)
        st = ts_store__check_name(e->ref_id, "ref_id", false, err);
    if (st == TS_OK)
        st = check_field(e->ref_id, "ref_id", TS_STORE_MAX_NAME_LEN, err);
    if (st == TS_OK && e->peer)
        st = ts_store__check_peer(e->peer, err);
    if (st == TS_OK)
        st = check_field(e->detail, "detail", TS_STORE_MAX_DETAIL_LEN, err);
    if (st != TS_OK)
        return st;
    if (e->hash_prefix) {
        size_t n = strnlen(e->hash_prefix, TS_STORE_PREFIX_LEN + 1);
        if (n > TS_STORE_PREFIX_LEN)
            return ts_error_set(err, TS_EINVAL, "hash_prefix",
                                "hash_prefix may hold at most %d characters", TS_STORE_PREFIX_LEN);
        for (size_t i = 0; i < n; i++) {
            char c = e->hash_prefix[i];
            if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
                return ts_error_set(err, TS_EINVAL, "hash_prefix",
                                    "hash_prefix must be lowercase hex");
        }
    }
    if (e->detail) {
        const char *d = e->detail;
        while (*d == ' ' || *d == '\t' || *d == '\n' || *d == '\r')
            d++;
        if (*d != '{')
            return ts_error_set(err, TS_EINVAL, "detail", "audit detail must be a JSON object");
    }
    return TS_OK;
}
