/* The decision core's life: built from a finished configuration (trusted issuers, the authz
 * guard exactly as tokensmith-mhd's gate builds it, the gateway's signing keys), reloaded on
 * SIGHUP, and asked for its metrics and JWKS. The check itself is decide.c. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "core_internal.h"

static void log_stderr(const char *line, size_t len, void *ud)
{
    (void)ud;
    fprintf(stderr, "%.*s\n", (int)len, line);
}

static ts_status build_authz(ts_gateway__core *c, ts_error *err)
{
    const ts_gateway_config *cfg = c->cfg;
    ts_authz_mode mode;
    if (ts_authz_mode_parse(cfg->authz.mode[0] ? cfg->authz.mode : "enforce", &mode, err) != TS_OK)
        return TS_EINVAL;
    c->mode = (unsigned)mode;
    ts_authz_authorizer_options ao = TS_AUTHZ_AUTHORIZER_OPTIONS_INIT;
    ao.source.policy_dir = cfg->authz.policy_dir[0] ? cfg->authz.policy_dir : NULL;
    ao.cache_size = 4096;
    ao.log = c->log;
    ao.log_ud = c->log_ud;
    if (!(c->authorizer = ts_authz_authorizer_new(&ao, err)))
        return TS_EINVAL;
    if (cfg->authz.n_routes) {
        c->routes = calloc(cfg->authz.n_routes, sizeof *c->routes);
        if (!c->routes)
            return ts_error_set(err, TS_ENOMEM, "authz.routes", "out of memory");
        for (size_t i = 0; i < cfg->authz.n_routes; i++) {
            const ts_gateway_route *r = &cfg->authz.routes[i];
            c->routes[i] = (ts_authz_route){r->method[0] ? r->method : "*", r->path, r->object,
                                            r->action[0] ? r->action : NULL};
        }
        if (!(c->mapper = ts_authz_mapper_routes_new(c->routes, cfg->authz.n_routes,
                                                     TS_AUTHZ_ACTION_REST, NULL, NULL, err)))
            return TS_EINVAL;
    }
    ts_authz_guard_options go = TS_AUTHZ_GUARD_OPTIONS_INIT;
    go.mode = mode;
    go.authorizer = c->authorizer;
    go.mapper = c->mapper; /* NULL: every request unmapped */
    go.allow_unmapped = cfg->authz.allow_unmapped;
    go.raw_paths = true;
    go.log = c->log;
    go.log_ud = c->log_ud;
    go.log_allow_sample = cfg->authz.log_allow_sample;
    go.watch = cfg->authz.policy_watch; /* stopped with the guard */
    /* No public prefixes: public paths never reach the guard (decide.c answers them first,
     * with authn's rule). */
    return (c->guard = ts_authz_guard_new(&go, err)) ? TS_OK : TS_EINVAL;
}

/* authn's public-path rule lives in its libmicrohttpd hook, which needs a verifier; the
 * gateway's own public keys make one that is never asked to verify anything. */
static ts_status build_public_paths(ts_gateway__core *c, ts_error *err)
{
    const ts_gateway_config *cfg = c->cfg;
    if (cfg->authz.n_public_paths == 0)
        return TS_OK;
    const char *jwks = ts_gateway__translator_jwks(c->translator);
    ts_jwks *keys = ts_jwks_parse(jwks, strlen(jwks), err);
    if (!keys)
        return TS_EINVAL;
    const char *iss = cfg->issuer,
               *aud = cfg->translate.audience[0] ? cfg->translate.audience : iss;
    ts_authn_options vo = TS_AUTHN_OPTIONS_INIT;
    vo.issuers = &iss;
    vo.n_issuers = 1;
    vo.audiences = &aud;
    vo.n_audiences = 1;
    vo.keys = keys;
    vo.disable_cache = true;
    c->public_verifier = ts_authn_verifier_new(&vo, err);
    ts_jwks_free(keys);
    if (!c->public_verifier)
        return TS_EINVAL;
    const char **paths = calloc(cfg->authz.n_public_paths, sizeof *paths);
    if (!paths)
        return ts_error_set(err, TS_ENOMEM, "authz.public_paths", "out of memory");
    for (size_t i = 0; i < cfg->authz.n_public_paths; i++)
        paths[i] = cfg->authz.public_paths[i];
    ts_authn_mhd_options mo = TS_AUTHN_MHD_OPTIONS_INIT;
    mo.verifier = c->public_verifier;
    mo.public_paths = paths;
    mo.n_public_paths = cfg->authz.n_public_paths;
    mo.raw_paths = true;
    c->public_paths = ts_authn_mhd_new(&mo, err);
    free(paths);
    return c->public_paths ? TS_OK : TS_EINVAL;
}

