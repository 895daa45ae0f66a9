/* The admin API's building blocks: judging the socket peer, and durable configuration files. */
#ifndef TS_SVC_ADMIN_H
#define TS_SVC_ADMIN_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include <tokensmith/error.h>

/** The file in the state directory that holds the provider configuration set at run time. */
#define TS_SVC_OIDC_STATE_FILE "oidc-providers.json"

/**
 * Whether the connection's socket peer @p sa is local: an IPv4 loopback address
 * (127.0.0.0/8), ::1, an IPv4-mapped loopback address (::ffff:127.x.y.z), or a Unix socket.
 * Only the address the kernel reports counts; headers such as X-Forwarded-For never reach this
 * decision. NULL is not local.
 */
bool ts_svc_peer_is_local(const struct sockaddr *sa);

/**
 * Replace @p path with @p len bytes of @p data atomically, mode 0600:
 * ts_common__write_file_atomic() (a temporary file beside it, fsync, rename, fsync of the
 * directory). On failure the old file is untouched and the temporary file is removed.
 */
TS_NODISCARD ts_status ts_svc_write_file_atomic(const char *path, const char *data, size_t len,
                                                ts_error *err);

/**
 * Read a whole file of at most @p max bytes (ts_common__read_file()). @return TS_OK with *out
 * (NUL-terminated, free with free()), TS_ENOTFOUND when it does not exist, TS_ELIMIT when
 * larger, TS_EIO otherwise.
 */
TS_NODISCARD ts_status ts_svc_read_file(const char *path, size_t max, char **out, size_t *len,
                                        ts_error *err);

#endif
