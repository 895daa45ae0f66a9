/* Small text helpers of the client: the visible-ASCII rule of tokens, copies, and wiping
 * frees (of strings, and of jansson's copies of them). (SHA-256 names for secrets are
 * common/digest.h's, shared with the agent.) */
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
