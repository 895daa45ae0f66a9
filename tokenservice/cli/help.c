/* Help, generated from the flag table and the command list; and the `help` command. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <string.h>

#define WIDTH 100 /* the line length of the sources, and of the help */
#define TEXT_COLUMN 27

void ts_cli_duration(int64_t s, char *buf, size_t cap)
{
    long long h = s / 3600, m = (s % 3600) / 60, sec = s % 60;
    size_t o = 0;
    buf[0] = '\0';
    if (s <= 0) {
        snprintf(buf, cap, "0s");
        return;
    }
    if (h && o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "%lldh", h);
    if (m && o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "%lldm", m);
    if (sec && o < cap)
        snprintf(buf + o, cap - o, "%llds", sec);
}

void ts_cli_bounds(const ts_svc_value_spec *spec, char *buf, size_t cap)
{
    char a[32], b[32];
    const char *ch = spec->choices;
    switch (spec->kind) {
    case TS_SVC_K_DUR:
        ts_cli_duration(spec->min, a, sizeof a);
        ts_cli_duration(spec->max, b, sizeof b);
        snprintf(buf, cap, "%s..%s", a, b);
        return;
    case TS_SVC_K_UINT:
    case TS_SVC_K_INT:
    case TS_SVC_K_PORT:
        snprintf(buf, cap, "%lld..%lld", (long long)spec->min, (long long)spec->max);
        return;
    case TS_SVC_K_BOOL:
        snprintf(buf, cap, "true|false");
        return;
    case TS_SVC_K_ENUM: /* a leading '|': empty is allowed too */
        snprintf(buf, cap, "%s%s", ch + (ch[0] == '|'), ch[0] == '|' ? " or empty" : "");
        return;
    case TS_SVC_K_LISTEN:
        snprintf(buf, cap, "HOST:PORT");
        return;
    case TS_SVC_K_LOCAL_LISTEN:
        snprintf(buf, cap, "loopback HOST:PORT or unix:/PATH");
        return;
    default:
        snprintf(buf, cap, "at most %lld bytes", (long long)spec->max);
        return;
    }
}

/* Print @p text from column @p col (the cursor is at @p at), wrapped at WIDTH. */
static void wrap(FILE *out, const char *text, int col, int at)
{
    for (const char *p = text; *p;) {
        size_t word = strcspn(p, " ");
        if (at > col && at + 1 + (int)word > WIDTH) {
            fprintf(out, "\n%*s", col, "");
            at = col;
        } else if (at > col) {
            fputc(' ', out);
            at++;
        }
        for (; at < col; at++)
            fputc(' ', out);
        fwrite(p, 1, word, out);
        at += (int)word;
        p += word;
        p += strspn(p, " ");
    }
    fputc('\n', out);
}

static const char *arg_of(const ts_cli_flag *f)
{
    return f->spec.kind == TS_SVC_K_BOOL ? "" : f->arg;
}

void ts_cli_synopsis(FILE *out, const ts_cli_command *cmd)
{
    char line[1024] = "";
    size_t o = 0;
    bool optional = false;
    for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT && o < sizeof line; u++) {
        const ts_cli_flag *f = &ts_cli_flags[u->id];
        if (!(u->opts & TS_CLI_REQUIRED)) {
            optional = optional || !(f->opts & TS_CLI_REFUSED);
            continue;
        }
        /* A flag with a single letter is shown by it: "-f FILE". */
        char opt[80], letter = ts_cli_short_of(f->name);
        if (letter)
            snprintf(opt, sizeof opt, "-%c", letter);
        else
            snprintf(opt, sizeof opt, "--%s", f->name);
        o += (size_t)snprintf(line + o, sizeof line - o, "%s%s%s%s", o ? " " : "", opt,
                              *arg_of(f) ? " " : "", arg_of(f));
    }
    if (optional && o < sizeof line)
        o += (size_t)snprintf(line + o, sizeof line - o, "%s[options]", o ? " " : "");
    if (cmd->operands && o < sizeof line)
        snprintf(line + o, sizeof line - o, "%s%s", o ? " " : "", cmd->operands);
    int at = fprintf(out, "usage: tokensmith %s", cmd->name);
    if (line[0])
        wrap(out, line, 6, at);
    else
        fputc('\n', out);
}

