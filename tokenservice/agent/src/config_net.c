/* Network addresses in the configuration: the URLs sources send requests to, and the address
 * the agent listens on. Nothing here resolves a name: a configuration is judged by its text. */
#define _POSIX_C_SOURCE 200809L

#include "config_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <string.h>
#include <strings.h>

#define URL_MAX 2048

/* 127.0.0.0/8, ::1 and "localhost" are loopback; 169.254.0.0/16 and fe80::/10 link-local
 * (where cloud metadata servers answer, over plain http). */
static void classify_host(const char *host, size_t len, bool *loopback, bool *link_local)
{
    char h[64];
    *loopback = *link_local = false;
    if (len == 0 || len >= sizeof h)
        return;
    memcpy(h, host, len);
    h[len] = '\0';
    if (strcasecmp(h, "localhost") == 0) {
        *loopback = true;
        return;
    }
    unsigned char a[16];
    if (inet_pton(AF_INET, h, a) == 1) {
        *loopback = a[0] == 127;
        *link_local = a[0] == 169 && a[1] == 254;
    } else if (inet_pton(AF_INET6, h, a) == 1) {
        static const unsigned char one[16] = {[15] = 1};
        *loopback = memcmp(a, one, 16) == 0;
        *link_local = a[0] == 0xfe && (a[1] & 0xc0) == 0x80;
    }
}

static bool port_ok(const char *p, size_t n, bool allow_zero)
{
    if (n == 0 || n > 5 || strspn(p, "0123456789") < n)
        return false;
    unsigned v = 0;
    for (size_t i = 0; i < n; i++)
        v = v * 10 + (unsigned)(p[i] - '0');
    return v <= 65535 && (allow_zero || v > 0);
}

/* HOST[:PORT] or [V6][:PORT] in a[0..n): the host (brackets removed). */
static bool split_host_port(const char *a, size_t n, bool port_required, bool allow_zero,
                            const char **host, size_t *host_len)
{
    const char *port = NULL;
    if (n && a[0] == '[') {
        const char *rb = memchr(a, ']', n);
        if (!rb)
            return false;
        *host = a + 1;
        *host_len = (size_t)(rb - a) - 1;
        size_t rest = n - (size_t)(rb - a) - 1;
        if (rest && rb[1] != ':')
            return false;
        if (rest)
            port = rb + 2;
    } else {
        const char *colon = memchr(a, ':', n);
        *host = a;
        *host_len = colon ? (size_t)(colon - a) : n;
        if (colon)
            port = colon + 1;
        if (colon && memchr(port, ':', n - (size_t)(port - a)))
            return false;
    }
    if (!port)
        return !port_required;
    return port_ok(port, n - (size_t)(port - a), allow_zero);
}

ts_status ts_agent__walk_endpoint(ts_agent__ctx *c, const ts_agent__node *map, const char *path,
                                  const char *url_key, ts_agent_endpoint *out)
{
    ts_status s = ts_agent__string(c, map, path, url_key, NULL, &out->url);
    if (s == TS_OK)
        s = ts_agent__bool(c, map, path, "allow_plain_http", false, &out->allow_plain_http);
    if (s == TS_OK)
        s = ts_agent__walk_abs_path(c, map, path, "ca_file", false, &out->ca_file);
    if (s != TS_OK)
        return s;
    const ts_agent__node *n = ts_agent__map_get(map, url_key);
    char p[TS_AGENT__PATH_MAX];
    ts_agent__path_key(p, sizeof p, path, url_key);
    /* No message repeats the URL: a query string may carry a key. */
    const char *u = out->url;
    size_t len = strlen(u);
    if (len > URL_MAX)
        return ts_agent__fail(c, n, p, TS_EINVAL, "longer than %d bytes", URL_MAX);
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)u[i] <= 0x20 || (unsigned char)u[i] >= 0x7f)
            return ts_agent__fail(c, n, p, TS_EINVAL,
                                  "a URL holds no spaces or non-ASCII characters (percent-encode "
                                  "them)");
    bool https = strncasecmp(u, "https://", 8) == 0;
    if (!https && strncasecmp(u, "http://", 7) != 0)
        return ts_agent__fail(c, n, p, TS_EINVAL, "must be an http:// or https:// URL");
    const char *auth = u + (https ? 8 : 7);
    size_t alen = strcspn(auth, "/?#");
    if (memchr(auth, '@', alen))
        return ts_agent__fail(c, n, p, TS_EINVAL,
                              "credentials in a URL are not allowed (use a header or "
                              "client_secret)");
    if (strchr(u, '#'))
        return ts_agent__fail(c, n, p, TS_EINVAL, "a URL to request has no fragment (#)");
    const char *host;
    size_t hlen;
    if (!split_host_port(auth, alen, false, false, &host, &hlen) || hlen == 0)
        return ts_agent__fail(c, n, p, TS_EINVAL, "no valid host[:port] in the URL");
    bool loopback, link_local;
    classify_host(host, hlen, &loopback, &link_local);
    if (!https && !loopback && !link_local && !out->allow_plain_http)
        return ts_agent__fail(c, n, p, TS_EINVAL,
                              "plain http:// only to a loopback or link-local address (tokens "
                              "would cross the network unencrypted): use https:// or set "
                              "allow_plain_http: true");
    return TS_OK;
}

ts_status ts_agent__parse_listen(ts_agent__ctx *c, const ts_agent__node *n, const char *path,
                                 const char *listen, bool *loopback)
{
    const char *host;
    size_t hlen;
    bool link_local;
    if (!split_host_port(listen, strlen(listen), true, true, &host, &hlen))
        return ts_agent__fail(c, n, path, TS_EINVAL, "must be HOST:PORT, [IPV6]:PORT or none");
    char h[64];
    unsigned char a[16];
    if (hlen == 0 || hlen >= sizeof h)
        return ts_agent__fail(c, n, path, TS_EINVAL,
                              "give an address (0.0.0.0 for every IPv4 address)");
    memcpy(h, host, hlen);
    h[hlen] = '\0';
    if (strcasecmp(h, "localhost") != 0 && inet_pton(AF_INET, h, a) != 1 &&
        inet_pton(AF_INET6, h, a) != 1)
        return ts_agent__fail(c, n, path, TS_EINVAL,
                              "the host must be an IP address or localhost (no name lookups)");
    classify_host(host, hlen, loopback, &link_local);
    return TS_OK;
}
