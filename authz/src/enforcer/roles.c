/* The implicit roles of a name in one snapshot (Casbin's GetImplicitRolesForUser over one role
 * definition): every role reachable from the name within TS_AUTHZ_ROLE_MAX_HOPS links, the
 * reach a decision's g() has, so a listed role is exactly one the policy would grant. The
 * answer is one allocation (pointers, then the names), so that it outlives the snapshot it was
 * read from and a caller frees it with one call. */
#include <stdlib.h>
#include <string.h>

#include "snapshot.h"

typedef struct collect {
    ts_str *v;
    size_t n, max;
    bool first, over;
    size_t bytes;
} collect;

static bool add_role(void *ud, ts_str name)
{
    collect *c = ud;
    /* The first name is the subject itself: not one of its roles. */
    if (c->first) {
        c->first = false;
        return true;
    }
    if (c->n == c->max) {
        c->over = true;
        return false;
    }
    c->v[c->n++] = name;
    c->bytes += name.len + 1;
    return true;
}

static int cmp_str(const void *a, const void *b)
{
    const ts_str *x = a, *y = b;
    size_t n = x->len < y->len ? x->len : y->len;
    int c = n ? memcmp(x->ptr, y->ptr, n) : 0;
    return c ? c : (x->len > y->len) - (x->len < y->len);
}

/* One block: n + 1 pointers (the last NULL), then the NUL-terminated names. */
static char **pack(const ts_str *v, size_t n, size_t bytes)
{
    char **out = malloc((n + 1) * sizeof *out + bytes + 1);
    if (!out)
        return NULL;
    char *p = (char *)(out + n + 1);
    for (size_t i = 0; i < n; i++) {
        out[i] = p;
        memcpy(p, v[i].ptr, v[i].len);
        p[v[i].len] = '\0';
        p += v[i].len + 1;
    }
    out[n] = NULL;
    return out;
}

ts_status ts_authz__snapshot_implicit_roles(const ts_snapshot *s, const char *gtype, ts_str name,
                                            const char *domain, size_t max, char ***roles,
                                            size_t *nroles, ts_error *err)
{
    *roles = NULL;
    *nroles = 0;
    size_t gi = ts_authz__snapshot_def_index(&s->model->g, gtype ? gtype : "g");
    if (gi == TS_NO_FIELD || !s->rms[gi]) {
        /* No such role definition: nobody has roles through it. */
        if (gtype && strcmp(gtype, "g") != 0)
            return ts_error_set(err, TS_ENOTFOUND, "roles", "no role definition %s", gtype);
        *roles = pack(NULL, 0, 0);
        return *roles ? TS_OK : ts_error_set(err, TS_ENOMEM, "roles", "out of memory");
    }
    const ts_rolemgr *rm = s->rms[gi];
    if (!ts_authz__rolemgr_is_simple(rm))
        return ts_error_set(err, TS_EUNSUPPORTED, "roles",
                            "the roles of %s cannot be listed: it has a role pattern function",
                            gtype ? gtype : "g");
    collect c = {NULL, 0, max, true, false, 0};
    if (max && !(c.v = malloc(max * sizeof *c.v)))
        return ts_error_set(err, TS_ENOMEM, "roles", "out of memory");
    ts_str dom = ts_str_c(domain);
    ts_status st = ts_authz__rolemgr_reachable(rm, name, domain ? &dom : NULL, add_role, &c, err);
    if (st == TS_OK && c.over)
        st = ts_error_set(err, TS_ELIMIT, "roles", "more than %zu roles", max);
    if (st == TS_OK) {
        qsort(c.v, c.n, sizeof *c.v, cmp_str);
        /* The names point into the snapshot, which the caller holds until this returns. */
        if (!(*roles = pack(c.v, c.n, c.bytes)))
            st = ts_error_set(err, TS_ENOMEM, "roles", "out of memory");
        else
            *nroles = c.n;
    }
    free(c.v);
    return st;
}

void ts_authz_roles_free(char **roles)
{
    free(roles);
}
