/*
 * http_load: the epoll HTTP/1.1 client behind service_bench (see http_load.h).
 *
 * Epoll is level-triggered: one read per readiness is enough (a partial read is reported
 * again), so an answer that arrives in one segment costs exactly one read. EPOLLOUT is only
 * asked for while a connect or a partial write is pending.
 */
#define _GNU_SOURCE

#include "http_load.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

enum conn_state {
    C_IDLE,       /* nothing in flight */
    C_CONNECTING, /* the request is built, the connect pending */
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
    uint64_t ok, failed, transport_errors, reconnects;
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
    worker workers[HL_MAX_THREADS];
    unsigned nworkers;
    /* The current run. */
    const hl_run *run;
    double deadline;
    _Atomic uint64_t sent;
};

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* ------------------------------------------------------------------------------------------ */
/* Sockets                                                                                    */

static void conn_close(worker *w, conn *k)
{
    if (k->fd >= 0) {
        epoll_ctl(w->ep, EPOLL_CTL_DEL, k->fd, NULL);
        close(k->fd);
    }
    k->fd = -1;
    k->events = 0;
    k->used = false;
}

static int set_events(worker *w, conn *k, uint32_t ev)
{
    if (k->events == ev)
        return 0;
    struct epoll_event e = {.events = ev, .data.ptr = k};
    if (epoll_ctl(w->ep, k->events ? EPOLL_CTL_MOD : EPOLL_CTL_ADD, k->fd, &e) != 0)
        return -1;
    k->events = ev;
    return 0;
}

/* Start a non-blocking connect. @return 0 when connected or in progress, -1 on failure. */
static int conn_open(const struct hl_client *c, conn *k, bool *in_progress)
{
    int fd = socket(c->addr.ss_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, (socklen_t)sizeof one);
    *in_progress = false;
    if (connect(fd, (const struct sockaddr *)&c->addr, c->addr_len) != 0) {
        if (errno != EINPROGRESS) {
            close(fd);
            return -1;
        }
        *in_progress = true;
    }
    k->fd = fd;
    k->events = 0;
    k->used = false;
    return 0;
}

/* Whether an idle connection was closed by the server (keep-alive timeout) or holds stray
 * bytes; either way it is not usable. */
