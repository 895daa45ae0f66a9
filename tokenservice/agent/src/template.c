/* `{{source_id.token_id}}` templates: parsed once into text parts and references, rendered by
 * the runtime with a lookup callback. */
#include "agent_template.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common/mem.h"
#include "config_internal.h"

#define ID_MAX 64
#define OUTPUT_MAX (1024u * 1024u)

typedef struct part {
    size_t start, len; /* literal text: a slice of the template text */
    size_t ref;        /* SIZE_MAX for literal text, else an index into refs */
} part;

struct ts_agent_template {
    char *text;
    size_t len;
    part *parts;
    size_t n_parts;
    ts_agent_template_ref *refs;
    size_t n_refs;
    char *ids; /* the ids of every reference, NUL-separated */
};

static bool id_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
           c == '-';
}

static size_t id_span(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && id_char(s[i]))
        i++;
    return i;
}

static size_t blank_span(const char *s, size_t n)
{
    size_t i = 0;
    while (i < n && (s[i] == ' ' || s[i] == '\t'))
        i++;
    return i;
}

/* "source.token" with optional blanks around it, in s[0..n): the spans of both ids. */
static bool parse_ref(const char *s, size_t n, size_t *src, size_t *src_len, size_t *tok,
                      size_t *tok_len)
{
    size_t i = blank_span(s, n);
    *src = i;
    *src_len = id_span(s + i, n - i);
    i += *src_len;
    if (*src_len == 0 || *src_len > ID_MAX || i >= n || s[i] != '.')
        return false;
    i++;
    *tok = i;
    *tok_len = id_span(s + i, n - i);
    i += *tok_len;
    if (*tok_len == 0 || *tok_len > ID_MAX)
        return false;
    i += blank_span(s + i, n - i);
    return i == n;
}

void ts_agent_template_free(ts_agent_template *t)
{
    if (!t)
        return;
    free(t->text);
    free(t->parts);
    free(t->refs);
    free(t->ids);
    free(t);
}

/* The next `{{` at or after @p from (len when none), and the `}}` that closes it (len when
 * none). */
static void next_ref(const char *text, size_t len, size_t from, size_t *open, size_t *close)
{
    size_t o = from;
    while (o + 1 < len && !(text[o] == '{' && text[o + 1] == '{'))
        o++;
    if (o + 1 >= len) {
        *open = *close = len;
        return;
    }
    size_t c = o + 2;
    while (c + 1 < len && !(text[c] == '}' && text[c + 1] == '}'))
        c++;
    *open = o;
    *close = c + 1 < len ? c : len;
}

/* Count the references and the parts, or say where the text is malformed. */
static ts_status scan(const char *text, size_t len, size_t *n_refs, size_t *n_parts, ts_error *err)
{
    size_t refs = 0, parts = 0;
    if (len && memchr(text, '\0', len))
        return ts_error_set(err, TS_EPARSE, "template", "NUL byte in the template");
    for (size_t i = 0; i < len;) {
        size_t o, c;
        next_ref(text, len, i, &o, &c);
        if (o > i)
            parts++;
        if (o == len)
            break;
        if (c == len)
            return ts_error_set(err, TS_EPARSE, "template", "unterminated '{{' at byte %zu", o);
        size_t a, al, b, bl;
        if (!parse_ref(text + o + 2, c - o - 2, &a, &al, &b, &bl))
            return ts_error_set(err, TS_EPARSE, "template",
                                "'{{...}}' at byte %zu is not {{source_id.token_id}}", o);
        refs++;
        parts++;
        i = c + 2;
    }
    *n_refs = refs;
    *n_parts = parts;
    return TS_OK;
}

