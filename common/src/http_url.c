/* The URL pieces both HTTP clients share: the URL rule, the form errors show, the split, and a
   redirect's Location resolved. One copy, so the libcurl client and the lean one judge and show a
   URL the same way. */
#define _POSIX_C_SOURCE 200809L
#include "common/http_url.h"
#include "common/http_client.h"
#include "common/hex.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

bool ts_common__http_url_allowed(const char *u, bool allow_plain_http)
{
    if (!u)
        return false;
    if (strncasecmp(u, "https://", 8) == 0)
        return u[8] != '\0' && u[8] != '/';
    if (strncasecmp(u, "http://", 7) != 0)
        return false;
    const char *h = u + 7;
    if (allow_plain_http)
        return *h != '\0' && *h != '/';
    static const char *const loop[] = {"127.0.0.1", "localhost", "[::1]"};
    for (size_t i = 0; i < sizeof loop / sizeof loop[0]; i++) {
        size_t l = strlen(loop[i]);
        if (strncasecmp(h, loop[i], l) == 0 && (h[l] == ':' || h[l] == '/' || h[l] == 0))
            return true;
    }
    return false;
}

/* Length of the scheme and "://" at the start of the @p n bytes at @p u, or 0 when there is
   none. */
static size_t scheme_len(const char *u, size_t n)
{
    size_t i = 0;
    while (i < n &&
           ((u[i] >= 'a' && u[i] <= 'z') || (u[i] >= 'A' && u[i] <= 'Z') ||
            (i > 0 && ((u[i] >= '0' && u[i] <= '9') || u[i] == '+' || u[i] == '-' || u[i] == '.'))))
        i++;
    return i > 0 && n - i >= 3 && memcmp(u + i, "://", 3) == 0 ? i + 3 : 0;
}

void ts_common__http_url_where(const char *url, char *out, size_t cap)
{
    if (!out || cap == 0)
        return;
    size_t n = 0;
#define PUT(c)                                                                                     \
    do {                                                                                           \
        if (n + 1 < cap)                                                                           \
            out[n++] = (c);                                                                        \
    } while (0)
    if (url) {
        const char *p = url;
        size_t s = scheme_len(url, strlen(url));
        for (size_t i = 0; i < s; i++)
            PUT(p[i]);
        p += s;
        if (s) {
            /* The authority ends at the path, query or fragment; credentials end at its last
               '@'. */
            size_t a = strcspn(p, "/?#");
            const char *at = NULL;
            for (size_t i = 0; i < a; i++)
                if (p[i] == '@')
                    at = p + i;
            const char *host = at ? at + 1 : p;
            for (const char *q = host; q < p + a; q++)
                PUT(*q);
            p += a;
        }
        for (; *p && *p != '?' && *p != '#'; p++)
            PUT(*p);
    }
#undef PUT
    out[n] = '\0';
}

static bool host_char(char c, bool ipv6)
{
    if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9'))
        return true;
    if (ipv6)
        return c == ':' || c == '.';
    return c == '-' || c == '.' || c == '_';
}