static bool idle_conn_dead(const conn *k)
{
    char b;
    ssize_t n = recv(k->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
    return n >= 0 || (errno != EAGAIN && errno != EWOULDBLOCK);
}

/* ------------------------------------------------------------------------------------------ */
/* Answer parsing                                                                             */

static bool name_is(const char *p, size_t n, const char *lower)
{
    size_t l = strlen(lower);
    if (n != l)
        return false;
    for (size_t i = 0; i < n; i++) {
        char ch = p[i];
        if (ch >= 'A' && ch <= 'Z')
            ch = (char)(ch - 'A' + 'a');
        if (ch != lower[i])
            return false;
    }
    return true;
}

/* Whether the comma-separated token list [p, p+n) holds @p token (case-insensitively). */
static bool has_token(const char *p, size_t n, const char *token)
{
    size_t i = 0;
    while (i < n) {
        while (i < n && (p[i] == ' ' || p[i] == '\t' || p[i] == ','))
            i++;
        size_t s = i;
        while (i < n && p[i] != ',')
            i++;
        size_t e = i;
        while (e > s && (p[e - 1] == ' ' || p[e - 1] == '\t'))
            e--;
        if (e > s && name_is(p + s, e - s, token))
            return true;
    }
    return false;
}

/* Parse the head resp[0, head_len) (ending in CRLFCRLF). @return 0, or -1 when malformed or
 * using a framing this client does not implement. */
static int parse_head(conn *k, size_t head_len)
{
    const char *p = k->resp, *end = k->resp + head_len - 2; /* end: at the final CRLF */
    /* "HTTP/1.x SSS" then SP or CRLF. */
    if (head_len < 14 || memcmp(p, "HTTP/1.", 7) != 0 || (p[7] != '0' && p[7] != '1') ||
        p[8] != ' ')
        return -1;
    int st = 0;
    for (int i = 9; i < 12; i++) {
        if (p[i] < '0' || p[i] > '9')
            return -1;
        st = st * 10 + (p[i] - '0');
    }
    if (st < 100 || st > 599 || (p[12] != ' ' && p[12] != '\r'))
        return -1;
    bool keep_alive = p[7] == '1', chunked = false;
    bool close = false;
    long long clen = -1;
    const char *line = memchr(p, '\n', head_len);
    if (!line)
        return -1;
    line++;
    while (line < end) {
        const char *eol = memchr(line, '\n', (size_t)(end + 2 - line));
        if (!eol || eol == line || eol[-1] != '\r')
            return -1;
        size_t n = (size_t)(eol - 1 - line);
        if (line[0] == ' ' || line[0] == '\t')
            return -1; /* obsolete line folding */
        const char *colon = memchr(line, ':', n);
        if (!colon || colon == line)
            return -1;
        size_t nl = (size_t)(colon - line);
        const char *v = colon + 1, *ve = line + n;
        while (v < ve && (*v == ' ' || *v == '\t'))
            v++;
        while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
            ve--;
        size_t vl = (size_t)(ve - v);
        if (name_is(line, nl, "content-length")) {
            if (vl == 0 || vl > 12)
                return -1;
            long long x = 0;
            for (size_t i = 0; i < vl; i++) {
                if (v[i] < '0' || v[i] > '9')
                    return -1;
                x = x * 10 + (v[i] - '0');
            }
            if (clen >= 0 && clen != x)
                return -1; /* conflicting lengths */
            clen = x;
        } else if (name_is(line, nl, "transfer-encoding")) {
            /* No Accept-Encoding or TE is sent, so "chunked" is the only coding allowed. */
            if (chunked || !name_is(v, vl, "chunked"))
                return -1;
            chunked = true;
        } else if (name_is(line, nl, "connection")) {
            if (has_token(v, vl, "close"))
                close = true;
            else if (has_token(v, vl, "keep-alive"))
                keep_alive = true;
        }
        line = eol + 1;
    }
    if (chunked && clen >= 0)
        return -1; /* both framings: refuse rather than guess (request smuggling) */
    if (st == 204 || st == 304 || (st >= 100 && st < 200)) {
        clen = 0;
        chunked = false;
    } else if (clen < 0 && !chunked) {
        close = true; /* the body ends when the server closes */
    }
    k->chunked = chunked;
    k->cstate = 0;
    k->csize = 0;
    k->cdigits = 0;
    k->ppos = head_len;
    k->dtotal = 0;
    k->status = st;
    k->clen = clen;
    k->close_after = close || !keep_alive;
    k->head_len = head_len;
    return 0;
}

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

static int hexval(char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    if (ch >= 'a' && ch <= 'f')
        return ch - 'a' + 10;
    if (ch >= 'A' && ch <= 'F')
        return ch - 'A' + 10;
    return -1;
}

/*
 * Decode @p n chunked bytes at @p in. With @p out, chunk data is appended there at k->rlen
 * (in place: out never passes in); without, it is only counted (beyond the kept prefix).
 * @return the bytes consumed (fewer than @p n once the body is complete), or -1 when malformed.
 */
static long chunk_feed(conn *k, const char *in, size_t n, char *out)
{
    size_t i = 0;
    while (i < n && k->cstate != CS_DONE) {
        char ch = in[i];
        switch (k->cstate) {
        case CS_SIZE: {
            int v = hexval(ch);
            if (v >= 0) {
                if (++k->cdigits > 12)
                    return -1; /* no chunk of a terabyte */
                k->csize = k->csize * 16 + (unsigned)v;
            } else if (k->cdigits && (ch == ';' || ch == ' ' || ch == '\t')) {
                k->cstate = CS_EXT;
            } else if (k->cdigits && ch == '\r') {
                k->cstate = CS_SIZE_LF;
            } else {
                return -1;
            }
            i++;
            break;
        }
        case CS_EXT:
            if (ch == '\r')
                k->cstate = CS_SIZE_LF;
            i++;
            break;
        case CS_SIZE_LF:
            if (ch != '\n')
                return -1;
            k->cstate = k->csize ? CS_DATA : CS_TRAILER;
            i++;
            break;
        case CS_DATA: {
            size_t take = n - i < k->csize ? n - i : (size_t)k->csize;
            if (out) {
                memmove(out + k->rlen, in + i, take);
                k->rlen += take;
            }
            k->dtotal += take;
            k->csize -= take;
            i += take;
            if (!k->csize)
                k->cstate = CS_DATA_CR;
            break;
        }
        case CS_DATA_CR:
        case CS_TRAILER_LINE:
            if (k->cstate == CS_DATA_CR && ch != '\r')
                return -1;
            if (ch == '\r')
                k->cstate = k->cstate == CS_DATA_CR ? CS_DATA_LF : CS_TRAILER_LF;
            i++;
            break;
        case CS_DATA_LF:
        case CS_TRAILER_LF:
        case CS_END_LF:
            if (ch != '\n')
                return -1;
            k->cstate = k->cstate == CS_DATA_LF  ? CS_SIZE
                        : k->cstate == CS_END_LF ? CS_DONE
                                                 : CS_TRAILER;
            k->cdigits = 0;
            i++;
            break;
        case CS_TRAILER:
            k->cstate = ch == '\r' ? CS_END_LF : CS_TRAILER_LINE;
            i++;
            break;
        default:
            return -1;
        }
    }
    return (long)i;
}

/* Look for the end of the head. @return its length, 0 when not there yet. */
static size_t find_head_end(conn *k)
{
    size_t i = k->scanned > 3 ? k->scanned - 3 : 0;
    for (; i + 4 <= k->rlen; i++)
        if (k->resp[i] == '\r' && k->resp[i + 1] == '\n' && k->resp[i + 2] == '\r' &&
            k->resp[i + 3] == '\n')
            return i + 4;
    k->scanned = k->rlen;
    return 0;
}

/* ------------------------------------------------------------------------------------------ */
/* The request cycle                                                                          */

static void put(char **p, const char *s, size_t n)
{
    memcpy(*p, s, n);
    *p += n;
}

static int build_request(const struct hl_client *c, conn *k, const hl_request *rq)
{
    size_t ml = strlen(rq->method), pl = strlen(rq->path);
    size_t tl = rq->content_type ? strlen(rq->content_type) : 0;
    size_t hdl = rq->headers ? strlen(rq->headers) : 0;
    /* Fixed text: " HTTP/1.1\r\nHost: \r\nContent-Type: \r\nContent-Length: \r\n\r\n" + 20 digits
     */
    size_t need = ml + pl + c->host_len + tl + hdl + rq->body_len + 64 + 20;
    if (need > sizeof k->req)
        return -1;
    char *p = k->req;
    put(&p, rq->method, ml);
    put(&p, " ", 1);
    put(&p, rq->path, pl);
    put(&p, " HTTP/1.1\r\nHost: ", 17);
    put(&p, c->host, c->host_len);
    put(&p, "\r\n", 2);
    if (hdl)
        put(&p, rq->headers, hdl);
    if (rq->content_type) {
        put(&p, "Content-Type: ", 14);
        put(&p, rq->content_type, tl);
        put(&p, "\r\nContent-Length: ", 18);
        char d[24];
        size_t nd = 0;
        size_t v = rq->body_len;
        do {
            d[nd++] = (char)('0' + v % 10);
            v /= 10;
        } while (v);
        while (nd)
            *p++ = d[--nd];
        put(&p, "\r\n", 2);
    }
    put(&p, "\r\n", 2);
    if (rq->body_len)
        put(&p, rq->body, rq->body_len);
    k->req_len = (size_t)(p - k->req);
    return 0;
}

static void record_latency(worker *w, double us)
{
    if (w->nlat == w->cap) {
        size_t cap = w->cap ? w->cap * 2 : 4096;
        double *n = realloc(w->lat, cap * sizeof *n);
        if (!n) {
            w->oom = true;
            return;
        }
        w->lat = n;
        w->cap = cap;
    }
    w->lat[w->nlat++] = us;
}

static void finish(worker *w, conn *k)
{
    k->st = C_IDLE;
    if (k->active) {
        k->active = false;
        w->active--;
    }
}

static void reset_answer(conn *k)
{
    k->rlen = k->rtotal = k->scanned = k->head_len = 0;
    k->status = 0;
    k->clen = -1;
    k->close_after = false;
}

/* The current request failed in transport: tell the caller and drop the connection. The
 * functions below leave the next request to the event loop (start_next when C_IDLE), so that a
 * run of failures is a loop, not a recursion. */
static void fail(worker *w, conn *k)
{
    w->transport_errors++;
    conn_close(w, k);
    k->st = C_IDLE;
    w->c->run->done(w->c->run->ud, k->id, NULL);
}

static void send_some(worker *w, conn *k)
{
    while (k->req_off < k->req_len) {
        ssize_t n = send(k->fd, k->req + k->req_off, k->req_len - k->req_off, MSG_NOSIGNAL);
        if (n > 0) {
            k->req_off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            k->st = C_SENDING;
            if (set_events(w, k, EPOLLIN | EPOLLOUT) != 0)
                fail(w, k);
            return;
        }
        fail(w, k);
        return;
    }
    k->st = C_RECEIVING;
    if (set_events(w, k, EPOLLIN) != 0)
        fail(w, k);
}

/* Send k->req: on the open connection, or on a new one. */
static void dispatch(worker *w, conn *k)
{
    reset_answer(k);
    k->req_off = 0;
    if (k->fd >= 0) {
        send_some(w, k);
        return;
    }
    bool pending;
    if (conn_open(w->c, k, &pending) != 0) {
        fail(w, k);
        return;
    }
    w->reconnects++;
    if (pending) {
        k->st = C_CONNECTING;
        if (set_events(w, k, EPOLLOUT) != 0)
            fail(w, k);
        return;
    }
    send_some(w, k);
}

static void start_next(worker *w, conn *k)
{
    struct hl_client *c = w->c;
    while (k->active && k->st == C_IDLE) {
        double t = now_s();
        hl_request rq = {0};
        /* The slot is claimed after next() so that a connection out of work takes none. */
        if (t >= c->deadline || !c->run->next(c->run->ud, k->id, &rq) ||
            atomic_fetch_add_explicit(&c->sent, 1, memory_order_relaxed) >= c->run->max_requests) {
            finish(w, k);
            return;
        }
        if (build_request(c, k, &rq) != 0) {
            /* A caller bug rather than load: count it and stop this connection. */
            w->transport_errors++;
            finish(w, k);
            return;
        }
        k->t0 = t;
        k->retried = false;
        dispatch(w, k);
    }
}

/* The answer in k->resp is complete. */
static void complete(worker *w, conn *k)
{
    double t1 = now_s();
    size_t body_total = k->chunked ? k->dtotal : k->rtotal - k->head_len;
    size_t kept = k->rlen - k->head_len;
    hl_response r = {k->status, k->resp + k->head_len, kept < body_total ? kept : body_total,
                     kept < body_total};
    const hl_run *run = w->c->run;
    if (run->done(run->ud, k->id, &r)) {
        w->ok++;
        record_latency(w, (t1 - k->t0) * 1e6);
    } else {
        w->failed++;
    }
    /* An answer before the whole request was written leaves the server reading a request
     * that is over for us: the connection cannot carry another one. */
    if (k->req_off < k->req_len)
        k->close_after = true;
    k->st = C_IDLE;
    k->used = true;
    if (k->close_after)
        conn_close(w, k);
}

/* EOF or a receive error while an answer is expected. */
static void on_eof(worker *w, conn *k, bool error)
{
    if (!error && k->head_len && k->clen < 0 && !k->chunked) {
        complete(w, k); /* the body was delimited by the close */
        return;
    }
    if (k->rtotal == 0 && k->used && !k->retried) {
        /* The server closed a kept-alive connection before reading this request: it was not
         * processed, so send it again once on a new connection (as HTTP clients do). */
        conn_close(w, k);
        k->retried = true;
        dispatch(w, k);
        return;
    }
    fail(w, k);
}

static void on_readable(worker *w, conn *k)
{
    char scratch[4096];
    char *dst;
    size_t room;
    if (k->rlen < sizeof k->resp) {
        dst = k->resp + k->rlen;
        room = sizeof k->resp - k->rlen;
    } else {
        dst = scratch; /* beyond what is kept: count and drop */
        room = sizeof scratch;
    }
    ssize_t n = recv(k->fd, dst, room, 0);
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR))
        return;
    if (k->st == C_IDLE) {
        /* Idle: the server closed the connection, or sent bytes nobody asked for. */
        if (n > 0)
            w->transport_errors++;
        conn_close(w, k);
        return;
    }
    if (n <= 0) {
        on_eof(w, k, n < 0);
        return;
    }
    k->rtotal += (size_t)n;
    if (dst != scratch)
        k->rlen += (size_t)n;
    size_t fresh = (size_t)n; /* for a chunked body: these bytes still need decoding */
    for (;;) {
        if (!k->head_len) {
            size_t hl = find_head_end(k);
            if (!hl) {
                if (k->rlen == sizeof k->resp)
                    fail(w, k); /* a head longer than the buffer */
                return;
            }
            if (parse_head(k, hl) != 0) {
                fail(w, k);
                return;
            }
            if (k->status < 200) {
                /* An interim answer: drop it and read the final one from what follows. */
                size_t rest = k->rlen - hl;
                memmove(k->resp, k->resp + hl, rest);
                k->rlen = rest;
                k->rtotal -= hl;
                k->scanned = k->head_len = 0;
                continue;
            }
        }
        break;
    }
    if (k->chunked) {
        /* Decode what arrived: kept bytes in place (the decoded body never outgrows them),
           bytes beyond the kept prefix only counted. */
        size_t raw = k->rlen - k->ppos, extra = 0;
        k->rlen = k->ppos;
        long used = chunk_feed(k, k->resp + k->ppos, raw, k->resp);
        if (used >= 0) {
            extra = raw - (size_t)used;
            k->ppos = k->rlen;
            if (dst == scratch) {
                long more = chunk_feed(k, scratch, fresh, NULL);
                used = more;
                extra += more < 0 ? 0 : fresh - (size_t)more;
            }
        }
        if (used < 0) {
            fail(w, k);
            return;
        }
        if (k->cstate != CS_DONE)
            return;
        if (extra) { /* bytes after the answer to the only request in flight */
            k->close_after = true;
            w->transport_errors++;
        }
        complete(w, k);
        return;
    }
    if (k->clen < 0)
        return; /* until the close */
    size_t need = k->head_len + (size_t)k->clen;
    if (k->rtotal < need)
        return;
    if (k->rtotal > need) {
        /* Bytes after the answer to the only request in flight. */
        k->close_after = true;
        w->transport_errors++;
        k->rtotal = need;
        if (k->rlen > need)
            k->rlen = need;
    }
    complete(w, k);
}

