/* tokensmith agent: obtain tokens and keep them fresh for the programs on this machine
 * (docs/agent.md). The agent itself is the program tokensmith-agent: this command reads the
 * flags and variables like every other command, then replaces itself with that program (the
 * same process), so that the agent's process does not carry the token service's libraries. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#ifndef TS_AGENT_FROM_BINDIR
#define TS_AGENT_FROM_BINDIR "../libexec/tokensmith"
#endif

/* The directory of this executable, from /proc/self/exe. */
static bool own_dir(char *out, size_t cap)
{
    ssize_t n = readlink("/proc/self/exe", out, cap - 1);
    if (n <= 0 || (size_t)n >= cap - 1)
        return false;
    out[n] = '\0';
    char *slash = strrchr(out, '/');
    if (!slash)
        return false;
    *slash = '\0';
    return true;
}

/* tokensmith-agent next to this executable (a build tree), else in the installation's
 * libexec directory, found relative to the bin directory so that a relocated installation
 * works as well. */
static bool find_agent(char *out, size_t cap, char *dir, size_t dir_cap)
{
    if (!own_dir(dir, dir_cap))
        return false;
    static const char *const where[] = {"", "/" TS_AGENT_FROM_BINDIR};
    for (size_t i = 0; i < sizeof where / sizeof where[0]; i++) {
        int n = snprintf(out, cap, "%s%s/tokensmith-agent", dir, where[i]);
        if (n > 0 && (size_t)n < cap && access(out, X_OK) == 0)
            return true;
    }
    return false;
}

static int run_agent(const ts_cli_args *a)
{
    const char *path = ts_cli_get(a, F_AGENT_CONFIG);
    if (!path || !*path)
        return ts_cli_usage_error(a->cmd, "--config FILE (or TOKENSMITH_AGENT_CONFIG) is required");
    char exe[PATH_MAX + 64], dir[PATH_MAX];
    if (!find_agent(exe, sizeof exe, dir, sizeof dir)) {
        fprintf(stderr,
                "tokensmith: agent: the program tokensmith-agent is neither next to this one nor "
                "in %s/" TS_AGENT_FROM_BINDIR " (an incomplete installation?)\n",
                dir);
        return TS_CLI_FAIL;
    }
    /* execv() takes writable strings; the copy is the process image's until it is replaced. */
    char opt_config[] = "--config", opt_check[] = "--check";
    char *config = strdup(path);
    if (!config) {
        fprintf(stderr, "tokensmith: agent: out of memory\n");
        return TS_CLI_FAIL;
    }
    char *argv[] = {exe, opt_config, config, ts_cli_bool(a, F_AGENT_CHECK) ? opt_check : NULL,
                    NULL};
    fflush(NULL);
    execv(exe, argv);
    int e = errno;
    free(config);
    fprintf(stderr, "tokensmith: agent: cannot run %s: %s\n", exe, strerror(e));
    return TS_CLI_FAIL;
}

static const ts_cli_use agent_uses[] = {
    {F_AGENT_CONFIG, 0},
    {F_AGENT_CHECK, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_agent = {
    .name = "agent",
    .summary = "obtain tokens and keep them fresh in files, over HTTP and on Unix sockets",
    .about = "Run the sources of the configuration (http, file, oauth2, tokensmith) on their\n"
             "refresh schedules and expose their tokens through its sinks (file, http, uds),\n"
             "with /health and /metrics on settings.listen. SIGHUP reloads the configuration\n"
             "(a bad one is logged and the running one kept); SIGTERM or SIGINT drains and\n"
             "exits. With $NOTIFY_SOCKET it notifies systemd (READY, RELOADING, STOPPING,\n"
             "WATCHDOG). Logs are JSON lines on standard error. --check reads and checks the\n"
             "configuration (the machine too), prints its sources in refresh order and its\n"
             "sinks, and exits. The agent runs as the program tokensmith-agent, which this\n"
             "command becomes (the same process). See docs/agent.md.",
    .after = "Exit status: 0 stopped by SIGTERM or SIGINT, or --check found the configuration\n"
             "valid; 1 the configuration is invalid, or the listener, a socket or a state file\n"
             "could not be set up; 2 usage error.",
    .uses = agent_uses,
    .run = run_agent,
};
