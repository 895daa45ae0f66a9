/* oom.mhd: tokensmith-mhd's constructors: the connection bounds (ts_mhd_limits_new), and the
   gate from options (ts_mhd_gate_new) and from a JSON file (ts_mhd_gate_new_file), each built
   gate checked against its options: the option array a daemon gets, the bounds, and a token
   verified by the gate's verifier. The per-request check and the framing checks need a
   libmicrohttpd connection and are left to mhd's own tests. */
#include "oom.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <tokensmith/mhd.h>
#include <tokensmith/testutil.h>

#define ISSUER "https://issuer.oom.test"
#define AUDIENCE "oom-svc"

static enum MHD_Result handler(void *cls, struct MHD_Connection *c, const char *url,
                               const char *method, const char *version, const char *upload,
                               size_t *upload_size, void **req_cls)
{
    (void)cls, (void)c, (void)url, (void)method, (void)version, (void)upload;
    (void)upload_size, (void)req_cls;
    return MHD_NO;
}

static void log_sink(const char *line, size_t len, void *ud)
{
    (void)line, (void)len, (void)ud;
}

/* ---- the bounds ------------------------------------------------------------------------------ */

static oom_result run_limits_new(void *p)
{
    (void)p;
    ts_error err;
    ts_error_clear(&err);
    ts_mhd_limits_options o = TS_MHD_LIMITS_OPTIONS_INIT;
    o.handler = handler;
    o.idle_timeout_s = 7;
    o.log = log_sink; /* the watchdog's summary: its thread runs */
    ts_mhd_limits *l = ts_mhd_limits_new(&o, &err);
    OOM_TRY_PTR(l, &err);
    const struct MHD_OptionItem *it = ts_mhd_limits_mhd_options(l);
    bool ok = it[0].option == MHD_OPTION_NOTIFY_CONNECTION &&
              it[1].option == MHD_OPTION_NOTIFY_COMPLETED &&
              it[2].option == MHD_OPTION_CONNECTION_TIMEOUT && it[2].value == 7 &&
              it[3].option == MHD_OPTION_END;
    ts_mhd_limits_stats st;
    ts_mhd_limits_get_stats(l, &st);
    ts_mhd_limits_free(l);
    OOM_EXPECT(ok);
    OOM_EXPECT(st.connections == 0 && st.accepted == 0);
    return OOM_SUCCEEDED;
}

/* ---- the gate -------------------------------------------------------------------------------- */

typedef struct gate_ctx {
    char jwks[4096];      /* the key set's file */
    char gate_file[4096]; /* every member the format has */
    char *token;          /* the viewer fixture's, from the key set's key */
} gate_ctx;

static const char *const issuers[] = {ISSUER};
static const char *const audiences[] = {AUDIENCE, "other-svc"};
static const char *const public_paths[] = {"/health", "/public/*"};
static const char *const authn_only[] = {"/v1/whoami"};
static const ts_authn_scope_role scope_roles[] = {{"read", "viewer"}, {"write", "operator"}};
static const ts_authz_route routes[] = {
    {"GET", "/v1/nodes", "metadata:nodes", NULL},
    {"DELETE", "/v1/nodes/:id", "metadata:nodes", "delete"},
};

static const char gate_json[] =
    "{\"issuers\": [\"" ISSUER "\"], \"audiences\": [\"" AUDIENCE "\", \"other-svc\"],\n"
    " \"jwks\": [\"%s\"], \"scope_roles\": {\"read\": \"viewer\", \"write\": \"operator\"},\n"
    " \"public_paths\": [\"/health\", \"/public/*\"], \"authn_only_paths\": \"/v1/whoami\",\n"
    " \"realm\": \"oom\", \"token_cache\": 16, \"mode\": \"shadow\",\n"
    " \"routes\": [{\"method\": \"GET\", \"pattern\": \"/v1/nodes\", \"object\": "
    "\"metadata:nodes\"},\n"
    "            {\"method\": \"DELETE\", \"pattern\": \"/v1/nodes/:id\", \"object\": "
    "\"metadata:nodes\", \"action\": \"delete\"}],\n"
    " \"action_style\": \"rest\", \"allow_unmapped\": false, \"policy_from_env\": false,\n"
    " \"decision_cache\": 16, \"raw_paths\": false, \"log_allow_sample\": 1,\n"
    " \"limits\": {\"max_per_address\": 8, \"ipv6_prefix\": 56, \"max_connections\": 100,\n"
    "            \"head_timeout_ms\": 5000, \"body_timeout_ms\": 5000, \"idle_timeout_s\": 9,\n"
    "            \"check_framing\": true, \"log_interval_ms\": 1000}}\n";