static void on_writable(worker *w, conn *k)
{
    if (k->st == C_CONNECTING) {
        int e = 0;
        socklen_t l = (socklen_t)sizeof e;
        if (getsockopt(k->fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0 || e != 0) {
            fail(w, k);
            return;
        }
        send_some(w, k);
    } else if (k->st == C_SENDING) {
        send_some(w, k);
    }
}

/* Requests stuck past HL_TIMEOUT_S fail. */
static void check_timeouts(worker *w, double t)
{
    for (size_t i = 0; i < w->nconns; i++) {
        conn *k = w->conns[i];
        if (k->st != C_IDLE && t - k->t0 > HL_TIMEOUT_S) {
            fail(w, k);
            start_next(w, k);
        }
    }
}

static void *worker_main(void *arg)
{
    worker *w = arg;
    w->active = 0;
    for (size_t i = 0; i < w->nconns; i++) {
        conn *k = w->conns[i];
        if (k->fd >= 0 && idle_conn_dead(k))
            conn_close(w, k);
        k->active = true;
        k->st = C_IDLE;
        w->active++;
    }
    for (size_t i = 0; i < w->nconns; i++)
        start_next(w, w->conns[i]);
    struct epoll_event ev[256];
    double last_check = now_s();
    while (w->active > 0) {
        int n = epoll_wait(w->ep, ev, (int)(sizeof ev / sizeof ev[0]), 1000);
        if (n < 0 && errno != EINTR)
            break;
        for (int i = 0; i < n; i++) {
            conn *k = ev[i].data.ptr;
            uint32_t e = ev[i].events;
            if (k->fd < 0)
                continue; /* closed by an earlier event of this batch */
            if (k->st == C_CONNECTING || ((e & EPOLLOUT) && k->st == C_SENDING))
                on_writable(w, k); /* a failed connect reports EPOLLERR alone */
            else if (e & (EPOLLIN | EPOLLHUP | EPOLLERR))
                on_readable(w, k);
            start_next(w, k);
        }
        double t = now_s();
        if (t - last_check >= 1.0) {
            check_timeouts(w, t);
            last_check = t;
        }
    }
    return NULL;
}

/* ------------------------------------------------------------------------------------------ */
/* Client                                                                                     */

static int parse_url(struct hl_client *c, const char *url, ts_error *err)
{
    static const char scheme[] = "http://";
    if (strncmp(url, scheme, sizeof scheme - 1) != 0)
        return ts_error_set(err, TS_EINVAL, "url", "'%s' is not http://HOST:PORT", url), -1;
    const char *h = url + sizeof scheme - 1;
    const char *hend, *colon;
    char host[256];
    if (*h == '[') {
        hend = strchr(h, ']');
        if (!hend || hend[1] != ':')
            return ts_error_set(err, TS_EINVAL, "url", "bad IPv6 host in '%s'", url), -1;
        colon = hend + 1;
        h++;
    } else {
        colon = strchr(h, ':');
        if (!colon)
            return ts_error_set(err, TS_EINVAL, "url", "'%s' has no port", url), -1;
        hend = colon;
    }
    size_t hl = (size_t)(hend - h);
    const char *port = colon + 1;
    size_t pl = strcspn(port, "/");
    if (hl == 0 || hl >= sizeof host || pl == 0 || pl > 5 || strspn(port, "0123456789") != pl)
        return ts_error_set(err, TS_EINVAL, "url", "bad host or port in '%s'", url), -1;
    memcpy(host, h, hl);
    host[hl] = '\0';
    char portz[6];
    memcpy(portz, port, pl);
    portz[pl] = '\0';
    struct addrinfo hints = {0}, *ai = NULL;
    hints.ai_socktype = SOCK_STREAM;
    hints.ai_flags = AI_NUMERICSERV;
    int rc = getaddrinfo(host, portz, &hints, &ai);
    if (rc != 0 || !ai)
        return ts_error_set(err, TS_EINVAL, "url", "%s: %s", host, gai_strerror(rc)), -1;
    memcpy(&c->addr, ai->ai_addr, ai->ai_addrlen);
    c->addr_len = ai->ai_addrlen;
    freeaddrinfo(ai);
    size_t authority = (size_t)(port + pl - (url + sizeof scheme - 1));
    if (authority >= sizeof c->host)
        return ts_error_set(err, TS_EINVAL, "url", "host too long"), -1;
    memcpy(c->host, url + sizeof scheme - 1, authority);
    c->host_len = authority;
    return 0;
}

/* Wait for a pending connect. @return 0 when connected, -1 with errno set. */
static int wait_connected(int fd, int timeout_ms)
{
    struct pollfd p = {.fd = fd, .events = POLLOUT};
    int n = poll(&p, 1, timeout_ms);
    if (n <= 0) {
        if (n == 0)
            errno = ETIMEDOUT;
        return -1;
    }
    int e = 0;
    socklen_t l = (socklen_t)sizeof e;
    if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &e, &l) != 0)
        return -1;
    if (e != 0) {
        errno = e;
        return -1;
    }
    return 0;
}

