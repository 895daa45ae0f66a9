/* Files: bounded whole-file reads, atomic replacement (with an owner, group and mode if asked),
 * the one-level directory rule. */
#define _POSIX_C_SOURCE 200809L

#include "common/file.h"

#include <errno.h>
#include <fcntl.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/mem.h"

/* The first buffer when the file system gives no useful size (a pipe, /proc). */
#define FIRST_CAP 4096u

/* Free a buffer that may hold a secret. */
static void wipe_free(char *p, size_t n)
{
    ts_common__memzero(p, n);
    free(p);
}

/* Move @p n bytes into a buffer of @p cap bytes; the old one is wiped (realloc would leave a
 * copy of a key behind in freed memory). */
static char *grow(char *old, size_t n, size_t old_cap, size_t cap)
{
    char *p = malloc(cap);
    if (p && n)
        memcpy(p, old, n);
    if (p || !old)
        wipe_free(old, old_cap);
    return p;
}

ts_status ts_common__read_fd(int fd, const char *name, size_t max_bytes, unsigned flags, char **out,
                             size_t *len, ts_error *err)
{
    if (len)
        *len = 0;
    if (!out)
        return ts_error_set(err, TS_EINVAL, name, "no output");
    *out = NULL;
    if (max_bytes == SIZE_MAX)
        max_bytes--; /* room for the NUL */
    /* The size is a hint only: the file may change while it is read, and a pipe has none. */
    struct stat sb;
    size_t cap = FIRST_CAP;
    if (fstat(fd, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size > 0 &&
        (uintmax_t)sb.st_size < (uintmax_t)max_bytes)
        cap = (size_t)sb.st_size + 1; /* one more byte, to see the end without growing */
    if (cap > max_bytes + 1)
        cap = max_bytes + 1;
    char *buf = malloc(cap);
    if (!buf)
        return ts_error_set(err, TS_ENOMEM, name, "out of memory");
    size_t n = 0;
    for (;;) {
        if (n == cap - 1) { /* full but for the NUL */
            if (n == max_bytes) {
                /* One byte more says whether the file is larger than the bound. */
                char extra;
                ssize_t r;
                do
                    r = read(fd, &extra, 1);
                while (r < 0 && errno == EINTR);
                if (r == 0)
                    break;
                wipe_free(buf, cap);
                if (r < 0)
                    return ts_error_set(err, TS_EIO, name, "cannot read: %s", strerror(errno));
                return ts_error_set(err, TS_ELIMIT, name, "larger than %zu bytes", max_bytes);
            }
            size_t ncap = cap > (max_bytes + 1) / 2 ? max_bytes + 1 : cap * 2;
            char *nb = grow(buf, n, cap, ncap);
            if (!nb) {
                wipe_free(buf, cap);
                return ts_error_set(err, TS_ENOMEM, name, "out of memory");
            }
            buf = nb;
            cap = ncap;
        }
        ssize_t r = read(fd, buf + n, cap - 1 - n);
        if (r < 0 && errno == EINTR)
            continue;
        if (r < 0) {
            int e = errno;
            wipe_free(buf, cap);
            return ts_error_set(err, TS_EIO, name, "cannot read: %s", strerror(e));
        }
        if (r == 0)
            break;
        n += (size_t)r;
    }
    if ((flags & TS_COMMON__READ_NO_NUL) && memchr(buf, '\0', n)) {
        wipe_free(buf, cap);
        return ts_error_set(err, TS_EPARSE, name, "holds a NUL byte");
    }
    buf[n] = '\0';
    *out = buf;
    if (len)
        *len = n;
    return TS_OK;
}

ts_status ts_common__read_file(const char *path, size_t max_bytes, unsigned flags, char **out,
                               size_t *len, ts_error *err)
{
    if (out)
        *out = NULL;
    if (len)
        *len = 0;
    if (!path || !out)
        return ts_error_set(err, TS_EINVAL, "read", "a path and an output are required");
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && (flags & TS_COMMON__READ_MISSING_NOTFOUND))
            return ts_error_set(err, TS_ENOTFOUND, path, "no such file");
        return ts_error_set(err, TS_EIO, path, "cannot open: %s", strerror(errno));
    }
    ts_status st = ts_common__read_fd(fd, path, max_bytes, flags, out, len, err);
    close(fd);
    return st;
}

void ts_common__dir_of(const char *path, char *out, size_t cap)
{
    if (cap == 0)
        return;
    const char *slash = path ? strrchr(path, '/') : NULL;
    if (!slash)
        snprintf(out, cap, ".");
    else if (slash == path)
        snprintf(out, cap, "/");
    else
        snprintf(out, cap, "%.*s", (int)(slash - path), path);
}

/* Remove the temporary file and record the error of step @p what. */
static ts_status tmp_failed(const char *tmp, const char *what, int e, ts_error *err)
{
    unlink(tmp);
    return ts_error_set(err, TS_EIO, tmp, "%s: %s", what, strerror(e));
}

