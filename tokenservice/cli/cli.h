/* Helpers shared by the tokensmith sub-commands. */
#ifndef TS_CLI_H
#define TS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

#include <tokensmith/error.h>

/** Exit codes of every command: 0 success, 1 failure while working, 2 bad command line. */
enum { TS_CLI_OK = 0, TS_CLI_FAIL = 1, TS_CLI_USAGE = 2 };

/** @return true when @p arg asks for help ("--help" or "-h"). */
bool ts_cli_is_help(const char *arg);

/**
 * Render @p err as one line: "where: message", or just the message when it already names the
 * place (parsers put "file:line: problem" in the message itself). Always NUL-terminates.
 */
void ts_cli_format_error(const ts_error *err, char *buf, size_t cap);

/** Print "tokensmith: <rendered error>" on stderr. */
void ts_cli_report(const char *prefix, const ts_error *err);

/**
 * Read one line from @p in into @p buf (capacity @p cap, at least 2). The newline is removed.
 * A line that does not fit is consumed to its end and reported through @p too_long, so that
 * the caller can answer it and go on with the next line.
 * @param len out: bytes stored (without the newline).
 * @return false at end of input (no line read), true otherwise.
 */
bool ts_cli_read_line(FILE *in, char *buf, size_t cap, size_t *len, bool *too_long);

/* Sub-commands: argv[0] is the command name ("policy"). */
int ts_cli_policy(int argc, char **argv);
void ts_cli_policy_usage(FILE *out);
int ts_cli_keys(int argc, char **argv);
void ts_cli_keys_usage(FILE *out);
int ts_cli_token(int argc, char **argv);
void ts_cli_token_usage(FILE *out);
int ts_cli_serve(int argc, char **argv);
void ts_cli_serve_usage(FILE *out);
int ts_cli_generate_config(int argc, char **argv);
void ts_cli_generate_config_usage(FILE *out);
int ts_cli_bootstrap(int argc, char **argv);
void ts_cli_bootstrap_usage(FILE *out);
int ts_cli_oidc(int argc, char **argv);
void ts_cli_oidc_usage(FILE *out);
int ts_cli_user_token(int argc, char **argv);
void ts_cli_user_token_usage(FILE *out);

#endif