ts_status ts_agent_template_parse(const char *text, size_t len, ts_agent_template **out,
                                  ts_error *err)
{
    *out = NULL;
    if (!text && len)
        return ts_error_set(err, TS_EINVAL, "template", "NULL text");
    size_t n_refs = 0, n_parts = 0;
    ts_status s = scan(text, len, &n_refs, &n_parts, err);
    if (s != TS_OK)
        return s;
    ts_agent_template *t = calloc(1, sizeof *t);
    if (!t)
        return ts_error_set(err, TS_ENOMEM, "template", "out of memory");
    t->text = malloc(len + 1);
    t->parts = calloc(n_parts ? n_parts : 1, sizeof *t->parts);
    t->refs = calloc(n_refs ? n_refs : 1, sizeof *t->refs);
    t->ids = malloc(len + 1); /* the ids with their NULs fit in the text they come from */
    if (!t->text || !t->parts || !t->refs || !t->ids) {
        ts_agent_template_free(t);
        return ts_error_set(err, TS_ENOMEM, "template", "out of memory");
    }
    if (len)
        memcpy(t->text, text, len);
    t->text[len] = '\0';
    t->len = len;

    char *ids = t->ids;
    for (size_t i = 0; i < len;) {
        size_t o, c;
        next_ref(t->text, len, i, &o, &c);
        if (o > i)
            t->parts[t->n_parts++] = (part){.start = i, .len = o - i, .ref = SIZE_MAX};
        if (o == len)
            break;
        size_t a, al, b, bl;
        (void)parse_ref(t->text + o + 2, c - o - 2, &a, &al, &b, &bl);
        ts_agent_template_ref *r = &t->refs[t->n_refs];
        memcpy(ids, t->text + o + 2 + a, al);
        ids[al] = '\0';
        r->source_id = ids;
        ids += al + 1;
        memcpy(ids, t->text + o + 2 + b, bl);
        ids[bl] = '\0';
        r->token_id = ids;
        ids += bl + 1;
        r->offset = o;
        r->source_index = SIZE_MAX;
        t->parts[t->n_parts++] = (part){.ref = t->n_refs++};
        i = c + 2;
    }
    *out = t;
    return TS_OK;
}

const char *ts_agent_template_text(const ts_agent_template *t)
{
    return t ? t->text : NULL;
}

size_t ts_agent_template_ref_count(const ts_agent_template *t)
{
    return t ? t->n_refs : 0;
}

const ts_agent_template_ref *ts_agent_template_ref_at(const ts_agent_template *t, size_t i)
{
    return t && i < t->n_refs ? &t->refs[i] : NULL;
}

/* The configuration's validator records where each reference's source is. */
void ts_agent__template_set_source_index(ts_agent_template *t, size_t ref, size_t index)
{
    if (t && ref < t->n_refs)
        t->refs[ref].source_index = index;
}

void ts_agent_template_output_free(char *s, size_t len)
{
    if (!s)
        return;
    ts_common__memzero(s, len);
    free(s);
}

static ts_status no_value(const ts_agent_template_ref *r, ts_status code, ts_error *err)
{
    char where[2 * ID_MAX + 8];
    snprintf(where, sizeof where, "{{%s.%s}}", r->source_id, r->token_id);
    return ts_error_set(err, code == TS_OK ? TS_ENOTFOUND : code, where, "no value for %s", where);
}

ts_status ts_agent_template_render(const ts_agent_template *t, ts_agent_template_lookup_fn lookup,
                                   void *ud, char **out, size_t *out_len, ts_error *err)
{
    *out = NULL;
    if (out_len)
        *out_len = 0;
    if (!t || (!lookup && t->n_refs))
        return ts_error_set(err, TS_EINVAL, "template", "NULL template or lookup");
    /* Values are looked up once each and kept for the copy, so that a token rotating between
     * two lookups cannot make the length and the copy disagree. */
    const char **vals = calloc(t->n_refs ? t->n_refs : 1, sizeof *vals);
    size_t *lens = calloc(t->n_refs ? t->n_refs : 1, sizeof *lens);
    if (!vals || !lens) {
        free(vals);
        free(lens);
        return ts_error_set(err, TS_ENOMEM, "template", "out of memory");
    }
    ts_status s = TS_OK;
    size_t total = 0;
    for (size_t i = 0; i < t->n_parts && s == TS_OK; i++) {
        const part *p = &t->parts[i];
        size_t n = p->len;
        if (p->ref != SIZE_MAX) {
            const ts_agent_template_ref *r = &t->refs[p->ref];
            ts_status ls = lookup(r, &vals[p->ref], &lens[p->ref], ud);
            if (ls != TS_OK || (!vals[p->ref] && lens[p->ref])) {
                s = no_value(r, ls, err);
                break;
            }
            n = lens[p->ref];
        }
        if (n > OUTPUT_MAX - total)
            s = ts_error_set(err, TS_ELIMIT, "template", "rendered text larger than %u bytes",
                             OUTPUT_MAX);
        else
            total += n;
    }
    char *buf = s == TS_OK ? malloc(total + 1) : NULL;
    if (s == TS_OK && !buf)
        s = ts_error_set(err, TS_ENOMEM, "template", "out of memory");
    if (s == TS_OK) {
        size_t at = 0;
        for (size_t i = 0; i < t->n_parts; i++) {
            const part *p = &t->parts[i];
            const char *src = p->ref == SIZE_MAX ? t->text + p->start : vals[p->ref];
            size_t n = p->ref == SIZE_MAX ? p->len : lens[p->ref];
            if (n)
                memcpy(buf + at, src, n);
            at += n;
        }
        buf[at] = '\0';
        *out = buf;
        if (out_len)
            *out_len = at;
    }
    free(vals);
    free(lens);
    return s;
}
