/*
 * The gate: authn and authz composed for a libmicrohttpd service. It builds the objects a
 * service used to wire by hand (key source, verifier, authn's hook, authorizer, mapper, guard,
 * optionally the connection bounds) from one options struct, and answers each request with one
 * call that runs authn's hook, hands its principal to authz's hook as plain data, and returns
 * the one hook result. authz never sees authn: the principal crosses as id, type, roles and
 * domain, borrowed from authn's immutable principal for the length of the call.
 *
 * Public paths are decided once, by authn's hook (its normalised-path rule): a public request
 * reaches neither the verifier nor the guard, so the two can never disagree on what is public.
 */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "mhd_internal.h"

struct ts_mhd_gate {
    ts_authn_keysource *keysource;
    ts_authn_verifier *verifier;
    ts_authn_mhd *authn;
    ts_authn_mhd *authn_only; /* its "public" paths are the authn-only ones; NULL: none */
    ts_authz_authorizer *authorizer;
    ts_authz_mapper *mapper;
    ts_authz_guard *guard;
    ts_mhd_limits *limits; /* NULL without limits.handler */
    ts_mhd__step_up *step_up;
    ts_mhd_log_fn log; /* never NULL: the options' sink or standard error */
    void *log_ud;
    /* The unescape callback, the limits' three options, MHD_OPTION_END. */
    struct MHD_OptionItem mhd_options[5];
};

static void log_stderr(const char *line, size_t len, void *ud)
{
    (void)ud;
    fprintf(stderr, "%.*s\n", (int)len, line); /* one call: one locked write */
}

/* authn's hook logs NUL-terminated lines without a length. */
static void log_authn(const char *line, void *ud)
{
    const ts_mhd_gate *g = ud;
    g->log(line, strlen(line), g->log_ud);
}

void ts_mhd_gate_free(ts_mhd_gate *g)
{
    if (!g)
        return;
    ts_mhd_limits_free(g->limits);
    ts_mhd__step_up_free(g->step_up);
    ts_authz_guard_free(g->guard);
    ts_authz_mapper_free(g->mapper);
    ts_authz_authorizer_free(g->authorizer);
    ts_authn_mhd_free(g->authn_only);
    ts_authn_mhd_free(g->authn);
    ts_authn_verifier_free(g->verifier);
    ts_authn_keysource_free(g->keysource);
    free(g);
}

static bool is_url(const char *s)
{
    return strncmp(s, "http://", 7) == 0 || strncmp(s, "https://", 8) == 0;
}

/* The key source: URLs and files of `jwks` apart. URLs are not fetched here: the first
 * verification waits for the first fetch in full (the key source's rule), so a service may
 * start before its issuer and its first caller is served once the issuer answers. */
static ts_status build_keys(ts_mhd_gate *g, const ts_mhd_gate_options *o, ts_error *err)
{
    if (o->n_jwks == 0 || !o->jwks)
        return ts_error_set(err, TS_EINVAL, "jwks", "no JWKS URL or file: at least one is needed");
    const char **urls = calloc(o->n_jwks, sizeof *urls);
    const char **files = calloc(o->n_jwks, sizeof *files);
    ts_status st = TS_OK;
    if (!urls || !files) {
        st = ts_error_set(err, TS_ENOMEM, "ts_mhd_gate_new", "out of memory");
        goto out;
    }
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    for (size_t i = 0; i < o->n_jwks; i++) {
        const char *s = o->jwks[i];
        if (!s || !*s) {
            st = ts_error_set(err, TS_EINVAL, "jwks", "entry %zu is empty", i + 1);
            goto out;
        }
        if (is_url(s))
            urls[ko.n_urls++] = s;
        else
            files[ko.n_jwks_files++] = s;
    }
    ko.urls = urls;
    ko.jwks_files = files;
    if (!(g->keysource = ts_authn_keysource_new(&ko, err))) {
        st = err ? err->code : TS_EINVAL;
        goto out;
    }
out:
    free(urls);
    free(files);
    return st;
}

