/* Small text helpers of the client: the visible-ASCII rule of tokens, the endpoint as logs name
 * it, copies, and wiping frees (of strings, and of jansson's copies of them). (SHA-256 names for
 * secrets are common/digest.h's, shared with the agent.) */
#include "client_internal.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "common/mem.h"

bool ts_client__visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
}

void ts_client__json_wipe_strings(json_t *o)
{
    const char *key;
    json_t *v;
    json_object_foreach(o, key, v)
    {
        if (json_is_string(v))
            ts_common__memzero((void *)(uintptr_t)json_string_value(v), json_string_length(v));
    }
}

/* A bound of its own, so that a long URL cannot push the message out of a log line. */
#define MAX_LOG_URL 200u

char *ts_client__url_for_log(const char *url)
{
    const char *sep = strstr(url, "://");
    const char *auth = sep ? sep + 3 : url;
    const char *auth_end = auth + strcspn(auth, "/?#");
    /* userinfo@ is the authority's part before its last '@' (RFC 3986 §3.2). */
    const char *host = auth;
    for (const char *p = auth; p < auth_end; p++)
        if (*p == '@')
            host = p + 1;
    const char *path_end = auth_end + strcspn(auth_end, "?#");
    size_t scheme_len = (size_t)(auth - url), host_len = (size_t)(auth_end - host),
           path_len = (size_t)(path_end - auth_end);
    size_t n = scheme_len + host_len + path_len;
    char *out = malloc(n + 1);
    if (!out)
        return NULL;
    memcpy(out, url, scheme_len);
    memcpy(out + scheme_len, host, host_len);
    memcpy(out + scheme_len + host_len, auth_end, path_len);
    out[n] = '\0';
    if (n > MAX_LOG_URL)
        memcpy(out + MAX_LOG_URL - 3, "...", 4);
    return out;
}

char *ts_client__strndup(const char *s, size_t n)
{
    char *p = malloc(n + 1);
    if (p) {
        if (n)
            memcpy(p, s, n);
        p[n] = '\0';
    }
    return p;
}

void ts_client__free_secret(char *s, size_t n)
{
    if (s) {
        ts_common__memzero(s, n);
        free(s);
    }
}

void ts_client__free_secret_z(char *s)
{
    if (s)
        ts_client__free_secret(s, strlen(s));
}
