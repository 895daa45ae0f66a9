/* oom.oidc: what works without a network: the provider configuration (parse, canonical JSON),
   the relying party's construction, and the mapping of verified upstream claims to internal
   ones (narrowed by the request), with their JSON. Discovery, ID token verification and
   introspection need an upstream provider and are left out. */
#include "oom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/oidc.h>

static const char cfg_json[] =
    "{\"providers\":["
    "{\"issuer\":\"https://idp.example.com\",\"client_id\":\"ts\",\"name\":\"corp\","
    "\"client_secret\":\"s3cret\",\"group_claims\":[\"groups\",\"roles\"],"
    "\"group_scopes\":{\"admins\":[\"admin\",\"node:write\"],\"ops\":[\"node:read\"]},"
    "\"audiences\":[\"smd\",\"bss\"],\"resources\":[\"https://smd.example.com\"],"
    "\"algorithms\":[\"RS256\",\"ES256\"]},"
    "{\"issuer\":\"https://k8s.example.com\",\"client_id\":\"k8s\",\"name\":\"k8s\","
    "\"subject_template\":\"k8s:{sub}\",\"audiences\":[\"smd\"]}]}";

static const char claims_json[] =
    "{\"iss\":\"https://idp.example.com\",\"sub\":\"alice\",\"aud\":\"ts\","
    "\"exp\":1700000600,\"name\":\"Alice\",\"email\":\"alice@example.com\","
    "\"email_verified\":true,\"groups\":[\"admins\",\"ops\",\"other\"],\"roles\":\"ops\","
    "\"amr\":[\"pwd\",\"otp\"],\"acr\":\"urn:mfa\",\"auth_time\":1699999000}";

static oom_result run_config_parse(void *p)
{
    (void)p;
    ts_error err;
    ts_error_clear(&err);
    ts_oidc_config *c = ts_oidc_config_parse(cfg_json, sizeof cfg_json - 1, &err);
    OOM_TRY_PTR(c, &err);
    bool ok = ts_oidc_config_count(c) == 2 &&
              strcmp(ts_oidc_config_issuer(c, 1), "https://k8s.example.com") == 0 &&
              strcmp(ts_oidc_config_subject_template(c, 0), "{name}:{sub}") == 0;
    ts_oidc_config_free(c);
    OOM_EXPECT(ok);
    return OOM_SUCCEEDED;
}

/* The configuration, and what each call gives without failures (to compare with). */
typedef struct ctx {
    ts_oidc_config *cfg;
    char *cfg_json;  /* ts_oidc_config_to_json() */
    char *claims[2]; /* ts_oidc_claims_to_json() without and with narrowing */
} ctx;

static const char *const narrow_aud[] = {"bss"};
static const char *const narrow_res[] = {"https://smd.example.com"};
static const ts_oidc_narrow narrowing = {.scope = "node:read admin",
                                         .audiences = narrow_aud,
                                         .n_audiences = 1,
                                         .resources = narrow_res,
                                         .n_resources = 1};

static char *mapped_json(const ts_oidc_config *cfg, const ts_oidc_narrow *n)
{
    ts_error err;
    ts_oidc_claims *c = NULL;
    if (ts_oidc_map_claims(cfg, claims_json, sizeof claims_json - 1, n, &c, &err) != TS_OIDC_OK)
        oom_wrong("setup: map: %s", err.msg);
    char *json = ts_oidc_claims_to_json(c, &err);
    ts_oidc_claims_free(c);
    if (!json)
        oom_wrong("setup: claims json: %s", err.msg);
    return json;
}

static void *setup_config(void)
{
    ctx *c = calloc(1, sizeof *c);
    ts_error err;
    c->cfg = c ? ts_oidc_config_parse(cfg_json, sizeof cfg_json - 1, &err) : NULL;
    if (!c->cfg)
        oom_wrong("setup: config: %s", err.msg);
    c->cfg_json = ts_oidc_config_to_json(c->cfg, false, &err);
    if (!c->cfg_json)
        oom_wrong("setup: config json: %s", err.msg);
    c->claims[0] = mapped_json(c->cfg, NULL);
    c->claims[1] = mapped_json(c->cfg, &narrowing);
    return c;
}