/* "1..256; default 16; required; repeatable [TOKENSMITH_THREADS; config threads]" */
static void details(const ts_cli_command *cmd, const ts_cli_use *u, char *buf, size_t cap)
{
    const ts_cli_flag *f = &ts_cli_flags[u->id];
    char bounds[96] = "";
    size_t o = 0;
    buf[0] = '\0';
    /* Numbers, durations and choices; the help of text and addresses says what they hold. */
    ts_svc_kind k = f->spec.kind;
    if (k == TS_SVC_K_DUR || k == TS_SVC_K_UINT || k == TS_SVC_K_INT || k == TS_SVC_K_PORT ||
        k == TS_SVC_K_ENUM)
        ts_cli_bounds(&f->spec, bounds, sizeof bounds);
    if (bounds[0])
        o += (size_t)snprintf(buf + o, cap - o, "; %s", bounds);
    if (f->def[0] && strcmp(f->def, "false") != 0 && o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "; default %s%s%s%s", f->def,
                              k == TS_SVC_K_BOOL ? " (--" : "", k == TS_SVC_K_BOOL ? f->name : "",
                              k == TS_SVC_K_BOOL ? "=false turns it off)" : "");
    if ((u->opts & TS_CLI_REQUIRED) && o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "; required");
    if ((u->opts & TS_CLI_REPEAT) && o < cap)
        o += (size_t)snprintf(buf + o, cap - o, "; repeatable");
    /* The config-file field only where the command reads the serve configuration. */
    bool env = f->env && !(u->opts & TS_CLI_NOENV);
    const char *key = (cmd->opts & (TS_CLI_SERVE_CONFIG | TS_CLI_SHOW_KEYS)) ? f->key : NULL;
    if ((env || key) && o < cap)
        snprintf(buf + o, cap - o, " [%s%s%s%s]", env ? f->env : "", env && key ? "; " : "",
                 key ? "config " : "", key ? key : "");
}

static void option_line(FILE *out, const char *name, const char *arg, const char *text)
{
    char head[128];
    int n = snprintf(head, sizeof head, "  %s%s%s", name, *arg ? " " : "", arg);
    fputs(head, out);
    if (n >= TEXT_COLUMN - 1) {
        fputc('\n', out);
        n = 0;
    }
    wrap(out, text, TEXT_COLUMN, n);
}

/* Whether some option of @p cmd shows a variable or a config-file field. */
static bool brackets(const ts_cli_command *cmd)
{
    for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT; u++)
        if ((ts_cli_flags[u->id].key && (cmd->opts & (TS_CLI_SERVE_CONFIG | TS_CLI_SHOW_KEYS))) ||
            (ts_cli_flags[u->id].env && !(u->opts & TS_CLI_NOENV)))
            return true;
    return false;
}

void ts_cli_help(FILE *out, const ts_cli_command *cmd)
{
    ts_cli_synopsis(out, cmd);
    fprintf(out, "\n%s\n", cmd->about);
    bool any = false, refused = false;
    for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT; u++) {
        const ts_cli_flag *f = &ts_cli_flags[u->id];
        if (f->opts & TS_CLI_REFUSED) {
            refused = true;
            continue;
        }
        if (!any)
            fputs(brackets(cmd) ? "\noptions (variable and config-file field in brackets):\n"
                                : "\noptions:\n",
                  out);
        any = true;
        char name[96], text[1024], d[256];
        char letter = ts_cli_short_of(f->name);
        if (letter)
            snprintf(name, sizeof name, "-%c, --%s", letter, f->name);
        else
            snprintf(name, sizeof name, "--%s", f->name);
        details(cmd, u, d, sizeof d);
        snprintf(text, sizeof text, "%s%s", f->help, d);
        option_line(out, name, arg_of(f), text);
    }
    option_line(out, any ? "-h, --help" : "\n  -h, --help", "", "show this help");
    if (refused) {
        fputs("\noptions of the Go original that are refused (exit 2):\n", out);
        for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT; u++) {
            const ts_cli_flag *f = &ts_cli_flags[u->id];
            if (!(f->opts & TS_CLI_REFUSED))
                continue;
            char name[96], text[512];
            snprintf(name, sizeof name, "--%s", f->name);
            snprintf(text, sizeof text, "%s%s%s%s", f->help, f->env ? " (also " : "",
                     f->env ? f->env : "", f->env ? ")" : "");
            option_line(out, name, "", text);
        }
    }
    if (cmd->after)
        fprintf(out, "\n%s\n", cmd->after);
}

void ts_cli_usage(FILE *out)
{
    fputs("usage: tokensmith <command> [options]\n\ncommands:\n", out);
    for (size_t i = 0; i < ts_cli_n_commands; i++) {
        const ts_cli_command *c = ts_cli_commands[i];
        option_line(out, c->name, c->operands ? c->operands : "", c->summary);
    }
    fputs("\nEvery command accepts --help. Exit status: 0 success, 1 failure while working,\n"
          "2 bad command line or environment.\n",
          out);
}

