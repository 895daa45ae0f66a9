/* Model lifetime and lookup. */
#include <stdlib.h>
#include <string.h>

#include "model.h"

const ts_model_def *ts_authz__model_find(const ts_model_section *s, const char *key)
{
    if (!s || !key)
        return NULL;
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->defs[i].key, key) == 0)
            return &s->defs[i];
    return NULL;
}

static void def_cleanup(ts_model_def *d)
{
    free(d->value);
    for (size_t i = 0; i < d->ntokens; i++)
        free(d->tokens[i]);
    free(d->tokens);
    free(d->matcher);
}

static void section_cleanup(ts_model_section *s)
{
    /* Every slot is zero-initialised, so partially built definitions are freed too. */
    for (size_t i = 0; i < TS_MODEL_MAX_KEYS; i++)
        def_cleanup(&s->defs[i]);
}

TS_API void ts_authz_model_free(ts_authz_model *m)
{
    if (!m)
        return;
    section_cleanup(&m->r);
    section_cleanup(&m->p);
    section_cleanup(&m->g);
    section_cleanup(&m->e);
    section_cleanup(&m->m);
    free(m->name);
    free(m->text);
    free(m);
}

static char *dup_z(const char *s)
{
    size_t n;
    char *d;
    if (!s)
        return NULL;
    n = strlen(s);
    d = malloc(n + 1);
    if (d)
        memcpy(d, s, n + 1);
    return d;
}

static int def_copy(ts_model_def *dst, const ts_model_def *src)
{
    memcpy(dst->key, src->key, sizeof dst->key);
    dst->line = src->line;
    dst->g_arity = src->g_arity;
    dst->g_nparams = src->g_nparams;
    dst->g_ntokens = src->g_ntokens;
    dst->effect = src->effect;
    if (src->value && !(dst->value = dup_z(src->value)))
        return -1;
    if (src->matcher && !(dst->matcher = dup_z(src->matcher)))
        return -1;
    if (src->ntokens) {
        dst->tokens = calloc(src->ntokens, sizeof *dst->tokens);
        if (!dst->tokens)
            return -1;
        for (size_t i = 0; i < src->ntokens; i++) {
            if (!(dst->tokens[i] = dup_z(src->tokens[i])))
                return -1;
            dst->ntokens = i + 1;
        }
    }
    return 0;
}

static int section_copy(ts_model_section *dst, const ts_model_section *src)
{
    for (size_t i = 0; i < src->n; i++) {
        if (def_copy(&dst->defs[i], &src->defs[i]) != 0)
            return -1;
        dst->n = i + 1;
    }
    return 0;
}

ts_authz_model *ts_authz__model_clone(const ts_authz_model *m)
{
    ts_authz_model *c;
    if (!m)
        return NULL;
    c = calloc(1, sizeof *c);
    if (!c)
        return NULL;
    if ((m->name && !(c->name = dup_z(m->name))) || !(c->text = malloc(m->text_len + 1)))
        goto oom;
    if (m->text_len)
        memcpy(c->text, m->text, m->text_len);
    c->text[m->text_len] = '\0';
    c->text_len = m->text_len;
    if (section_copy(&c->r, &m->r) || section_copy(&c->p, &m->p) || section_copy(&c->g, &m->g) ||
        section_copy(&c->e, &m->e) || section_copy(&c->m, &m->m))
        goto oom;
    return c;
oom:
    ts_authz_model_free(c);
    return NULL;
}
