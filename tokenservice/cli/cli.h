/* The tokensmith command: the flag table, the command list and what every command shares. */
#ifndef TS_CLI_H
#define TS_CLI_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <tokensmith/error.h>

#include "config.h"
#include "gateway_settings.h"

/**
 * Exit codes of every command: 0 success; 1 a failure while working (a file that does not
 * load, a key, the store, the network); 2 a bad command line or environment (unknown option,
 * missing or bad value, bad combination, refused option).
 */
enum { TS_CLI_OK = 0, TS_CLI_FAIL = 1, TS_CLI_USAGE = 2 };

/* ------------------------------------------------------------------------------------------ */
/* The flag table (flags.c)                                                                   */

/** Every flag of every command. The serve settings come first, from TS_SVC_SETTINGS. */
typedef enum ts_cli_flag_id {
#define TS_CLI_ID_(id, ...) F_##id,
    TS_SVC_SETTINGS(TS_CLI_ID_)
#undef TS_CLI_ID_
        F_SERVE_END, /* not a flag: the serve settings end here */
    F_CONFIG = F_SERVE_END,
    F_PRINT_CONFIG,
    F_OIDC_ISSUER,
    F_OIDC_CLIENT_ID,
    F_OIDC_CLIENT_SECRET,
    F_OIDC_AUDIENCE,
    F_NON_ENFORCING,
    F_SERVE_LOCAL_MINT,
    F_RFC8693_BOOTSTRAP_STORE,
    F_RFC8693_REFRESH_STORE,
    F_OUT_CONFIG,
    F_FORCE,
    F_ROTATE_FORCE,
    F_SUBJECT,
    F_SCOPES,
    F_BOOT_AUDIENCE,
    F_BOOT_TTL,
    F_REFRESH_TTL,
    F_BINDING_ID,
    F_OUTPUT_FORMAT,
    F_BOOTSTRAP_STORE,
    F_LOCAL_MINT,
    F_USER_AUDIENCE,
    F_USER_TTL,
    F_OPERATOR,
    F_JWKS,
    F_VERIFY_ISSUER,
    F_VERIFY_AUDIENCE,
    F_LEEWAY,
    F_REJECT_LOCAL_MINT,
    F_MODEL,
    F_POLICY,
    F_POLICY_DIR,
    F_GROUPING,
    F_EXPLAIN,
    F_ROLE_MATCH,
    F_DOMAIN_MATCH,
    F_FUNCTION,
    F_LINK_CONDITION,
    F_DOMAIN,
    F_DIRECT,
    F_JSON,
    F_ADMIN_URL,
    F_MGMT_URL,
    F_CACERT,
    F_PROVIDERS_FILE,
    F_ISSUER_URL,
    F_CLIENT_ID,
    F_AUDIENCES,
    F_RESOURCES,
    F_PROVIDER_NAME,
    F_SUBJECT_TEMPLATE,
    F_REPLACE_EXISTING,
    F_DRY_RUN,
    F_OIDC_REMOVE,
    F_EXPECTED_VERSION,
    F_COPY_FROM,
    F_COPY_TO,
    F_COPY_FORCE,
    F_AGENT_CONFIG,
    F_AGENT_CHECK,
    F_GATEWAY_CONFIG,
    F_GATEWAY_CHECK,
    F_MAPPINGS_FILE,
    F_TOKEN_FILE,
    F_IF_MATCH,
    F_REVOKE_JTI,
    F_REVOKE_EXP,
    F_REVOKE_FAMILY,
    F_REVOKE_SUBJECT,
    F_FLEET_EXPECT,
    F_FLEET_TARGETS,
    F_FLEET_TIMEOUT,
    F_FLEET_JSON,
    F_BUNDLE_OUT,
    F_SYNC_URL,
    F_SYNC_DIR,
    F_SYNC_INTERVAL,
    F_SYNC_ONCE,
    F_SYNC_TIMEOUT,
    F_SYNC_MAX_BYTES,
    F_SYNC_EXPECT,
    F_SYNC_PLAIN_HTTP,
/* The gateway's settings, from TS_GATEWAY_SETTINGS: F_GW_LISTEN, ... */
#define TS_CLI_GW_ID_(id, ...) F_GW_##id,
    TS_GATEWAY_SETTINGS(TS_CLI_GW_ID_)
#undef TS_CLI_GW_ID_
        F_COUNT
} ts_cli_flag_id;

/** Row options. */
enum {
    TS_CLI_SECRET = 1u,  /**< never echoed in messages or printed configurations */
    TS_CLI_REFUSED = 2u, /**< an option of the Go original this version refuses: help says why */
};

/** One flag: everything the parser, the environment, the config file and --help need. */
typedef struct ts_cli_flag {
    const char *name;       /**< long option without "--" */
    const char *env;        /**< environment variable, or NULL */
    const char *key;        /**< serve configuration key, or NULL for a command-only flag */
    ts_svc_value_spec spec; /**< kind and bounds; TS_SVC_K_BOOL flags take no separate value */
    unsigned opts;          /**< TS_CLI_SECRET, TS_CLI_REFUSED */
    const char *def;        /**< default as text ("" = none) */
    const char *arg;        /**< value name in help ("DIR") */
    const char *help;
} ts_cli_flag;