hl_client *hl_client_new(const hl_options *o, ts_error *err)
{
    if (!o || !o->url || o->connections < 1 || o->connections > HL_MAX_CONNECTIONS ||
        o->threads < 1 || o->threads > HL_MAX_THREADS || o->threads > o->connections) {
        ts_error_set(err, TS_EINVAL, "hl_client_new", "bad options");
        return NULL;
    }
    struct hl_client *c = calloc(1, sizeof *c);
    if (!c) {
        ts_error_set(err, TS_ENOMEM, "hl_client_new", "out of memory");
        return NULL;
    }
    for (unsigned t = 0; t < HL_MAX_THREADS; t++)
        c->workers[t].ep = -1;
    if (parse_url(c, o->url, err) != 0)
        goto fail;
    c->conns = calloc(o->connections, sizeof *c->conns);
    if (!c->conns) {
        ts_error_set(err, TS_ENOMEM, "hl_client_new", "out of memory");
        goto fail;
    }
    c->nconns = o->connections;
    for (size_t i = 0; i < c->nconns; i++)
        c->conns[i].fd = -1;
    c->nworkers = o->threads;
    for (unsigned t = 0; t < c->nworkers; t++) {
        worker *w = &c->workers[t];
        w->c = c;
        w->ep = epoll_create1(EPOLL_CLOEXEC);
        w->conns = calloc(c->nconns / c->nworkers + 1, sizeof *w->conns);
        if (w->ep < 0 || !w->conns) {
            ts_error_set(err, TS_EIO, "hl_client_new", "epoll: %s", strerror(errno));
            goto fail;
        }
    }
    for (size_t i = 0; i < c->nconns; i++) {
        conn *k = &c->conns[i];
        worker *w = &c->workers[i % c->nworkers];
        k->id = i;
        w->conns[w->nconns++] = k;
        /* Wait for each connect: setup is not measured and a full backlog should wait. */
        bool pending;
        if (conn_open(c, k, &pending) != 0 ||
            (pending && wait_connected(k->fd, (int)(HL_TIMEOUT_S * 1000)) != 0)) {
            ts_error_set(err, TS_EIO, "hl_client_new", "connection %zu: %s", i, strerror(errno));
            goto fail;
        }
    }
    return c;
fail:
    hl_client_free(c);
    return NULL;
}

