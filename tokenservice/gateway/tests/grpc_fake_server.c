/* The gRPC listener with a scripted checker (grpc_fake_checker.h), for tests/gateway/
 * grpc_test.sh: real clients (node @grpc/grpc-js) against the real listener without the
 * decision core. Usage: gateway_grpc_fake_server [MAX_MESSAGE_BYTES [THREADS]]. It listens on
 * 127.0.0.1, port 0, prints "listening <port>" on stdout and serves until SIGTERM or SIGINT,
 * then stops (GOAWAY, calls in flight answered) and prints "calls <n>" (the checker's count). */
#define _POSIX_C_SOURCE 200809L
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

#include "grpc_fake_checker.h"
#include "grpc_server.h"

int main(int argc, char **argv)
{
    static ts_gateway_config cfg; /* only the listener's members matter */
    snprintf(cfg.grpc_listen, sizeof cfg.grpc_listen, "127.0.0.1:0");
    cfg.threads = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 10) : 4;
    cfg.limits.max_header_bytes = 16384;
    cfg.limits.max_headers = 100;
    cfg.limits.grpc_max_message_bytes = argc > 1 ? (unsigned)strtoul(argv[1], NULL, 10) : 65536;
    cfg.limits.request_timeout_ms = 5000;
    cfg.limits.max_connections = 64;

    /* block the stop signals before any thread starts, so that only sigwait() sees them */
    sigset_t stop;
    sigemptyset(&stop);
    sigaddset(&stop, SIGTERM);
    sigaddset(&stop, SIGINT);
    pthread_sigmask(SIG_BLOCK, &stop, NULL);

    static fake_checker fake;
    atomic_init(&fake.calls, 0);
    atomic_init(&fake.finished, 0);
    ts_gateway__checker checker = {fake_check, &fake};
    ts_error err;
    ts_error_clear(&err);
    ts_gateway__grpc_server *srv = ts_gateway__grpc_server_start(&cfg, checker, &err);
    if (!srv) {
        fprintf(stderr, "gateway_grpc_fake_server: %s: %s\n", err.where, err.msg);
        return 1;
    }
    printf("listening %u\n", (unsigned)ts_gateway__grpc_server_port(srv));
    fflush(stdout);
    int sig = 0;
    sigwait(&stop, &sig);
    ts_gateway__grpc_server_stop(srv);
    printf("calls %u\n", atomic_load(&fake.calls));
    return 0;
}
