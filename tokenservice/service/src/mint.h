/* Access-token minting. */
#ifndef TS_SVC_MINT_H
#define TS_SVC_MINT_H

#include <stdint.h>

#include "config.h"
#include "jti.h"
#include "keys.h"

/** The auth method of break-glass tokens (`tokensmith user-token create`): a token minted with
 *  it also carries the claim `"break_glass": true`, whatever claims.nist says. */
#define TS_SVC_BREAK_GLASS_METHOD "local_user_mint"

/** What one access token says. Strings are borrowed for the call. */
typedef struct ts_svc_mint_args {
    const char *subject;
    const char *audience;
    const char *scope;       /**< space-separated; "" or NULL = no scope claim */
    const char *session_id;  /**< the refresh family id */
    int64_t session_end;     /**< the family's absolute expiry */
    const char *auth_method; /**< "bootstrap_exchange", "refresh_token", "oidc_exchange" or
                                  TS_SVC_BREAK_GLASS_METHOD */
    const char *auth_event;  /**< "bootstrap_token_exchange" or "refresh_token_grant" */
    int64_t now;
    /** When n_audiences > 0: the `aud` array instead of @c audience. */
    const char *const *audiences;
    size_t n_audiences;
    /** When > 0: the expiry instead of now + accessTokenTTL (it may only shorten it). */
    int64_t exp;
    /** When n_auth_methods > 0: `auth_methods` instead of [auth_method]. */
    const char *const *auth_methods;
    size_t n_auth_methods;
    /** A JSON object of further claims (upstream name, email, amr, ...), or NULL. Members that
     * would replace a claim set above are ignored. */
    const char *extra_claims;
    /** "service" (bootstrap and refresh grants: workload identities) or "user" (upstream
     *  OIDC and break-glass): the `principal_type` claim verifiers read. NULL = none. */
    const char *principal_type;
} ts_svc_mint_args;

/**
 * Sign an access token with the active key. Claims, in order: iss, sub, aud (array), exp, nbf,
 * iat, jti (random UUIDv4), scope (string), principal_type, break_glass (break-glass tokens
 * only), cluster_id, openchami_id, and with claims.nist:
 * auth_level, auth_factors, auth_methods, session_id, session_exp (<= iat + 86400),
 * auth_events.
 * @param jwt_out free with ts_free(). @param jti_out receives the jti.
 */
TS_NODISCARD ts_status ts_svc_mint(const ts_svc_config *c, const ts_svc_keyring *kr,
                                   const ts_svc_mint_args *a, char **jwt_out,
                                   char jti_out[TS_SVC_JTI_LEN + 1], ts_error *err);

#endif
