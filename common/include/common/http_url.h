/*
 * The pieces of an http(s) URL that both HTTP client implementations need (common/http_client.h:
 * the libcurl one and the lean one): the URL rule, the form of a URL that errors may show, the
 * split into scheme, credentials, host, port and request target, and a redirect's Location
 * resolved against the URL it answered. Private to tokensmith; pure functions over strings, no
 * network, no allocation except where a result is returned on the heap.
 */
#ifndef TS_COMMON_HTTP_URL_H
#define TS_COMMON_HTTP_URL_H

#include <stdbool.h>
#include <stddef.h>

/** The longest host name or address literal a URL may carry (RFC 1035's 253, and more). */
#define TS_COMMON__HTTP_HOST_MAX 255

/** An http(s) URL split into its parts. The pointers are into the URL that was split. */
typedef struct ts_common__http_url {
    bool https;
    const char *userinfo; /**< "user[:password]" before '@', percent-encoded; NULL when none */
    size_t userinfo_len;
    char host[TS_COMMON__HTTP_HOST_MAX + 1]; /**< name or address, without IPv6 brackets */
    bool ipv6;                               /**< the host was a bracketed IPv6 literal */
    unsigned port;                           /**< the URL's port, else 443 or 80 */
    bool port_given;                         /**< the URL named its port */
    /** Path and query ("/x?y"), never empty: "/" when the URL has neither; when it has a
     *  query but no path ("http://h?y"), the query alone, which a request line writes after
     *  a '/'. */
    const char *target;
    size_t target_len;
} ts_common__http_url;

/**
 * The URL rule: true for https:// with a host, and for http:// whose host is 127.0.0.1,
 * localhost or [::1] (any http:// when @p allow_plain_http). Scheme and host compare without
 * regard to case; "http://localhost.example" is not loopback.
 */
bool ts_common__http_url_allowed(const char *url, bool allow_plain_http);

/**
 * @p url as errors and logs may show it: scheme, host, port and path, without the userinfo
 * (credentials), the query or the fragment; cut to @p cap - 1 bytes, always NUL-terminated.
 * NULL shows as "".
 */
void ts_common__http_url_where(const char *url, char *out, size_t cap);

/**
 * Split @p url (http:// or https://, scheme in any case). The fragment is dropped; the query
 * stays in the target. @p why (may be NULL) is set to a static reason on failure.
 * @return false when the URL is not one the clients can fetch: another scheme, no host, a host
 * too long or with characters no host has, a bad port, an unclosed '[' .
 */
bool ts_common__http_url_split(const char *url, ts_common__http_url *out, const char **why);

/**
 * Percent-decode the user (@p password false) or the password (true) of @p u's userinfo into
 * @p out of @p cap bytes, NUL-terminated. @return false when it does not fit or decodes to a
 * NUL byte or a malformed escape.
 */
bool ts_common__http_url_credential(const ts_common__http_url *u, bool password, char *out,
                                    size_t cap);

/**
 * A redirect's Location (@p loc, @p loc_len bytes, not NUL-terminated) resolved against @p base:
 * an absolute URL as it is, "//host/..." with base's scheme, "/path" with base's scheme and
 * authority, and a relative path against base's directory. A fragment is dropped.
 * @return the URL (heap, free()), or NULL when out of memory or when @p loc holds bytes no URL
 * holds (control characters, spaces).
 */
char *ts_common__http_url_resolve(const char *base, const char *loc, size_t loc_len);

#endif
