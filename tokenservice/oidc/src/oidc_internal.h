/* Private contracts between the configuration, discovery, validation and mapping parts. */
#ifndef TS_OIDC_INTERNAL_H
#define TS_OIDC_INTERNAL_H

#include <stdatomic.h>
#include <stdint.h>

#include <jansson.h>

#include <tokensmith/oidc.h>

typedef struct ts_oidc__strv {
    char **v;
    size_t n;
} ts_oidc__strv;

typedef struct ts_oidc__group_scopes {
    char *group;
    ts_oidc__strv scopes;
} ts_oidc__group_scopes;

/** What a provider's tokens are: OpenID Connect ID tokens (or introspected access tokens), or
 *  Kubernetes service-account tokens (kubernetes.c). */
typedef enum ts_oidc__kind { TS_OIDC__KIND_OIDC = 0, TS_OIDC__KIND_KUBERNETES } ts_oidc__kind;

/** One identity rule of a Kubernetes provider: who matches, and what the match grants. */
typedef struct ts_oidc__identity_rule {
    char *issuer;         /* NULL: any (it can only be the provider's own) */
    char *namespace_glob; /* exact, or with '*' and '?' */
    char *account_glob;   /* the service account's name, the same */
    ts_oidc__strv scopes; /* granted scopes */
    ts_oidc__strv roles;  /* roles carried in the issued token */
} ts_oidc__identity_rule;

/** One provider, fully validated, defaults filled in. */
typedef struct ts_oidc__provider {
    ts_oidc__kind kind;
    char *issuer;
    char *client_id;
    char *name;             /* NULL when none */
    char *subject_template; /* as configured, or the default; never NULL once parsed */
    char *subject_prefix;   /* the template's text before {sub}, placeholders expanded */
    char *subject_suffix;   /* and after it */
    char *client_secret;    /* NULL when none */
    unsigned algorithms;    /* TS_JWS_ALG_BIT() set */
    ts_oidc__strv group_claims;
    ts_oidc__group_scopes *group_scopes;
    size_t n_group_scopes;
    ts_oidc__strv audiences;
    ts_oidc__strv resources;
    bool introspection;
    ts_oidc__strv introspection_client_ids;
    unsigned timeout_ms;
    int leeway_s;
    unsigned discovery_ttl_s;
    unsigned jwks_ttl_s;
    unsigned jwks_max_stale_s;
    unsigned jwks_refetch_cooldown_s;
    /* The authentication context (amr, acr, auth_time): carried into the internal token or
       not, and the upstream acr values renamed (acr_from[i] -> acr_to[i]); with a map, an acr
       it does not name is not carried. */
    bool carry_auth_context;
    char **acr_from, **acr_to;
    size_t n_acr_map;
    /* Kubernetes providers only (kind TS_OIDC__KIND_KUBERNETES); client_id is NULL there. */
    ts_oidc__strv accepted_audiences; /* the incoming token's aud must hold one */
    unsigned max_token_age_s;         /* now - iat bound */
    bool allow_legacy_tokens;
    char *jwks_file;               /* keys from this file instead of discovery; or NULL */
    ts_oidc__identity_rule *rules; /* first match wins */
    size_t n_rules;
} ts_oidc__provider;

struct ts_oidc_config {
    atomic_uint refs;
    ts_oidc__provider *p;
    size_t n;
};

/* Configuration parsing helpers shared by config.c and kubernetes_config.c (config_util.c):
   each sets the error with `where` = the field path being parsed and returns false. */
typedef struct ts_oidc__pctx {
    ts_error *err;
    char where[160];
} ts_oidc__pctx;
TS_PRINTF(3, 4) bool ts_oidc__cfg_fail(ts_oidc__pctx *c, ts_status code, const char *fmt, ...);
bool ts_oidc__cfg_printable(const char *s, bool allow_space);
bool ts_oidc__scope_token(const char *s);
bool ts_oidc__absolute_uri(const char *s);
bool ts_oidc__alg_name(const char *s);
bool ts_oidc__cfg_string(ts_oidc__pctx *c, const json_t *v, bool allow_space, char **out);
typedef bool (*ts_oidc__item_check)(const char *s);
bool ts_oidc__cfg_strv(ts_oidc__pctx *c, const json_t *v, ts_oidc__item_check check,
                       const char *what, ts_oidc__strv *out);
