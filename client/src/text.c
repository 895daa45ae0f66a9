/* Small text helpers of the client: copies, and wiping frees. (SHA-256 names for secrets are
 * common/digest.h's, shared with the agent.) */
#include "client_internal.h"

#include <stdlib.h>
#include <string.h>

#include "common/mem.h"

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