static void teardown_config(void *p, oom_result r)
{
    (void)r;
    ctx *c = p;
    ts_oidc_config_free(c->cfg);
    ts_free(c->cfg_json);
    ts_free(c->claims[0]);
    ts_free(c->claims[1]);
    free(c);
}

static oom_result run_config_to_json(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    char *json = ts_oidc_config_to_json(c->cfg, false, &err);
    OOM_TRY_PTR(json, &err);
    bool same = strcmp(json, c->cfg_json) == 0;
    ts_free(json);
    OOM_EXPECT(same);
    OOM_EXPECT(strstr(c->cfg_json, "\"********\"") && !strstr(c->cfg_json, "s3cret") &&
               strstr(c->cfg_json, "\"subject_template\":\"k8s:{sub}\""));
    return OOM_SUCCEEDED;
}

static oom_result run_oidc_new(void *p)
{
    ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_oidc *rp = ts_oidc_new(c->cfg, NULL, &err);
    OOM_TRY_PTR(rp, &err);
    unsigned long n = ts_oidc_discovery_count(rp, "https://idp.example.com");
    ts_oidc_free(rp);
    OOM_EXPECT(n == 0);
    return OOM_SUCCEEDED;
}

static bool has(char **v, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (strcmp(v[i], s) == 0)
            return true;
    return false;
}

static oom_result map(const ctx *x, const ts_oidc_narrow *narrow, const char *want, size_t nscopes)
{
    ts_error err;
    ts_error_clear(&err);
    ts_oidc_claims *c = NULL;
    ts_oidc_reason r =
        ts_oidc_map_claims(x->cfg, claims_json, sizeof claims_json - 1, narrow, &c, &err);
    if (r != TS_OIDC_OK) {
        OOM_EXPECT(c == NULL);
        if (r == TS_OIDC_MALFORMED && oom_parser_misreported())
            return OOM_REFUSED; /* jansson called the failure bad JSON */
        if (r != TS_OIDC_INTERNAL)
            oom_wrong("claims refused as %s: %s (%s)", ts_oidc_reason_str(r), err.msg, err.where);
        return oom_refused(err.code, &err);
    }
    bool ok = strcmp(c->sub, "corp:alice") == 0 && strcmp(c->upstream_sub, "alice") == 0 &&
              c->email_verified == 1 && c->n_scopes == nscopes &&
              has(c->scopes, c->n_scopes, "node:read") && c->n_amr == 2 &&
              c->auth_time == 1699999000 && c->n_groups == 3;
    char *json = ts_oidc_claims_to_json(c, &err);
    ts_oidc_claims_free(c);
    if (!json)
        return oom_refused(err.code, &err);
    bool same = strcmp(json, want) == 0;
    ts_free(json);
    OOM_EXPECT(ok && same);
    return OOM_SUCCEEDED;
}

static oom_result run_map_claims(void *p)
{
    ctx *c = p;
    return map(c, NULL, c->claims[0], 3);
}

static oom_result run_map_narrowed(void *p)
{
    ctx *c = p;
    return map(c, &narrowing, c->claims[1], 2);
}

static const oom_case cases[] = {
    {"config_parse", NULL, run_config_parse, NULL},
    {"config_to_json", setup_config, run_config_to_json, teardown_config},
    {"oidc_new", setup_config, run_oidc_new, teardown_config},
    {"map_claims", setup_config, run_map_claims, teardown_config},
    {"map_claims_narrowed", setup_config, run_map_narrowed, teardown_config},
};

int main(int argc, char **argv)
{
    return oom_main("oom.oidc", cases, sizeof cases / sizeof cases[0], argc, argv);
}
