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

/* Exact duplicates are skipped, as Casbin does; the first of equal rules stays. Duplicates
 * are found by sorting (rule hash, position) pairs, so that a million rules are four
 * sequential radix passes over 8 MB rather than a million random probes of a 16 MB hash
 * table; only rules with equal hashes are compared. */
static uint32_t rule_hash(const char *ptype, char *const *fields, size_t n)
{
    uint64_t h = ts_str_hash(ptype, strlen(ptype));
    for (size_t f = 0; f < n; f++) {
        size_t len = strlen(fields[f]);
        /* Mix the length in so that field boundaries count ("a,bc" != "ab,c"). */
        h = (h ^ (uint64_t)len) * 1099511628211ull;
        h ^= ts_str_hash(fields[f], len);
        h *= 0x9E3779B97F4A7C15ull;
    }
    return (uint32_t)(h >> 32);
}

static bool same_rule(const ts_policy_rule *a, const ts_policy_rule *b)
{
    if (a->nfields != b->nfields || strcmp(a->ptype, b->ptype) != 0)
        return false;
    for (size_t f = 0; f < a->nfields; f++)
        if (strcmp(a->fields[f], b->fields[f]) != 0)
            return false;
    return true;
}

/* Stable LSD radix sort of (hash << 32 | position) on the hash, 8 bits a pass. */
static void radix_sort_hi32(uint64_t *v, uint64_t *tmp, size_t n)
{
    for (unsigned shift = 32; shift < 64; shift += 8) {
        size_t count[257] = {0};
        for (size_t i = 0; i < n; i++)
            count[((v[i] >> shift) & 0xff) + 1]++;
        for (size_t b = 0; b < 256; b++)
            count[b + 1] += count[b];
        for (size_t i = 0; i < n; i++)
            tmp[count[(v[i] >> shift) & 0xff]++] = v[i];
        uint64_t *t = v;
        v = tmp;
        tmp = t;
    }
    /* Four passes: the sorted data is back in the caller's array. */
}

/* Mark in @p dup (one byte per rule) every rule equal to an earlier one. */
static int find_duplicates(const ts_policy_rule *rules, size_t n, unsigned char *dup)
{
    uint64_t *keys = malloc((n ? n : 1) * sizeof *keys);
    uint64_t *tmp = malloc((n ? n : 1) * sizeof *tmp);
    if (!keys || !tmp) {
        free(keys);
        free(tmp);
        return -1;
    }
    for (size_t i = 0; i < n; i++)
        keys[i] = (uint64_t)rule_hash(rules[i].ptype, rules[i].fields, rules[i].nfields) << 32 |
                  (uint64_t)i;
    radix_sort_hi32(keys, tmp, n);
    /* Within a run of equal hashes, positions ascend (the sort is stable). */
    for (size_t a = 0; a < n;) {
        size_t b = a + 1;
        while (b < n && keys[b] >> 32 == keys[a] >> 32)
            b++;
        for (size_t j = a + 1; j < b; j++) {
            const ts_policy_rule *rj = &rules[(uint32_t)keys[j]];
            for (size_t k = a; k < j; k++) {
                uint32_t ik = (uint32_t)keys[k];
                if (!dup[ik] && same_rule(&rules[ik], rj)) {
                    dup[(uint32_t)keys[j]] = 1;
                    break;
                }
            }
        }
        a = b;
    }
    free(keys);
    free(tmp);
    return 0;
}

static ts_status rule_error(ts_error *err, const ts_policy_rule *r, ts_status code, const char *msg)
{
    char where[120];
    ts_authz__snapshot_where_of(r, where, sizeof where);
    return ts_error_set(err, code, where, "%s", msg);
}

