/* The one parser of every command: argv and the environment, checked against the flag table. */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

int ts_cli_usage_error(const ts_cli_command *cmd, const char *fmt, ...)
{
    char msg[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    fprintf(stderr, "tokensmith: %s: %s\n", cmd->name, msg);
    ts_cli_synopsis(stderr, cmd);
    fprintf(stderr, "Run 'tokensmith %s --help' for the options.\n", cmd->name);
    return TS_CLI_USAGE;
}

static const ts_cli_use *use_of(const ts_cli_command *cmd, ts_cli_flag_id id)
{
    for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT; u++)
        if (u->id == id)
            return u;
    return NULL;
}

static const ts_cli_use *use_named(const ts_cli_command *cmd, const char *name, size_t len)
{
    for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT; u++) {
        const char *n = ts_cli_flags[u->id].name;
        if (strlen(n) == len && strncmp(n, name, len) == 0)
            return u;
    }
    return NULL;
}

static const char *own(ts_cli_args *a, const char *s, size_t len)
{
    char *d = malloc(len + 1);
    char **grown = realloc(a->owned, (a->n_owned + 1) * sizeof *a->owned);
    if (!d || !grown) {
        free(d);
        if (grown)
            a->owned = grown;
        return NULL;
    }
    memcpy(d, s, len);
    d[len] = '\0';
    a->owned = grown;
    a->owned[a->n_owned++] = d;
    return d;
}

/* A refused option counts as given when its value is non-empty (a boolean: true). */
static bool refused_given(const ts_cli_flag *f, const char *v)
{
    if (f->spec.kind == TS_SVC_K_BOOL)
        return strcmp(v, "false") != 0 && strcmp(v, "0") != 0;
    return *v != '\0';
}

static int add(ts_cli_args *a, ts_cli_flag_id id, const char *text, ts_cli_src src,
               const char *where)
{
    const ts_cli_flag *f = &ts_cli_flags[id];
    if (f->opts & TS_CLI_REFUSED) {
        if (!refused_given(f, text))
            return TS_CLI_OK;
        return ts_cli_usage_error(a->cmd, "%s is refused: %s", where, f->help);
    }
    ts_error err;
    ts_error_clear(&err);
    char at[160]; /* a serve setting is also named by its config-file field */
    if (f->key)
        snprintf(at, sizeof at, "%s (%s)", where, f->key);
    else
        snprintf(at, sizeof at, "%s", where);
    if (ts_svc_value_parse(&f->spec, text, NULL, at, &err) != TS_OK) {
        if (f->opts & TS_CLI_SECRET)
            return ts_cli_usage_error(a->cmd, "%s: not a valid value (a secret: not repeated)",
                                      where);
        char line[1200];
        ts_cli_format_error(&err, line, sizeof line);
        return ts_cli_usage_error(a->cmd, "%s", line);
    }
    if (a->n == a->cap)
        return ts_cli_usage_error(a->cmd, "too many values");
    a->v[a->n++] = (ts_cli_value){id, text, src};
    return TS_CLI_OK;
}

/* A variable: empty counts as unset; a repeatable flag's variable is a comma list. */
static int add_env(ts_cli_args *a, ts_cli_flag_id id, bool repeat)
{
    const char *name = ts_cli_flags[id].env;
    const char *v = name ? getenv(name) : NULL;
    if (!v || !*v)
        return TS_CLI_OK;
    if (!repeat)
        return add(a, id, v, TS_CLI_SRC_ENV, name);
    for (const char *p = v; *p;) {
        size_t l = strcspn(p, ",");
        const char *item = l ? own(a, p, l) : NULL;
        if (l && !item) {
            fprintf(stderr, "tokensmith: out of memory\n");
            return TS_CLI_FAIL;
        }
        int rc = item ? add(a, id, item, TS_CLI_SRC_ENV, name) : TS_CLI_OK;
        if (rc != TS_CLI_OK)
            return rc;
        p += l + (p[l] == ',');
    }
    return TS_CLI_OK;
}

static int read_env(const ts_cli_command *cmd, ts_cli_args *a)
{
    for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT; u++) {
        int rc = (u->opts & TS_CLI_NOENV) ? TS_CLI_OK
                                          : add_env(a, u->id, (u->opts & TS_CLI_REPEAT) != 0);
        if (rc != TS_CLI_OK)
            return rc;
    }
    if (!(cmd->opts & TS_CLI_SERVE_CONFIG))
        return TS_CLI_OK;
    /* Commands that resolve the serve configuration see it as serve would. */
    for (int id = 0; id < F_SERVE_END; id++) {
        int rc =
            use_of(cmd, (ts_cli_flag_id)id) ? TS_CLI_OK : add_env(a, (ts_cli_flag_id)id, false);
        if (rc != TS_CLI_OK)
            return rc;
    }
    return TS_CLI_OK;
}

static bool has_flag_value(const ts_cli_args *a, ts_cli_flag_id id)
{
    for (size_t i = 0; i < a->n; i++)
        if (a->v[i].id == id && a->v[i].src == TS_CLI_SRC_FLAG)
            return true;
    return false;
}

