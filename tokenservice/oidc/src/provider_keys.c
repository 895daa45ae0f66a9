/* Where a provider's keys come from, for every verifier built over them: the exchange's
   relying party (discovery.c) and the bearer tokens of tokensmith's own API
   (kubernetes_bearer.c). A Kubernetes provider with a jwks_file takes its keys from that file
   and never asks the network; any other provider from the jwks_uri its discovery document
   names. The key source over them follows the provider's jwks_* settings. One place decides
   both, so that a token the exchange accepts and one the API accepts are checked against the
   same keys, cached the same way. */
#define _POSIX_C_SOURCE 200809L
#include <string.h>

#include <tokensmith/authn.h>

#include "oidc_internal.h"

/* The file of @p c's keys, or NULL when they come from discovery. */
static const char *jwks_file(const ts_oidc__provider *c)
{
    return c->kind == TS_OIDC__KIND_KUBERNETES ? c->jwks_file : NULL;
}

ts_status ts_oidc__provider_discover(const ts_oidc__provider *c, ts_oidc_discovery *d,
                                     ts_error *err)
{
    memset(d, 0, sizeof *d);
    if (jwks_file(c))
        return TS_OK; /* a cluster whose discovery is not reachable */
    return ts_oidc_discovery_fetch(c->issuer, c->timeout_ms, d, err);
}

ts_authn_keysource *ts_oidc__provider_keysource(const ts_oidc__provider *c,
                                                const ts_oidc_discovery *d, ts_error *err)
{
    ts_authn_keysource_options ko = TS_AUTHN_KEYSOURCE_OPTIONS_INIT;
    const char *one[1] = {jwks_file(c)};
    if (one[0]) {
        ko.jwks_files = one;
        ko.n_jwks_files = 1;
    } else if (d && d->jwks_uri) {
        one[0] = d->jwks_uri;
        ko.urls = one;
        ko.n_urls = 1;
    } else {
        ts_error_set(err, TS_EINVAL, c->issuer, "no jwks_uri and no jwks_file");
        return NULL;
    }
    ko.default_ttl_s = c->jwks_ttl_s;
    /* The floor under a key set's Cache-Control max-age: a minute, or the configured TTL
       when shorter, so that an operator's short TTL is never lengthened. */
    ko.min_ttl_s = c->jwks_ttl_s < 60 ? c->jwks_ttl_s : 60;
    ko.max_stale_s = c->jwks_max_stale_s;
    ko.refetch_cooldown_s = c->jwks_refetch_cooldown_s;
    ko.timeout_ms = c->timeout_ms;
    return ts_authn_keysource_new(&ko, err);
}
