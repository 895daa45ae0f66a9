/* model.conf reader (Go config/config.go) and model builder (Go model/model.go). */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model.h"
#include "model/escape.h"
#include "model/gostr.h"
#include "common/file.h"

#define NSECTIONS 5
/* Slot TS_MODEL_MAX_KEYS holds the key one past the cap (e.g. "p17"), only to report it. */
#define NSLOTS (TS_MODEL_MAX_KEYS + 1)

static const struct {
    const char *name;
    char letter;
} k_sections[NSECTIONS] = {
    {"request_definition", 'r'}, {"policy_definition", 'p'}, {"role_definition", 'g'},
    {"policy_effect", 'e'},      {"matchers", 'm'},
};

static const char *const k_effects[] = {
    "some(where (p_eft == allow))",
    "!some(where (p_eft == deny))",
    "some(where (p_eft == allow)) && !some(where (p_eft == deny))",
    "priority(p_eft) || deny",
    "subjectPriority(p_eft) || deny",
};

typedef struct cfg_slot {
    char *value; /* NULL: never written; "" counts as absent, as Go's config lookup */
    int line;
} cfg_slot;

typedef struct reader {
    const char *name;
    cfg_slot slots[NSECTIONS][NSLOTS];
    const char *section; /* view into the source, as written between the brackets */
    size_t section_len;
    char *buf; /* the pending `key = value` entry */
    size_t len, cap;
    int entry_line; /* line where the pending entry started */
    ts_error *err;
} reader;

static const char *display_name(const char *name)
{
    return name ? name : "<input>";
}

static TS_PRINTF(4, 5) ts_status fail_at(reader *rd, ts_status code, int line, const char *fmt, ...)
{
    char where[128], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(where, sizeof where, "%s:%d", display_name(rd->name), line);
    return ts_error_set(rd->err, code, where, "%s", msg);
}

static ts_status buf_append(reader *rd, const char *s, size_t n)
{
    if (rd->len + n + 1 > rd->cap) {
        size_t cap = rd->cap ? rd->cap : 256;
        char *nb;
        while (cap < rd->len + n + 1)
            cap *= 2;
        nb = realloc(rd->buf, cap);
        if (!nb)
            return ts_error_set(rd->err, TS_ENOMEM, display_name(rd->name), "out of memory");
        rd->buf = nb;
        rd->cap = cap;
    }
    memcpy(rd->buf + rd->len, s, n);
    rd->len += n;
    return TS_OK;
}

/* @return the slot index (0 for "p", 1 for "p2", ...) for a key of section letter @p c, or
 * -1 for a key Go's loader never looks up (e.g. "p1", "p02", "x"). */
static int key_slot(char c, const char *k, size_t n)
{
    size_t num = 0;
    if (n == 0 || k[0] != c)
        return -1;
    if (n == 1)
        return 0;
    if (k[1] == '0' || n > 4)
        return -1;
    for (size_t i = 1; i < n; i++) {
        if (k[i] < '0' || k[i] > '9')
            return -1;
        num = num * 10 + (size_t)(k[i] - '0');
    }
    if (num < 2 || num > NSLOTS)
        return -1;
    return (int)num - 1;
}

/* Go's Config.write: split the pending entry at the first '=' and store it. */
static ts_status flush_entry(reader *rd, int line_num)
{
    const char *eq, *k, *v;
    size_t kn, vn;
    if (rd->len == 0)
        return TS_OK;
    eq = memchr(rd->buf, '=', rd->len);
    if (!eq) {
        int shown = rd->len > 80 ? 80 : (int)rd->len;
        return fail_at(rd, TS_EPARSE, line_num, "parse the content error : line %d , %.*s = ?",
                       line_num, shown, rd->buf);
    }
    k = rd->buf;
    kn = (size_t)(eq - rd->buf);
    v = eq + 1;
    vn = rd->len - kn - 1;
    ts_authz__go_trim_space(&k, &kn);
    ts_authz__go_trim_space(&v, &vn);
    for (int s = 0; s < NSECTIONS; s++) {
        int slot;
        cfg_slot *cs;
        char *copy;
        if (strlen(k_sections[s].name) != rd->section_len ||
            memcmp(k_sections[s].name, rd->section, rd->section_len) != 0)
            continue;
        slot = key_slot(k_sections[s].letter, k, kn);
        if (slot < 0)
            break;
        copy = malloc(vn + 1);
        if (!copy)
            return ts_error_set(rd->err, TS_ENOMEM, display_name(rd->name), "out of memory");
        if (vn)
            memcpy(copy, v, vn);
        copy[vn] = '\0';
        cs = &rd->slots[s][slot];
        free(cs->value); /* a later duplicate key overwrites, also across merged sections */
        cs->value = copy;
        cs->line = rd->entry_line;
        break;
    }
    rd->len = 0;
    return TS_OK;
}