bool ts_oidc__cfg_uint(ts_oidc__pctx *c, const json_t *v, unsigned lo, unsigned hi, unsigned *out);
void ts_oidc__strv_free(ts_oidc__strv *s);
/** The strings as a new JSON array (the canonical configuration), or NULL when out of memory. */
json_t *ts_oidc__strv_json(const ts_oidc__strv *s);

/* Kubernetes providers (kubernetes_config.c). */
/** Parse provider object @p o of kind "kubernetes" into @p p (c->where names the provider). */
bool ts_oidc__k8s_parse(ts_oidc__pctx *c, json_t *o, ts_oidc__provider *p);
/** The Kubernetes members of @p p into the canonical JSON object @p o; 0 or -1 (memory). */
int ts_oidc__k8s_to_json(const ts_oidc__provider *p, json_t *o);
/** Free what ts_oidc__k8s_parse() added to @p p. */
void ts_oidc__k8s_free(ts_oidc__provider *p);

/* Identity rules (identity_rules.c). */
/** Whether @p pattern is a valid rule pattern: 1 to 253 of a-z, 0-9, '-', '.', '*', '?'. */
bool ts_oidc__glob_valid(const char *pattern);
/** Glob match: '*' any run (also empty), '?' one character; nothing else is special. */
bool ts_oidc__glob_match(const char *pattern, const char *s);
/** The first rule of @p p matching the account, or NULL: no rule, no grant. */
const ts_oidc__identity_rule *ts_oidc__rule_find(const ts_oidc__provider *p, const char *iss,
                                                 const char *ns, const char *name);
/** Check a Kubernetes subject_template (NULL: the default) and set subject_prefix/suffix to
 *  its fixed text before the first and after the last account placeholder. */
ts_status ts_oidc__k8s_subject_prepare(ts_oidc__provider *p, char *msg, size_t msg_len);
/** The internal subject of an account through @p p's template; malloc'd, or NULL. */
char *ts_oidc__k8s_subject(const ts_oidc__provider *p, const char *ns, const char *name,
                           const char *uid);

/* Narrowing shared by the OIDC mapping and Kubernetes providers (mapping.c). */
/** @p granted narrowed by the space-separated @p scope (NULL/"": all of it) into @p out. */
ts_oidc_reason ts_oidc__narrow_scope(char *const *granted, size_t n_granted, const char *scope,
                                     ts_oidc_claims *out, ts_error *err);
/** The provider's audiences and resources, narrowed by @p nr, into @p out. */
ts_oidc_reason ts_oidc__narrow_targets(const ts_oidc__provider *p, const ts_oidc_narrow *nr,
                                       ts_oidc_claims *out, ts_error *err);
/** Kubernetes subject tokens (kubernetes.c): verify, read the account, apply the rules. */
struct ts_oidc__rp_provider;
ts_oidc_reason ts_oidc__k8s_exchange(ts_oidc *rp, struct ts_oidc__rp_provider *p,
                                     const ts_oidc_exchange_request *req, ts_oidc_claims **out,
                                     ts_error *err);

/** The provider whose issuer equals @p iss byte for byte, or NULL. */
const ts_oidc__provider *ts_oidc__config_find(const ts_oidc_config *cfg, const char *iss,
                                              size_t len);
bool ts_oidc__strv_has(const ts_oidc__strv *s, const char *v);

/* Internal subjects (subject.c). */
#define TS_OIDC__NAME_MAX 64u
#define TS_OIDC__TEMPLATE_MAX 256u
/** Whether @p s is a valid provider name (see subject.c). */
bool ts_oidc__name_valid(const char *s);
/**
 * Check @p p's subject_template (set it to the default when NULL) and expand its fixed parts
 * into subject_prefix and subject_suffix. On failure the message says what is wrong.
 */
