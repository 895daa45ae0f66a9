/* A downstream program using the installed oidc library: parse a provider configuration and map
 * verified upstream claims to internal ones (no network). */
#include <stdio.h>
#include <string.h>

#include <tokensmith/oidc.h>

int main(void)
{
    static const char cfg_json[] =
        "{\"providers\":[{\"issuer\":\"https://idp.example.com\",\"client_id\":\"tokensmith\","
        "\"name\":\"corp\",\"group_scopes\":{\"admins\":[\"admin\",\"read\"]}}]}";
    static const char claims_json[] =
        "{\"iss\":\"https://idp.example.com\",\"sub\":\"alice\",\"groups\":[\"admins\"]}";
    ts_error err;
    ts_error_clear(&err);
    ts_oidc_config *cfg = ts_oidc_config_parse(cfg_json, strlen(cfg_json), &err);
    if (!cfg) {
        fprintf(stderr, "config: %s: %s\n", err.where, err.msg);
        return 1;
    }
    ts_oidc_claims *c = NULL;
    ts_oidc_reason r = ts_oidc_map_claims(cfg, claims_json, strlen(claims_json), NULL, &c, &err);
    char *json = r == TS_OIDC_OK ? ts_oidc_claims_to_json(c, &err) : NULL;
    int ok = json && strcmp(c->sub, "corp:alice") == 0 && c->n_scopes == 2;
    if (ok)
        printf("oidc: %s\n", json);
    else
        fprintf(stderr, "oidc: %s (%s)\n", ts_oidc_reason_str(r), err.msg);
    ts_free(json);
    ts_oidc_claims_free(c);
    ts_oidc_config_free(cfg);
    return ok ? 0 : 1;
}