static bool starts_comment(const char *s, size_t n)
{
    return n > 0 && (s[0] == '#' || s[0] == ';');
}

/* Go's Config.parseBuffer, line by line. Line numbers in errors follow Go: an entry is
 * reported at the line where it was found complete. */
static ts_status read_config(reader *rd, const char *text, size_t len)
{
    size_t pos = 0;
    int line_num = 0;
    bool can_write = false;
    ts_status st;
    for (;;) {
        const char *line, *nl;
        size_t n;
        if (can_write) {
            if ((st = flush_entry(rd, line_num)) != TS_OK)
                return st;
            can_write = false;
        }
        line_num++;
        if (pos >= len) {
            /* EOF with a continued entry still pending. */
            return flush_entry(rd, line_num);
        }
        line = text + pos;
        nl = memchr(line, '\n', len - pos);
        n = nl ? (size_t)(nl - line) : len - pos;
        pos += n + (nl ? 1 : 0);
        /* The limit is on the content: the CR of a CRLF ending does not count. */
        if (n - (n > 0 && line[n - 1] == '\r') > TS_AUTHZ_MAX_LINE_BYTES)
            return fail_at(rd, TS_ELIMIT, line_num, "line longer than %u bytes",
                           TS_AUTHZ_MAX_LINE_BYTES);
        if (memchr(line, '\0', n))
            return fail_at(rd, TS_EPARSE, line_num, "NUL byte in model text");
        ts_authz__go_trim_space(&line, &n);
        if (n == 0 || starts_comment(line, n)) {
            can_write = true;
            continue;
        }
        if (line[0] == '[' && line[n - 1] == ']' && n >= 2) {
            if (rd->len > 0) {
                if ((st = flush_entry(rd, line_num)) != TS_OK)
                    return st;
                can_write = false;
            }
            /* Not trimmed inside the brackets, as Go: "[ matchers ]" is another section. */
            rd->section = line + 1;
            rd->section_len = n - 2;
            continue;
        }
        {
            const char *p = line;
            size_t pn = n, end;
            bool cont = line[n - 1] == '\\';
            if (cont) {
                pn = n - 1;
                ts_authz__go_trim_space(&p, &pn);
            } else {
                can_write = true;
            }
            /* The comment cut comes after the continuation check and ignores quotes. */
            for (end = 0; end < pn; end++)
                if (p[end] == '#' || p[end] == ';')
                    break;
            if (rd->len == 0)
                rd->entry_line = line_num;
            if ((st = buf_append(rd, p, end)) != TS_OK)
                return st;
            /* Continued lines are joined with exactly one space; a comment cut drops it. */
            if (cont && end == pn && (st = buf_append(rd, " ", 1)) != TS_OK)
                return st;
        }
    }
}

/* ------------------------------------------------------------------------------------------ */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        if (n)
            memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static ts_status split_tokens(ts_model_def *d, ts_error *err, const char *where)
{
    const char *v = d->value;
    size_t count = 1, klen = strlen(d->key);
    for (const char *q = v; *q; q++)
        if (*q == ',')
            count++;
    if (count > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, where, "%s has %zu tokens (at most %u allowed)", d->key,
                            count, TS_AUTHZ_MAX_FIELDS);
    d->tokens = calloc(count, sizeof *d->tokens);
    if (!d->tokens)
        return ts_error_set(err, TS_ENOMEM, where, "out of memory");
    for (size_t i = 0; i < count; i++) {
        const char *comma = strchr(v, ',');
        const char *t = v;
        size_t tn = comma ? (size_t)(comma - v) : strlen(v);
        char *tok;
        ts_authz__go_trim_space(&t, &tn);
        tok = malloc(klen + 1 + tn + 1);
        if (!tok)
            return ts_error_set(err, TS_ENOMEM, where, "out of memory");
        memcpy(tok, d->key, klen);
        tok[klen] = '_';
        if (tn)
            memcpy(tok + klen + 1, t, tn);
        tok[klen + 1 + tn] = '\0';
        d->tokens[i] = tok;
        d->ntokens = i + 1;
        v = comma ? comma + 1 : v + strlen(v);
    }
    return TS_OK;
}

