/* Socket-peer judgement and atomic configuration files for the admin API. */
#define _GNU_SOURCE

#include "admin.h"

#include <netinet/in.h>
#include <string.h>

#include "common/file.h"

bool ts_svc_peer_is_local(const struct sockaddr *sa)
{
    if (!sa)
        return false;
    if (sa->sa_family == AF_UNIX)
        return true; /* reachable only through the file system, guarded by its mode */
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        const unsigned char *b = (const unsigned char *)&in->sin_addr.s_addr;
        return b[0] == 127;
    }
    if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const unsigned char *b = in6->sin6_addr.s6_addr;
        static const unsigned char loop6[16] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1};
        static const unsigned char mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, loop6, sizeof loop6) == 0)
            return true;
        return memcmp(b, mapped, sizeof mapped) == 0 && b[12] == 127;
    }
    return false;
}

ts_status ts_svc_write_file_atomic(const char *path, const char *data, size_t len, ts_error *err)
{
    return ts_common__write_file_atomic(path, data, len, 0600, err);
}

ts_status ts_svc_read_file(const char *path, size_t max, char **out, size_t *len, ts_error *err)
{
    return ts_common__read_file(path, max, TS_COMMON__READ_MISSING_NOTFOUND, out, len, err);
}
