/* A loopback JWKS server on an ephemeral port, for key-source and end-to-end tests. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <sys/socket.h>

#include <microhttpd.h>
#include <pthread.h>
#include <tokensmith/mhd.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "testutil_internal.h"

#define JWKS_PATH "/.well-known/jwks.json"

struct ts_testutil_jwks_server {
    struct MHD_Daemon *daemon;
    ts_mhd_limits *limits; /* bounds the fixture like a real service (tokensmith-mhd) */
    unsigned short port;
    char url[64];
    atomic_ulong requests;
    pthread_mutex_t mu; /* guards everything below */
    char *body;         /* the JSON served */
    ts_testutil_jwks_behavior behavior;
    unsigned max_age;
};

/* The JSON to serve for @p set (NULL: an empty set); NULL with @p err set when it cannot be
 * made. */
static char *jwks_json(const ts_jwks *set, ts_error *err)
{
    char *json = set ? ts_jwks_to_json(set, err) : NULL;
    if (set && !json)
        return NULL; /* err says why */
    char *copy = strdup(json ? json : "{\"keys\":[]}");
    ts_free(json);
    if (!copy)
        ts_error_set(err, TS_ENOMEM, "jwks_server", "out of memory");
    return copy;
}

static enum MHD_Result reply(struct MHD_Connection *c, unsigned status, const char *type,
                             const char *body, unsigned max_age)
{
    struct MHD_Response *r = MHD_create_response_from_buffer(strlen(body), (void *)(uintptr_t)body,
                                                             MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, type);
    if (max_age) {
        char cc[48];
        snprintf(cc, sizeof cc, "max-age=%u", max_age);
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, cc);
    }
    enum MHD_Result ret = MHD_queue_response(c, status, r);
    MHD_destroy_response(r);
    return ret;
}

static enum MHD_Result handle(void *cls, struct MHD_Connection *c, const char *url,
                              const char *method, const char *version, const char *upload,
                              size_t *upload_size, void **con_cls)
{
    (void)version, (void)upload, (void)method;
    ts_testutil_jwks_server *s = cls;
    if (*con_cls == NULL) {
        *con_cls = s; /* headers seen; answer on the next call */
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    atomic_fetch_add(&s->requests, 1ul);
    /* The answer is made under the lock (libmicrohttpd copies the body): no copy of our own
     * that could fail, and set_keys() never frees a body being sent. */
    pthread_mutex_lock(&s->mu);
    ts_testutil_jwks_behavior b = s->behavior;
    enum MHD_Result ret;
    if (strcmp(url, JWKS_PATH) != 0 || b == TS_TESTUTIL_JWKS_NOT_FOUND)
        ret = reply(c, 404, "text/plain", "not found\n", 0);
    else if (b == TS_TESTUTIL_JWKS_FAIL)
        ret = reply(c, 500, "text/plain", "injected failure\n", 0);
    else if (b == TS_TESTUTIL_JWKS_GARBAGE)
        ret = reply(c, 200, "application/json", "{\"keys\":[{\"kty\":\"RSA\",\"n\":", 0);
    else
        ret = reply(c, 200, "application/json", s->body, s->max_age);
    pthread_mutex_unlock(&s->mu);
    return ret;
}

ts_testutil_jwks_server *ts_testutil_jwks_server_start(const ts_jwks *set, ts_error *err)
{
    ts_testutil_jwks_server *s = calloc(1, sizeof *s);
    if (!s)
        return ts_error_set(err, TS_ENOMEM, "jwks_server", "out of memory"), NULL;
    pthread_mutex_init(&s->mu, NULL);
    s->body = jwks_json(set, err);
    if (!s->body) {
        ts_testutil_jwks_server_stop(s);
        return NULL;
    }
    struct sockaddr_in addr;
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    addr.sin_port = 0;
    /* Every client of a loopback fixture has the same address, so the per-address limit would
     * only be a second total: the total bounds it. */
    ts_mhd_limits_options lo = TS_MHD_LIMITS_OPTIONS_INIT;
    lo.handler = handle;
    lo.handler_cls = s;
    lo.max_per_address = 0;
    lo.max_connections = 256;
    lo.idle_timeout_s = 10;
    if (!(s->limits = ts_mhd_limits_new(&lo, err))) {
        ts_testutil_jwks_server_stop(s);
        return NULL;
    }
    s->daemon = MHD_start_daemon(MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_ERROR_LOG, 0,
                                 ts_mhd_limits_accept, s->limits, ts_mhd_limits_handler, s->limits,
                                 MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(s->limits),
                                 MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&addr, MHD_OPTION_END);
    const union MHD_DaemonInfo *info =
        s->daemon ? MHD_get_daemon_info(s->daemon, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!info || info->port == 0) {
        ts_error_set(err, TS_EIO, "jwks_server", "cannot listen on 127.0.0.1");
        ts_testutil_jwks_server_stop(s);
        return NULL;
    }
    s->port = info->port;
    snprintf(s->url, sizeof s->url, "http://127.0.0.1:%u%s", (unsigned)s->port, JWKS_PATH);
    return s;
}

void ts_testutil_jwks_server_stop(ts_testutil_jwks_server *s)
{
    if (!s)
        return;
    if (s->daemon)
        MHD_stop_daemon(s->daemon);
    ts_mhd_limits_free(s->limits); /* after the daemon: joins its watchdog */
    pthread_mutex_destroy(&s->mu);
    free(s->body);
    free(s);
}

const char *ts_testutil_jwks_server_url(const ts_testutil_jwks_server *s)
{
    return s ? s->url : NULL;
}

unsigned short ts_testutil_jwks_server_port(const ts_testutil_jwks_server *s)
{
    return s ? s->port : 0;
}

unsigned long ts_testutil_jwks_server_requests(const ts_testutil_jwks_server *s)
{
    return s ? atomic_load(&s->requests) : 0;
}

ts_status ts_testutil_jwks_server_set_keys(ts_testutil_jwks_server *s, const ts_jwks *set,
                                           ts_error *err)
{
    if (!s)
        return ts_error_set(err, TS_EINVAL, "jwks_server", "NULL");
    char *body = jwks_json(set, err);
    if (!body) /* the served set is unchanged */
        return err ? err->code : TS_ENOMEM;
    pthread_mutex_lock(&s->mu);
    char *old = s->body;
    s->body = body;
    pthread_mutex_unlock(&s->mu);
    free(old);
    return TS_OK;
}

void ts_testutil_jwks_server_set_behavior(ts_testutil_jwks_server *s, ts_testutil_jwks_behavior b)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->behavior = b;
    pthread_mutex_unlock(&s->mu);
}

void ts_testutil_jwks_server_set_max_age(ts_testutil_jwks_server *s, unsigned seconds)
{
    if (!s)
        return;
    pthread_mutex_lock(&s->mu);
    s->max_age = seconds;
    pthread_mutex_unlock(&s->mu);
}
