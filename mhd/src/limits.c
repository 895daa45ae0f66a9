/* Connection limits and request phases for one libmicrohttpd daemon.
 *
 * libmicrohttpd tells us of each connection twice, through MHD_OPTION_NOTIFY_CONNECTION:
 * STARTED after accepting it and CLOSED before it closes the socket. In 0.9.75 (daemon.c,
 * MHD_cleanup_connections and new_connection_process_) CLOSED runs in the connection's own
 * polling thread and close() follows it; the fd is not closed anywhere else first. So a
 * connection is on our list exactly while its fd is still its own: the watchdog, holding the
 * same mutex that CLOSED takes to unlink it, can shutdown() the fd of a listed connection
 * without ever touching an fd that was closed and reused for another connection.
 *
 * Limits are checked twice. The accept policy refuses cheaply, before libmicrohttpd allocates
 * anything; but several pool threads may pass it at once, so the exact count is taken at
 * STARTED, under the mutex, where a connection over a limit has its socket shut down at once
 * (libmicrohttpd then reads end-of-file and closes it).
 *
 * Each request moves its connection through HEAD -> BODY -> HANDLING -> IDLE (see
 * mhd_internal.h); the access handler and completion callback record the moves with one atomic
 * store each, and the watchdog (watchdog.c) closes connections whose phase is overdue. */
#define _GNU_SOURCE
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "mhd_internal.h"

int64_t ts_mhd__now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

void ts_mhd__log(const ts_mhd_limits *l, const char *line)
{
    if (l->o.log)
        l->o.log(line, strlen(line), l->o.log_ud);
}

static void set_phase(ts_mhd__conn *c, unsigned phase)
{
    atomic_store_explicit(&c->state, TS_MHD__STATE(phase, ts_mhd__now_ms()), memory_order_relaxed);
}

/* Would one more connection from @p k exceed a limit? Caller holds l->mu.
 * @return 0 (no), 1 (the address is full), 2 (the daemon is full). */
static int over_limit(const ts_mhd_limits *l, const ts_mhd__addr_key *k)
{
    if (l->o.max_connections && l->n_conns >= l->o.max_connections)
        return 2;
    if (l->o.max_per_address && ts_mhd__addr_table_get(&l->addrs, k) >= l->o.max_per_address)
        return 1;
    return 0;
}

static void count_refusal(ts_mhd_limits *l, int why)
{
    atomic_fetch_add_explicit(why == 2 ? &l->refused_total : &l->refused_addr, 1,
                              memory_order_relaxed);
}

enum MHD_Result ts_mhd_limits_accept(void *cls, const struct sockaddr *addr, socklen_t addrlen)
{
    ts_mhd_limits *l = cls;
    ts_mhd__addr_key k;
    ts_mhd__addr_key_of(addr, addrlen, l->o.ipv6_prefix, &k);
    pthread_mutex_lock(&l->mu);
    int why = over_limit(l, &k);
    if (why)
        l->last_refused = k;
    pthread_mutex_unlock(&l->mu);
    if (!why)
        return MHD_YES;
    count_refusal(l, why);
    return MHD_NO;
}

static void conn_started(ts_mhd_limits *l, struct MHD_Connection *conn, void **socket_context)
{
    const union MHD_ConnectionInfo *fi =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CONNECTION_FD);
    const union MHD_ConnectionInfo *ai =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    *socket_context = &l->refused_marker;
    if (!fi)
        return; /* cannot happen in 0.9.75; nothing to shut down either */
    int fd = fi->connect_fd;
    const struct sockaddr *sa = ai ? ai->client_addr : NULL;
    socklen_t salen = 0;
    if (sa)
        salen = sa->sa_family == AF_INET6
                    ? (socklen_t)sizeof(struct sockaddr_in6)
                    : (sa->sa_family == AF_INET ? (socklen_t)sizeof(struct sockaddr_in)
                                                : (socklen_t)sizeof(sa_family_t));
    ts_mhd__conn *c = calloc(1, sizeof *c);
    int why = 3; /* out of memory: refuse, fail closed */
    if (c) {
        c->fd = fd;
        c->tcp = sa && (sa->sa_family == AF_INET || sa->sa_family == AF_INET6);
        ts_mhd__addr_key_of(sa, salen, l->o.ipv6_prefix, &c->key);
        set_phase(c, TS_MHD__PHASE_HEAD);
        pthread_mutex_lock(&l->mu);
        why = over_limit(l, &c->key);
        if (!why && l->o.max_per_address && !ts_mhd__addr_table_inc(&l->addrs, &c->key))
            why = 3;
        bool first = false;
        if (!why) {
            c->next = l->conns;
            if (l->conns)
                l->conns->prev = c;
            l->conns = c;
            first = l->n_conns++ == 0;
        } else {
            l->last_refused = c->key;
        }
        pthread_mutex_unlock(&l->mu);
        if (first) { /* a watchdog asleep for want of connections has one to watch now */
            pthread_mutex_lock(&l->wmu);
            if (l->idle)
                pthread_cond_signal(&l->wcv);
            pthread_mutex_unlock(&l->wmu);
        }
    }
    if (!why) {
        *socket_context = c;
        atomic_fetch_add_explicit(&l->accepted, 1, memory_order_relaxed);
        if (l->on_connection)
            l->on_connection(l->on_connection_cls, conn, &c->hook_ctx,
                             MHD_CONNECTION_NOTIFY_STARTED);
        return;
    }
    free(c);
    if (why != 3)
        count_refusal(l, why);
    /* Still ours: libmicrohttpd closes it only after CLOSED, which has not run yet. */
    shutdown(fd, SHUT_RDWR);
}