/* One option at argv[*i]; advances *i over a separate value. */
static int parse_option(const ts_cli_command *cmd, int argc, char **argv, int *i, ts_cli_args *a)
{
    const char *arg = argv[*i];
    const char *name = arg + 2, *eq = strchr(name, '=');
    size_t nl = eq ? (size_t)(eq - name) : strlen(name);
    if (arg[1] != '-') { /* "-f": a single letter for a long option, its value the next argument */
        name = NULL;
        eq = NULL;
        for (const ts_cli_short *s = ts_cli_shorts; s->letter && arg[2] == '\0'; s++)
            if (s->letter == arg[1])
                name = s->name;
        nl = name ? strlen(name) : 0;
    }
    const ts_cli_use *u = name ? use_named(cmd, name, nl) : NULL;
    if (!u)
        return ts_cli_usage_error(cmd, "unknown option '%.*s'", (int)(eq ? nl + 2 : strlen(arg)),
                                  arg);
    const ts_cli_flag *f = &ts_cli_flags[u->id];
    const char *value;
    if (eq)
        value = eq + 1;
    else if (f->spec.kind == TS_SVC_K_BOOL)
        value = "true"; /* a boolean takes its value only as --name=false */
    else if (*i + 1 < argc)
        value = argv[++*i];
    else
        return ts_cli_usage_error(cmd, "--%s needs a value", f->name);
    if (!*value && !(f->opts & TS_CLI_REFUSED))
        return TS_CLI_OK; /* an empty value counts as unset (scripts pass "$VAR") */
    /* Given twice, the last value counts (the Go original's flags; wrappers append). */
    char where[96];
    snprintf(where, sizeof where, "--%s", f->name);
    return add(a, u->id, value, TS_CLI_SRC_FLAG, where);
}

int ts_cli_parse(const ts_cli_command *cmd, int argc, char **argv, ts_cli_args *a)
{
    memset(a, 0, sizeof *a);
    a->cmd = cmd;
    /* Every argument, one value per flag from the environment, and room for comma lists. */
    a->cap = (size_t)argc + 2 * F_COUNT + 256;
    a->v = calloc(a->cap, sizeof *a->v);
    a->operands = calloc((size_t)argc + 1, sizeof *a->operands);
    if (!a->v || !a->operands) {
        fprintf(stderr, "tokensmith: out of memory\n");
        return TS_CLI_FAIL;
    }
    int rc = read_env(cmd, a);
    if (rc != TS_CLI_OK)
        return rc;
    bool options_done = false;
    for (int i = 0; i < argc; i++) {
        const char *arg = argv[i];
        if (!options_done && strcmp(arg, "--") == 0) {
            options_done = true;
        } else if (!options_done && ts_cli_is_help(arg)) {
            ts_cli_help(stdout, cmd);
            return TS_CLI_DONE;
        } else if (!options_done && arg[0] == '-' && arg[1] != '\0') {
            if ((rc = parse_option(cmd, argc, argv, &i, a)) != TS_CLI_OK)
                return rc;
        } else if (a->n_operands < cmd->max_operands) {
            a->operands[a->n_operands++] = argv[i];
        } else {
            return ts_cli_usage_error(cmd, "unexpected argument '%s'", arg);
        }
    }
    if (a->n_operands < cmd->min_operands)
        return ts_cli_usage_error(cmd, "expected %s", cmd->operands);
    for (const ts_cli_use *u = cmd->uses; u && u->id != F_COUNT; u++)
        if ((u->opts & TS_CLI_REQUIRED) && !ts_cli_get(a, u->id))
            return ts_cli_usage_error(cmd, "--%s is required", ts_cli_flags[u->id].name);
    return TS_CLI_OK;
}

void ts_cli_args_free(ts_cli_args *a)
{
    for (size_t i = 0; i < a->n_owned; i++)
        free(a->owned[i]);
    free(a->owned);
    free(a->v);
    free(a->operands);
    memset(a, 0, sizeof *a);
}

static const ts_cli_value *last(const ts_cli_args *a, ts_cli_flag_id id)
{
    const ts_cli_value *flag = NULL, *env = NULL;
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].id != id)
            continue;
        if (a->v[i].src == TS_CLI_SRC_FLAG)
            flag = &a->v[i];
        else
            env = &a->v[i];
    }
    return flag ? flag : env;
}

const char *ts_cli_get(const ts_cli_args *a, ts_cli_flag_id id)
{
    const ts_cli_value *v = last(a, id);
    return v ? v->text : NULL;
}

ts_cli_src ts_cli_source(const ts_cli_args *a, ts_cli_flag_id id)
{
    const ts_cli_value *v = last(a, id);
    return v ? v->src : TS_CLI_SRC_NONE;
}

const char *ts_cli_where(const ts_cli_args *a, ts_cli_flag_id id, char *buf, size_t cap)
{
    if (ts_cli_source(a, id) == TS_CLI_SRC_ENV)
        snprintf(buf, cap, "%s", ts_cli_flags[id].env);
    else
        snprintf(buf, cap, "--%s", ts_cli_flags[id].name);
    return buf;
}

const char *ts_cli_get_or_default(const ts_cli_args *a, ts_cli_flag_id id)
{
    const char *v = ts_cli_get(a, id);
    return v ? v : ts_cli_flags[id].def;
}

int64_t ts_cli_num(const ts_cli_args *a, ts_cli_flag_id id)
{
    int64_t n = 0;
    const char *v = ts_cli_get_or_default(a, id);
    if (*v && ts_svc_value_parse(&ts_cli_flags[id].spec, v, &n, "", NULL) != TS_OK)
        n = 0; /* values were checked while parsing; defaults are valid by construction */
    return n;
}

bool ts_cli_bool(const ts_cli_args *a, ts_cli_flag_id id)
{
    return ts_cli_num(a, id) != 0;
}

size_t ts_cli_all(const ts_cli_args *a, ts_cli_flag_id id, const char **out, size_t cap)
{
    ts_cli_src src = has_flag_value(a, id) ? TS_CLI_SRC_FLAG : TS_CLI_SRC_ENV;
    size_t n = 0;
    for (size_t i = 0; i < a->n; i++) {
        if (a->v[i].id != id || a->v[i].src != src)
            continue;
        if (n < cap)
            out[n] = a->v[i].text;
        n++;
    }
    if (n < cap)
        out[n] = NULL;
    return n;
}