/* Casbin's checks of one rule against the model; @p *di is its definition's index. */
static ts_status validate_rule(const ts_snapshot *s, const ts_policy_rule *r, size_t *di,
                               ts_error *err)
{
    char where[120];
    const ts_model_section *sec = r->ptype[0] ? section_of(s->model, r->ptype[0]) : NULL;
    *di = sec ? ts_authz__snapshot_def_index(sec, r->ptype) : TS_NO_FIELD;
    if (!sec || *di == TS_NO_FIELD) {
        ts_authz__snapshot_where_of(r, where, sizeof where);
        return ts_error_set(err, TS_EPARSE, where, "missing required definition %s in section %c",
                            r->ptype, r->ptype[0] ? r->ptype[0] : '?');
    }
    const ts_model_def *d = &sec->defs[*di];
    if (r->ptype[0] == 'p' && r->nfields != d->ntokens) {
        char list[200];
        format_go_list(list, sizeof list, r->fields, r->nfields);
        ts_authz__snapshot_where_of(r, where, sizeof where);
        return ts_error_set(err, TS_EPARSE, where,
                            "invalid policy rule size: expected %zu, got %zu, rule: %s", d->ntokens,
                            (size_t)r->nfields, list);
    }
    if (r->ptype[0] == 'g' && r->nfields < d->g_arity) {
        ts_authz__snapshot_where_of(r, where, sizeof where);
        return ts_error_set(err, TS_EPARSE, where,
                            "grouping policy elements do not meet role definition: expected "
                            "at least %zu fields, got %zu",
                            d->g_arity, (size_t)r->nfields);
    }
    return TS_OK;
}

ts_status ts_authz__snapshot_copy_rules(ts_snapshot *s, const ts_policy_rule *rules, size_t nrules,
                                        ts_error *err)
{
    ts_status st = TS_OK;
    size_t nptrs = 0;
    if (nrules > UINT32_MAX)
        return ts_error_set(err, TS_ELIMIT, NULL, "more than %u rules", UINT32_MAX);
    /* Validation first, in order, so that the first bad rule is the one reported. */
    for (size_t i = 0; i < nrules; i++) {
        size_t di;
        st = validate_rule(s, &rules[i], &di, err);
        if (st != TS_OK)
            return st;
        nptrs += rules[i].nfields;
    }
    unsigned char *dup = calloc(nrules ? nrules : 1, 1);
    s->all = ts_authz__arena_alloc(&s->arena, (nrules ? nrules : 1) * sizeof *s->all);
    /* Every rule's field pointer array, back to back. */
    char **ptrs = ts_authz__arena_alloc(&s->arena, (nptrs ? nptrs : 1) * sizeof *ptrs);
    const char *last_origin_in = NULL;
    char *last_origin_out = NULL;
    if (!dup || !s->all || !ptrs || find_duplicates(rules, nrules, dup) != 0) {
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto out;
    }
    for (size_t i = 0; i < nrules; i++) {
        const ts_policy_rule *r = &rules[i];
        if (dup[i])
            continue;
        size_t di = ts_authz__snapshot_def_index(r->ptype[0] == 'p' ? &s->model->p : &s->model->g,
                                                 r->ptype);
        ts_policy_rule *c = &s->all[s->nall];
        /* The definition's key lives in the snapshot's model: one string for every rule. */
        c->ptype = (r->ptype[0] == 'p' ? &s->model->p : &s->model->g)->defs[di].key;
        c->nfields = r->nfields;
        c->fields = ptrs;
        c->owns_fields = false;
        ptrs += r->nfields;
        c->line = r->line;
        c->origin = NULL;
        if (r->origin) {
            if (r->origin != last_origin_in) {
                last_origin_in = r->origin;
                last_origin_out = arena_dup(&s->arena, r->origin);
            }
            c->origin = last_origin_out;
            if (!c->origin) {
                st = rule_error(err, r, TS_ENOMEM, "out of memory");
                goto out;
            }
        }
        /* A field equal to the same field of the rule before shares its string (a role's
         * members, a domain's rules and one action come line after line). */
        const ts_policy_rule *prev = s->nall ? &s->all[s->nall - 1] : NULL;
        if (prev && prev->ptype != c->ptype)
            prev = NULL;
        for (size_t f = 0; f < r->nfields; f++) {
            if (prev && f < prev->nfields && strcmp(prev->fields[f], r->fields[f]) == 0) {
                c->fields[f] = prev->fields[f];
                continue;
            }
            c->fields[f] = arena_dup(&s->arena, r->fields[f]);
            if (!c->fields[f]) {
                st = rule_error(err, r, TS_ENOMEM, "out of memory");
                goto out;
            }
        }
        s->nall++;
    }
out:
    free(dup);
    return st;
}