/* Go's util.RemoveComments after EscapeAssertion; the config reader already cut at '#', so
 * this only matters for consistency with Go's code path. */
static void remove_comments(char *s)
{
    char *hash = strchr(s, '#');
    if (hash) {
        const char *p = s;
        size_t n = (size_t)(hash - s);
        ts_authz__go_trim_space(&p, &n);
        memmove(s, p, n);
        s[n] = '\0';
    }
}

static ts_status build_def(ts_model_def *d, char letter, const char *name, ts_error *err)
{
    char where[128];
    snprintf(where, sizeof where, "%s:%d", display_name(name), d->line);
    switch (letter) {
    case 'r':
    case 'p':
        return split_tokens(d, err, where);
    case 'g': {
        size_t n = 0, items = 1;
        /* Go counts every '_' in the value, so a condition group "(_, _)" adds to the count:
         * a rule needs that many fields, the group's are the link condition's parameters. */
        for (const char *q = d->value; *q; q++) {
            if (*q == '_')
                n++;
            else if (*q == ',')
                items++;
        }
        d->g_arity = n;
        if (n < 2)
            return ts_error_set(err, TS_EPARSE, where,
                                "the number of \"_\" in role definition should be at least 2");
        /* Go's getParamsToken: the first "(...)" group, split at commas. */
        const char *open = strchr(d->value, '(');
        const char *close = open ? strchr(open, ')') : NULL;
        d->g_nparams = 0;
        if (close) {
            d->g_nparams = 1;
            for (const char *q = open; q < close; q++)
                if (*q == ',')
                    d->g_nparams++;
        }
        if (d->g_nparams >= items || (d->g_nparams && items - d->g_nparams < 2))
            return ts_error_set(err, TS_EPARSE, where,
                                "a role definition needs two fields before its condition group");
        d->g_ntokens = items - d->g_nparams;
        if (d->g_nparams && (d->g_ntokens > 3 || d->g_arity != items))
            return ts_error_set(err, TS_EPARSE, where,
                                "a conditional role definition is \"_, _, (_, ...)\" or "
                                "\"_, _, _, (_, ...)\"");
        return TS_OK;
    }
    case 'e': {
        char *esc = ts_authz__model_escape_assertion(d->value, strlen(d->value));
        if (!esc)
            return ts_error_set(err, TS_ENOMEM, where, "out of memory");
        remove_comments(esc);
        for (size_t i = 0; i < sizeof k_effects / sizeof k_effects[0]; i++) {
            if (strcmp(esc, k_effects[i]) == 0) {
                d->effect = (ts_effect_kind)i;
                free(esc);
                return TS_OK;
            }
        }
        free(esc);
        return ts_error_set(err, TS_EPARSE, where, "unsupported effect: %.160s", d->value);
    }
    case 'm': {
        size_t n = strlen(d->value);
        if (n > TS_AUTHZ_MAX_EXPR_BYTES)
            return ts_error_set(err, TS_ELIMIT, where, "matcher longer than %u bytes",
                                TS_AUTHZ_MAX_EXPR_BYTES);
        d->matcher = ts_authz__model_escape_matcher(d->value, n);
        if (!d->matcher)
            return ts_error_set(err, TS_ENOMEM, where, "out of memory");
        return TS_OK;
    }
    default:
        return TS_OK;
    }
}

static ts_model_section *section_of(ts_authz_model *m, int s)
{
    switch (s) {
    case 0:
        return &m->r;
    case 1:
        return &m->p;
    case 2:
        return &m->g;
    case 3:
        return &m->e;
    default:
        return &m->m;
    }
}

static void reader_cleanup(reader *rd)
{
    for (int s = 0; s < NSECTIONS; s++)
        for (int i = 0; i < NSLOTS; i++)
            free(rd->slots[s][i].value);
    free(rd->buf);
}

