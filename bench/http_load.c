/*
 * http_load: the epoll HTTP/1.1 client behind service_bench, load_soak and gate_bench (see
 * http_load.h). This file sets the client up (URL, connections, one epoll loop per worker
 * thread) and runs it; the connections' request cycle is in http_load_conn.c, answer parsing in
 * http_load_parse.c, TLS in http_load_tls.c.
 */
#define _GNU_SOURCE

#include "http_load_internal.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#include "procfs.h"

/* ------------------------------------------------------------------------------------------ */
/* Client                                                                                     */

static int parse_url(struct hl_client *c, const char *url, bool *tls, ts_error *err)
{
    size_t skip;
    if (strncmp(url, "http://", 7) == 0)
        skip = 7, *tls = false;
    else if (strncmp(url, "https://", 8) == 0)
        skip = 8, *tls = true;
    else
        return ts_error_set(err, TS_EINVAL, "url", "'%s' is not http(s)://HOST:PORT", url), -1;
    const char *h = url + skip;
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
    size_t authority = (size_t)(port + pl - (url + skip));
    if (authority >= sizeof c->host)
        return ts_error_set(err, TS_EINVAL, "url", "host too long"), -1;
    memcpy(c->host, url + skip, authority);
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
    return hl_client_new_tls(o, NULL, err);
}

hl_client *hl_client_new_tls(const hl_options *o, const hl_tls_options *tls_opt, ts_error *err)
{
    static const hl_tls_options plain = {HL_KEEP_ALIVE, NULL, NULL, NULL};
    const hl_tls_options *to = tls_opt ? tls_opt : &plain;
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
    bool tls = false;
    if (parse_url(c, o->url, &tls, err) != 0)
        goto fail;
    c->mode = to->mode;
    if (tls && hl__tls_init(c, to, err) != 0)
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
        /* TLS connections, and connections per request, are opened by the runs. */
        if (c->tls_cred || c->mode != HL_KEEP_ALIVE)
            continue;
        /* Wait for each connect: setup is not measured and a full backlog should wait. */
        bool pending;
        if (hl__conn_open(c, k, &pending) != 0 ||
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
    for (size_t i = 0; c->conns && i < c->nconns; i++) {
        hl__tls_end(c, &c->conns[i]);
        hl__tls_forget(&c->conns[i]);
        if (c->conns[i].fd >= 0)
            close(c->conns[i].fd);
    }
    for (unsigned t = 0; t < HL_MAX_THREADS; t++) {
        worker *w = &c->workers[t];
        if (w->ep >= 0)
            close(w->ep);
        free(w->conns);
        free(w->lat);
    }
    free(c->conns);
    hl__tls_deinit(c);
    free(c);
}

ts_status hl_client_run(hl_client *c, const hl_run *r, hl_stats *out, ts_error *err)
{
    if (!c || !r || !r->next || !r->done || !out || r->max_seconds <= 0)
        return ts_error_set(err, TS_EINVAL, "hl_client_run", "bad arguments");
    memset(out, 0, sizeof *out);
    double t0 = bench_now_s();
    c->run = r;
    c->deadline = t0 + r->max_seconds;
    atomic_store(&c->sent, 0);
    for (unsigned t = 0; t < c->nworkers; t++) {
        worker *w = &c->workers[t];
        w->ok = w->failed = w->transport_errors = w->reconnects = w->handshakes = w->resumed = 0;
        w->nlat = 0;
        w->oom = false;
    }
    /* One thread runs its loop on the caller's thread; the others get their own. */
    unsigned started = 1;
    for (; started < c->nworkers; started++)
        if (pthread_create(&c->workers[started].th, NULL, hl__worker_main, &c->workers[started]) !=
            0)
            break;
    hl__worker_main(&c->workers[0]);
    for (unsigned t = 1; t < started; t++)
        pthread_join(c->workers[t].th, NULL);
    out->seconds = bench_now_s() - t0;
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
        out->handshakes += w->handshakes;
        out->resumed += w->resumed;
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
