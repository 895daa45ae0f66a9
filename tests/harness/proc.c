/* Server processes: start (with TS_TEST_WRAPPER), find the port, stop; scratch directories. */
#define _POSIX_C_SOURCE 200809L
#include <fcntl.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define MAX_ARGS 128

bool ts_harness_wrapped(void)
{
    const char *w = getenv("TS_TEST_WRAPPER");
    return w && *w;
}

double ts_harness_start_timeout(void)
{
    return ts_harness_wrapped() ? 120.0 : 30.0;
}

/* In the child: the environment changes, stderr to the log, then exec. Never returns. */
static void child(const char *const argv[], const char *log, const char *const env[], bool wrap)
{
    for (size_t i = 0; env && env[i]; i++) {
        const char *eq = strchr(env[i], '=');
        if (eq) {
            char name[256];
            snprintf(name, sizeof name, "%.*s", (int)(eq - env[i]), env[i]);
            setenv(name, eq + 1, 1);
        } else {
            unsetenv(env[i]);
        }
    }
    if (log) {
        int fd = open(log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
        if (fd < 0 || dup2(fd, 2) < 0)
            _exit(127);
    }
    /* The wrapper's words (split on blanks), then the command. */
    const char *args[MAX_ARGS];
    size_t n = 0;
    char words[4096];
    const char *w = wrap ? getenv("TS_TEST_WRAPPER") : NULL;
    snprintf(words, sizeof words, "%s", w ? w : "");
    for (char *s = words; *s && n + 1 < MAX_ARGS;) {
        while (*s == ' ' || *s == '\t')
            *s++ = '\0';
        if (!*s)
            break;
        args[n++] = s;
        while (*s && *s != ' ' && *s != '\t')
            s++;
    }
    for (size_t i = 0; argv[i] && n + 1 < MAX_ARGS; i++)
        args[n++] = argv[i];
    args[n] = NULL;
    execvp(args[0], (char *const *)(uintptr_t)args);
    _exit(127);
}

pid_t ts_harness_spawn(const char *const argv[], const char *log, const char *const env[],
                       bool wrap)
{
    fflush(NULL); /* nothing buffered twice */
    pid_t pid = fork();
    if (pid == 0)
        child(argv, log, env, wrap);
    return pid;
}

/* The port in @p port_file, or 0. */
static unsigned port_in_file(const char *port_file)
{
    FILE *f = fopen(port_file, "r");
    unsigned long v = 0;
    if (f) {
        if (fscanf(f, "%lu", &v) != 1)
            v = 0;
        fclose(f);
    }
    return v <= 65535 ? (unsigned)v : 0;
}

/* The "port" of the first log line with "msg":"listening", or 0. */
static unsigned port_in_log(const char *log)
{
    FILE *f = fopen(log, "r");
    char line[8192];
    unsigned v = 0;
    while (f && !v && fgets(line, sizeof line, f)) {
        const char *p = strstr(line, "\"msg\":\"listening\"") ? strstr(line, "\"port\":") : NULL;
        if (p)
            v = (unsigned)strtoul(p + 7, NULL, 10);
    }
    if (f)
        fclose(f);
    return v;
}

unsigned ts_harness_await_port(pid_t pid, const char *port_file, const char *log, double timeout_s)
{
    double end = ts_harness_now() + timeout_s;
    for (;;) {
        unsigned port = port_file ? port_in_file(port_file) : port_in_log(log);
        if (port)
            return port;
        int st = 0;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            printf("%s exited at start-up (status %d); see %s\n",
                   port_file ? "server" : "tokensmith",
                   WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st), log ? log : "its output");
            return 0;
        }
        if (ts_harness_now() > end)
            break;
        ts_harness_sleep_ms(100);
    }
    printf("no port after %.0f s; see %s\n", timeout_s, log ? log : "its output");
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
    return 0;
}

int ts_harness_stop(pid_t pid)
{
    int st = 0;
    kill(pid, SIGTERM);
    if (waitpid(pid, &st, 0) != pid)
        return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

pid_t ts_harness_start_minisvc(const ts_harness_minisvc *m, unsigned *port)
{
    const char *argv[MAX_ARGS] = {m->path,       "--jwks",     m->jwks,       "--issuer",
                                  m->issuer,     "--audience", m->audience,   "--policy-dir",
                                  m->policy_dir, "--listen",   "127.0.0.1:0", "--port-file",
                                  m->port_file};
    size_t n = 13;
    for (size_t i = 0; m->args && m->args[i] && n + 1 < MAX_ARGS; i++)
        argv[n++] = m->args[i];
    argv[n] = NULL;
    *port = 0;
    unlink(m->port_file);
    pid_t pid = ts_harness_spawn(argv, m->log, m->env, m->wrap);
    if (pid < 0)
        return -1;
    *port = ts_harness_await_port(pid, m->port_file, m->log, ts_harness_start_timeout());
    return *port ? pid : -1;
}

int ts_harness_rm_rf(const char *dir)
{
    if (strchr(dir, '\''))
        return -1;
    char cmd[4200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}
