/* Values at run time: the text of a header, a body field or a subject token at the moment a
 * request is made (a literal, a rendered template, another source's current token, a file, an
 * environment variable), and copies of tokens out of the slots. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "agent_template.h"
#include "common/file.h"
#include "common/mem.h"
#include "rt_internal.h"

void ts_agent__secret_free(char *s, size_t n)
{
    if (!s)
        return;
    ts_common__memzero(s, n);
    free(s);
}

ts_status ts_agent__token_copy(ts_agent__graph *g, size_t source, size_t token, char **value,
                               size_t *len, int64_t *expires_at)
{
    ts_agent__slot *s = ts_agent__graph_slot(g, source);
    int64_t now = ts_agent__graph_now_ms(g) / 1000;
    ts_status st = TS_ENOTFOUND;
    pthread_mutex_lock(&s->mu);
    if (s->valid && s->tokens[token].expires_at > now) {
        const ts_agent__token *t = &s->tokens[token];
        char *c = malloc(t->len + 1);
        if (!c)
            st = TS_ENOMEM;
        else {
            memcpy(c, t->value, t->len + 1);
            *value = c;
            *len = t->len;
            if (expires_at)
                *expires_at = t->expires_at;
            st = TS_OK;
        }
    }
    pthread_mutex_unlock(&s->mu);
    return st;
}

/* The copies a template's render borrows: each lookup copies a token, freed (wiped) after. */
typedef struct render_ctx {
    ts_agent__graph *g;
    char *copies[64];
    size_t lens[64];
    size_t n;
} render_ctx;

static ts_status lookup(const ts_agent_template_ref *ref, const char **value, size_t *len, void *ud)
{
    render_ctx *rc = ud;
    const ts_agent_config *cfg = ts_agent__graph_config(rc->g);
    if (ref->source_index >= cfg->n_sources || rc->n >= 64)
        return TS_ENOTFOUND;
    size_t tok = ts_agent_source_token(&cfg->sources[ref->source_index], ref->token_id);
    if (tok == SIZE_MAX)
        return TS_ENOTFOUND;
    char *c;
    size_t l;
    ts_status st = ts_agent__token_copy(rc->g, ref->source_index, tok, &c, &l, NULL);
    if (st != TS_OK)
        return st;
    rc->copies[rc->n] = c;
    rc->lens[rc->n++] = l;
    *value = c;
    *len = l;
    return TS_OK;
}

static ts_status with_prefix(const char *prefix, const char *s, size_t n, char **out, size_t *len,
                             ts_error *err)
{
    size_t pl = strlen(prefix);
    char *c = malloc(pl + n + 1);
    if (!c)
        return ts_error_set(err, TS_ENOMEM, "agent", "out of memory");
    memcpy(c, prefix, pl);
    memcpy(c + pl, s, n);
    c[pl + n] = '\0';
    *out = c;
    *len = pl + n;
    return TS_OK;
}

ts_status ts_agent__value_text(ts_agent__graph *g, const ts_agent_value *v, char **out, size_t *len,
                               ts_error *err)
{
    switch (v->kind) {
    case TS_AGENT_VALUE_LITERAL:
        return with_prefix("", v->text, strlen(v->text), out, len, err);
    case TS_AGENT_VALUE_TEMPLATE: {
        render_ctx rc = {.g = g, .n = 0};
        char *r = NULL;
        size_t rl = 0;
        ts_status st = ts_agent_template_render(v->tmpl, lookup, &rc, &r, &rl, err);
        for (size_t i = 0; i < rc.n; i++)
            ts_agent__secret_free(rc.copies[i], rc.lens[i]);
        if (st != TS_OK)
            return st == TS_ENOMEM ? st : TS_ENOTFOUND;
        st = with_prefix("", r, rl, out, len, err);
        ts_agent_template_output_free(r, rl);
        return st;
    }
    case TS_AGENT_VALUE_SOURCE: {
        const ts_agent_config *cfg = ts_agent__graph_config(g);
        size_t tok = ts_agent_source_token(&cfg->sources[v->source_index], v->token_id);
        char *c;
        size_t l;
        ts_status st = tok == SIZE_MAX
                           ? TS_ENOTFOUND
                           : ts_agent__token_copy(g, v->source_index, tok, &c, &l, NULL);
        if (st != TS_OK)
            return st == TS_ENOMEM
                       ? ts_error_set(err, st, "agent", "out of memory")
                       : ts_error_set(err, TS_ENOTFOUND, v->source_id, "no valid token %s.%s yet",
                                      v->source_id, v->token_id);
        st = with_prefix(v->prefix, c, l, out, len, err);
        ts_agent__secret_free(c, l);
        return st;
    }
    case TS_AGENT_VALUE_FILE: {
        char *c;
        size_t l;
        ts_status st = ts_common__read_file(v->text, 65536, TS_COMMON__READ_NO_NUL, &c, &l, err);
        if (st != TS_OK)
            return st == TS_ENOMEM ? st : TS_ENOTFOUND;
        size_t cut = l;
        while (cut > 0 && (c[cut - 1] == '\n' || c[cut - 1] == '\r'))
            cut--; /* trailing line breaks are not part of a secret */
        st = with_prefix(v->prefix, c, cut, out, len, err);
        ts_agent__secret_free(c, l);
        return st;
    }
    case TS_AGENT_VALUE_ENV: {
        const char *e = getenv(v->text);
        if (!e)
            return ts_error_set(err, TS_ENOTFOUND, v->text, "environment variable %s is not set",
                                v->text);
        return with_prefix(v->prefix, e, strlen(e), out, len, err);
    }
    }
    return ts_error_set(err, TS_EINTERNAL, "agent", "unknown kind of value");
}