static void conn_closed(ts_mhd_limits *l, struct MHD_Connection *conn, void **socket_context)
{
    ts_mhd__conn *c = *socket_context;
    *socket_context = NULL;
    if (!c || c == (void *)&l->refused_marker)
        return;
    /* libmicrohttpd has freed the connection's TLS session by now (0.9.75 deinits it before
     * this notification): what the hook wants to know of it, it kept in its word. */
    if (l->on_connection)
        l->on_connection(l->on_connection_cls, conn, &c->hook_ctx, MHD_CONNECTION_NOTIFY_CLOSED);
    pthread_mutex_lock(&l->mu);
    if (c->prev)
        c->prev->next = c->next;
    else
        l->conns = c->next;
    if (c->next)
        c->next->prev = c->prev;
    l->n_conns--;
    if (l->o.max_per_address)
        ts_mhd__addr_table_dec(&l->addrs, &c->key);
    pthread_mutex_unlock(&l->mu);
    free(c);
}

static void on_connection(void *cls, struct MHD_Connection *conn, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    if (code == MHD_CONNECTION_NOTIFY_STARTED)
        conn_started(cls, conn, socket_context);
    else if (code == MHD_CONNECTION_NOTIFY_CLOSED)
        conn_closed(cls, conn, socket_context);
}

