/* Socket-peer judgement and atomic configuration files for the admin API. */
#define _GNU_SOURCE

#include "admin.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

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
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld", path, (long)getpid());
    if (n < 0 || (size_t)n >= sizeof tmp)
        return ts_error_set(err, TS_EINVAL, path, "path too long");
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0)
        return ts_error_set(err, TS_EIO, tmp, "cannot create: %s", strerror(errno));
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, data + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = errno;
            close(fd);
            unlink(tmp);
            return ts_error_set(err, TS_EIO, tmp, "cannot write: %s", strerror(e));
        }
        off += (size_t)w;
    }
    /* The mode of an existing temporary file survives O_TRUNC: set it explicitly. */
    if (fchmod(fd, 0600) != 0 || fsync(fd) != 0) {
        int e = errno;
        close(fd);
        unlink(tmp);
        return ts_error_set(err, TS_EIO, tmp, "cannot sync: %s", strerror(e));
    }
    if (close(fd) != 0) {
        int e = errno;
        unlink(tmp);
        return ts_error_set(err, TS_EIO, tmp, "cannot close: %s", strerror(e));
    }
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ts_error_set(err, TS_EIO, path, "cannot rename into place: %s", strerror(e));
    }
    /* The rename is durable only once the directory entry is. */
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (slash == dir)
        dir[1] = '\0';
    else if (slash)
        *slash = '\0';
    else
        snprintf(dir, sizeof dir, ".");
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd < 0)
        return ts_error_set(err, TS_EIO, dir, "cannot open directory: %s", strerror(errno));
    int rc = fsync(dfd);
    int e = errno;
    close(dfd);
    if (rc != 0)
        return ts_error_set(err, TS_EIO, dir, "cannot sync directory: %s", strerror(e));
    return TS_OK;
}

ts_status ts_svc_read_file(const char *path, size_t max, char **out, size_t *len, ts_error *err)
{
    *out = NULL;
    *len = 0;
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT)
            return ts_error_set(err, TS_ENOTFOUND, path, "no such file");
        return ts_error_set(err, TS_EIO, path, "cannot open: %s", strerror(errno));
    }
    char *buf = malloc(max + 1);
    if (!buf) {
        close(fd);
        return ts_error_set(err, TS_ENOMEM, path, "out of memory");
    }
    size_t n = 0;
    for (;;) {
        if (n == max) {
            char extra;
            ssize_t r = read(fd, &extra, 1);
            if (r > 0) {
                close(fd);
                free(buf);
                return ts_error_set(err, TS_ELIMIT, path, "larger than %zu bytes", max);
            }
            break;
        }
        ssize_t r = read(fd, buf + n, max - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            close(fd);
            free(buf);
            return ts_error_set(err, TS_EIO, path, "cannot read: %s", strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    close(fd);
    buf[n] = '\0';
    *out = buf;
    *len = n;
    return TS_OK;
}