/* The owner and group that the owned variant gives the temporary file. */
typedef struct owner {
    uid_t uid;
    gid_t gid;
} owner;

/* Replace @p path atomically; with @p own, the temporary file is created 0600 and given its
 * owner, group and exactly @p mode before a byte is written, so neither it nor @p path is ever
 * readable by someone the caller did not choose, nor refused to someone it did. */
static ts_status write_atomic(const char *path, const void *data, size_t len, mode_t mode,
                              const owner *own, ts_error *err)
{
    if (!path || !*path || (len && !data))
        return ts_error_set(err, TS_EINVAL, "write", "a path and data are required");
    /* The process id keeps processes apart, the counter threads of one process. */
    static atomic_uint serial;
    char tmp[4096];
    int n = snprintf(tmp, sizeof tmp, "%s.tmp.%ld.%u", path, (long)getpid(),
                     atomic_fetch_add(&serial, 1u));
    if (n < 0 || (size_t)n >= sizeof tmp)
        return ts_error_set(err, TS_EINVAL, path, "path too long");
    /* Created afresh: an old file of this name could carry a wider mode through O_TRUNC. */
    unlink(tmp);
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, own ? 0600 : mode);
    if (fd < 0)
        return ts_error_set(err, TS_EIO, tmp, "cannot create: %s", strerror(errno));
    /* The owner first: chown(2) may clear set-id bits, and the mode is to be exactly @p mode. */
    if (own && (own->uid != (uid_t)-1 || own->gid != (gid_t)-1) &&
        fchown(fd, own->uid, own->gid) != 0) {
        int e = errno;
        close(fd);
        return tmp_failed(tmp, "cannot set the owner or group", e, err);
    }
    if (own && fchmod(fd, mode) != 0) {
        int e = errno;
        close(fd);
        return tmp_failed(tmp, "cannot set the mode", e, err);
    }
    const char *p = data;
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, p + off, len - off);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0) {
            int e = w < 0 ? errno : EIO;
            close(fd);
            return tmp_failed(tmp, "cannot write", e, err);
        }
        off += (size_t)w;
    }
    if (fsync(fd) != 0) {
        int e = errno;
        close(fd);
        return tmp_failed(tmp, "cannot sync", e, err);
    }
    if (close(fd) != 0)
        return tmp_failed(tmp, "cannot close", errno, err);
    if (rename(tmp, path) != 0) {
        int e = errno;
        unlink(tmp);
        return ts_error_set(err, TS_EIO, path, "cannot rename into place: %s", strerror(e));
    }
    /* The rename is durable only once the directory entry is. */
    char dir[4096];
    ts_common__dir_of(path, dir, sizeof dir);
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

ts_status ts_common__write_file_atomic(const char *path, const void *data, size_t len, mode_t mode,
                                       ts_error *err)
{
    return write_atomic(path, data, len, mode, NULL, err);
}

ts_status ts_common__write_file_atomic_owned(const char *path, const void *data, size_t len,
                                             mode_t mode, uid_t uid, gid_t gid, ts_error *err)
{
    owner own = {uid, gid};
    return write_atomic(path, data, len, mode, &own, err);
}

ts_status ts_common__mkdir_one(const char *dir, mode_t mode, ts_error *err)
{
    if (!dir || !*dir)
        return ts_error_set(err, TS_EINVAL, "directory", "empty path");
    struct stat sb;
    /* mkdir() first: stat-then-mkdir would race with a concurrent creator. */
    if (mkdir(dir, mode) == 0)
        return TS_OK;
    int e = errno;
    if (e == EEXIST || e == EACCES || e == EROFS) {
        /* It may exist in a place we cannot write to: that is fine when it is a directory. */
        if (stat(dir, &sb) == 0) {
            if (S_ISDIR(sb.st_mode))
                return TS_OK;
            return ts_error_set(err, TS_EINVAL, dir, "not a directory");
        }
    }
    if (e == ENOENT) {
        char parent[4096];
        ts_common__dir_of(dir, parent, sizeof parent);
        return ts_error_set(err, TS_ENOTFOUND, dir,
                            "its parent %s does not exist (tokensmith creates one directory "
                            "level, never a chain of parents)",
                            parent);
    }
    return ts_error_set(err, TS_EIO, dir, "cannot create directory: %s", strerror(e));
}

ts_common__file_id ts_common__file_id_of(const char *path)
{
    ts_common__file_id f;
    memset(&f, 0, sizeof f);
    struct stat sb;
    if (path && stat(path, &sb) == 0) {
        f.dev = sb.st_dev;
        f.ino = sb.st_ino;
        f.size = sb.st_size;
        f.mtime = sb.st_mtim;
        f.ok = true;
    }
    return f;
}

bool ts_common__file_id_same(const ts_common__file_id *a, const ts_common__file_id *b)
{
    return a->ok == b->ok && a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtime.tv_sec == b->mtime.tv_sec && a->mtime.tv_nsec == b->mtime.tv_nsec;
}