enum MHD_Result ts_mhd_limits_handler(void *cls, struct MHD_Connection *conn, const char *url,
                                      const char *method, const char *version,
                                      const char *upload_data, size_t *upload_data_size,
                                      void **req_cls)
{
    ts_mhd_limits *l = cls;
    ts_mhd__conn *c = *req_cls;
    if (!c) { /* first call for this request: its head is complete */
        const union MHD_ConnectionInfo *si =
            MHD_get_connection_info(conn, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        c = si ? si->socket_context : NULL;
        if (!c || c == (void *)&l->refused_marker) {
            if (!c && !atomic_exchange(&l->warned_unwired, true))
                ts_mhd__log(l, "{\"event\":\"mhd.limits.unwired\",\"error\":\"a request arrived "
                               "without connection tracking: pass MHD_OPTION_ARRAY, "
                               "ts_mhd_limits_mhd_options() to MHD_start_daemon\"}");
            return MHD_NO; /* fail closed: untracked or refused connection */
        }
        *req_cls = c;
        c->app_ctx = NULL;
        c->forwarded = false;
        c->rejected = false;
        set_phase(c, TS_MHD__PHASE_BODY);
        if (l->o.check_framing) {
            switch (ts_mhd_check_framing(conn, version)) {
            case TS_HOOK_CONTINUE:
                break;
            case TS_HOOK_RESPONDED:
                c->rejected = true;
                atomic_fetch_add_explicit(&l->rejected, 1, memory_order_relaxed);
                return MHD_YES;
            case TS_HOOK_ERROR:
                return MHD_NO;
            }
        }
        c->forwarded = true;
    } else if (c->rejected) {
        *upload_data_size = 0;
        return MHD_YES;
    } else if (*upload_data_size == 0) {
        /* libmicrohttpd's final call: the whole body has arrived. */
        set_phase(c, TS_MHD__PHASE_HANDLING);
    }
    return l->o.handler(l->o.handler_cls, conn, url, method, version, upload_data, upload_data_size,
                        &c->app_ctx);
}

static void on_completed(void *cls, struct MHD_Connection *conn, void **req_cls,
                         enum MHD_RequestTerminationCode toe)
{
    ts_mhd_limits *l = cls;
    ts_mhd__conn *c = *req_cls;
    if (!c)
        return;
    if (c->forwarded && l->o.completed)
        l->o.completed(l->o.completed_cls, conn, &c->app_ctx, toe);
    c->app_ctx = NULL;
    c->forwarded = false;
    c->rejected = false;
    set_phase(c, TS_MHD__PHASE_IDLE);
    *req_cls = NULL;
}

const struct MHD_OptionItem *ts_mhd_limits_mhd_options(const ts_mhd_limits *l)
{
    return l ? l->mhd_options : NULL;
}

void ts_mhd_limits_get_stats(const ts_mhd_limits *l, ts_mhd_limits_stats *out)
{
    memset(out, 0, sizeof *out);
    if (!l)
        return;
    ts_mhd_limits *m = (ts_mhd_limits *)(uintptr_t)l; /* the mutex; nothing else changes */
    pthread_mutex_lock(&m->mu);
    out->connections = m->n_conns;
    pthread_mutex_unlock(&m->mu);
    out->accepted = atomic_load_explicit(&m->accepted, memory_order_relaxed);
    out->refused_per_address = atomic_load_explicit(&m->refused_addr, memory_order_relaxed);
    out->refused_total = atomic_load_explicit(&m->refused_total, memory_order_relaxed);
    out->head_timeouts = atomic_load_explicit(&m->head_timeouts, memory_order_relaxed);
    out->body_timeouts = atomic_load_explicit(&m->body_timeouts, memory_order_relaxed);
    out->rejected_requests = atomic_load_explicit(&m->rejected, memory_order_relaxed);
}

/* The watchdog's period: a tenth of the shortest deadline, within 10..250 ms, so that a
 * connection is closed at most a tenth late and an idle daemon wakes four times a second. */
static unsigned tick_for(const ts_mhd_limits_options *o)
{
    unsigned shortest = 0;
    if (o->head_timeout_ms)
        shortest = o->head_timeout_ms;
    if (o->body_timeout_ms && (!shortest || o->body_timeout_ms < shortest))
        shortest = o->body_timeout_ms;
    unsigned t = shortest ? shortest / 10 : 250;
    return t < 10 ? 10 : (t > 250 ? 250 : t);
}

ts_mhd_limits *ts_mhd_limits_new(const ts_mhd_limits_options *opt, ts_error *err)
{
    if (!opt || opt->version != TS_MHD_LIMITS_OPTIONS_VERSION)
        return ts_error_set(err, TS_EINVAL, "ts_mhd_limits_options",
                            "missing options or unknown version"),
               NULL;
    if (!opt->handler)
        return ts_error_set(err, TS_EINVAL, "handler", "the server's access handler is required"),
               NULL;
    if (opt->ipv6_prefix < 1 || opt->ipv6_prefix > 128)
        return ts_error_set(err, TS_EINVAL, "ipv6_prefix", "must be 1..128, got %u",
                            opt->ipv6_prefix),
               NULL;
    if (opt->idle_timeout_s == 0)
        return ts_error_set(err, TS_EINVAL, "idle_timeout_s",
                            "must be at least 1: without an idle timeout a silent keep-alive "
                            "connection is held forever"),
               NULL;
    ts_mhd_limits *l = calloc(1, sizeof *l);
    if (!l)
        return ts_error_set(err, TS_ENOMEM, "ts_mhd_limits_new", "out of memory"), NULL;
    l->o = *opt;
    l->tick_ms = tick_for(opt);
    size_t expect = opt->max_connections ? opt->max_connections : 1024;
    if (!ts_mhd__addr_table_init(&l->addrs, expect)) {
        free(l);
        return ts_error_set(err, TS_ENOMEM, "ts_mhd_limits_new", "out of memory"), NULL;
    }
    pthread_mutex_init(&l->mu, NULL);
    pthread_mutex_init(&l->wmu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&l->wcv, &ca);
    pthread_condattr_destroy(&ca);
    l->mhd_options[0] =
        (struct MHD_OptionItem){MHD_OPTION_NOTIFY_CONNECTION, (intptr_t)&on_connection, l};
    l->mhd_options[1] =
        (struct MHD_OptionItem){MHD_OPTION_NOTIFY_COMPLETED, (intptr_t)&on_completed, l};
    l->mhd_options[2] =
        (struct MHD_OptionItem){MHD_OPTION_CONNECTION_TIMEOUT, (intptr_t)opt->idle_timeout_s, NULL};
    l->mhd_options[3] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    if ((opt->head_timeout_ms || opt->body_timeout_ms || opt->log) &&
        pthread_create(&l->thread, NULL, ts_mhd__watchdog_main, l) != 0) {
        ts_mhd_limits_free(l);
        return ts_error_set(err, TS_EIO, "ts_mhd_limits_new", "cannot start the watchdog thread"),
               NULL;
    }
    l->thread_started = opt->head_timeout_ms || opt->body_timeout_ms || opt->log;
    return l;
}

void ts_mhd_limits_set_on_connection(ts_mhd_limits *l, ts_mhd_connection_fn fn, void *cls)
{
    if (!l)
        return;
    l->on_connection = fn;
    l->on_connection_cls = cls;
}

void ts_mhd_limits_free(ts_mhd_limits *l)
{
    if (!l)
        return;
    if (l->thread_started) {
        pthread_mutex_lock(&l->wmu);
        l->stop = true;
        pthread_cond_signal(&l->wcv);
        pthread_mutex_unlock(&l->wmu);
        pthread_join(l->thread, NULL);
    }
    /* After MHD_stop_daemon() every connection has been CLOSED; free any left by a daemon
     * that was never stopped, rather than leak them. */
    for (ts_mhd__conn *c = l->conns, *next; c; c = next) {
        next = c->next;
        free(c);
    }
    ts_mhd__addr_table_cleanup(&l->addrs);
    pthread_cond_destroy(&l->wcv);
    pthread_mutex_destroy(&l->wmu);
    pthread_mutex_destroy(&l->mu);
    free(l);
}
