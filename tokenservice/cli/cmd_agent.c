/* tokensmith agent: obtain tokens and keep them fresh for the programs on this machine
 * (docs/agent.md). --check validates the configuration and prints what it would run. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include "agent_config.h"
#include "agent_runtime.h"

static int run_agent(const ts_cli_args *a)
{
    const char *path = ts_cli_get(a, F_AGENT_CONFIG);
    if (!path || !*path)
        return ts_cli_usage_error(a->cmd, "--config FILE (or TOKENSMITH_AGENT_CONFIG) is required");
    ts_error err;
    ts_error_clear(&err);
    if (ts_cli_bool(a, F_AGENT_CHECK)) {
        ts_agent_config *cfg = NULL;
        if (ts_agent_config_load(path, NULL, &cfg, &err) != TS_OK) {
            ts_cli_report("agent", &err);
            return TS_CLI_FAIL;
        }
        int rc = ts_agent_print_summary(cfg, stdout);
        ts_agent_config_free(cfg);
        return rc == 0 ? TS_CLI_OK : TS_CLI_FAIL;
    }
    if (ts_agent_run(path, &err) != TS_OK) {
        ts_cli_report("agent", &err);
        return TS_CLI_FAIL;
    }
    return TS_CLI_OK;
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
             "sinks, and exits. See docs/agent.md.",
    .after = "Exit status: 0 stopped by SIGTERM or SIGINT, or --check found the configuration\n"
             "valid; 1 the configuration is invalid, or the listener, a socket or a state file\n"
             "could not be set up; 2 usage error.",
    .uses = agent_uses,
    .run = run_agent,
};