ts_status ts_oidc__subject_prepare(ts_oidc__provider *p, char *msg, size_t msg_len);
/** False when some upstream `sub` of @p a and some of @p b could map to the same subject. */
bool ts_oidc__subjects_disjoint(const ts_oidc__provider *a, const ts_oidc__provider *b);
/** The internal subject for the upstream @p sub (no checks on @p sub). malloc'd, or NULL. */
char *ts_oidc__subject_map(const ts_oidc__provider *p, const char *sub, size_t len);

/* A provider's keys (provider_keys.c), the one rule for every verifier built over them. */
struct ts_authn_keysource;
/** Where @p c's keys are: its discovery document (ts_oidc_discovery_fetch() within its
 *  timeout_ms), or nothing to fetch when a Kubernetes provider reads them from its jwks_file
 *  (@p d left empty, TS_OK). @p d is always initialised; release it with
 *  ts_oidc_discovery_cleanup(). */
ts_status ts_oidc__provider_discover(const ts_oidc__provider *c, ts_oidc_discovery *d,
                                     ts_error *err);
/** A key source over @p c's keys, with its jwks_ttl_s, jwks_max_stale_s,
 *  jwks_refetch_cooldown_s and timeout_ms: its jwks_file when it has one (read now), else the
 *  jwks_uri of @p d from ts_oidc__provider_discover() (@p d may be NULL with a jwks_file).
 *  NULL with @p err set. */
struct ts_authn_keysource *ts_oidc__provider_keysource(const ts_oidc__provider *c,
                                                       const ts_oidc_discovery *d, ts_error *err);

/** True for https:// URLs, and http:// ones whose host is loopback. */
bool ts_oidc__url_allowed(const char *url);
/** {issuer without trailing '/'}/.well-known/openid-configuration; malloc'd, NULL when out of
 *  memory (discovery_fetch.c). */
char *ts_oidc__discovery_url(const char *issuer);

/* HTTP: one bounded request. The body is NUL-terminated; free it with free(). */
typedef struct ts_oidc__http_req {
    const char *url;
    const char *form; /* POST body (application/x-www-form-urlencoded), or NULL for GET */
    const char *user; /* HTTP Basic credentials, or NULL */
    const char *secret;
    unsigned timeout_ms;
    size_t max_body;
} ts_oidc__http_req;

ts_status ts_oidc__http(const ts_oidc__http_req *rq, long *status, char **body, size_t *body_len,
                        ts_error *err);
/** application/x-www-form-urlencoded encoding of @p s (RFC 6749 Appendix B). malloc'd. */
char *ts_oidc__form_encode(const char *s, size_t len);

/* Relying party internals shared by id_token.c, introspect.c and exchange.c. */
typedef struct ts_oidc__state ts_oidc__state;
typedef struct ts_oidc__rp_provider ts_oidc__rp_provider;

struct ts_authn_verifier;
/** The verifier and introspection endpoint of a provider, discovering first when needed. */
typedef struct ts_oidc__live {
    ts_oidc__state *st; /* reference; release with ts_oidc__live_release() */
    const struct ts_authn_verifier *verifier;
    const char *introspection_endpoint; /* NULL when the provider has none */
} ts_oidc__live;

/** The `iss` of every legacy Secret-based service-account token, whichever cluster signed it. */
#define TS_OIDC__K8S_LEGACY_ISSUER "kubernetes/serviceaccount"

struct ts_oidc {
    ts_oidc_config *cfg;
    ts_oidc__rp_provider *p; /* one per cfg->p[i] */
    int64_t (*now)(void *ud);
    void *now_ud;
};

int64_t ts_oidc__now(const ts_oidc *rp);
ts_oidc__rp_provider *ts_oidc__rp_find(const ts_oidc *rp, const char *iss, size_t len);
const ts_oidc__provider *ts_oidc__rp_config(const ts_oidc__rp_provider *p);
ts_status ts_oidc__live_get(ts_oidc *rp, ts_oidc__rp_provider *p, ts_oidc__live *out,
                            ts_error *err);
void ts_oidc__live_release(ts_oidc__live *l);

/** The oidc reason for an authn reason (same string). */
ts_oidc_reason ts_oidc__from_authn(int authn_reason);

#endif
