/* Helpers shared by the commands: messages and line reading. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include "common/error_text.h"

#include <string.h>

bool ts_cli_is_help(const char *arg)
{
    return arg && (strcmp(arg, "--help") == 0 || strcmp(arg, "-h") == 0);
}

void ts_cli_format_error(const ts_error *err, char *buf, size_t cap)
{
    ts_common__error_text(err, buf, cap);
}

void ts_cli_report(const char *prefix, const ts_error *err)
{
    char line[512];
    ts_cli_format_error(err, line, sizeof line);
    if (prefix)
        fprintf(stderr, "tokensmith: %s: %s\n", prefix, line);
    else
        fprintf(stderr, "tokensmith: %s\n", line);
}

bool ts_cli_read_line(FILE *in, char *buf, size_t cap, size_t *len, bool *too_long)
{
    size_t n = 0;
    int c;
    bool any = false;

    *too_long = false;
    /* getc_unlocked keeps big batches cheap and, unlike fgets, keeps NUL bytes counted so that
     * they reach the parser (which rejects them) instead of silently truncating the line. */
    while ((c = getc_unlocked(in)) != EOF) {
        any = true;
        if (c == '\n')
            break;
        if (n + 1 < cap)
            buf[n++] = (char)c;
        else
            *too_long = true;
    }
    buf[n < cap ? n : cap - 1] = '\0';
    *len = n;
    return any;
}
