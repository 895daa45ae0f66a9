/* The token endpoint's answer judged: an RFC 6749 §5.1 success becomes ts_client__tokens, any
 * other answer an RFC 6749 §5.2 error as far as the server gave one. The body comes from a
 * server that may be wrong, hostile or not an authorization server at all, so every member is
 * checked for type, size and characters before anything of it is kept, and a token can never
 * carry a byte that would break the header line it is later sent in. */
#include "client_internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>

#include "common/json_load.h"
#include "common/mem.h"
#include "common/str.h"

#define WHERE "token response"

void ts_client__tokens_cleanup(ts_client__tokens *t)
{
    if (!t)
        return;
    if (t->access_token)
        ts_common__memzero(t->access_token, t->access_len);
    if (t->refresh_token)
        ts_common__memzero(t->refresh_token, t->refresh_len);
    free(t->access_token);
    free(t->refresh_token);
    free(t->scope);
    free(t->issued_token_type);
    memset(t, 0, sizeof *t);
}

/* RFC 6749 §3.3: scope tokens of %x21 / %x23-5B / %x5D-7E separated by spaces. A server that
 * answers with something else has not said anything a client could send back. */
static bool scope_chars(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c != 0x20 && (c < 0x21 || c > 0x7e || c == '"' || c == '\\'))
            return false;
    }
    return true;
}

/* application/json, or a structured +json type such as application/problem+json, parameters
 * (charset) allowed; case-insensitive. */
static bool json_media_type(const char *ct)
{
    if (!ct)
        return false;
    while (*ct == ' ' || *ct == '\t')
        ct++;
    size_t n = strcspn(ct, "; \t");
    if (n == 16 && strncasecmp(ct, "application/json", 16) == 0)
        return true;
    return n > 17 && strncasecmp(ct, "application/", 12) == 0 &&
           strncasecmp(ct + n - 5, "+json", 5) == 0;
}

/* A string member: NULL with *ok when absent; *ok false (error recorded) when present but not
 * a string, empty, or longer than max. */
static const char *get_str(const json_t *o, const char *key, size_t max, size_t *len, bool *ok,
                           ts_error *err)
{
    *ok = true;
    *len = 0;
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *ok = false;
        ts_error_set(err, TS_EPARSE, WHERE, "member %s is not a string", key);
        return NULL;
    }
    size_t n = json_string_length(v);
    if (n == 0 || n > max) {
        *ok = false;
        ts_error_set(err, TS_EPARSE, WHERE, "member %s is %s", key, n == 0 ? "empty" : "too long");
        return NULL;
    }
    *len = n;
    return json_string_value(v);
}

/* A lifetime in whole seconds: an integer, a real without fraction, or a decimal string (some
 * servers quote it). */
static bool get_seconds(const json_t *o, const char *key, bool *has, int64_t *out, ts_error *err)
{
    *has = false;
    *out = 0;
    const json_t *v = json_object_get(o, key);
    if (!v || json_is_null(v))
        return true;
    long long s = -1;
    if (json_is_integer(v)) {
        s = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d >= 0 && d <= (double)TS_CLIENT__MAX_LIFETIME_S && (double)(long long)d == d)
            s = (long long)d;
    } else if (json_is_string(v)) {
        const char *p = json_string_value(v);
        size_t n = json_string_length(v);
        if (n >= 1 && n <= 12 && strspn(p, "0123456789") == n)
            s = strtoll(p, NULL, 10);
    }
    if (s < 0 || s > TS_CLIENT__MAX_LIFETIME_S)
        return ts_error_set(err, TS_EPARSE, WHERE,
                            "member %s is not a number of seconds between 0 and 10 years",
                            key) == TS_OK;
    *has = true;
    *out = (int64_t)s;
    return true;
}

static ts_status parse_success(const json_t *o, size_t max_token, ts_client__tokens *t,
                               ts_error *err)
{
    bool ok;
    size_t n;
    const char *s = get_str(o, "access_token", max_token, &n, &ok, err);
    if (!ok)
        return TS_EPARSE;
    if (!s)
        return ts_error_set(err, TS_EPARSE, WHERE, "no access_token");
    if (!ts_client__visible(s, n))
        return ts_error_set(err, TS_EPARSE, WHERE,
                            "access_token holds a character outside visible ASCII");
    if (!(t->access_token = ts_client__strndup(s, n)))
        return ts_error_set(err, TS_ENOMEM, WHERE, "out of memory");
    t->access_len = n;

    s = get_str(o, "token_type", sizeof t->token_type - 1, &n, &ok, err);
    if (!ok)
        return TS_EPARSE;
    if (!s)
        return ts_error_set(err, TS_EPARSE, WHERE, "no token_type");
    if (!ts_client__visible(s, n))
        return ts_error_set(err, TS_EPARSE, WHERE,
                            "token_type holds a character outside visible ASCII");
    memcpy(t->token_type, s, n);
    t->token_type[n] = '\0';

    if (!get_seconds(o, "expires_in", &t->has_expires_in, &t->expires_in, err) ||
        !get_seconds(o, "refresh_expires_in", &t->has_refresh_expires_in, &t->refresh_expires_in,
                     err))
        return TS_EPARSE;

    s = get_str(o, "refresh_token", max_token, &n, &ok, err);
    if (!ok)
        return TS_EPARSE;
    if (s) {
        if (!ts_client__visible(s, n))
            return ts_error_set(err, TS_EPARSE, WHERE,
                                "refresh_token holds a character outside visible ASCII");
        if (!(t->refresh_token = ts_client__strndup(s, n)))
            return ts_error_set(err, TS_ENOMEM, WHERE, "out of memory");
        t->refresh_len = n;
    }

    /* "scope": "" says no scope, the same as none. */
    const json_t *sc = json_object_get(o, "scope");
    s = json_is_string(sc) && json_string_length(sc) == 0
            ? NULL
            : get_str(o, "scope", TS_CLIENT__MAX_SCOPE, &n, &ok, err);
    if (!ok)
        return TS_EPARSE;
    if (s) {
        if (!scope_chars(s, n))
            return ts_error_set(err, TS_EPARSE, WHERE,
                                "scope holds a character RFC 6749 "
                                "§3.3 does not allow");
        if (!(t->scope = ts_client__strndup(s, n)))
            return ts_error_set(err, TS_ENOMEM, WHERE, "out of memory");
    }

    s = get_str(o, "issued_token_type", TS_CLIENT__MAX_TOKEN_TYPE_URI, &n, &ok, err);
    if (!ok)
        return TS_EPARSE;
    if (s) {
        if (!ts_client__visible(s, n))
            return ts_error_set(err, TS_EPARSE, WHERE,
                                "issued_token_type holds a character outside visible ASCII");
        if (!(t->issued_token_type = ts_client__strndup(s, n)))
            return ts_error_set(err, TS_ENOMEM, WHERE, "out of memory");
    }
    return TS_OK;
}

