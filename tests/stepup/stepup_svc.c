/* A libmicrohttpd service protected by tokensmith-mhd's gate, built from a gate file: what the
   step-up end-to-end test puts behind the token service. It answers "who=<sub> acr=<acr>" to
   every request the gate lets through.
   usage: stepup_svc GATE_FILE. Prints {"port":N} on standard output once it listens, writes
   the gate's log lines to standard error, and stops when its standard input closes. */
#define _POSIX_C_SOURCE 200809L
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <tokensmith/mhd.h>

/* The request context of a public path, which has no principal. */
static char public_request;

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)version, (void)upload;
    const ts_mhd_gate *g = cls;
    if (!*req_cls) {
        ts_authn_principal *who = NULL;
        ts_hook_result r = ts_mhd_gate_check(g, c, method, url, &who);
        if (r != TS_HOOK_CONTINUE)
            return r == TS_HOOK_RESPONDED ? MHD_YES : MHD_NO;
        /* A public path has no principal: remember that the gate ran all the same. */
        *req_cls = who ? (void *)who : (void *)&public_request;
        return MHD_YES;
    }
    if (*upload_size) {
        *upload_size = 0;
        return MHD_YES;
    }
    const ts_authn_principal *who = *req_cls == &public_request ? NULL : *req_cls;
    char body[512];
    const char *acr = who ? ts_authn_principal_acr(who) : NULL;
    int n = snprintf(body, sizeof body, "who=%s acr=%s", who ? ts_authn_principal_id(who) : "-",
                     acr ? acr : "-");
    struct MHD_Response *resp =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!resp)
        return MHD_NO;
    enum MHD_Result ret = MHD_queue_response(c, 200, resp);
    MHD_destroy_response(resp);
    return ret;
}

static void completed(void *cls, struct MHD_Connection *c, void **req_cls,
                      enum MHD_RequestTerminationCode toe)
{
    (void)c, (void)toe;
    (void)cls;
    if (*req_cls && *req_cls != &public_request)
        ts_authn_principal_free(*req_cls);
    *req_cls = NULL;
}

static void log_line(const char *line, size_t len, void *ud)
{
    (void)ud;
    fprintf(stderr, "%.*s\n", (int)len, line);
}

int main(int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: stepup_svc GATE_FILE\n");
        return 2;
    }
    ts_mhd_gate_options base = TS_MHD_GATE_OPTIONS_INIT;
    base.log = log_line;
    ts_error err;
    ts_error_clear(&err);
    ts_mhd_gate *g = ts_mhd_gate_new_file(argv[1], &base, &err);
    if (!g) {
        fprintf(stderr, "gate: %s: %s\n", err.where, err.msg);
        return 1;
    }
    struct sockaddr_in a;
    memset(&a, 0, sizeof a);
    a.sin_family = AF_INET;
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    struct MHD_Daemon *d = MHD_start_daemon(
        MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC, 0, NULL, NULL, handler, g,
        MHD_OPTION_NOTIFY_COMPLETED, completed, NULL, MHD_OPTION_ARRAY, ts_mhd_gate_mhd_options(g),
        MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&a, MHD_OPTION_CONNECTION_TIMEOUT, 10u,
        MHD_OPTION_CONNECTION_LIMIT, 64u, MHD_OPTION_END);
    const union MHD_DaemonInfo *di = d ? MHD_get_daemon_info(d, MHD_DAEMON_INFO_BIND_PORT) : NULL;
    if (!di) {
        fprintf(stderr, "cannot listen\n");
        if (d)
            MHD_stop_daemon(d);
        ts_mhd_gate_free(g);
        return 1;
    }
    printf("{\"port\":%u}\n", (unsigned)di->port);
    fflush(stdout);
    char buf[64];
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
    MHD_stop_daemon(d);
    ts_mhd_gate_free(g);
    return 0;
}
