/*
 * Listening TCP sockets from an address as operators write it: "HOST:PORT" or "[V6]:PORT",
 * HOST a name or an address, empty for all addresses, PORT numeric (0: the kernel picks one).
 * One reading of the address for every server that binds one (the token service, the gateway).
 * Private to tokensmith.
 *
 * Errors: ts_error.where is @p where, the caller's name of the setting ("listen", ...), and the
 * message quotes the address.
 * Thread-safety: no shared state.
 */
#ifndef TS_COMMON_LISTEN_H
#define TS_COMMON_LISTEN_H

#include <stdint.h>
#include <sys/socket.h>

#include <tokensmith/error.h>

/**
 * Resolve @p addr (passive, numeric port) to its first socket address.
 * @return TS_OK; TS_EINVAL: "'<addr>' is not [ADDR]:PORT" (a '[' without "]:"), "'<addr>'
 * is not HOST:PORT" (no ':'), "'<start of addr>...': host too long (N bytes, at most 255)",
 * "'<addr>': port must be a number from 0 to 65535", "'<addr>': <resolver's reason>".
 */
TS_NODISCARD ts_status ts_common__listen_parse(const char *addr, const char *where,
                                               struct sockaddr_storage *ss, socklen_t *sl,
                                               ts_error *err);

/**
 * A socket listening on @p addr: close-on-exec, SO_REUSEADDR, backlog SOMAXCONN.
 * @param fd on TS_OK the socket (the caller closes it or hands it to a server); -1 on error.
 * @param port on TS_OK the bound port (the kernel's choice for port 0), 0 if unknown. May be NULL.
 * @return TS_OK; the errors of ts_common__listen_parse(); TS_EIO: "socket: <reason>", "cannot
 * listen on <addr>: <reason>".
 */
TS_NODISCARD ts_status ts_common__listen_bind(const char *addr, const char *where, int *fd,
                                              uint16_t *port, ts_error *err);

#endif
