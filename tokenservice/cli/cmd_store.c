/* tokensmith store migrate: bring the store's schema to this version's before a rollout, so
 * that replicas of the new version start on a migrated PostgreSQL database (they would migrate
 * it themselves, under an advisory lock, but an operator may want the step on its own and its
 * outcome printed). A SQLite store is migrated whenever it is opened: nothing to do here. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>

#include <tokensmith/store.h>

static int migrate(const ts_svc_config *c)
{
    char where[TS_SVC_PATH];
    ts_store_path_redact(c->store, where, sizeof where); /* a conninfo may carry a password */
    if (!ts_store_path_is_postgres(c->store)) {
        printf("%s: a SQLite store; its schema is migrated when it is opened (serve, "
               "bootstrap-token create): nothing to do\n",
               where);
        return TS_CLI_OK;
    }
    ts_error err;
    ts_error_clear(&err);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = c->store;
    so.max_connections = 1;
    unsigned from = 0, to = 0;
    if (ts_store_migrate(&so, &from, &to, &err) != TS_OK) {
        ts_cli_report("store migrate", &err); /* the store's messages are redacted */
        return TS_CLI_FAIL;
    }
    printf("%s: schema version %u -> %u%s\n", where, from, to,
           from == to ? " (already current)" : "");
    return TS_CLI_OK;
}

static int run_store_migrate(const ts_cli_args *a)
{
    ts_svc_config *c = malloc(sizeof *c);
    if (!c) {
        fprintf(stderr, "tokensmith: store migrate: out of memory\n");
        return TS_CLI_FAIL;
    }
    int rc = ts_cli_serve_config(a, c);
    if (rc == TS_CLI_OK)
        rc = migrate(c);
    free(c);
    return rc;
}

static const ts_cli_use migrate_uses[] = {
    {F_STORE, 0},
    {F_CONFIG, 0},
    {F_HOME, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_store_migrate = {
    .name = "store migrate",
    .summary = "bring the store's schema to this version's",
    .about = "Apply the schema migrations of this version to the store `serve` would use with the\n"
             "same flags, variables and config file, and print `schema version FROM -> TO`\n"
             "(0 for an empty database). For a PostgreSQL store (a postgres:// URI or a\n"
             "host=... conninfo) the migration runs under an advisory lock: replicas starting at\n"
             "the same time wait for it. A SQLite store is migrated whenever it is opened, so\n"
             "for one this only says so. The location is printed without its password.",
    .after = "Exit status: 0 migrated or already current; 1 the config file or the store failed\n"
             "(unreachable, or a schema newer than this version); 2 bad options.",
    .uses = migrate_uses,
    .opts = TS_CLI_SERVE_CONFIG,
    .run = run_store_migrate,
};
