/**
 * @file oidc_k8s_bearer.h
 * @brief Kubernetes service-account tokens as bearer tokens of an API of tokensmith's own (the
 *        management API), checked like subject tokens of the exchange but for another audience.
 *
 * A token meant for the exchange carries one of a provider's accepted_audiences; a token meant
 * for an API carries that API's own audience (e.g. "tokensmith-management"). Neither opens the
 * other: the verifier built here accepts exactly @p audience, and a provider whose
 * accepted_audiences holds it is refused when the verifier is built.
 */
#ifndef TOKENSMITH_OIDC_K8S_BEARER_H
#define TOKENSMITH_OIDC_K8S_BEARER_H

#include <stddef.h>

#include <tokensmith/authn.h>
#include <tokensmith/oidc.h>

#ifdef __cplusplus
extern "C" {
#endif

/** The Kubernetes providers of one configuration, for one audience. Immutable after
 *  ts_oidc_k8s_bearer_new() apart from the keys it fetches; any number of threads at once. */
typedef struct ts_oidc_k8s_bearer ts_oidc_k8s_bearer;

/** The caller a token names. Plain data. */
typedef struct ts_oidc_k8s_caller {
    /** The internal subject: the provider's subject_template applied to the account (the
     *  default gives "system:serviceaccount:<namespace>:<name>"), the same subject a token
     *  exchanged for this account carries, so that one policy line names both. */
    char subject[TS_AUTHN_K8S_NAME_MAX * 2 + 256];
    ts_authn_k8s_account account; /**< as ts_authn_kubernetes_account() read it */
    char issuer[256];             /**< the cluster (provider) that signed the token */
    int64_t exp;                  /**< the token's exp (0: none) */
} ts_oidc_k8s_caller;

/**
 * A verifier for the Kubernetes providers ("kind": "kubernetes") of @p cfg whose tokens must
 * carry @p audience. Keys: the provider's jwks_file (read now) or its discovery document's
 * jwks_uri (fetched when the first token of that provider arrives, at most the provider's
 * timeout_ms; after a failure not again for jwks_refetch_cooldown_s).
 * @param cfg referenced (ts_oidc_config_ref()) for the verifier's life.
 * @return the verifier; NULL with @p err set: a provider's accepted_audiences holds
 *         @p audience (TS_EINVAL, `where` "oidc.providers[i].accepted_audiences"), an
 *         unreadable jwks_file, out of memory. A configuration without Kubernetes providers
 *         gives a verifier that handles no token.
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_oidc_k8s_bearer *ts_oidc_k8s_bearer_new(ts_oidc_config *cfg,
                                                               const char *audience, ts_error *err);

/** A new reference. @since 0.2.0 */
TS_API ts_oidc_k8s_bearer *ts_oidc_k8s_bearer_ref(ts_oidc_k8s_bearer *b);

/** Drop a reference; the last one frees. NULL-safe. @since 0.2.0 */
TS_API void ts_oidc_k8s_bearer_free(ts_oidc_k8s_bearer *b);

/** The configuration it was built from (borrowed), to tell whether it is still current.
 *  @since 0.2.0 */
TS_API const ts_oidc_config *ts_oidc_k8s_bearer_config(const ts_oidc_k8s_bearer *b);

/**
 * Whether the UNVERIFIED `iss` of @p token names one of its providers: the token is then
 * this verifier's to decide, any other token someone else's. Never a trust decision.
 * @since 0.2.0
 */
TS_API bool ts_oidc_k8s_bearer_handles(const ts_oidc_k8s_bearer *b, const char *token, size_t len);

/**
 * Verify a service-account token with its provider's checks: signature (kid opaque), `iss`,
 * `aud` holding the audience given to ts_oidc_k8s_bearer_new(), `exp`/`nbf`/`iat` within the
 * provider's leeway, `iat` within max_token_age_s, legacy tokens only when
 * allow_legacy_tokens, `sub` equal to system:serviceaccount:<namespace>:<name> (authn's one
 * reading of these tokens, ts_authn_kubernetes_account()). Identity rules are not consulted:
 * they say what the exchange issues, not who may call an API; the caller's policy decides.
 * @param token untrusted bytes. @param out cleared; filled on TS_AUTHN_OK.
 * @param detail may be NULL; what a refusal knew about the token, for logs.
 * @return TS_AUTHN_OK, or the reason the token is refused (authn's reasons, so that the
 *         refusal is answered as authn answers it: ts_authn_refusal_status() and
 *         ts_authn_refusal_body()); TS_AUTHN_WRONG_ISSUER when it is not a provider's;
 *         TS_AUTHN_INTERNAL when the keys could not be had (discovery failed: answer 503).
 * @since 0.2.0
 */
TS_API TS_NODISCARD ts_authn_reason ts_oidc_k8s_bearer_verify(ts_oidc_k8s_bearer *b,
                                                              const char *token, size_t len,
                                                              ts_oidc_k8s_caller *out,
                                                              ts_authn_detail *detail,
                                                              ts_error *err);

#ifdef __cplusplus
}
#endif
#endif
