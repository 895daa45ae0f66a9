/* The watchdog: one thread per ts_mhd_limits that closes connections whose request head or
 * body is overdue, and writes the periodic summary line.
 *
 * Why a thread of our own: libmicrohttpd's MHD_OPTION_CONNECTION_TIMEOUT is an idle timeout,
 * reset by every byte received, so a client that sends one header byte every few seconds
 * (slowloris) holds its connection for ever; and libmicrohttpd has no deadline for a whole
 * request. The watchdog enforces one: it shutdown()s the socket, libmicrohttpd's polling thread
 * then reads end-of-file and closes the connection itself, with its usual cleanup (completion
 * callback, CLOSED notification). The fd is only touched while the connection is on the list,
 * under the mutex that the CLOSED notification takes before libmicrohttpd closes the fd
 * (limits.c), so it is never an fd that was closed and reused.
 *
 * Keep-alive: between two requests a connection is idle and only the idle timeout governs it.
 * The head deadline of the next request starts at its first byte. For TCP, the kernel's
 * TCP_INFO tcpi_last_data_recv tells when data last arrived: data newer than the end of the
 * previous request starts the clock (at most one tick late). Without TCP_INFO (Unix sockets)
 * the next head must be complete within idle_timeout + head_timeout of the previous answer: an
 * idle connection is closed by libmicrohttpd's idle timeout before that, so only a trickling
 * one reaches this deadline. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>

#include "mhd_internal.h"

/* Data that tcpi_last_data_recv places this close to the end of the previous request may be
 * that request's own last segment (the kernel clock ticks in jiffies, up to 10 ms): it starts
 * no new head. */
#define SAME_REQUEST_SLACK_MS 50

/* When did data last arrive on @p fd (monotonic ms), or -1 if unknown. */
static int64_t last_data_recv(int fd, int64_t now)
{
    struct tcp_info ti;
    socklen_t len = sizeof ti;
    memset(&ti, 0, sizeof ti);
    if (getsockopt(fd, IPPROTO_TCP, TCP_INFO, &ti, &len) != 0 ||
        len < (socklen_t)(offsetof(struct tcp_info, tcpi_last_data_recv) +
                          sizeof ti.tcpi_last_data_recv))
        return -1;
    return now - (int64_t)ti.tcpi_last_data_recv;
}

/* The deadline of @p c's current phase, or 0 for none. Caller holds l->mu. */
static int64_t deadline(const ts_mhd_limits *l, ts_mhd__conn *c, int64_t now, bool *is_body)
{
    uint64_t s = atomic_load_explicit(&c->state, memory_order_relaxed);
    int64_t since = TS_MHD__STATE_MS(s);
    int64_t head = l->o.head_timeout_ms, body = l->o.body_timeout_ms;
    *is_body = false;
    switch (TS_MHD__STATE_PHASE(s)) {
    case TS_MHD__PHASE_HEAD:
        return head ? since + head : 0;
    case TS_MHD__PHASE_BODY:
        *is_body = true;
        return body ? since + body : 0;
    case TS_MHD__PHASE_IDLE:
        if (!head)
            return 0;
        if (c->idle_since != since) { /* a new idle phase: nothing seen of the next head yet */
            c->idle_since = since;
            c->next_head_ms = 0;
        }
        if (c->tcp && !c->next_head_ms) {
            int64_t t = last_data_recv(c->fd, now);
            if (t > since + SAME_REQUEST_SLACK_MS)
                c->next_head_ms = t;
        }
        if (c->next_head_ms)
            return c->next_head_ms + head;
        return since + (int64_t)l->o.idle_timeout_s * 1000 + head;
    default: /* HANDLING: the server is answering; its own time is not the client's fault */
        return 0;
    }
}