static ts_status build_authn(ts_mhd_gate *g, const ts_mhd_gate_options *o, ts_error *err)
{
    /* The verifier refuses a missing or empty issuer or audience, naming the entry. */
    ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
    vo.issuers = o->issuers;
    vo.n_issuers = o->n_issuers;
    vo.audiences = o->audiences;
    vo.n_audiences = o->n_audiences;
    vo.keysource = g->keysource;
    vo.scope_roles = o->scope_roles;
    vo.n_scope_roles = o->n_scope_roles;
    vo.disable_cache = o->token_cache == 0;
    vo.cache_entries = o->token_cache;
    vo.revocations = o->revocations;
    if (!(g->verifier = ts_authn_verifier_new(&vo, err)))
        return TS_EINVAL;
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = g->verifier;
    mo.public_paths = o->public_paths;
    mo.n_public_paths = o->n_public_paths;
    mo.realm = o->realm;
    mo.log = log_authn;
    mo.log_ud = g;
    mo.raw_paths = o->raw_paths;
    if (!(g->authn = ts_authn_mhd_new(&mo, err)))
        return TS_EINVAL;
    if (!(g->step_up = ts_mhd__step_up_new(o, g->verifier, g->log, g->log_ud, err)))
        return err ? err->code : TS_EINVAL;
    if (o->n_authn_only_paths == 0)
        return TS_OK;
    /* The authn-only paths as the public paths of a second hook, only ever asked
     * ts_authn_mhd_is_public(): one rule for both lists, authn's. */
    mo.public_paths = o->authn_only_paths;
    mo.n_public_paths = o->n_authn_only_paths;
    if (!(g->authn_only = ts_authn_mhd_new(&mo, err))) {
        if (err && strcmp(err->where, "public_paths") == 0)
            snprintf(err->where, sizeof err->where, "authn_only_paths");
        return TS_EINVAL;
    }
    return TS_OK;
}

static ts_status build_authz(ts_mhd_gate *g, const ts_mhd_gate_options *o, ts_error *err)
{
    ts_authz_authorizer_options ao = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    ao.source.policy_dir = o->policy_dir;
    ao.source.from_env = o->policy_from_env;
    ao.cache_size = o->decision_cache;
    ao.log = g->log;
    ao.log_ud = g->log_ud;
    ao.functions = o->functions;
    ao.n_functions = o->n_functions;
    if (!(g->authorizer = ts_authz_authorizer_new(&ao, err)))
        return TS_EINVAL;
    if (o->n_routes && !o->routes)
        return ts_error_set(err, TS_EINVAL, "routes", "n_routes is %zu but routes is NULL",
                            o->n_routes);
    if (o->n_routes && !(g->mapper = ts_authz_mapper_routes_new(o->routes, o->n_routes,
                                                                o->action_style, NULL, NULL, err)))
        return TS_EINVAL;
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.mode = o->mode;
    go.authorizer = g->authorizer;
    go.mapper = g->mapper; /* NULL: every request unmapped */
    go.allow_unmapped = o->allow_unmapped;
    go.raw_paths = o->raw_paths;
    go.log = g->log;
    go.log_ud = g->log_ud;
    go.log_allow_sample = o->log_allow_sample;
    /* No public prefixes: public paths never reach the guard (authn's hook decides them). */
    return (g->guard = ts_authz_guard_new(&go, err)) ? TS_OK : TS_EINVAL;
}

static ts_status build_limits(ts_mhd_gate *g, const ts_mhd_gate_options *o, ts_error *err)
{
    size_t n = 0;
    g->mhd_options[n++] = (struct MHD_OptionItem){
        MHD_OPTION_UNESCAPE_CALLBACK,
        (intptr_t)(o->raw_paths ? &ts_authz_mhd_keep_escapes : &ts_authz_mhd_strict_unescape),
        NULL};
    if (o->limits.handler) {
        ts_mhd_limits_options lo = o->limits;
        if (!lo.log) {
            lo.log = g->log;
            lo.log_ud = g->log_ud;
        }
        if (!(g->limits = ts_mhd_limits_new(&lo, err)))
            return TS_EINVAL;
        for (const struct MHD_OptionItem *it = ts_mhd_limits_mhd_options(g->limits);
             it->option != MHD_OPTION_END && n + 1 < sizeof g->mhd_options / sizeof *g->mhd_options;
             it++)
            g->mhd_options[n++] = *it;
    }
    g->mhd_options[n] = (struct MHD_OptionItem){MHD_OPTION_END, 0, NULL};
    return TS_OK;
}