extern const ts_cli_flag ts_cli_flags[F_COUNT];

/** A single-letter option: `-f FILE` is `--file FILE` for a command that has that flag (the
 *  value always the next argument). */
typedef struct ts_cli_short {
    char letter;
    const char *name; /**< the long option's name, without "--" */
} ts_cli_short;

/** The single-letter options; the list ends with letter 0. */
extern const ts_cli_short ts_cli_shorts[];
/** The single letter of the long option @p name, or 0. */
char ts_cli_short_of(const char *name);

/* ------------------------------------------------------------------------------------------ */
/* Commands                                                                                   */

/** How a command uses a flag. */
enum {
    TS_CLI_REQUIRED = 1u, /**< must be given (flag or variable) */
    TS_CLI_REPEAT = 2u,   /**< may be given more than once; a variable holds a comma list */
    TS_CLI_NOENV = 4u,    /**< the flag's variable is not read by this command */
};

typedef struct ts_cli_use {
    ts_cli_flag_id id; /**< F_COUNT ends a list */
    unsigned opts;
} ts_cli_use;

typedef struct ts_cli_args ts_cli_args;

/** Command options. */
enum {
    /** Resolves the serve configuration: reads the variable of every serve setting. */
    TS_CLI_SERVE_CONFIG = 1u,
    /** Its help names each flag's config-file member (the gateway's settings). */
    TS_CLI_SHOW_KEYS = 2u,
};

typedef struct ts_cli_command {
    const char *name;     /**< "bootstrap-token create": a noun and a verb, or one word */
    const char *summary;  /**< one line for the command list */
    const char *operands; /**< synopsis of the operands ("[TOKEN|-]"), or NULL */
    int min_operands, max_operands;
    const char *about; /**< --help text before the options */
    const char *after; /**< --help text after the options (exit status ...), or NULL */
    const ts_cli_use *uses;
    unsigned opts;
    int (*run)(const ts_cli_args *a);
} ts_cli_command;

/** The command list, in the order of the top-level usage (main.c). */
extern const ts_cli_command *const ts_cli_commands[];
extern const size_t ts_cli_n_commands;

extern const ts_cli_command ts_cli_cmd_agent, ts_cli_cmd_gateway;
extern const ts_cli_command ts_cli_cmd_serve, ts_cli_cmd_generate_config,
    ts_cli_cmd_bootstrap_create, ts_cli_cmd_user_token_create, ts_cli_cmd_store_migrate,
    ts_cli_cmd_store_copy, ts_cli_cmd_oidc_status, ts_cli_cmd_oidc_configure,
    ts_cli_cmd_keys_generate, ts_cli_cmd_keys_thumbprint, ts_cli_cmd_keys_list,
    ts_cli_cmd_keys_rotate, ts_cli_cmd_token_verify, ts_cli_cmd_token_revoke,
    ts_cli_cmd_policy_check, ts_cli_cmd_policy_version, ts_cli_cmd_policy_roles,
    ts_cli_cmd_policy_users, ts_cli_cmd_policy_permissions, ts_cli_cmd_version, ts_cli_cmd_help;

/* ------------------------------------------------------------------------------------------ */
/* Parsed arguments (args.c)                                                                  */

/** Where a value came from; a flag beats a variable. */
typedef enum ts_cli_src { TS_CLI_SRC_NONE = 0, TS_CLI_SRC_ENV, TS_CLI_SRC_FLAG } ts_cli_src;

typedef struct ts_cli_value {
    ts_cli_flag_id id;
    const char *text; /**< borrowed from argv or the environment */
    ts_cli_src src;
} ts_cli_value;

struct ts_cli_args {
    const ts_cli_command *cmd;
    ts_cli_value *v; /**< in order: variables, then flags as given */
    size_t n, cap;
    char **operands;
    int n_operands;
    char **owned; /**< copies made while parsing (items of variables' comma lists) */
    size_t n_owned;
};

/** ts_cli_parse() printed the help: exit 0 without running the command. */
#define TS_CLI_DONE (-1)

/**
 * Parse @p argv (after the command's name) and the environment for @p cmd, checking every
 * value against its flag's bounds. Prints help or a usage error itself.
 * @return TS_CLI_OK with @p a filled, TS_CLI_DONE after --help, or TS_CLI_USAGE; free @p a
 *         with ts_cli_args_free() in every case.
 */
int ts_cli_parse(const ts_cli_command *cmd, int argc, char **argv, ts_cli_args *a);
void ts_cli_args_free(ts_cli_args *a);

