/* Building a snapshot, part one: copy the rules into the snapshot's arena, deduplicated, after
 * validating each one (its definition exists, its field count fits, Go's error messages naming
 * the rule's file and line). */
#include "snapshot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

void ts_authz__snapshot_where_of(const ts_policy_rule *r, char *buf, size_t cap)
{
    if (r->origin)
        snprintf(buf, cap, "%s:%d", r->origin, r->line);
    else
        snprintf(buf, cap, "rule added through the API");
}

/* Casbin prints rules as Go's fmt of a []string: "[a b c]". */
static void format_go_list(char *buf, size_t cap, char *const *fields, size_t n)
{
    size_t off = 0;
    int w = snprintf(buf, cap, "[");
    off = w > 0 ? (size_t)w : 0;
    for (size_t i = 0; i < n && off < cap; i++) {
        w = snprintf(buf + off, cap - off, "%s%s", i ? " " : "", fields[i]);
        if (w < 0)
            break;
        off += (size_t)w;
    }
    if (off < cap)
        snprintf(buf + off, cap - off, "]");
}

/* Only policy and role definitions hold rules. */
static const ts_model_section *section_of(const ts_authz_model *m, char sec)
{
    return sec == 'p' ? &m->p : sec == 'g' ? &m->g : NULL;
}

size_t ts_authz__snapshot_def_index(const ts_model_section *s, const char *key)
{
    for (size_t i = 0; i < s->n; i++)
        if (strcmp(s->defs[i].key, key) == 0)
            return i;
    return TS_NO_FIELD;
}

/* ---- rule copying and validation ------------------------------------------------------ */

static char *arena_dup(ts_arena *a, const char *s)
{
    return ts_authz__arena_strndup(a, s, strlen(s));
}

ts_status ts_authz__snapshot_copy_rules(ts_snapshot *s, const ts_policy_rule *rules, size_t nrules,
                                        ts_error *err)
{
    ts_strmap seen;
    ts_authz__strmap_init(&seen);
    ts_arena keys;
    ts_authz__arena_init(&keys, 1u << 16);
    ts_status st = TS_OK;
    s->all = ts_authz__arena_alloc(&s->arena, (nrules ? nrules : 1) * sizeof *s->all);
    const char *last_origin_in = NULL;
    char *last_origin_out = NULL;
    if (!s->all) {
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nrules; i++) {
        const ts_policy_rule *r = &rules[i];
        char where[120];
        ts_authz__snapshot_where_of(r, where, sizeof where);
        const ts_model_section *sec = r->ptype[0] ? section_of(s->model, r->ptype[0]) : NULL;
        size_t di = sec ? ts_authz__snapshot_def_index(sec, r->ptype) : TS_NO_FIELD;
        if (!sec || di == TS_NO_FIELD) {
            st = ts_error_set(err, TS_EPARSE, where, "missing required definition %s in section %c",
                              r->ptype, r->ptype[0] ? r->ptype[0] : '?');
            goto out;
        }
        const ts_model_def *d = &sec->defs[di];
        if (r->ptype[0] == 'p' && r->nfields != d->ntokens) {
            char list[200];
            format_go_list(list, sizeof list, r->fields, r->nfields);
            st = ts_error_set(err, TS_EPARSE, where,
                              "invalid policy rule size: expected %zu, got %zu, rule: %s",
                              d->ntokens, r->nfields, list);
            goto out;
        }
        if (r->ptype[0] == 'g' && r->nfields < d->g_arity) {
            st = ts_error_set(err, TS_EPARSE, where,
                              "grouping policy elements do not meet role definition: expected "
                              "at least %zu fields, got %zu",
                              d->g_arity, r->nfields);
            goto out;
        }
        /* Exact duplicates are skipped, as Casbin does. The key joins fields with a byte that
         * cannot be confused with field content boundaries. */
        size_t klen = strlen(r->ptype) + 1;
        for (size_t f = 0; f < r->nfields; f++)
            klen += strlen(r->fields[f]) + 1;
        char *key = ts_authz__arena_alloc(&keys, klen);
        if (!key) {
            st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        size_t off = 0;
        size_t pl = strlen(r->ptype);
        memcpy(key, r->ptype, pl);
        off = pl;
        for (size_t f = 0; f < r->nfields; f++) {
            key[off++] = '\x1f';
            size_t fl = strlen(r->fields[f]);
            memcpy(key + off, r->fields[f], fl);
            off += fl;
        }
        int put = ts_authz__strmap_put(&seen, key, off, (uint32_t)i, NULL);
        if (put < 0) {
            st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        if (put == 0)
            continue;
        ts_policy_rule *c = &s->all[s->nall];
        c->ptype = arena_dup(&s->arena, r->ptype);
        c->nfields = r->nfields;
        c->fields =
            ts_authz__arena_alloc(&s->arena, (r->nfields ? r->nfields : 1) * sizeof *c->fields);
        c->line = r->line;
        c->origin = NULL;
        if (r->origin) {
            if (r->origin != last_origin_in) {
                last_origin_in = r->origin;
                last_origin_out = arena_dup(&s->arena, r->origin);
            }
            c->origin = last_origin_out;
        }
        if (!c->ptype || !c->fields || (r->origin && !c->origin)) {
            st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
            goto out;
        }
        for (size_t f = 0; f < r->nfields; f++) {
            c->fields[f] = arena_dup(&s->arena, r->fields[f]);
            if (!c->fields[f]) {
                st = ts_error_set(err, TS_ENOMEM, where, "out of memory");
                goto out;
            }
        }
        s->nall++;
    }
out:
    ts_authz__strmap_cleanup(&seen);
    ts_authz__arena_cleanup(&keys);
    return st;
}
