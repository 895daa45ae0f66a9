/*
 * tokensmith-agent: the agent's own executable. `tokensmith agent` reads its flags and variables,
 * then replaces itself with this program (execv: the same process, so systemd's MAINPID,
 * $NOTIFY_SOCKET and the signals it sends are unchanged). The agent runs in a program of its own
 * so that its process maps only what the agent uses: OpenSSL, libyaml and jansson, but neither
 * libcurl nor libmicrohttpd nor the token service (docs/benchmarks.md, "agent").
 *
 * Usage: tokensmith-agent --config FILE [--check]. The exit status is `tokensmith agent`'s:
 * 0 stopped by a signal, or --check found the configuration valid; 1 failed; 2 usage error.
 */
#define _POSIX_C_SOURCE 200809L

#include "agent_config.h"
#include "agent_runtime.h"

#include "common/error_text.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

enum { EXIT_USAGE = 2 };

static int usage(const char *problem, const char *arg)
{
    fprintf(
        stderr,
        "tokensmith: agent: %s%s%s\n"
        "usage: tokensmith-agent --config FILE [--check] (normally run as `tokensmith agent`)\n",
        problem, arg ? ": " : "", arg ? arg : "");
    return EXIT_USAGE;
}

static int report(const ts_error *err)
{
    char line[512];
    ts_common__error_text(err, line, sizeof line);
    fprintf(stderr, "tokensmith: agent: %s\n", line);
    return 1;
}

static int check(const char *path)
{
    ts_error err;
    ts_error_clear(&err);
    ts_agent_config *cfg = NULL;
    if (ts_agent_config_load(path, NULL, &cfg, &err) != TS_OK)
        return report(&err);
    int rc = ts_agent_print_summary(cfg, stdout);
    ts_agent_config_free(cfg);
    return rc == 0 && fflush(stdout) == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *path = NULL;
    bool check_only = false;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--check") == 0)
            check_only = true;
        else if (strcmp(a, "--config") == 0 && i + 1 < argc)
            path = argv[++i];
        else if (strncmp(a, "--config=", 9) == 0)
            path = a + 9;
        else
            return strcmp(a, "--config") == 0 ? usage("--config needs a value", NULL)
                                              : usage("unknown argument", a);
    }
    if (!path || !*path)
        return usage("--config FILE is required", NULL);
    if (check_only)
        return check(path);
    ts_error err;
    ts_error_clear(&err);
    if (ts_agent_run(path, &err) != TS_OK)
        return report(&err);
    return 0;
}
