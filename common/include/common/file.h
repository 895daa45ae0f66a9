/*
 * Files: one bounded whole-file reader, one atomic writer and one directory rule for every
 * library, so that key files, JWKS files, configuration and state files are read and written
 * the same way everywhere. Private to tokensmith.
 *
 * Errors: every error names the file (ts_error.where is the path, or the name given for a
 * descriptor) and says why; no partial result is ever handed out.
 * Thread-safety: no shared state; calls on different paths may run concurrently.
 */
#ifndef TS_COMMON_FILE_H
#define TS_COMMON_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include <tokensmith/error.h>

/** Flags of ts_common__read_file() and ts_common__read_fd(). */
enum {
    /** A NUL byte in the content is TS_EPARSE ("holds a NUL byte"): for text that is used as
     *  a C string afterwards, where a NUL would silently cut it. */
    TS_COMMON__READ_NO_NUL = 1u << 0,
    /** A missing file is TS_ENOTFOUND ("no such file") rather than TS_EIO ("cannot open: ..."),
     *  for callers that treat absence as a normal case (an optional state file). */
    TS_COMMON__READ_MISSING_NOTFOUND = 1u << 1,
};

/**
 * Read the whole file @p path, at most @p max_bytes of it.
 *
 * The buffer grows as the file is read (its size as reported by the file system is only a
 * hint), so a large bound costs nothing for a small file; every buffer given up on the way
 * (growth, an error) is wiped before it is freed, since the content may be a private key.
 *
 * @param flags TS_COMMON__READ_* flags, or 0.
 * @param out on TS_OK, the content with a NUL appended (heap; the caller wipes it if it is
 *            secret and frees it with free()); NULL on error.
 * @param len on TS_OK, the content's length without the appended NUL; 0 on error. May be NULL.
 * @return TS_OK; TS_EIO ("cannot open: <reason>", "cannot read: <reason>"); TS_ENOTFOUND ("no
 * such file") with TS_COMMON__READ_MISSING_NOTFOUND; TS_ELIMIT ("larger than N bytes");
 * TS_EPARSE ("holds a NUL byte") with TS_COMMON__READ_NO_NUL; TS_ENOMEM; TS_EINVAL when
 * @p path or @p out is NULL. Where: @p path.
 */
TS_NODISCARD ts_status ts_common__read_file(const char *path, size_t max_bytes, unsigned flags,
                                            char **out, size_t *len, ts_error *err);

/**
 * The same for an open descriptor (standard input, a pipe), read to its end; @p name stands for
 * it in errors. The descriptor is neither closed nor seeked.
 */
TS_NODISCARD ts_status ts_common__read_fd(int fd, const char *name, size_t max_bytes,
                                          unsigned flags, char **out, size_t *len, ts_error *err);

/**
 * Replace @p path with @p len bytes of @p data atomically: write a temporary file beside it
 * ("<path>.tmp.<pid>.<n>", created afresh with @p mode as reduced by the umask; a stale one of
 * the same name is removed first, so no older mode survives), fsync it, rename it over @p path
 * and fsync the directory. A symbolic link in place of the temporary file is not followed.
 * On failure @p path is untouched and the temporary file is removed.
 * @return TS_OK; TS_EIO naming the file and the step that failed ("cannot create", "cannot
 * write", "cannot sync", "cannot close", "cannot rename into place", "cannot open directory",
 * "cannot sync directory"); TS_EINVAL for a NULL or too long path.
 */
TS_NODISCARD ts_status ts_common__write_file_atomic(const char *path, const void *data, size_t len,
                                                    mode_t mode, ts_error *err);

/**
 * The same, for a file that others read under its owner, group and mode (the agent's file
 * sinks): the temporary file is created 0600, given owner @p uid and group @p gid
 * ((uid_t)-1 or (gid_t)-1 leaves that one as created, as with chown(2)) and then exactly
 * @p mode (fchmod: not reduced by the umask), all before a byte is written and before it is
 * renamed over @p path. So @p path never holds, even for an instant, a file of another owner,
 * group or mode, and a reader that the owner or group lets in is never refused a new file.
 * @return as ts_common__write_file_atomic(), and TS_EIO ("cannot set the owner or group: ...",
 * "cannot set the mode: ...") with @p path untouched.
 */
TS_NODISCARD ts_status ts_common__write_file_atomic_owned(const char *path, const void *data,
                                                          size_t len, mode_t mode, uid_t uid,
                                                          gid_t gid, ts_error *err);

/**
 * Make sure @p dir is a directory: accepted when it already is one, else created with @p mode
 * (as reduced by the umask). One level only: a missing parent is an error, never created, so a
 * mistyped path stops with a message instead of growing a new tree. Where: @p dir.
 * @return TS_OK; TS_EINVAL ("not a directory") when something else has that name;
 * TS_ENOTFOUND ("its parent P does not exist (tokensmith creates one directory level, never a
 * chain of parents)"); TS_EIO ("cannot create directory: <reason>") otherwise.
 */
TS_NODISCARD ts_status ts_common__mkdir_one(const char *dir, mode_t mode, ts_error *err);

/**
 * Write the directory part of @p path into @p out (@p cap bytes): "." when it has none, "/"
 * for a file in the root. Truncated to fit; always NUL-terminated when @p cap > 0.
 */
void ts_common__dir_of(const char *path, char *out, size_t cap);

/**
 * What stat() says of a file (through symlinks): device, inode, size and modification time.
 * Watchers compare two of these to tell that a file was replaced or rewritten: cert-manager and
 * ACME clients rename files into place, a Kubernetes secret or ConfigMap volume swaps its
 * `..data` link, an editor writes in place.
 */
typedef struct ts_common__file_id {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtime;
    bool ok; /**< stat() succeeded; a file that cannot be looked at has no other fields */
} ts_common__file_id;

/** The identity of @p path now (ok false, other fields 0, when stat() fails). */
ts_common__file_id ts_common__file_id_of(const char *path);

/** Whether @p a and @p b are the same look at the same file (two failed looks are the same). */
bool ts_common__file_id_same(const ts_common__file_id *a, const ts_common__file_id *b);

#endif