/** The value of a flag (a flag's last value, else its variable's), or NULL when unset. */
const char *ts_cli_get(const ts_cli_args *a, ts_cli_flag_id id);
/** Where that value came from. */
ts_cli_src ts_cli_source(const ts_cli_args *a, ts_cli_flag_id id);
/** The value, or the flag's default when unset. */
const char *ts_cli_get_or_default(const ts_cli_args *a, ts_cli_flag_id id);
/** A boolean flag. */
bool ts_cli_bool(const ts_cli_args *a, ts_cli_flag_id id);
/** A number (durations in seconds), from the value or the default; 0 when neither. */
int64_t ts_cli_num(const ts_cli_args *a, ts_cli_flag_id id);
/**
 * Every value of a repeatable flag: the flags given, else the variable's comma list.
 * @return the number found; at most @p cap are stored in @p out (NULL-terminated when there is
 * room). Variable values point into @p a's copies and live as long as @p a.
 */
size_t ts_cli_all(const ts_cli_args *a, ts_cli_flag_id id, const char **out, size_t cap);

/** "tokensmith: CMD: message", the synopsis and a pointer to --help, on stderr. */
int ts_cli_usage_error(const ts_cli_command *cmd, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/** The name a message gives a value's source: "--threads" or "TOKENSMITH_THREADS". */
const char *ts_cli_where(const ts_cli_args *a, ts_cli_flag_id id, char *buf, size_t cap);

/* ------------------------------------------------------------------------------------------ */
/* Help (help.c)                                                                              */

/** The usage line(s) of @p cmd ("usage: tokensmith token verify --jwks FILE|URL ..."). */
void ts_cli_synopsis(FILE *out, const ts_cli_command *cmd);
/** The complete --help of @p cmd. */
void ts_cli_help(FILE *out, const ts_cli_command *cmd);
/** The top-level usage: the command list. */
void ts_cli_usage(FILE *out);
/** The sub-commands of a noun ("keys"); false when no command starts with it. */
bool ts_cli_noun_usage(FILE *out, const char *noun);
/** The bounds of @p spec for people: "1..256", "1m..24h", "json|text". */
void ts_cli_bounds(const ts_svc_value_spec *spec, char *buf, size_t cap);
/** @p s seconds as a Go duration ("1h", "1m30s", "0s"). */
void ts_cli_duration(int64_t s, char *buf, size_t cap);

/* ------------------------------------------------------------------------------------------ */
/* The serve configuration (settings.c, config_out.c, dirs.c)                                 */

/**
 * Resolve the serve configuration: defaults < config file (--config, TOKENSMITH_CONFIG) <
 * variables < flags, then the rules across settings and the --oidc-* shorthand.
 * @return TS_CLI_OK, TS_CLI_FAIL (the file) or TS_CLI_USAGE (flags, variables, combinations),
 *         with the message printed.
 */
int ts_cli_serve_config(const ts_cli_args *a, ts_svc_config *c);

/** Write @p c as a configuration file: comments from the flag table's help; secrets masked. */
TS_NODISCARD ts_status ts_cli_write_config(FILE *out, const ts_svc_config *c, bool comments,
                                           ts_error *err);

/** What ts_cli_prepare_dirs() creates: the key directory (or a key file's directory), the
 *  store's directory, the state directory in any case; the state directory is also created
 *  when one of the others lies in it. */
enum { TS_CLI_DIR_KEYS = 1u, TS_CLI_DIR_STORE = 2u, TS_CLI_DIR_HOME = 4u };

/**
 * The one directory rule of tokensmith: a directory it writes into (the state directory, the
 * key directory, the directory of the store or of a key file) is created when missing, mode
 * 0700, provided that its parent exists; a chain of missing parents is never created.
 * @return TS_CLI_OK or TS_CLI_FAIL with the message printed.
 */
int ts_cli_prepare_dirs(const char *cmd, const ts_svc_config *c, unsigned what);
/** The same rule for one directory. */
int ts_cli_ensure_dir(const char *cmd, const char *dir);
/** The same rule for the directory of @p file. */
int ts_cli_ensure_parent(const char *cmd, const char *file);

/* ------------------------------------------------------------------------------------------ */
/* Helpers (util.c)                                                                           */

/** @return true when @p arg asks for help ("--help" or "-h"). */
bool ts_cli_is_help(const char *arg);

/**
 * Render @p err as one line: "where: message", or just the message when it already names the
 * place (parsers put "file:line: problem" in the message itself). Always NUL-terminates.
 */
void ts_cli_format_error(const ts_error *err, char *buf, size_t cap);

/** Print "tokensmith: <prefix>: <rendered error>" on stderr. */
void ts_cli_report(const char *prefix, const ts_error *err);

/**
 * Read one line from @p in into @p buf (capacity @p cap, at least 2). The newline is removed.
 * A line that does not fit is consumed to its end and reported through @p too_long, so that
 * the caller can answer it and go on with the next line.
 * @param len out: bytes stored (without the newline).
 * @return false at end of input (no line read), true otherwise.
 */
bool ts_cli_read_line(FILE *in, char *buf, size_t cap, size_t *len, bool *too_long);

#endif