/* Copy @p n bytes of a server's text into @p dst as printable ASCII ('?' for anything else),
 * cut to fit: it ends up in messages and logs. */
static void printable(char *dst, size_t cap, const char *s, size_t n)
{
    size_t k = 0;
    for (size_t i = 0; i < n && k + 1 < cap; i++) {
        unsigned char c = (unsigned char)s[i];
        dst[k++] = c >= 0x20 && c <= 0x7e ? (char)c : '?';
    }
    dst[k] = '\0';
}

/* RFC 6749 §5.2's error code: %x20-21 / %x23-5B / %x5D-7E. A code outside it is not kept. */
static void read_oauth_error(const json_t *o, ts_client_oauth_error *oe)
{
    const json_t *e = json_object_get(o, "error");
    if (json_is_string(e)) {
        const char *s = json_string_value(e);
        size_t n = json_string_length(e);
        bool ok = n > 0 && n < sizeof oe->error;
        for (size_t i = 0; ok && i < n; i++) {
            unsigned char c = (unsigned char)s[i];
            ok = c >= 0x20 && c <= 0x7e && c != '"' && c != '\\';
        }
        if (ok)
            ts_common__copyz(oe->error, sizeof oe->error, s);
    }
    const json_t *d = json_object_get(o, "error_description");
    if (json_is_string(d))
        printable(oe->error_description, sizeof oe->error_description, json_string_value(d),
                  json_string_length(d));
    const json_t *u = json_object_get(o, "error_uri");
    if (json_is_string(u))
        printable(oe->error_uri, sizeof oe->error_uri, json_string_value(u), json_string_length(u));
}

static ts_status failure(long status, const char *content_type, const json_t *o,
                         ts_client_oauth_error *oe, ts_error *err)
{
    if (o)
        read_oauth_error(o, oe);
    ts_status st = TS_EIO;
    if (status == 429)
        st = TS_ELIMIT;
    else if (status >= 400 && status < 500)
        st = TS_EINVAL;
    const char *what = st == TS_EIO ? "failed" : "refused the request";
    if (oe->error[0])
        return ts_error_set(err, st, WHERE, "token endpoint %s: HTTP %ld %s%s%s", what, status,
                            oe->error, oe->error_description[0] ? ": " : "", oe->error_description);
    char ct[64];
    printable(ct, sizeof ct, content_type ? content_type : "none",
              strlen(content_type ? content_type : "none"));
    return ts_error_set(err, st, WHERE,
                        "token endpoint %s: HTTP %ld without an OAuth error (Content-Type %s)",
                        what, status, ct);
}

ts_status ts_client__parse_response(long status, const char *content_type, const char *body,
                                    size_t len, size_t max_token, ts_client__tokens *out,
                                    ts_client_oauth_error *oe, ts_error *err)
{
    ts_client_oauth_error scratch;
    if (!oe)
        oe = &scratch;
    memset(oe, 0, sizeof *oe);
    oe->http_status = status;
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *root = NULL;
    bool oom = false;
    if (body && json_media_type(content_type)) {
        root = json_loadb(body, len, JSON_REJECT_DUPLICATES, &je);
        oom = !root && ts_common__json_load_oom(&je);
    }
    if (root && !json_is_object(root)) {
        json_decref(root);
        root = NULL;
    }
    if (status != 200) {
        ts_status st = failure(status, content_type, root, oe, err);
        if (root) {
            ts_client__json_wipe_strings(root);
            json_decref(root);
        }
        return st;
    }
    if (!json_media_type(content_type)) {
        char ct[64];
        printable(ct, sizeof ct, content_type ? content_type : "none",
                  strlen(content_type ? content_type : "none"));
        return ts_error_set(err, TS_EPARSE, WHERE,
                            "HTTP 200 with Content-Type %s, not application/json", ct);
    }
    if (!root)
        return oom ? ts_error_set(err, TS_ENOMEM, WHERE, "out of memory")
                   : ts_error_set(err, TS_EPARSE, WHERE,
                                  "HTTP 200 whose body is not a JSON object");
    ts_status st = parse_success(root, max_token, out, err);
    ts_client__json_wipe_strings(root);
    json_decref(root);
    if (st != TS_OK)
        ts_client__tokens_cleanup(out);
    return st;
}