void hl_client_free(hl_client *c)
{
    if (!c)
        return;
    for (size_t i = 0; c->conns && i < c->nconns; i++)
        if (c->conns[i].fd >= 0)
            close(c->conns[i].fd);
    for (unsigned t = 0; t < HL_MAX_THREADS; t++) {
        worker *w = &c->workers[t];
        if (w->ep >= 0)
            close(w->ep);
        free(w->conns);
        free(w->lat);
    }
    free(c->conns);
    free(c);
}

ts_status hl_client_run(hl_client *c, const hl_run *r, hl_stats *out, ts_error *err)
{
    if (!c || !r || !r->next || !r->done || !out || r->max_seconds <= 0)
        return ts_error_set(err, TS_EINVAL, "hl_client_run", "bad arguments");
    memset(out, 0, sizeof *out);
    double t0 = now_s();
    c->run = r;
    c->deadline = t0 + r->max_seconds;
    atomic_store(&c->sent, 0);
    for (unsigned t = 0; t < c->nworkers; t++) {
        worker *w = &c->workers[t];
        w->ok = w->failed = w->transport_errors = w->reconnects = 0;
        w->nlat = 0;
        w->oom = false;
    }
    /* One thread runs its loop on the caller's thread; the others get their own. */
    unsigned started = 1;
    for (; started < c->nworkers; started++)
        if (pthread_create(&c->workers[started].th, NULL, worker_main, &c->workers[started]) != 0)
            break;
    worker_main(&c->workers[0]);
    for (unsigned t = 1; t < started; t++)
        pthread_join(c->workers[t].th, NULL);
    out->seconds = now_s() - t0;
    c->run = NULL;
    if (started < c->nworkers)
        return ts_error_set(err, TS_EIO, "hl_client_run", "pthread_create failed");
    size_t total = 0;
    bool oom = false;
    for (unsigned t = 0; t < c->nworkers; t++) {
        worker *w = &c->workers[t];
        out->ok += w->ok;
        out->failed += w->failed;
        out->transport_errors += w->transport_errors;
        out->reconnects += w->reconnects;
        total += w->nlat;
        oom = oom || w->oom;
    }
    out->lat_us = malloc((total + 1) * sizeof *out->lat_us);
    if (!out->lat_us || oom) {
        free(out->lat_us);
        out->lat_us = NULL;
        return ts_error_set(err, TS_ENOMEM, "hl_client_run", "out of memory for latencies");
    }
    for (unsigned t = 0; t < c->nworkers; t++) {
        worker *w = &c->workers[t];
        memcpy(out->lat_us + out->nlat, w->lat, w->nlat * sizeof *w->lat);
        out->nlat += w->nlat;
    }
    return TS_OK;
}
