/* tokensmith generate-config: the complete configuration, every setting at its default with
 * its help as a comment member, written mode 0600. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* The defaults, with the issuer as it follows the default listen address: the file shows what
 * would run. */
static ts_status write_template(FILE *out, ts_error *err)
{
    ts_svc_config *c = malloc(sizeof *c), *tmp = malloc(sizeof *tmp);
    ts_status st = c && tmp ? TS_OK : ts_error_set(err, TS_ENOMEM, "generate-config", "no memory");
    if (st == TS_OK) {
        ts_svc_config_defaults(c);
        *tmp = *c;
        st = ts_svc_config_finish(tmp, err);
    }
    if (st == TS_OK) {
        memcpy(c->issuer, tmp->issuer, sizeof c->issuer);
        st = ts_cli_write_config(out, c, true, err);
    }
    free(c);
    free(tmp);
    return st;
}

static int run_generate_config(const ts_cli_args *a)
{
    const char *path = ts_cli_get(a, F_OUT_CONFIG);
    bool force = ts_cli_bool(a, F_FORCE);
    ts_error err;
    ts_error_clear(&err);
    if (strcmp(path, "-") == 0) {
        if (write_template(stdout, &err) != TS_OK) {
            ts_cli_report("generate-config", &err);
            return TS_CLI_FAIL;
        }
        return TS_CLI_OK;
    }
    if (ts_cli_ensure_parent("generate-config", path) != TS_CLI_OK)
        return TS_CLI_FAIL;
    int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC | (force ? O_TRUNC : O_EXCL), 0600);
    /* The file may hold client secrets later: 0600 whatever the umask, also when replaced. */
    if (fd >= 0 && fchmod(fd, 0600) != 0) {
        int e = errno;
        close(fd);
        fd = -1;
        errno = e;
    }
    if (fd < 0) {
        fprintf(stderr, "tokensmith: generate-config: %s: %s%s\n", path, strerror(errno),
                errno == EEXIST ? " (use --force to replace it)" : "");
        return TS_CLI_FAIL;
    }
    FILE *fp = fdopen(fd, "w");
    if (!fp) {
        close(fd);
        fprintf(stderr, "tokensmith: generate-config: %s: %s\n", path, strerror(errno));
        return TS_CLI_FAIL;
    }
    ts_status st = write_template(fp, &err);
    if (fclose(fp) != 0 && st == TS_OK)
        st = ts_error_set(&err, TS_EIO, path, "%s", strerror(errno));
    if (st != TS_OK) {
        ts_cli_report("generate-config", &err);
        return TS_CLI_FAIL;
    }
    printf("Generated configuration file at: %s\n", path);
    return TS_CLI_OK;
}

static const ts_cli_use generate_config_uses[] = {
    {F_OUT_CONFIG, TS_CLI_REQUIRED},
    {F_FORCE, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_generate_config = {
    .name = "generate-config",
    .summary = "write a complete, commented service configuration",
    .about = "Write a complete configuration for `tokensmith serve`: every setting at its\n"
             "default, each after a comment member (\"// name\") with its meaning, bounds, flag\n"
             "and variable (docs/configuration.md). The issuer is written as it follows the\n"
             "default listen address: change both together. The file is created mode 0600; an\n"
             "existing file is kept (exit 1) unless --force is given.",
    .uses = generate_config_uses,
    .run = run_generate_config,
};
