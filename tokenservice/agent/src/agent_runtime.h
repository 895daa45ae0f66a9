/*
 * The runtime of `tokensmith agent`: run a configuration until SIGTERM, and the summary that
 * `--check` prints. docs/agent.md ("Running" and after) is the contract: the refresh schedule,
 * what each sink serves, /health and /metrics, signals, systemd notifications, the log lines.
 *
 * Thread-safety: ts_agent_run() owns the process's signals SIGHUP, SIGTERM and SIGINT (it
 * blocks them in every thread it starts and takes them with sigtimedwait()); call it once, from
 * the main thread, before any other thread is started.
 */
#ifndef TS_AGENT_RUNTIME_H
#define TS_AGENT_RUNTIME_H

#include <stdio.h>

#include <tokensmith/error.h>

#include "agent_config.h"

/**
 * Load @p config_path, open the listener and the sockets, start the sources, and run until
 * SIGTERM or SIGINT; SIGHUP reloads. Logs go to standard error.
 * @return TS_OK after a signal to stop (the graph drained); otherwise the error that kept the
 * agent from starting (the configuration, the listener, a socket, a state file), with @p err.
 */
TS_NODISCARD ts_status ts_agent_run(const char *config_path, ts_error *err);

/** Print what @p cfg would run (docs/agent.md, "Running"), one line each. @return 0, or -1 when
 *  writing failed. */
int ts_agent_print_summary(const ts_agent_config *cfg, FILE *out);

#endif