ts_gateway__core *ts_gateway__core_new(const ts_gateway_config *cfg,
                                       const ts_gateway__core_options *opts, ts_error *err)
{
    ts_gateway__core_options o = TS_GATEWAY__CORE_OPTIONS_INIT;
    if (opts)
        o = *opts;
    if (!cfg) {
        ts_error_set(err, TS_EINVAL, "gateway", "no configuration");
        return NULL;
    }
    ts_gateway__core *c = calloc(1, sizeof *c);
    if (!c) {
        ts_error_set(err, TS_ENOMEM, "gateway", "out of memory");
        return NULL;
    }
    c->cfg = cfg;
    c->log = o.log ? o.log : log_stderr;
    c->log_ud = o.log ? o.log_ud : NULL;
    if (cfg->authz.n_scope_roles) {
        c->scope_roles = calloc(cfg->authz.n_scope_roles, sizeof *c->scope_roles);
        if (!c->scope_roles) {
            ts_error_set(err, TS_ENOMEM, "authz.scope_roles", "out of memory");
            goto fail;
        }
        for (size_t i = 0; i < cfg->authz.n_scope_roles; i++)
            c->scope_roles[i] = (ts_authn_scope_role){cfg->authz.scope_roles[i].scope,
                                                      cfg->authz.scope_roles[i].role};
    }
    if (!(c->trust = ts_gateway__trust_new(cfg, c->scope_roles, cfg->authz.n_scope_roles, err)))
        goto fail;
    ts_gateway__translator_options to = {
        .issuer = cfg->issuer,
        .key_dir = cfg->key_dir,
        .key_file = cfg->key_file,
        .algorithm = cfg->algorithm,
        .token_type = cfg->translate.token_type,
        .ttl_s = cfg->translate.ttl_s,
        .cache_entries = cfg->translate.cache_entries,
        .read_only_keys = o.read_only_keys,
    };
    if (!(c->translator = ts_gateway__translator_new(&to, err)))
        goto fail;
    if (build_authz(c, err) != TS_OK || build_public_paths(c, err) != TS_OK)
        goto fail;
    return c;
fail:
    ts_gateway__core_free(c);
    return NULL;
}

void ts_gateway__core_free(ts_gateway__core *c)
{
    if (!c)
        return;
    ts_authn_mhd_free(c->public_paths);
    ts_authn_verifier_free(c->public_verifier);
    ts_authz_guard_free(c->guard);
    ts_authz_mapper_free(c->mapper);
    ts_authz_authorizer_free(c->authorizer);
    free(c->routes);
    ts_gateway__translator_free(c->translator);
    ts_gateway__trust_free(c->trust);
    free(c->scope_roles);
    free(c);
}

/* The two parts are independent (authz swaps its snapshot, the keyring its key set), so one
 * failing does not stop the other: the report, not a single status, tells the log which part
 * is kept. */
ts_status ts_gateway__core_reload(ts_gateway__core *c, ts_gateway__reload_report *out)
{
    ts_error_clear(&out->policy_err);
    ts_error_clear(&out->keys_err);
    out->policy = ts_authz_reload(c->authorizer, &out->policy_err);
    out->keys = ts_gateway__translator_reload(c->translator, &out->keys_err);
    return out->policy != TS_OK ? out->policy : out->keys;
}

ts_common__tls_handshake_counters *ts_gateway__core_tls_counters(ts_gateway__core *c)
{
    return &c->metrics.tls;
}

void ts_gateway__core_metrics(ts_gateway__core *c, ts_common__secbuf *out)
{
    uint64_t hits, misses, signed_tokens, vh, vm;
    ts_gateway__translator_counts(c->translator, &hits, &misses, &signed_tokens);
    ts_gateway__trust_cache_stats(c->trust, &vh, &vm);
    ts_gateway__metrics_text(&c->metrics, hits, misses, signed_tokens, vh, vm, out);
    /* The guard keeps the last four policy versions: a few KiB, more after many reloads. */
    char buf[8192];
    size_t len = 0;
    ts_status st = ts_authz_guard_metrics(c->guard, buf, sizeof buf, &len, NULL);
    if (st == TS_OK) {
        ts_common__secbuf_add(out, buf, len);
    } else if (st == TS_ELIMIT) {
        char *big = malloc(len + 1);
        size_t n = 0;
        if (big && ts_authz_guard_metrics(c->guard, big, len + 1, &n, NULL) == TS_OK)
            ts_common__secbuf_add(out, big, n);
        free(big);
    }
}

ts_status ts_gateway__core_jwks(ts_gateway__core *c, ts_common__secbuf *out, ts_error *err)
{
    const char *j = ts_gateway__translator_jwks(c->translator);
    if (!j)
        return ts_error_set(err, TS_ENOMEM, "jwks", "out of memory");
    ts_common__secbuf_adds(out, j);
    return out->oom ? ts_error_set(err, TS_ENOMEM, "jwks", "out of memory") : TS_OK;
}

void ts_gateway__core_policy_version(ts_gateway__core *c, char out[65])
{
    ts_authz_authorizer_policy_version(c->authorizer, out);
}

const ts_authz_guard *ts_gateway__core_guard(const ts_gateway__core *c)
{
    return c->guard;
}
