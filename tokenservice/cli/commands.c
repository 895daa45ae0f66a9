/* The command list, written once: it dispatches (main.c) and generates the top-level usage,
 * the noun usages and `tokensmith help` (help.c). And the smallest command, version. */
#include <stdio.h>

#include <tokensmith/version.h>

#include "cli.h"

/* tokensmith mappings list | get | apply | delete (cmd_mappings.c). */
extern const ts_cli_command ts_cli_cmd_mappings_list, ts_cli_cmd_mappings_get,
    ts_cli_cmd_mappings_apply, ts_cli_cmd_mappings_delete;
/* tokensmith policy fleet (cmd_policy_fleet.c). */
extern const ts_cli_command ts_cli_cmd_policy_fleet;
/* tokensmith policy bundle, policy sync (cmd_policy_bundle.c, cmd_policy_sync.c). */
extern const ts_cli_command ts_cli_cmd_policy_bundle, ts_cli_cmd_policy_sync;

/* The order of the top-level usage. */
const ts_cli_command *const ts_cli_commands[] = {
    &ts_cli_cmd_serve,
    &ts_cli_cmd_agent,
    &ts_cli_cmd_gateway,
    &ts_cli_cmd_generate_config,
    &ts_cli_cmd_bootstrap_create,
    &ts_cli_cmd_user_token_create,
    &ts_cli_cmd_store_migrate,
    &ts_cli_cmd_store_copy,
    &ts_cli_cmd_oidc_status,
    &ts_cli_cmd_oidc_configure,
    &ts_cli_cmd_mappings_list,
    &ts_cli_cmd_mappings_get,
    &ts_cli_cmd_mappings_apply,
    &ts_cli_cmd_mappings_delete,
    &ts_cli_cmd_policy_check,
    &ts_cli_cmd_policy_version,
    &ts_cli_cmd_policy_roles,
    &ts_cli_cmd_policy_users,
    &ts_cli_cmd_policy_permissions,
    &ts_cli_cmd_policy_fleet,
    &ts_cli_cmd_policy_bundle,
    &ts_cli_cmd_policy_sync,
    &ts_cli_cmd_keys_generate,
    &ts_cli_cmd_keys_thumbprint,
    &ts_cli_cmd_keys_list,
    &ts_cli_cmd_keys_rotate,
    &ts_cli_cmd_token_verify,
    &ts_cli_cmd_token_revoke,
    &ts_cli_cmd_version,
    &ts_cli_cmd_help,
};
const size_t ts_cli_n_commands = sizeof ts_cli_commands / sizeof ts_cli_commands[0];

static int run_version(const ts_cli_args *a)
{
    (void)a;
    printf("tokensmith %s\n", TS_VERSION_STRING);
    return TS_CLI_OK;
}

static const ts_cli_use no_flags[] = {{F_COUNT, 0}};

const ts_cli_command ts_cli_cmd_version = {
    .name = "version",
    .summary = "print the version",
    .about = "Print the version of tokensmith (also `tokensmith --version`).",
    .uses = no_flags,
    .run = run_version,
};
