/* RBAC queries on one snapshot (authz_query.h): direct roles, direct and implicit users, the
 * rules that apply to a subject, and whether an exact rule exists.
 *
 * They read the snapshot's rule list rather than the role managers' graphs: a query is not on
 * the decision path, and the rule list answers the reverse direction (users of a role) that the
 * graphs do not index. The reach and the domain rules are those of the role manager, so that a
 * listed user is exactly one whose implicit roles list the role. Names point into the snapshot
 * until the answer is copied into one block the caller owns. */
#include <stdlib.h>
#include <string.h>

#include <tokensmith/authz_query.h>

#include "enforcer_internal.h"
#include "snapshot.h"

/* ---- a bounded list of names, packed into one block at the end -------------------------- */

typedef struct names {
    ts_str *v;
    size_t n, cap, max;
} names;

/* @return TS_OK, TS_ELIMIT (more than max) or TS_ENOMEM. */
static ts_status names_add(names *l, ts_str s)
{
    if (l->n == l->max)
        return TS_ELIMIT;
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 16;
        ts_str *v = realloc(l->v, cap * sizeof *v);
        if (!v)
            return TS_ENOMEM;
        l->v = v;
        l->cap = cap;
    }
    l->v[l->n++] = s;
    return TS_OK;
}

static int cmp_str(const void *a, const void *b)
{
    const ts_str *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* Sort, drop repeats and copy into one block: n + 1 pointers (the last NULL), then the
 * NUL-terminated strings. */
static ts_status names_pack(names *l, char ***out, size_t *nout)
{
    if (l->n)
        qsort(l->v, l->n, sizeof *l->v, cmp_str);
    size_t n = 0, bytes = 0;
    for (size_t i = 0; i < l->n; i++) {
        if (n && cmp_str(&l->v[n - 1], &l->v[i]) == 0)
            continue;
        l->v[n++] = l->v[i];
        bytes += l->v[i].len + 1;
    }
    char **block = malloc((n + 1) * sizeof *block + bytes + 1);
    if (!block)
        return TS_ENOMEM;
    char *p = (char *)(block + n + 1);
    for (size_t i = 0; i < n; i++) {
        block[i] = p;
        if (l->v[i].len)
            memcpy(p, l->v[i].ptr, l->v[i].len);
        p[l->v[i].len] = '\0';
        p += l->v[i].len + 1;
    }
    block[n] = NULL;
    *out = block;
    *nout = n;
    return TS_OK;
}

static ts_status list_error(ts_status st, const char *what, size_t max, ts_error *err)
{
    if (st == TS_ELIMIT)
        return ts_error_set(err, st, what, "more than %zu %s", max, what);
    return ts_error_set(err, st, what, "out of memory");
}

/* ---- role definitions ------------------------------------------------------------------- */

/* The role definition @p gtype of @p s. *gi is TS_NO_FIELD when a model without "g" was asked
 * about "g": nobody has roles then. */
static ts_status role_def(const ts_snapshot *s, const char *gtype, size_t *gi, ts_error *err)
{
    const char *key = gtype ? gtype : "g";
    *gi = ts_authz__snapshot_def_index(&s->model->g, key);
    if (*gi == TS_NO_FIELD || !s->rms[*gi]) {
        *gi = TS_NO_FIELD;
        if (strcmp(key, "g") != 0)
            return ts_error_set(err, TS_ENOTFOUND, "roles", "no role definition %s", key);
        return TS_OK;
    }
    if (!ts_authz__rolemgr_is_simple(s->rms[*gi]))
        return ts_error_set(err, TS_EUNSUPPORTED, "roles",
                            "the roles of %s cannot be listed: it has a role pattern function",
                            key);
    return TS_OK;
}

/* Whether link rule @p r of role definition @p gi counts in @p dom: its own domain, or a stored
 * domain that the domain matching function maps @p dom to (the role manager's rule). */
static bool link_in_domain(const ts_snapshot *s, size_t gi, const ts_policy_rule *r, ts_str dom)
{
    if (s->model->g.defs[gi].g_arity < 3)
        return true;
    if (r->nfields < 3)
        return false;
    ts_str rd = ts_str_c(r->fields[2]);
    if (ts_str_eq(rd, dom))
        return true;
    ts_authz_match_fn fn = s->match.domain[gi];
    bool m = false;
    return fn != TS_AUTHZ_MATCH_NONE &&
           ts_authz__builtin_match(fn, dom, rd, s->regex, &m, NULL) == TS_OK && m;
}

/* The links (name, role) of role definition @p gi that count in @p dom, sorted by role. */
typedef struct role_link {
    ts_str from, to;
} role_link;

static int cmp_link_to(const void *a, const void *b)
{
    const role_link *x = a, *y = b;
    return cmp_str(&x->to, &y->to);
}

static ts_status links_in(const ts_snapshot *s, size_t gi, ts_str dom, role_link **out, size_t *n)
{
    const char *key = s->model->g.defs[gi].key;
    size_t cnt = 0;
    role_link *v = malloc((s->nall + 1) * sizeof *v);
    if (!v)
        return TS_ENOMEM;
    for (size_t i = 0; i < s->nall; i++) {
        const ts_policy_rule *r = &s->all[i];
        if (r->nfields < 2 || strcmp(r->ptype, key) != 0 || !link_in_domain(s, gi, r, dom))
            continue;
        v[cnt].from = ts_str_c(r->fields[0]);
        v[cnt].to = ts_str_c(r->fields[1]);
        cnt++;
    }
    if (cnt)
        qsort(v, cnt, sizeof *v, cmp_link_to);
    *out = v;
    *n = cnt;
    return TS_OK;
}

/* The first link whose role is @p to, or n. */
static size_t links_lower(const role_link *v, size_t n, ts_str to)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        if (cmp_str(&v[mid].to, &to) < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return lo;
}

static bool valid_name(const char *p, size_t len)
{
    return p || len == 0;
}

/* ---- direct roles ----------------------------------------------------------------------- */

static ts_status direct_roles(const ts_snapshot *s, const char *gtype, ts_str name, ts_str dom,
                              names *out, ts_error *err)
{
    size_t gi;
    ts_status st = role_def(s, gtype, &gi, err);
    if (st != TS_OK || gi == TS_NO_FIELD)
        return st;
    const char *key = s->model->g.defs[gi].key;
    for (size_t i = 0; i < s->nall && st == TS_OK; i++) {
        const ts_policy_rule *r = &s->all[i];
        if (r->nfields < 2 || strcmp(r->ptype, key) != 0 ||
            !ts_str_eq(ts_str_c(r->fields[0]), name) || !link_in_domain(s, gi, r, dom))
            continue;
        st = names_add(out, ts_str_c(r->fields[1]));
    }
    return st == TS_OK ? TS_OK : list_error(st, "roles", out->max, err);
}

ts_status ts_authz_enforcer_roles(const ts_authz_enforcer *e, const char *gtype, const char *name,
                                  size_t name_len, const char *domain, size_t max, char ***roles,
                                  size_t *nroles, ts_error *err)
{
    if (!roles || !nroles)
        return ts_error_set(err, TS_EINVAL, "roles", "no list to fill");
    *roles = NULL;
    *nroles = 0;
    if (!e || !valid_name(name, name_len))
        return ts_error_set(err, TS_EINVAL, "roles", "invalid arguments");
    names l = {NULL, 0, 0, max};
    ts_read_guard g;
    const ts_snapshot *s = ts_authz__enforcer_read_begin(e, &g);
    ts_status st = direct_roles(s, gtype, ts_str_make(name ? name : "", name_len),
                                ts_str_c(domain ? domain : ""), &l, err);
    /* Packing copies the names out of the snapshot before it is released. */
    if (st == TS_OK && (st = names_pack(&l, roles, nroles)) != TS_OK)
        ts_error_set(err, st, "roles", "out of memory");
    ts_authz__enforcer_read_end(&g);
    free(l.v);
    return st;
}

/* ---- users ------------------------------------------------------------------------------ */

/* Names that reach @p role: breadth first over reversed links, TS_AUTHZ_ROLE_MAX_HOPS levels
 * (one level only when not @p implicit), @p role itself never listed. */
static ts_status users_of(const ts_snapshot *s, size_t gi, ts_str role, ts_str dom, bool implicit,
                          names *out)
{
    role_link *v = NULL;
    size_t nv = 0;
    ts_status st = links_in(s, gi, dom, &v, &nv);
    if (st != TS_OK)
        return st;
    ts_strmap seen;
    ts_authz__strmap_init(&seen);
    /* The frontier is the tail of out: names found at the previous level. */
    size_t level_start = 0, level_end = 0;
    bool first = true;
    if (ts_authz__strmap_put(&seen, role.ptr ? role.ptr : "", role.len, 0, NULL) < 0)
        st = TS_ENOMEM;
    for (int depth = 0; st == TS_OK && depth < (implicit ? TS_AUTHZ_ROLE_MAX_HOPS : 1); depth++) {
        size_t nfront = first ? 1 : level_end - level_start;
        if (nfront == 0)
            break;
        for (size_t f = 0; f < nfront && st == TS_OK; f++) {
            ts_str to = first ? role : out->v[level_start + f];
            for (size_t i = links_lower(v, nv, to); i < nv && ts_str_eq(v[i].to, to); i++) {
                int r = ts_authz__strmap_put(&seen, v[i].from.ptr, v[i].from.len, 0, NULL);
                if (r < 0)
                    st = TS_ENOMEM;
                else if (r > 0)
                    st = names_add(out, v[i].from);
                if (st != TS_OK)
                    break;
            }
        }
        level_start = first ? 0 : level_end;
        level_end = out->n;
        first = false;
    }
    ts_authz__strmap_cleanup(&seen);
    free(v);
    return st;
}

ts_status ts_authz_enforcer_users(const ts_authz_enforcer *e, const char *gtype, const char *role,
                                  size_t role_len, const char *domain, bool implicit, size_t max,
                                  char ***users, size_t *nusers, ts_error *err)
{
    if (!users || !nusers)
        return ts_error_set(err, TS_EINVAL, "users", "no list to fill");
    *users = NULL;
    *nusers = 0;
    if (!e || !valid_name(role, role_len))
        return ts_error_set(err, TS_EINVAL, "users", "invalid arguments");
    names l = {NULL, 0, 0, max};
    ts_read_guard g;
    const ts_snapshot *s = ts_authz__enforcer_read_begin(e, &g);
    size_t gi;
    ts_status st = role_def(s, gtype, &gi, err);
    if (st == TS_OK && gi != TS_NO_FIELD) {
        st = users_of(s, gi, ts_str_make(role ? role : "", role_len),
                      ts_str_c(domain ? domain : ""), implicit, &l);
        if (st != TS_OK)
            list_error(st, "users", max, err);
    }
    if (st == TS_OK && (st = names_pack(&l, users, nusers)) != TS_OK)
        ts_error_set(err, st, "users", "out of memory");
    ts_authz__enforcer_read_end(&g);
    free(l.v);
    return st;
}

/* ---- implicit permissions --------------------------------------------------------------- */

/* Position of the token "<ptype>_<name>" in @p d, or @p fallback. */
static size_t token_index(const ts_model_def *d, const char *name, size_t fallback)
{
    size_t klen = strlen(d->key);
    for (size_t i = 0; i < d->ntokens; i++) {
        const char *t = d->tokens[i];
        if (strncmp(t, d->key, klen) == 0 && t[klen] == '_' && strcmp(t + klen + 1, name) == 0)
            return i;
    }
    return fallback;
}

static bool is_subject(ts_str field, ts_str name, char *const *roles, size_t nroles)
{
    if (ts_str_eq(field, name))
        return true;
    size_t lo = 0, hi = nroles;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        ts_str r = ts_str_c(roles[mid]);
        int c = cmp_str(&r, &field);
        if (c == 0)
            return true;
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return false;
}

/* Format the rules that apply into @p lines (malloc'd strings, bounded by max). */
static ts_status collect_rules(const ts_snapshot *s, const ts_model_def *pd, ts_str name,
                               const char *domain, char *const *roles, size_t nroles, size_t max,
                               char ***lines, size_t *nlines)
{
    size_t sub = token_index(pd, "sub", 0), dom = token_index(pd, "dom", 1);
    bool by_domain = domain && domain[0];
    size_t n = 0, cap = 0;
    char **v = NULL;
    ts_status st = TS_OK;
    for (size_t i = 0; i < s->nall; i++) {
        const ts_policy_rule *r = &s->all[i];
        if (strcmp(r->ptype, pd->key) != 0 || sub >= r->nfields ||
            !is_subject(ts_str_c(r->fields[sub]), name, roles, nroles))
            continue;
        if (by_domain && (dom >= r->nfields || strcmp(r->fields[dom], domain) != 0))
            continue;
        if (n == max) {
            st = TS_ELIMIT;
            break;
        }
        if (n == cap) {
            size_t nc = cap ? cap * 2 : 16;
            char **nv = realloc(v, nc * sizeof *nv);
            if (!nv) {
                st = TS_ENOMEM;
                break;
            }
            v = nv;
            cap = nc;
        }
        ts_str f[TS_AUTHZ_MAX_FIELDS];
        for (size_t k = 0; k < r->nfields && k < TS_AUTHZ_MAX_FIELDS; k++)
            f[k] = ts_str_c(r->fields[k]);
        if (!(v[n] = ts_authz__rule_format(r->ptype, f, r->nfields))) {
            st = TS_ENOMEM;
            break;
        }
        n++;
    }
    *lines = v;
    *nlines = n;
    return st;
}

static ts_status permissions(const ts_snapshot *s, const char *ptype, const char *gtype,
                             ts_str name, const char *domain, size_t max, char ***rules,
                             size_t *nrules, ts_error *err)
{
    const char *pkey = ptype ? ptype : "p";
    const ts_model_def *pd = ts_authz__model_find(&s->model->p, pkey);
    if (!pd)
        return ts_error_set(err, TS_ENOTFOUND, "permissions", "no policy definition %s", pkey);
    char **roles = NULL;
    size_t nroles = 0;
    /* More roles than rules wanted is refused like a long answer. */
    ts_status st =
        ts_authz__snapshot_implicit_roles(s, gtype, name, domain, max, &roles, &nroles, err);
    if (st != TS_OK)
        return st;
    char **lines = NULL;
    size_t n = 0;
    st = collect_rules(s, pd, name, domain, roles, nroles, max, &lines, &n);
    ts_authz_roles_free(roles);
    names l = {NULL, 0, 0, (size_t)-1};
    for (size_t i = 0; i < n && st == TS_OK; i++)
        st = names_add(&l, ts_str_c(lines[i]));
    if (st == TS_OK)
        st = names_pack(&l, rules, nrules);
    if (st != TS_OK)
        list_error(st, "rules", max, err);
    for (size_t i = 0; i < n; i++)
        free(lines[i]);
    free(lines);
    free(l.v);
    return st;
}

ts_status ts_authz_enforcer_implicit_permissions(const ts_authz_enforcer *e, const char *ptype,
                                                 const char *gtype, const char *name,
                                                 size_t name_len, const char *domain, size_t max,
                                                 char ***rules, size_t *nrules, ts_error *err)
{
    if (!rules || !nrules)
        return ts_error_set(err, TS_EINVAL, "permissions", "no list to fill");
    *rules = NULL;
    *nrules = 0;
    if (!e || !valid_name(name, name_len))
        return ts_error_set(err, TS_EINVAL, "permissions", "invalid arguments");
    ts_read_guard g;
    const ts_snapshot *s = ts_authz__enforcer_read_begin(e, &g);
    ts_status st = permissions(s, ptype, gtype, ts_str_make(name ? name : "", name_len), domain,
                               max, rules, nrules, err);
    ts_authz__enforcer_read_end(&g);
    return st;
}

void ts_authz_rules_free(char **rules)
{
    free(rules);
}

/* ---- exact rules ------------------------------------------------------------------------ */

ts_status ts_authz_enforcer_has_permission(const ts_authz_enforcer *e, const char *ptype,
                                           const char *const *fields, size_t nfields, bool *has,
                                           ts_error *err)
{
    if (has)
        *has = false;
    if (!e || !has || (nfields && !fields))
        return ts_error_set(err, TS_EINVAL, "permission", "invalid arguments");
    if (nfields > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, "permission", "more than %u fields",
                            TS_AUTHZ_MAX_FIELDS);
    for (size_t i = 0; i < nfields; i++)
        if (!fields[i])
            return ts_error_set(err, TS_EINVAL, "permission", "field %zu is NULL", i);
    const char *key = ptype ? ptype : "p";
    ts_read_guard g;
    const ts_snapshot *s = ts_authz__enforcer_read_begin(e, &g);
    for (size_t i = 0; i < s->nall && !*has; i++) {
        const ts_policy_rule *r = &s->all[i];
        if (r->nfields != nfields || strcmp(r->ptype, key) != 0)
            continue;
        size_t k = 0;
        while (k < nfields && strcmp(r->fields[k], fields[k]) == 0)
            k++;
        *has = k == nfields;
    }
    ts_authz__enforcer_read_end(&g);
    return TS_OK;
}