bool ts_common__http_url_split(const char *url, ts_common__http_url *out, const char **why)
{
    const char *dummy;
    if (!why)
        why = &dummy;
    memset(out, 0, sizeof *out);
    if (!url) {
        *why = "no URL";
        return false;
    }
    const char *p;
    if (strncasecmp(url, "https://", 8) == 0) {
        out->https = true;
        p = url + 8;
    } else if (strncasecmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else {
        *why = "URL scheme is not http:// or https://";
        return false;
    }
    size_t a = strcspn(p, "/?#");
    const char *end = p + a;
    for (const char *q = p; q < end; q++)
        if (*q == '@') {
            out->userinfo = p;
            out->userinfo_len = (size_t)(q - p);
        }
    const char *h = out->userinfo ? p + out->userinfo_len + 1 : p;
    const char *h_end;
    const char *rest;
    if (*h == '[') {
        out->ipv6 = true;
        h++;
        h_end = memchr(h, ']', (size_t)(end - h));
        if (!h_end) {
            *why = "URL has an unclosed '[' in its host";
            return false;
        }
        rest = h_end + 1;
    } else {
        h_end = memchr(h, ':', (size_t)(end - h));
        if (!h_end)
            h_end = end;
        rest = h_end;
    }
    size_t hl = (size_t)(h_end - h);
    if (hl == 0) {
        *why = "URL has no host";
        return false;
    }
    if (hl > TS_COMMON__HTTP_HOST_MAX) {
        *why = "URL host is too long";
        return false;
    }
    for (size_t i = 0; i < hl; i++)
        if (!host_char(h[i], out->ipv6)) {
            *why = "URL host has a character no host name has";
            return false;
        }
    memcpy(out->host, h, hl);
    out->host[hl] = '\0';
    out->port = out->https ? 443u : 80u;
    if (rest < end) {
        if (*rest != ':') {
            *why = "URL has bytes after its host";
            return false;
        }
        rest++;
        if (rest < end) {
            unsigned long port = 0;
            for (const char *q = rest; q < end; q++) {
                if (*q < '0' || *q > '9' || port > 65535) {
                    *why = "URL port is not a number from 1 to 65535";
                    return false;
                }
                port = port * 10 + (unsigned long)(*q - '0');
            }
            if (port == 0 || port > 65535) {
                *why = "URL port is not a number from 1 to 65535";
                return false;
            }
            out->port = (unsigned)port;
            out->port_given = true;
        }
    }
    /* The target: path and query, without the fragment; "/" when the URL has no path. */
    size_t t = strcspn(end, "#");
    if (t == 0) {
        out->target = "/";
        out->target_len = 1;
    } else {
        out->target = end;
        out->target_len = t;
    }
    for (size_t i = 0; i < out->target_len; i++)
        if ((unsigned char)out->target[i] <= ' ' || out->target[i] == 0x7f) {
            *why = "URL path has a space or a control character";
            return false;
        }
    return true;
}

bool ts_common__http_url_credential(const ts_common__http_url *u, bool password, char *out,
                                    size_t cap)
{
    if (!out || cap == 0)
        return false;
    out[0] = '\0';
    const char *p = u->userinfo;
    size_t n = u->userinfo_len;
    if (!p)
        return true;
    const char *colon = memchr(p, ':', n);
    if (password) {
        if (!colon)
            return true;
        n -= (size_t)(colon + 1 - p);
        p = colon + 1;
    } else if (colon) {
        n = (size_t)(colon - p);
    }
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char c = p[i];
        if (c == '%') {
            if (i + 2 >= n || ts_common__hexval(p[i + 1]) < 0 || ts_common__hexval(p[i + 2]) < 0)
                return false;
            c = (char)(ts_common__hexval(p[i + 1]) * 16 + ts_common__hexval(p[i + 2]));
            if (c == '\0')
                return false;
            i += 2;
        }
        if (o + 1 >= cap)
            return false;
        out[o++] = c;
    }
    out[o] = '\0';
    return true;
}

char *ts_common__http_url_resolve(const char *base, const char *loc, size_t loc_len)
{
    for (size_t i = 0; i < loc_len; i++)
        if ((unsigned char)loc[i] <= ' ' || loc[i] == 0x7f)
            return NULL;
    const char *hash = memchr(loc, '#', loc_len);
    if (hash)
        loc_len = (size_t)(hash - loc);
    size_t bs = scheme_len(base, strlen(base));
    /* How much of base to keep in front of loc: nothing, its scheme, its scheme and
       authority, or everything up to the last '/' of its path. */
    size_t keep;
    const char *lead = "";
    if (scheme_len(loc, loc_len) > 0) {
        keep = 0;
    } else if (loc_len >= 2 && loc[0] == '/' && loc[1] == '/') {
        keep = bs >= 3 ? bs - 2 : 0; /* "https:" */
    } else {
        size_t a = bs + strcspn(base + bs, "/?#");
        if (loc_len >= 1 && loc[0] == '/') {
            keep = a;
        } else {
            size_t path_end = a + strcspn(base + a, "?#");
            keep = a;
            for (size_t i = a; i < path_end; i++)
                if (base[i] == '/')
                    keep = i + 1;
            if (keep == a)
                lead = "/";
        }
    }
    size_t ll = strlen(lead);
    char *r = malloc(keep + ll + loc_len + 1);
    if (!r)
        return NULL;
    memcpy(r, base, keep);
    memcpy(r + keep, lead, ll);
    memcpy(r + keep + ll, loc, loc_len);
    r[keep + ll + loc_len] = '\0';
    return r;
}

ts_status ts_common__http_begin(const ts_common__http_req *rq, long *status, char **body,
                                size_t *body_len, char *where, size_t where_cap, ts_error *err)
{
    *body = NULL;
    *body_len = 0;
    *status = 0;
    if (rq->sent)
        *rq->sent = false;
    /* Errors name the URL without its credentials, query or fragment. */
    ts_common__http_url_where(rq->url, where, where_cap);
    if (!ts_common__http_url_allowed(rq->url, rq->allow_plain_http))
        return ts_error_set(err, TS_EINVAL, where,
                            rq->allow_plain_http
                                ? "URL must be https:// or http://"
                                : "URL must be https:// (http:// only on loopback)");
    return TS_OK;
}