static void *setup_gate(void)
{
    gate_ctx *c = calloc(1, sizeof *c);
    if (!c)
        oom_wrong("setup: out of memory");
    ts_error err;
    ts_error_clear(&err);
    ts_testutil_key *k = ts_testutil_key_p256(&err);
    const ts_testutil_key *keys[] = {k};
    ts_jwks *set = k ? ts_testutil_jwks(keys, 1, &err) : NULL;
    snprintf(c->jwks, sizeof c->jwks, "%s/jwks.json", oom_scratch_dir());
    if (!set || ts_testutil_jwks_write(set, c->jwks, &err) != TS_OK)
        oom_wrong("setup: keys: %s", err.msg);
    ts_jwks_free(set);
    c->token =
        ts_testutil_mint_for(k, TS_TESTUTIL_VIEWER, ISSUER, AUDIENCE, TS_TESTUTIL_FLAW_NONE, &err);
    ts_testutil_key_free(k);
    if (!c->token)
        oom_wrong("setup: token: %s", err.msg);
    char text[8192];
    const char *at = strstr(gate_json, "%s");
    snprintf(text, sizeof text, "%.*s%s%s", (int)(at - gate_json), gate_json, c->jwks, at + 2);
    snprintf(c->gate_file, sizeof c->gate_file, "%s/gate.json", oom_scratch_dir());
    if (ts_testutil_write_file(c->gate_file, text, strlen(text), &err) != TS_OK)
        oom_wrong("setup: gate file: %s", err.msg);
    return c;
}

static void teardown_gate(void *p, oom_result r)
{
    (void)r;
    gate_ctx *c = p;
    ts_free(c->token);
    free(c);
}

/* What a built gate must be: the options a daemon gets (the unescape callback, then the
   bounds' three), bounds with an idle timeout of @p idle_s, and a verifier that accepts the
   fixture's token. Checked without failures. */
static void check_gate(const gate_ctx *c, ts_mhd_gate *g, unsigned idle_s)
{
    oom_pause();
    const struct MHD_OptionItem *it = ts_mhd_gate_mhd_options(g);
    bool options = it[0].option == MHD_OPTION_UNESCAPE_CALLBACK &&
                   it[1].option == MHD_OPTION_NOTIFY_CONNECTION &&
                   it[2].option == MHD_OPTION_NOTIFY_COMPLETED &&
                   it[3].option == MHD_OPTION_CONNECTION_TIMEOUT && it[3].value == idle_s &&
                   it[4].option == MHD_OPTION_END;
    bool parts = ts_mhd_gate_limits(g) && ts_mhd_gate_authorizer(g) && ts_mhd_gate_guard(g) &&
                 ts_mhd_gate_keysource(g);
    ts_authn_principal *who = NULL;
    ts_error err;
    ts_authn_reason r =
        ts_authn_verify(ts_mhd_gate_verifier(g), c->token, strlen(c->token), &who, NULL, &err);
    bool verified =
        r == TS_AUTHN_OK && strcmp(ts_authn_principal_id(who), "viewer@tokensmith.test") == 0;
    ts_authn_principal_free(who);
    oom_resume();
    if (!options || !parts || !verified)
        oom_wrong("the gate is not what its options say: options %d, parts %d, token %s (%s)",
                  options, parts, ts_authn_reason_str(r), err.msg);
}

static oom_result run_gate_new(void *p)
{
    gate_ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    const char *jwks[] = {c->jwks};
    ts_mhd_gate_options o = TS_MHD_GATE_OPTIONS_INIT;
    o.issuers = issuers;
    o.n_issuers = 1;
    o.audiences = audiences;
    o.n_audiences = 2;
    o.jwks = jwks;
    o.n_jwks = 1;
    o.scope_roles = scope_roles;
    o.n_scope_roles = 2;
    o.public_paths = public_paths;
    o.n_public_paths = 2;
    o.authn_only_paths = authn_only;
    o.n_authn_only_paths = 1;
    o.realm = "oom";
    o.token_cache = 16;
    o.routes = routes;
    o.n_routes = 2;
    o.decision_cache = 16;
    o.log = log_sink;
    o.limits.handler = handler;
    o.limits.idle_timeout_s = 5;
    ts_mhd_gate *g = ts_mhd_gate_new(&o, &err);
    OOM_TRY_PTR(g, &err);
    check_gate(c, g, 5);
    ts_mhd_gate_free(g);
    return OOM_SUCCEEDED;
}

static oom_result run_gate_new_file(void *p)
{
    gate_ctx *c = p;
    ts_error err;
    ts_error_clear(&err);
    ts_mhd_gate_options base = TS_MHD_GATE_OPTIONS_INIT;
    base.log = log_sink;
    base.limits.handler = handler;
    ts_mhd_gate *g = ts_mhd_gate_new_file(c->gate_file, &base, &err);
    OOM_TRY_PTR(g, &err);
    check_gate(c, g, 9);
    ts_mhd_gate_free(g);
    return OOM_SUCCEEDED;
}

static const oom_case cases[] = {
    {"limits_new", NULL, run_limits_new, NULL},
    {"gate_new", setup_gate, run_gate_new, teardown_gate},
    {"gate_new_file", setup_gate, run_gate_new_file, teardown_gate},
};

int main(int argc, char **argv)
{
    return oom_main("oom.mhd", cases, sizeof cases / sizeof cases[0], argc, argv);
}
