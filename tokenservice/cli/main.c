/* tokensmith: the dispatch of argv to a command of the list (commands.c). */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static int run(const ts_cli_command *cmd, int argc, char **argv)
{
    ts_cli_args a;
    int rc = ts_cli_parse(cmd, argc, argv, &a);
    if (rc == TS_CLI_OK)
        rc = cmd->run(&a);
    else if (rc == TS_CLI_DONE)
        rc = TS_CLI_OK;
    ts_cli_args_free(&a);
    return rc;
}

int main(int argc, char **argv)
{
    if (argc < 2) {
        ts_cli_usage(stderr);
        return TS_CLI_USAGE;
    }
    const char *word = argv[1];
    if (ts_cli_is_help(word)) {
        ts_cli_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(word, "--version") == 0)
        return run(&ts_cli_cmd_version, 0, argv + 2);
    size_t wl = strlen(word);
    bool noun = false;
    for (size_t i = 0; i < ts_cli_n_commands; i++) {
        const ts_cli_command *c = ts_cli_commands[i];
        if (strcmp(c->name, word) == 0)
            return run(c, argc - 2, argv + 2);
        if (strncmp(c->name, word, wl) != 0 || c->name[wl] != ' ')
            continue;
        noun = true;
        if (argc > 2 && strcmp(c->name + wl + 1, argv[2]) == 0)
            return run(c, argc - 3, argv + 3);
    }
    if (noun && argc > 2 && ts_cli_is_help(argv[2])) {
        ts_cli_noun_usage(stdout, word);
        return TS_CLI_OK;
    }
    if (noun) {
        if (argc > 2)
            fprintf(stderr, "tokensmith: %s: unknown sub-command '%s'\n", word, argv[2]);
        ts_cli_noun_usage(stderr, word);
        return TS_CLI_USAGE;
    }
    fprintf(stderr, "tokensmith: unknown command '%s'\n", word);
    ts_cli_usage(stderr);
    return TS_CLI_USAGE;
}