static void sweep(ts_mhd_limits *l, int64_t now)
{
    pthread_mutex_lock(&l->mu);
    for (ts_mhd__conn *c = l->conns; c; c = c->next) {
        if (c->killed)
            continue;
        bool is_body;
        int64_t due = deadline(l, c, now, &is_body);
        if (!due || now < due)
            continue;
        c->killed = true;
        shutdown(c->fd, SHUT_RDWR);
        atomic_fetch_add_explicit(is_body ? &l->body_timeouts : &l->head_timeouts, 1,
                                  memory_order_relaxed);
    }
    pthread_mutex_unlock(&l->mu);
}

/* One summary line when anything was refused or closed since the last one. */
static void summarize(ts_mhd_limits *l, uint64_t last[5])
{
    uint64_t now[5] = {
        atomic_load_explicit(&l->refused_addr, memory_order_relaxed),
        atomic_load_explicit(&l->refused_total, memory_order_relaxed),
        atomic_load_explicit(&l->head_timeouts, memory_order_relaxed),
        atomic_load_explicit(&l->body_timeouts, memory_order_relaxed),
        atomic_load_explicit(&l->rejected, memory_order_relaxed),
    };
    if (memcmp(now, last, sizeof now) == 0)
        return;
    char addr[64];
    pthread_mutex_lock(&l->mu);
    size_t open = l->n_conns;
    ts_mhd__addr_key_str(&l->last_refused, l->o.ipv6_prefix, addr, sizeof addr);
    pthread_mutex_unlock(&l->mu);
    char line[512];
    snprintf(line, sizeof line,
             "{\"event\":\"mhd.limits\",\"connections\":%zu,\"refused_per_address\":%llu,"
             "\"refused_total\":%llu,\"head_timeouts\":%llu,\"body_timeouts\":%llu,"
             "\"rejected_requests\":%llu,\"last_refused\":\"%s\"}",
             open, (unsigned long long)now[0], (unsigned long long)now[1],
             (unsigned long long)now[2], (unsigned long long)now[3], (unsigned long long)now[4],
             now[0] + now[1] ? addr : "");
    ts_mhd__log(l, line);
    memcpy(last, now, sizeof now);
}

void *ts_mhd__watchdog_main(void *arg)
{
    ts_mhd_limits *l = arg;
    uint64_t logged[5] = {0, 0, 0, 0, 0};
    int64_t next_log = ts_mhd__now_ms() + l->o.log_interval_ms;
    pthread_mutex_lock(&l->wmu);
    while (!l->stop) {
        /* With no connection there is nothing to sweep: wait for the first one (its arrival
         * signals, limits.c) or for the next summary, not for every tick, so that an idle
         * server costs no CPU. n_conns is read while holding wmu, which the signal needs too,
         * so a connection that arrives after the read is not missed. */
        pthread_mutex_lock(&l->mu);
        l->idle = l->n_conns == 0;
        pthread_mutex_unlock(&l->mu);
        int64_t now = ts_mhd__now_ms();
        if (l->idle && !l->o.log) {
            pthread_cond_wait(&l->wcv, &l->wmu);
        } else {
            int64_t wait_ms = l->tick_ms;
            if (l->idle)
                wait_ms = next_log > now ? next_log - now : 0;
            struct timespec until;
            clock_gettime(CLOCK_MONOTONIC, &until);
            until.tv_sec += (time_t)(wait_ms / 1000);
            until.tv_nsec += (long)(wait_ms % 1000) * 1000000L;
            until.tv_sec += until.tv_nsec / 1000000000L;
            until.tv_nsec %= 1000000000L;
            pthread_cond_timedwait(&l->wcv, &l->wmu, &until);
        }
        l->idle = false;
        if (l->stop)
            break;
        pthread_mutex_unlock(&l->wmu);
        now = ts_mhd__now_ms();
        if (l->o.head_timeout_ms || l->o.body_timeout_ms)
            sweep(l, now);
        if (l->o.log && now >= next_log) {
            summarize(l, logged);
            next_log = now + l->o.log_interval_ms;
        }
        pthread_mutex_lock(&l->wmu);
    }
    pthread_mutex_unlock(&l->wmu);
    return NULL;
}
