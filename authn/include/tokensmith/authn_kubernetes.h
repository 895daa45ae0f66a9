/*
 * authn, Kubernetes service-account tokens (part of <tokensmith/authn.h>, which includes this
 * header): how a verified projected token's claims are read into the account it names, shared by
 * the token service's kubernetes providers and the gateway.
 */
#ifndef TOKENSMITH_AUTHN_KUBERNETES_H
#define TOKENSMITH_AUTHN_KUBERNETES_H

#include <tokensmith/authn.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TS_AUTHN_K8S_RULES_VERSION 1u

/** How ts_authn_kubernetes_account() reads a verified service-account token. @since 0.2.0 */
typedef struct ts_authn_k8s_rules {
    unsigned version; /**< TS_AUTHN_K8S_RULES_VERSION */
    /** Accept a legacy Secret-based token: its flat `kubernetes.io/serviceaccount/namespace`,
     *  `.../service-account.name` and `.../service-account.uid` claims when the nested
     *  `kubernetes.io` object is absent, and no `exp` (false: such a token is refused with
     *  TS_AUTHN_MISSING_CLAIM). Legacy tokens never expire and are bound to nothing. */
    bool allow_legacy;
    /** > 0: `iat` is required and now - iat may not exceed it (TS_AUTHN_INVALID_CLAIM): the
     *  defence against the one-year "extended" default pod token. 0: no age limit. Projected
     *  tokens only: an allowed legacy token has no `iat` to judge (allowing legacy tokens is
     *  allowing tokens of any age). */
    int64_t max_token_age_s;
} ts_authn_k8s_rules;

#define TS_AUTHN_K8S_RULES_INIT                                                                    \
    {                                                                                              \
        .version = TS_AUTHN_K8S_RULES_VERSION, .allow_legacy = false, .max_token_age_s = 0         \
    }

/** Bounds of the account's fields: Kubernetes object names are DNS subdomains (253 bytes). */
#define TS_AUTHN_K8S_NAME_MAX 253u
#define TS_AUTHN_K8S_UID_MAX 127u

/** The service account a verified token names. Plain data; "" for an absent optional field. */
typedef struct ts_authn_k8s_account {
    char namespace_name[TS_AUTHN_K8S_NAME_MAX + 1]; /**< kubernetes.io.namespace */
    char name[TS_AUTHN_K8S_NAME_MAX + 1];           /**< kubernetes.io.serviceaccount.name */
    char uid[TS_AUTHN_K8S_UID_MAX + 1];             /**< kubernetes.io.serviceaccount.uid */
    char pod_name[TS_AUTHN_K8S_NAME_MAX + 1];       /**< kubernetes.io.pod.name */
    char pod_uid[TS_AUTHN_K8S_UID_MAX + 1];         /**< kubernetes.io.pod.uid */
    char node_name[TS_AUTHN_K8S_NAME_MAX + 1];      /**< kubernetes.io.node.name */
    bool legacy; /**< read from the flat claims of a legacy Secret-based token */
} ts_authn_k8s_account;

/**
 * Read the service account of a verified Kubernetes service-account token: the one reading of
 * these claims for the whole project (the gateway and the token service use it). Checks:
 *  - the nested `kubernetes.io` object with `namespace` and `serviceaccount.name` (missing:
 *    TS_AUTHN_MISSING_CLAIM); these and `serviceaccount.uid`, `pod.{name,uid}`, `node.name`,
 *    when present, non-empty strings without NUL within the bounds above (else
 *    TS_AUTHN_INVALID_CLAIM). Without the nested object, the legacy flat claims only when
 *    @p rules allow legacy tokens;
 *  - `exp` present unless the token is legacy and legacy tokens are allowed
 *    (TS_AUTHN_MISSING_CLAIM);
 *  - `sub` equal to `system:serviceaccount:<namespace>:<name>` (TS_AUTHN_INVALID_CLAIM), so
 *    that a token whose sub and claims name different accounts is read neither way;
 *  - with max_token_age_s, an integer `iat` (TS_AUTHN_MISSING_CLAIM) not older than that
 *    (projected tokens).
 * It does not verify anything else: @p p must come from ts_authn_verify() (issuer, audience,
 * signature and times already checked; a verifier takes legacy tokens, which have no `aud` and
 * no `exp`, only with ts_authn_options.legacy_k8s_issuer).
 * @param rules NULL = TS_AUTHN_K8S_RULES_INIT. @param now Unix seconds.
 * @param out always cleared; filled on TS_AUTHN_OK.
 * @param err may be NULL; `where` names the claim at fault.
 * @return TS_AUTHN_OK or the reason (any other value means refuse); TS_AUTHN_INTERNAL for a
 *         NULL argument or an unknown rules version.
 * Thread-safety: no shared state. @since 0.2.0
 */
TS_API TS_NODISCARD ts_authn_reason ts_authn_kubernetes_account(const ts_authn_principal *p,
                                                                const ts_authn_k8s_rules *rules,
                                                                int64_t now,
                                                                ts_authn_k8s_account *out,
                                                                ts_error *err);

#ifdef __cplusplus
}
#endif
#endif
