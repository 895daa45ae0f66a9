/* tokensmith store copy: move an installation from its SQLite store to a PostgreSQL database,
 * which replicas need (docs/operations.md, "Moving from SQLite to PostgreSQL"). The copy is
 * ts_store_copy()'s; this checks which side is which before anything is opened, prints what was
 * copied per table, and names both locations without a password. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdlib.h>
#include <string.h>

#include <tokensmith/store.h>

/* @p path as it may be printed (a conninfo's password as ***); the caller frees it. */
static char *shown(const char *path)
{
    size_t n = ts_store_path_redact(path, NULL, 0) + 1;
    char *s = malloc(n);
    if (s)
        ts_store_path_redact(path, s, n);
    return s;
}

static void print_counts(const char *from, const char *to, const ts_store_copy_counts *n)
{
    printf("copied %s -> %s\n", from, to);
    if (n->replaced)
        printf("  %-18s %llu rows of the target deleted first (--force)\n", "replaced",
               (unsigned long long)n->replaced);
    const struct {
        const char *table;
        uint64_t rows;
    } rows[] = {
        {"bootstrap_tokens", n->bootstrap_tokens},
        {"refresh_families", n->families},
        {"refresh_rotated", n->rotated_hashes},
        {"audit_log", n->audit_records},
        {"published_keys", n->published_keys},
        {"oidc_config", n->oidc_config},
        {"mappings", n->mappings},
        {"issued_tokens", n->issued_tokens},
        {"revocations", n->revocations},
    };
    for (size_t i = 0; i < sizeof rows / sizeof rows[0]; i++)
        printf("  %-18s %llu\n", rows[i].table, (unsigned long long)rows[i].rows);
    printf("  next audit id      %lld\n", (long long)n->next_audit_id);
}

static int copy(const ts_cli_args *a, const char *from_shown, const char *to_shown)
{
    ts_store_options from = TS_STORE_OPTIONS_INIT, to = TS_STORE_OPTIONS_INIT;
    from.path = ts_cli_get(a, F_COPY_FROM);
    to.path = ts_cli_get(a, F_COPY_TO);
    from.max_connections = 1;
    to.max_connections = 1;
    ts_error err;
    ts_error_clear(&err);
    ts_store_copy_counts n;
    unsigned flags = ts_cli_bool(a, F_COPY_FORCE) ? TS_STORE_COPY_FORCE : 0u;
    if (ts_store_copy(&from, &to, flags, &n, &err) != TS_OK) {
        /* The store's messages are redacted and never quote the provider configuration. */
        if (strcmp(err.where, "copy.not_empty") == 0)
            fprintf(stderr,
                    "tokensmith: store copy: %s: %s; use --force to replace the target's "
                    "rows\n",
                    to_shown, err.msg);
        else
            ts_cli_report("store copy", &err);
        return TS_CLI_FAIL;
    }
    print_counts(from_shown, to_shown, &n);
    return TS_CLI_OK;
}

static int run_store_copy(const ts_cli_args *a)
{
    const char *from = ts_cli_get(a, F_COPY_FROM), *to = ts_cli_get(a, F_COPY_TO);
    /* Which side is which is a matter of the command line: refused before anything opens. */
    if (ts_store_path_is_postgres(from))
        return ts_cli_usage_error(a->cmd, "--from is a PostgreSQL connection string: only a "
                                          "SQLite store can be copied (to PostgreSQL)");
    if (!ts_store_path_is_postgres(to))
        return ts_cli_usage_error(a->cmd, "--to is not a PostgreSQL connection string "
                                          "(postgres://... or host=... dbname=...): a store can "
                                          "only be copied to PostgreSQL");
    char *from_shown = shown(from), *to_shown = shown(to);
    int rc = TS_CLI_FAIL;
    if (from_shown && to_shown)
        rc = copy(a, from_shown, to_shown);
    else
        fprintf(stderr, "tokensmith: store copy: out of memory\n");
    free(from_shown);
    free(to_shown);
    return rc;
}

static const ts_cli_use copy_uses[] = {
    {F_COPY_FROM, TS_CLI_REQUIRED},
    {F_COPY_TO, TS_CLI_REQUIRED},
    {F_COPY_FORCE, 0},
    {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_store_copy = {
    .name = "store copy",
    .summary = "copy a SQLite store into a PostgreSQL store (moving to replicas)",
    .about =
        "Copy every row of the SQLite store FILE into the PostgreSQL store URI, in one\n"
        "transaction: bootstrap tokens in every state, refresh families with their rotated\n"
        "hashes, the audit log with its ids, published keys, the shared provider\n"
        "configuration and token mappings, the issued access tokens and the revocations with\n"
        "their sequence numbers. A service started on URI then continues where the one on FILE\n"
        "stopped: unused bootstrap tokens redeem, used ones are refused, refresh tokens keep\n"
        "rotating, revoked tokens stay revoked, and new audit records and revocations get\n"
        "numbers after the copied ones. Both stores are first migrated\n"
        "to this version's schema (FILE in place). Stop every serve and bootstrap-token create\n"
        "on both first: the source is read as one snapshot, and changes made after it are not\n"
        "copied. A target that holds any row is refused unless --force is given, which replaces\n"
        "its rows; a failed copy leaves the target as it was. The counts per table and the\n"
        "locations are printed, without a password.",
    .after = "Exit status: 0 copied; 1 the copy failed (a store cannot be opened or reached, or\n"
             "the target is not empty without --force: nothing was written); 2 bad options (a\n"
             "missing --from or --to, --from a PostgreSQL connection string, --to not one).",
    .uses = copy_uses,
    .run = run_store_copy,
};