/* Go's loadSection: "x", "x2", "x3", ... up to the first missing (or empty) key. */
static ts_status take_section(reader *rd, ts_authz_model *m, int s)
{
    ts_model_section *sec = section_of(m, s);
    for (int i = 0; i < NSLOTS; i++) {
        cfg_slot *cs = &rd->slots[s][i];
        ts_model_def *d;
        if (!cs->value || cs->value[0] == '\0')
            return TS_OK;
        if (i == TS_MODEL_MAX_KEYS)
            return fail_at(rd, TS_ELIMIT, cs->line, "more than %d definitions in [%s]",
                           TS_MODEL_MAX_KEYS, k_sections[s].name);
        d = &sec->defs[i];
        if (i == 0)
            snprintf(d->key, sizeof d->key, "%c", k_sections[s].letter);
        else
            snprintf(d->key, sizeof d->key, "%c%d", k_sections[s].letter, i + 1);
        d->value = cs->value; /* ownership moves to the model */
        cs->value = NULL;
        d->line = cs->line;
        sec->n = (size_t)i + 1;
    }
    return TS_OK;
}

static ts_status build_model(reader *rd, ts_authz_model *m)
{
    static const int required[] = {0, 1, 3, 4}; /* r, p, e, m: Go's order */
    char missing[128];
    size_t mlen = 0;
    ts_status st;
    for (int s = 0; s < NSECTIONS; s++)
        if ((st = take_section(rd, m, s)) != TS_OK)
            return st;
    missing[0] = '\0';
    for (size_t i = 0; i < sizeof required / sizeof required[0]; i++) {
        if (section_of(m, required[i])->n == 0) {
            int w = snprintf(missing + mlen, sizeof missing - mlen, "%s%s", mlen ? "," : "",
                             k_sections[required[i]].name);
            if (w > 0)
                mlen += (size_t)w;
        }
    }
    if (mlen)
        return ts_error_set(rd->err, TS_EPARSE, display_name(rd->name),
                            "missing required sections: %s", missing);
    for (int s = 0; s < NSECTIONS; s++) {
        ts_model_section *sec = section_of(m, s);
        for (size_t i = 0; i < sec->n; i++)
            if ((st = build_def(&sec->defs[i], k_sections[s].letter, rd->name, rd->err)) != TS_OK)
                return st;
    }
    return TS_OK;
}

TS_API ts_authz_model *ts_authz_model_parse(const char *text, size_t len, const char *name,
                                            ts_error *err)
{
    reader rd;
    ts_authz_model *m;
    const char *body = text;
    size_t blen = len;
    ts_status st;
    if (!text && len > 0) {
        ts_error_set(err, TS_EINVAL, "ts_authz_model_parse", "text is NULL");
        return NULL;
    }
    if (len > TS_AUTHZ_MAX_MODEL_BYTES) {
        ts_error_set(err, TS_ELIMIT, display_name(name), "model text is %zu bytes (at most %u)",
                     len, TS_AUTHZ_MAX_MODEL_BYTES);
        return NULL;
    }
    m = calloc(1, sizeof *m);
    if (!m) {
        ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
        return NULL;
    }
    m->text = dup_n(text ? text : "", len);
    m->text_len = len;
    if (name)
        m->name = dup_n(name, strlen(name));
    if (!m->text || (name && !m->name)) {
        ts_authz_model_free(m);
        ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
        return NULL;
    }
    /* A UTF-8 byte order mark is skipped (Go would read it as part of the first line). */
    if (blen >= 3 && memcmp(body, "\xEF\xBB\xBF", 3) == 0) {
        body += 3;
        blen -= 3;
    }
    memset(&rd, 0, sizeof rd);
    rd.name = name;
    rd.err = err;
    rd.section = "";
    st = read_config(&rd, body, blen);
    if (st == TS_OK)
        st = build_model(&rd, m);
    reader_cleanup(&rd);
    if (st != TS_OK) {
        ts_authz_model_free(m);
        return NULL;
    }
    return m;
}

TS_API ts_authz_model *ts_authz_model_load_file(const char *path, ts_error *err)
{
    if (!path) {
        ts_error_set(err, TS_EINVAL, "ts_authz_model_load_file", "path is NULL");
        return NULL;
    }
    char *buf = NULL;
    size_t n = 0;
    if (ts_common__read_file(path, TS_AUTHZ_MAX_MODEL_BYTES, 0, &buf, &n, err) != TS_OK)
        return NULL;
    ts_authz_model *m = ts_authz_model_parse(buf, n, path, err);
    free(buf);
    return m;
}