ts_mhd_gate *ts_mhd_gate_new(const ts_mhd_gate_options *o, ts_error *err)
{
    if (!o || o->version != TS_MHD_GATE_OPTIONS_VERSION) {
        ts_error_set(err, TS_EINVAL, "ts_mhd_gate_options", "NULL options or unknown version");
        return NULL;
    }
    if (o->mode != TS_AUTHZ_MODE_OFF && o->mode != TS_AUTHZ_MODE_SHADOW &&
        o->mode != TS_AUTHZ_MODE_ENFORCE) {
        ts_error_set(err, TS_EINVAL, "mode", "unknown mode %d (off, shadow, enforce)",
                     (int)o->mode);
        return NULL;
    }
    ts_mhd_gate *g = calloc(1, sizeof *g);
    if (!g) {
        ts_error_set(err, TS_ENOMEM, "ts_mhd_gate_new", "out of memory");
        return NULL;
    }
    g->log = o->log ? o->log : log_stderr;
    g->log_ud = o->log ? o->log_ud : NULL;
    if (build_keys(g, o, err) != TS_OK || build_authn(g, o, err) != TS_OK ||
        build_authz(g, o, err) != TS_OK || build_limits(g, o, err) != TS_OK) {
        ts_mhd_gate_free(g);
        return NULL;
    }
    return g;
}

ts_hook_result ts_mhd_gate_check(const ts_mhd_gate *g, struct MHD_Connection *conn,
                                 const char *method, const char *url,
                                 ts_authn_principal **principal)
{
    if (principal)
        *principal = NULL;
    if (!g || !conn || !method || !url || !principal)
        return TS_HOOK_ERROR;
    ts_authn_principal *who = NULL;
    ts_hook_result r = ts_authn_mhd_check(g->authn, conn, method, url, &who);
    if (r != TS_HOOK_CONTINUE || !who) /* refused (401, 503), or public: nothing to decide */
        return r;
    /* Step-up before the policy: a token that must be renewed by another login gets the 401
       that says so, whatever the policy would decide for it. */
    if ((r = ts_mhd__step_up_check(g->step_up, g->verifier, conn, method, url, who)) !=
        TS_HOOK_CONTINUE) {
        ts_authn_principal_free(who);
        return r;
    }
    if (g->authn_only && ts_authn_mhd_is_public(g->authn_only, url)) {
        *principal = who;
        return TS_HOOK_CONTINUE;
    }
    ts_authz_principal p = {ts_authn_principal_id(who),
                            ts_authn_principal_type_str(ts_authn_principal_type_of(who)), NULL, 0,
                            ts_authn_principal_domain(who)};
    p.roles = ts_authn_principal_roles(who, &p.nroles);
    r = ts_authz_mhd_check_principal(g->guard, conn, method, url, &p);
    if (r != TS_HOOK_CONTINUE) {
        ts_authn_principal_free(who);
        return r;
    }
    *principal = who;
    return TS_HOOK_CONTINUE;
}

const struct MHD_OptionItem *ts_mhd_gate_mhd_options(const ts_mhd_gate *g)
{
    return g ? g->mhd_options : NULL;
}

ts_mhd_limits *ts_mhd_gate_limits(ts_mhd_gate *g)
{
    return g ? g->limits : NULL;
}

ts_authz_authorizer *ts_mhd_gate_authorizer(ts_mhd_gate *g)
{
    return g ? g->authorizer : NULL;
}

const ts_authz_guard *ts_mhd_gate_guard(const ts_mhd_gate *g)
{
    return g ? g->guard : NULL;
}

const ts_authn_verifier *ts_mhd_gate_verifier(const ts_mhd_gate *g)
{
    return g ? g->verifier : NULL;
}

ts_authn_keysource *ts_mhd_gate_keysource(ts_mhd_gate *g)
{
    return g ? g->keysource : NULL;
}
