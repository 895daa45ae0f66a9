/* tokensmith policy version: the policy_version a service linking authz would load. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <tokensmith/authz_http.h>

static int run_policy_version(const ts_cli_args *a)
{
    if (ts_cli_get(a, F_POLICY_DIR) && ts_cli_get(a, F_POLICY))
        return ts_cli_usage_error(a->cmd, "--policy-dir and --policy are exclusive");
    /* The authorizer is what a service builds: the same loading, the same checks of the model
     * (its request definition must name sub, obj, act and maybe dom) and of every rule. */
    ts_authz_authorizer_options o = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    o.source.model_path = ts_cli_get(a, F_MODEL);
    o.source.policy_dir = ts_cli_get(a, F_POLICY_DIR);
    o.source.policy_file = ts_cli_get(a, F_POLICY);
    o.source.grouping_file = ts_cli_get(a, F_GROUPING);
    o.source.from_env = true; /* only used when neither --policy-dir nor --policy is given */
    ts_error err;
    ts_error_clear(&err);
    ts_authz_authorizer *az = ts_authz_authorizer_new(&o, &err);
    if (!az) {
        ts_cli_report(NULL, &err);
        return TS_CLI_FAIL;
    }
    char version[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    ts_authz_authorizer_policy_version(az, version);
    ts_authz_authorizer_free(az);
    return printf("%s\n", version) < 0 || fflush(stdout) != 0 ? TS_CLI_FAIL : TS_CLI_OK;
}

static const ts_cli_use version_uses[] = {
    {F_MODEL, 0}, {F_POLICY_DIR, 0}, {F_POLICY, 0}, {F_GROUPING, 0}, {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_policy_version = {
    .name = "policy version",
    .summary = "print the policy_version of the baseline plus fragments",
    .about = "Load the embedded baseline plus the given fragments exactly as a service linking\n"
             "the authz library does (its authorizer: the model must be one it accepts, every\n"
             "rule is checked against it) and print the effective policy_version. --model\n"
             "replaces the embedded baseline model; --policy is a single fragment file instead\n"
             "of a directory.",
    .after = "Exit status: 0 printed; 1 a file or rule is invalid; 2 usage error.",
    .uses = version_uses,
    .run = run_policy_version,
};
