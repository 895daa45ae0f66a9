/* Loading a policy bundle: model, baseline + fragments, grouping, and its policy_version. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>

#include "contract/contract.h"
#include "policy.h"

#define BASELINE_POLICY_NAME "<baseline>/policy.csv"
#define BASELINE_GROUPING_NAME "<baseline>/grouping.csv"
#define BASELINE_MODEL_NAME "<baseline>/model.conf"

/* Growable byte string for the hashed streams. */
typedef struct bytes {
    char *p;
    size_t n, cap;
} bytes;

static bool bytes_add(bytes *b, const char *s, size_t n)
{
    if (b->n + n + 1 > b->cap) {
        size_t c = b->cap ? b->cap : 4096;
        while (c < b->n + n + 1)
            c *= 2;
        char *np = realloc(b->p, c);
        if (!np)
            return false;
        b->p = np;
        b->cap = c;
    }
    if (n)
        memcpy(b->p + b->n, s, n);
    b->n += n;
    b->p[b->n] = '\0';
    return true;
}

static char *dup_z(const char *s)
{
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d)
        memcpy(d, s, n);
    return d;
}

void ts_authz_bundle_free(ts_authz_bundle *b)
{
    if (!b)
        return;
    ts_authz_model_free(b->model);
    ts_authz_policy_free(b->policy);
    free(b->location);
    free(b);
}

static const char *env_dir(void)
{
    const char *v = getenv("TOKENSMITH_POLICY_DIR");
    if (v && *v)
        return v;
    v = getenv("AUTHZ_POLICY_DIR");
    return (v && *v) ? v : NULL;
}

/* Give every 2-field g rule the domain "*" (matched by keyMatch against any domain). */
static ts_status widen_domainless_bindings(ts_authz_policy *p)
{
    for (size_t i = 0; i < p->n; i++) {
        ts_policy_rule *r = &p->rules[i];
        if (strcmp(r->ptype, "g") != 0 || r->nfields != 2)
            continue;
        if (ts_authz__policy_rule_append_field(r, "*") != 0)
            return TS_ENOMEM;
    }
    return TS_OK;
}

ts_authz_bundle *ts_authz_bundle_load(const ts_authz_source_options *o, ts_error *err)
{
    return ts_authz__bundle_load_extra(o, NULL, 0, err);
}

