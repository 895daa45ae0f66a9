/* The real tokensmith serve of the client's integration tests (serve_fixture.h). */
#define _POSIX_C_SOURCE 200809L
#include "serve_fixture.h"

#include <stdarg.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#ifndef TS_TOKENSMITH_BIN
#error "TS_TOKENSMITH_BIN must name the tokensmith executable"
#endif

static pid_t spawn(serve_fixture *s, const char *listen, const char *const *extra)
{
    char home[300];
    snprintf(home, sizeof home, "%s/home", s->dir);
    const char *argv[64] = {TS_TOKENSMITH_BIN,
                            "serve",
                            "--listen",
                            listen,
                            "--home",
                            home,
                            "--alg",
                            "ES256",
                            "--access-ttl",
                            "1m",
                            "--log-format",
                            "json",
                            "--max-connections-per-address",
                            "0"};
    size_t n = 14;
    for (size_t i = 0; extra && extra[i] && n + 1 < 64; i++)
        argv[n++] = extra[i];
    argv[n] = NULL;
    /* Appended, so that a restart keeps the earlier lines for the counts. */
    char logarg[320];
    snprintf(logarg, sizeof logarg, "%s", s->log);
    FILE *f = fopen(s->log, "a");
    if (f)
        fclose(f);
    pid_t pid = fork();
    if (pid == 0) {
        if (!freopen(logarg, "a", stderr))
            _exit(127);
        execv(argv[0], (char *const *)(uintptr_t)argv);
        _exit(127);
    }
    return pid;
}

/* The port of the newest "listening" line. */
static unsigned await_port(serve_fixture *s, size_t skip_lines)
{
    double end = ts_harness_now() + ts_harness_start_timeout();
    while (ts_harness_now() < end) {
        FILE *f = fopen(s->log, "r");
        char line[8192];
        size_t n = 0;
        unsigned port = 0;
        while (f && fgets(line, sizeof line, f)) {
            if (n++ < skip_lines)
                continue;
            const char *p = strstr(line, "\"msg\":\"listening\"");
            const char *q = p ? strstr(p, "\"port\":") : NULL;
            if (q)
                port = (unsigned)strtoul(q + 7, NULL, 10);
        }
        if (f)
            fclose(f);
        if (port)
            return port;
        int st;
        if (waitpid(s->pid, &st, WNOHANG) == s->pid) {
            printf("tokensmith serve exited at start-up; see %s\n", s->log);
            s->pid = 0;
            return 0;
        }
        ts_harness_sleep_ms(100);
    }
    printf("tokensmith serve did not listen; see %s\n", s->log);
    return 0;
}

static size_t lines_of(const char *path)
{
    FILE *f = fopen(path, "r");
    size_t n = 0;
    int c;
    while (f && (c = fgetc(f)) != EOF)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

bool serve_fixture_start(serve_fixture *s, const char *const *extra)
{
    memset(s, 0, sizeof *s);
    snprintf(s->dir, sizeof s->dir, "/tmp/ts-client-test-XXXXXX");
    if (!mkdtemp(s->dir))
        return false;
    snprintf(s->log, sizeof s->log, "%s/serve.log", s->dir);
    snprintf(s->store, sizeof s->store, "%s/home/tokensmith.db", s->dir);
    s->pid = spawn(s, "127.0.0.1:0", extra);
    if (s->pid <= 0)
        return false;
    s->port = await_port(s, 0);
    if (!s->port)
        return false;
    snprintf(s->endpoint, sizeof s->endpoint, "http://127.0.0.1:%u/oauth/token", s->port);
    return true;
}

bool serve_fixture_restart(serve_fixture *s, const char *const *extra)
{
    char listen[64];
    snprintf(listen, sizeof listen, "127.0.0.1:%u", s->port);
    size_t skip = lines_of(s->log);
    s->pid = spawn(s, listen, extra);
    return s->pid > 0 && await_port(s, skip) == s->port;
}

void serve_fixture_stop(serve_fixture *s)
{
    if (s->pid > 0)
        ts_harness_stop(s->pid);
    s->pid = 0;
}

void serve_fixture_cleanup(serve_fixture *s)
{
    serve_fixture_stop(s);
    if (s->dir[0] && !getenv("KEEP"))
        ts_harness_rm_rf(s->dir);
    else if (s->dir[0])
        printf("kept %s\n", s->dir);
}

bool serve_fixture_bootstrap(const serve_fixture *s, char out[65])
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd,
             "'%s' bootstrap-token create --subject svc --audience smd --scopes read "
             "--refresh-ttl 24h --store '%s' --output-format json 2>/dev/null",
             TS_TOKENSMITH_BIN, s->store);
    FILE *p = popen(cmd, "r");
    if (!p)
        return false;
    char line[512];
    out[0] = '\0';
    while (fgets(line, sizeof line, p)) {
        const char *k = strstr(line, "\"bootstrap_token\": \"");
        if (k && strlen(k + 20) >= 64) {
            memcpy(out, k + 20, 64);
            out[64] = '\0';
        }
    }
    return pclose(p) == 0 && strlen(out) == 64;
}

size_t serve_fixture_count(const serve_fixture *s, const char *needle, ...)
{
    const char *needles[8];
    size_t k = 0;
    va_list ap;
    va_start(ap, needle);
    for (const char *n = needle; n && k < 8; n = va_arg(ap, const char *))
        needles[k++] = n;
    va_end(ap);
    FILE *f = fopen(s->log, "r");
    if (!f)
        return 0;
    char line[16384];
    size_t count = 0;
    while (fgets(line, sizeof line, f)) {
        bool all = true;
        for (size_t i = 0; i < k && all; i++)
            all = strstr(line, needles[i]) != NULL;
        count += all;
    }
    fclose(f);
    return count;
}

size_t serve_fixture_revocations(const serve_fixture *s)
{
    return serve_fixture_count(s, "refresh_token_family_revoked", NULL) +
           serve_fixture_count(s, "refresh_token_family_already_revoked", NULL) +
           serve_fixture_count(s, "refresh_token_replay_detected", NULL);
}

serve_fixture srv;

int serve_fixture_setup(void **state)
{
    (void)state;
    return serve_fixture_start(&srv, NULL) ? 0 : -1;
}

int serve_fixture_teardown(void **state)
{
    (void)state;
    serve_fixture_cleanup(&srv);
    return 0;
}

static _Atomic int64_t clock_offset_ms;

int64_t serve_fixture_clock(void *ud)
{
    (void)ud;
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (int64_t)t.tv_sec * 1000 + t.tv_nsec / 1000000 + atomic_load(&clock_offset_ms);
}

void serve_fixture_clock_advance(int64_t ms)
{
    atomic_fetch_add(&clock_offset_ms, ms);
}

void serve_fixture_clock_reset(void)
{
    atomic_store(&clock_offset_ms, 0);
}
