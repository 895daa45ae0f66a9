/* Private structures of the epoll HTTP/1.1 client (http_load.h), shared by http_load.c (the
 * client: options, connections, runs), http_load_conn.c (sockets and each connection's request
 * cycle on its worker's event loop) and http_load_parse.c (answer parsing). */
#ifndef TS_BENCH_HTTP_LOAD_INTERNAL_H
#define TS_BENCH_HTTP_LOAD_INTERNAL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>

#include "http_load.h"

enum conn_state {
    C_IDLE,       /* nothing in flight */
    C_CONNECTING, /* the request is built, the connect pending */
    C_HANDSHAKE,  /* connected, the TLS handshake under way */
    C_SENDING,    /* part of the request written */
    C_RECEIVING,  /* the request written, the answer incomplete */
};

typedef struct conn {
    size_t id;
    int fd; /* -1 when closed */
    enum conn_state st;
    uint32_t events; /* the epoll mask registered for fd */
    bool active;     /* still taking part in the current run */
    bool used;       /* an answer came on this fd: an EOF before any byte may be a stale close */
    bool retried;    /* the current request was already resent once */
    double t0;       /* when the current request started */
    size_t req_len, req_off;
    /* The answer being read. */
    size_t rlen;      /* bytes kept in resp */
    size_t rtotal;    /* bytes received for this answer (kept or dropped) */
    size_t scanned;   /* resp bytes searched for the end of the head */
    size_t head_len;  /* 0 until the head is complete */
    int status;       /* once the head is parsed */
    long long clen;   /* body length, -1: until the server closes (or chunked) */
    bool close_after; /* the server closes after this answer */
    /* Chunked bodies (RFC 9112 §7.1) are decoded in place as they arrive. */
    bool chunked;
    int cstate;               /* a chunk_state */
    unsigned long long csize; /* the current chunk's size, then what is left of it */
    unsigned cdigits;         /* hex digits of the size line read so far */
    size_t ppos;              /* resp bytes up to here are decoded */
    size_t dtotal;            /* decoded body bytes (kept or dropped) */
    /* TLS (http_load_tls.c): the session on fd, the last session's resumption data. */
    void *tls;
    void *ticket;
    size_t ticket_len;
    char req[HL_REQUEST_MAX];
    char resp[HL_RESPONSE_MAX];
} conn;

typedef struct worker {
    struct hl_client *c;
    pthread_t th;
    int ep;
    conn **conns;
    size_t nconns;
    size_t active; /* connections still running in this run */
    uint64_t ok, failed, transport_errors, reconnects, handshakes, resumed;
    double *lat;
    size_t nlat, cap;
    bool oom;
} worker;

struct hl_client {
    struct sockaddr_storage addr;
    socklen_t addr_len;
    char host[300]; /* the Host header value */
    size_t host_len;
    conn *conns;
    size_t nconns;
    hl_conn_mode mode;
    void *tls_cred; /* GnuTLS client credentials; NULL for http */
    worker workers[HL_MAX_THREADS];
    unsigned nworkers;
    /* The current run. */
    const hl_run *run;
    double deadline;
    _Atomic uint64_t sent;
};

enum chunk_state {
    CS_SIZE,         /* hex digits of a chunk size */
    CS_EXT,          /* a chunk extension, up to CR */
    CS_SIZE_LF,      /* the LF ending a size line */
    CS_DATA,         /* chunk data */
    CS_DATA_CR,      /* the CRLF after chunk data */
    CS_DATA_LF,      /* */
    CS_TRAILER,      /* at the start of a trailer line (or of the final CRLF) */
    CS_TRAILER_LINE, /* inside a trailer field line */
    CS_TRAILER_LF,   /* the LF ending a trailer line */
    CS_END_LF,       /* the LF of the final CRLF */
    CS_DONE
};

/* TLS (http_load_tls.c). Credentials of @p o (ca, client certificate) for an https client. */
int hl__tls_init(struct hl_client *c, const hl_tls_options *o, ts_error *err);
void hl__tls_deinit(struct hl_client *c);
/* A client session on k->fd, resuming k->ticket in HL_NEW_RESUMED. @return 0 or -1. */
int hl__tls_begin(const struct hl_client *c, conn *k);
/* Advance the handshake. @return 1 done (@p resumed set), 0 again (@p want_write: wait for
 * EPOLLOUT, else EPOLLIN), -1 failed. */
int hl__tls_handshake(conn *k, bool *want_write, bool *resumed);
/* send()/recv() over the session: -1 with errno EAGAIN when it would block. */
long hl__tls_send(conn *k, const char *buf, size_t n);
long hl__tls_recv(conn *k, char *buf, size_t n);
/* Decrypted bytes waiting in the session (epoll does not see them). */
bool hl__tls_pending(conn *k);
/* Drop the session (keeping its resumption data in HL_NEW_RESUMED); NULL-safe on k->tls. */
void hl__tls_end(const struct hl_client *c, conn *k);
/* Forget the resumption data. */
void hl__tls_forget(conn *k);

/* Start a non-blocking connect. @return 0 when connected or in progress, -1 on failure. */
int hl__conn_open(const struct hl_client *c, conn *k, bool *in_progress);
/* One worker's event loop for the current run (the thread function of every worker). */
void *hl__worker_main(void *arg);

/* Parse the head resp[0, head_len) (ending in CRLFCRLF). @return 0, or -1 when malformed or
 * using a framing this client does not implement. */
int hl__parse_head(conn *k, size_t head_len);
/* Decode @p n chunked bytes at @p in (into @p out at k->rlen, or only counted without it).
 * @return the bytes consumed, or -1 when malformed. */
long hl__chunk_feed(conn *k, const char *in, size_t n, char *out);
/* Look for the end of the head. @return its length, 0 when not there yet. */
size_t hl__find_head_end(conn *k);

#endif