ts_authz_bundle *ts_authz__bundle_load_extra(const ts_authz_source_options *o, const char *extra,
                                             size_t extra_len, ts_error *err)
{
    ts_authz_source_options def = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    if (!o)
        o = &def;
    if (o->version != TS_AUTHZ_SOURCE_OPTIONS_VERSION) {
        ts_error_set(err, TS_EINVAL, "source options", "unsupported options version %u",
                     o->version);
        return NULL;
    }
    if (o->policy_dir && o->policy_file) {
        ts_error_set(err, TS_EINVAL, "source options",
                     "policy_dir and policy_file are mutually exclusive");
        return NULL;
    }
    const char *dir = o->policy_dir;
    if (!dir && !o->policy_file && o->from_env)
        dir = env_dir();

    ts_authz_bundle *b = calloc(1, sizeof *b);
    ts_fragment_list frags = {NULL, 0}, model_file = {NULL, 0}, grouping = {NULL, 0};
    bytes pol = {NULL, 0, 0}, grp = {NULL, 0, 0};
    ts_status st = TS_OK;
    if (!b || !(b->policy = ts_authz_policy_new())) {
        ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto fail;
    }

    /* Model. */
    const char *mtext;
    size_t mlen;
    if (o->model_path) {
        if ((st = ts_authz__fragments_read_file(o->model_path, &model_file, err)) != TS_OK)
            goto fail;
        mtext = model_file.items[0].data;
        mlen = model_file.items[0].len;
        if (mlen > TS_AUTHZ_MAX_MODEL_BYTES) {
            ts_error_set(err, TS_ELIMIT, o->model_path, "model file is larger than %u bytes",
                         TS_AUTHZ_MAX_MODEL_BYTES);
            goto fail;
        }
    } else {
        mtext = ts_authz_baseline(TS_AUTHZ_BASELINE_MODEL, &mlen);
        b->baseline_model = true;
    }
    b->model =
        ts_authz_model_parse(mtext, mlen, o->model_path ? o->model_path : BASELINE_MODEL_NAME, err);
    if (!b->model)
        goto fail;

    /* Policy stream: baseline, then each fragment with a newline ensured between files. */
    size_t blen;
    const char *btext = ts_authz_baseline(TS_AUTHZ_BASELINE_POLICY, &blen);
    blen = ts_authz__strip_bom(&btext, blen);
    if (ts_authz_policy_load_csv(b->policy, btext, blen, BASELINE_POLICY_NAME, err) != TS_OK)
        goto fail;
    if (!bytes_add(&pol, btext, blen))
        goto oom;
    if (dir)
        st = ts_authz__fragments_read_dir(dir, &frags, err);
    else if (o->policy_file)
        st = ts_authz__fragments_read_file(o->policy_file, &frags, err);
    if (st != TS_OK)
        goto fail;
    for (size_t i = 0; i < frags.n; i++) {
        const ts_fragment *f = &frags.items[i];
        if (ts_authz_policy_load_csv(b->policy, f->data, f->len, f->path, err) != TS_OK)
            goto fail;
        if (!bytes_add(&pol, f->data, f->len))
            goto oom;
        if (f->len > 0 && f->data[f->len - 1] != '\n' && !bytes_add(&pol, "\n", 1))
            goto oom;
    }
    /* Rules changed at run time and not written to a file: the last fragment, hashed like one,
     * so that they have a policy_version of their own. */
    if (extra_len > 0) {
        if (ts_authz_policy_load_csv(b->policy, extra, extra_len, TS_AUTHZ__RUNTIME_NAME, err) !=
            TS_OK)
            goto fail;
        if (!bytes_add(&pol, extra, extra_len))
            goto oom;
        if (extra[extra_len - 1] != '\n' && !bytes_add(&pol, "\n", 1))
            goto oom;
    }

    /* Grouping stream: baseline grouping, then the explicit grouping file. */
    const char *gtext = ts_authz_baseline(TS_AUTHZ_BASELINE_GROUPING, &blen);
    blen = ts_authz__strip_bom(&gtext, blen);
    if (ts_authz_policy_load_csv(b->policy, gtext, blen, BASELINE_GROUPING_NAME, err) != TS_OK)
        goto fail;
    if (!bytes_add(&grp, gtext, blen))
        goto oom;
    if (o->grouping_file) {
        if ((st = ts_authz__fragments_read_file(o->grouping_file, &grouping, err)) != TS_OK)
            goto fail;
        const ts_fragment *f = &grouping.items[0];
        if (ts_authz_policy_load_csv(b->policy, f->data, f->len, f->path, err) != TS_OK)
            goto fail;
        if (!bytes_add(&grp, f->data, f->len))
            goto oom;
    }

    /* Fragments may bind roles without a domain ("g, user:alice, role:viewer"): with the
     * baseline model such a binding holds in every domain. */
    if (b->baseline_model && widen_domainless_bindings(b->policy) != TS_OK)
        goto oom;
    ts_authz_policy_version_compute(mtext, mlen, pol.p, pol.n, grp.p, grp.n, b->version);
    b->nfragments = frags.n + grouping.n + (extra_len > 0);
    b->source = b->nfragments > 0 ? "baseline+fragments" : "baseline-only";
    b->location = dup_z(dir ? dir : o->policy_file ? o->policy_file : "");
    if (!b->location)
        goto oom;
    ts_authz__fragments_free(&frags);
    ts_authz__fragments_free(&model_file);
    ts_authz__fragments_free(&grouping);
    free(pol.p);
    free(grp.p);
    return b;
oom:
    ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
fail:
    ts_authz__fragments_free(&frags);
    ts_authz__fragments_free(&model_file);
    ts_authz__fragments_free(&grouping);
    free(pol.p);
    free(grp.p);
    ts_authz_bundle_free(b);
    return NULL;
}

ts_authz_enforcer *ts_authz_bundle_enforcer(const ts_authz_bundle *b, ts_error *err)
{
    return ts_authz__bundle_enforcer_fns(b, NULL, 0, err);
}

ts_authz_enforcer *ts_authz__bundle_enforcer_fns(const ts_authz_bundle *b,
                                                 const ts_authz_function_reg *fns, size_t nfns,
                                                 ts_error *err)
{
    if (!b) {
        ts_error_set(err, TS_EINVAL, "ts_authz_bundle_enforcer", "bundle is NULL");
        return NULL;
    }
    /* Registered before the matcher is compiled: a call to a function missing here is an
     * error now, naming the function, rather than at the first decision. */
    ts_authz_enforcer *e =
        nfns ? ts_authz_enforcer_new_with_functions(b->model, b->policy, fns, nfns, err)
             : ts_authz_enforcer_new(b->model, b->policy, err);
    if (!e)
        return NULL;
    /* The baseline binds roles in domain "*" for every domain: keyMatch on binding domains. */
    if (b->baseline_model &&
        ts_authz_enforcer_set_domain_matching(e, "g", TS_AUTHZ_MATCH_KEYMATCH, err) != TS_OK) {
        ts_authz_enforcer_free(e);
        return NULL;
    }
    return e;
}

const char *ts_authz_bundle_policy_version(const ts_authz_bundle *b)
{
    return b ? b->version : "";
}

const char *ts_authz_bundle_source(const ts_authz_bundle *b)
{
    return b ? b->source : "baseline-only";
}

const char *ts_authz_bundle_location(const ts_authz_bundle *b)
{
    return b && b->location ? b->location : "";
}

size_t ts_authz_bundle_fragment_count(const ts_authz_bundle *b)
{
    return b ? b->nfragments : 0;
}

const ts_authz_model *ts_authz_bundle_model(const ts_authz_bundle *b)
{
    return b ? b->model : NULL;
}

const ts_authz_policy *ts_authz_bundle_policy(const ts_authz_bundle *b)
{
    return b ? b->policy : NULL;
}