bool ts_cli_noun_usage(FILE *out, const char *noun)
{
    size_t nl = strlen(noun);
    char verbs[256] = "";
    size_t o = 0;
    for (size_t i = 0; i < ts_cli_n_commands; i++) {
        const char *n = ts_cli_commands[i]->name;
        if (strncmp(n, noun, nl) == 0 && n[nl] == ' ' && o < sizeof verbs)
            o += (size_t)snprintf(verbs + o, sizeof verbs - o, "%s%s", o ? "|" : "", n + nl + 1);
    }
    if (!o)
        return false;
    fprintf(out, "usage: tokensmith %s <%s> [options]\n\n", noun, verbs);
    for (size_t i = 0; i < ts_cli_n_commands; i++) {
        const ts_cli_command *c = ts_cli_commands[i];
        if (strncmp(c->name, noun, nl) == 0 && c->name[nl] == ' ')
            option_line(out, c->name, "", c->summary);
    }
    fprintf(out, "\nRun 'tokensmith %s <command> --help' for the options of each.\n", noun);
    return true;
}

/* ------------------------------------------------------------------------------------------ */
/* The settings reference (docs/cli.md holds its output; cli.docs_settings compares them)     */

static void cell(FILE *out, const char *prefix, const char *s, const char *suffix)
{
    fprintf(out, " %s", s && *s ? prefix : "");
    for (const char *p = s && *s ? s : "—"; *p; p++) { /* a table cell cannot hold a bare '|' */
        if (*p == '|')
            fputc('\\', out);
        fputc(*p, out);
    }
    fprintf(out, "%s |", s && *s ? suffix : "");
}

/* Every setting of @p cmd (serve, gateway): field, flag, variable, default, bounds, meaning. */
static void settings_reference(FILE *out, const ts_cli_command *cmd)
{
    fputs("| field | flag | variable | default | bounds | meaning |\n"
          "|---|---|---|---|---|---|\n",
          out);
    for (const ts_cli_use *u = cmd->uses; u->id != F_COUNT; u++) {
        const ts_cli_flag *f = &ts_cli_flags[u->id];
        if (f->opts & TS_CLI_REFUSED)
            continue;
        char flag[96], bounds[96];
        snprintf(flag, sizeof flag, "--%s%s%s", f->name, *arg_of(f) ? " " : "", arg_of(f));
        ts_cli_bounds(&f->spec, bounds, sizeof bounds);
        fputs("|", out);
        cell(out, "`", f->key, "`");
        cell(out, "`", flag, "`");
        cell(out, "`", f->env, "`");
        cell(out, "`", f->def, "`");
        cell(out, "", bounds, "");
        cell(out, "", f->help, "");
        fputs("\n", out);
    }
}

/* ------------------------------------------------------------------------------------------ */
/* tokensmith help [COMMAND]                                                                  */

static int run_help(const ts_cli_args *a)
{
    char name[128] = "";
    size_t o = 0;
    for (int i = 0; i < a->n_operands && o < sizeof name; i++)
        o += (size_t)snprintf(name + o, sizeof name - o, "%s%s", i ? " " : "", a->operands[i]);
    if (!name[0]) {
        ts_cli_usage(stdout);
        return TS_CLI_OK;
    }
    if (strcmp(name, "settings") == 0 || strcmp(name, "gateway settings") == 0) {
        settings_reference(stdout, name[0] == 's' ? &ts_cli_cmd_serve : &ts_cli_cmd_gateway);
        return TS_CLI_OK;
    }
    for (size_t i = 0; i < ts_cli_n_commands; i++) {
        if (strcmp(ts_cli_commands[i]->name, name) == 0) {
            ts_cli_help(stdout, ts_cli_commands[i]);
            return TS_CLI_OK;
        }
    }
    if (ts_cli_noun_usage(stdout, name))
        return TS_CLI_OK;
    fprintf(stderr, "tokensmith: help: unknown command '%s'\n", name);
    ts_cli_usage(stderr);
    return TS_CLI_USAGE;
}

static const ts_cli_use help_uses[] = {{F_COUNT, 0}};

const ts_cli_command ts_cli_cmd_help = {
    .name = "help",
    .summary = "show the help of a command; `help settings`: every serve setting as a table",
    .operands = "[COMMAND]",
    .min_operands = 0,
    .max_operands = 2,
    .about = "Show the help of COMMAND (\"keys generate\", or a noun such as \"keys\"), or the\n"
             "list of commands. `tokensmith help settings` prints every setting of `serve`\n"
             "(field, flag, variable, default, bounds) as a Markdown table; `tokensmith help\n"
             "gateway settings` every setting of `gateway`.",
    .uses = help_uses,
    .run = run_help,
};
