/* Discovery documents: RFC 8414 metadata (built once at start). */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <stdio.h>
#include <string.h>

char *ts_svc__build_metadata(const ts_svc_config *c)
{
    char base[TS_SVC_STR];
    snprintf(base, sizeof base, "%s", c->issuer);
    size_t l = strlen(base);
    while (l && base[l - 1] == '/')
        base[--l] = '\0';
    char url[TS_SVC_STR + 64];
    json_t *d = json_object();
    json_object_set_new(d, "issuer", json_string(c->issuer));
    snprintf(url, sizeof url, "%s/oauth/token", base);
    json_object_set_new(d, "token_endpoint", json_string(url));
    snprintf(url, sizeof url, "%s/.well-known/jwks.json", base);
    json_object_set_new(d, "jwks_uri", json_string(url));
    json_t *g = json_array();
    json_array_append_new(g, json_string(TS_SVC_GRANT_EXCHANGE));
    json_array_append_new(g, json_string(TS_SVC_GRANT_REFRESH));
    json_object_set_new(d, "grant_types_supported", g);
    json_object_set_new(d, "response_types_supported", json_array());
    json_t *am = json_array();
    json_array_append_new(am, json_string("none"));
    json_object_set_new(d, "token_endpoint_auth_methods_supported", am);
    /* No token_endpoint_auth_signing_alg_values_supported: it describes JWT client
     * authentication (RFC 8414 §2), which this endpoint does not use. */
    json_t *tt = json_array();
    json_array_append_new(tt, json_string(TS_SVC_TT_BOOTSTRAP));
    /* Upstream ID and access tokens are accepted by the token endpoint; until a provider is
     * configured (config file or admin API, at any time) they are answered invalid_request. */
    json_array_append_new(tt, json_string(TS_SVC_TT_ID_TOKEN));
    json_array_append_new(tt, json_string(TS_SVC_TT_ACCESS));
    json_object_set_new(d, "subject_token_types_supported", tt);
    /* RFC 7009 and RFC 7662: holders revoke their own tokens without credentials (none);
     * introspection is for registered clients only. */
    snprintf(url, sizeof url, "%s/oauth/revoke", base);
    json_object_set_new(d, "revocation_endpoint", json_string(url));
    json_t *rm = json_array();
    json_array_append_new(rm, json_string("none"));
    json_array_append_new(rm, json_string("client_secret_basic"));
    json_array_append_new(rm, json_string("client_secret_post"));
    json_object_set_new(d, "revocation_endpoint_auth_methods_supported", rm);
    snprintf(url, sizeof url, "%s/oauth/introspect", base);
    json_object_set_new(d, "introspection_endpoint", json_string(url));
    json_t *im = json_array();
    json_array_append_new(im, json_string("client_secret_basic"));
    json_array_append_new(im, json_string("client_secret_post"));
    json_object_set_new(d, "introspection_endpoint_auth_methods_supported", im);
    /* Not registered with IANA: where verifiers poll the signed list of revoked jtis
     * (docs/revocation.md). */
    snprintf(url, sizeof url, "%s/oauth/revocations", base);
    json_object_set_new(d, "revocation_list_endpoint", json_string(url));
    /* RFC 8705 §3.3: tokens of /service-identity/session carry cnf.x5t#S256 (docs/mtls.md). */
    if (c->service_identity_ca_file[0] && c->service_identity_bind)
        json_object_set_new(d, "tls_client_certificate_bound_access_tokens", json_true());
    char *out = json_dumps(d, JSON_COMPACT | JSON_PRESERVE_ORDER);
    json_decref(d);
    return out;
}
