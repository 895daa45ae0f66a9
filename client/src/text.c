/* Small text helpers of the client: the visible-ASCII rule of tokens, copies, and wiping
 * frees. (SHA-256 names for secrets are common/digest.h's, shared with the agent.) */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

bool ts_client__visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            return false;
    return true;
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
