/* The form body of each request the client makes, and its client authentication: RFC 6749
 * §4.4 (client_credentials), §6 (refresh_token), §2.3.1 (client_secret_basic and _post) and
 * RFC 8693 §2.1 (token exchange, which tokensmith's bootstrap exchange is one of). */
#include "client_internal.h"

#include <string.h>

static void param(ts_common__secbuf *b, const char *name, const char *value)
{
    if (value)
        ts_client__form_param(b, name, value, strlen(value));
}

/* audience, resource and scope: what the token is for. A refresh keeps its grant's audience
 * (RFC 6749 §6 has no audience), so it is sent on the other requests only. */
static void target(const ts_client__config *cfg, ts_common__secbuf *b, bool audience)
{
    for (size_t i = 0; audience && i < cfg->n_audiences; i++)
        param(b, "audience", cfg->audiences[i]);
    for (size_t i = 0; i < cfg->n_resources; i++)
        param(b, "resource", cfg->resources[i]);
    param(b, "scope", cfg->scope);
}

/* RFC 6749 §2.3.1: the id and the secret are form-urlencoded before they are joined and
 * encoded, so that a ':' in the id cannot move the split. */
static void basic(const ts_client__config *cfg, ts_common__secbuf *auth)
{
    ts_common__secbuf pair = {0};
    ts_client__form_encode(&pair, cfg->client_id, strlen(cfg->client_id));
    ts_common__secbuf_add(&pair, ":", 1);
    ts_client__form_encode(&pair, cfg->client_secret, strlen(cfg->client_secret));
    ts_common__secbuf_adds(auth, "Authorization: Basic ");
    if (pair.oom)
        auth->oom = true;
    else
        ts_client__base64(auth, (const unsigned char *)pair.p, pair.n);
    ts_common__secbuf_wipe(&pair);
}

ts_status ts_client__build_request(const ts_client__config *cfg, const ts_client__request *rq,
                                   ts_common__secbuf *body, ts_common__secbuf *auth, ts_error *err)
{
    switch (rq->kind) {
    case TS_CLIENT__REQ_GRANT:
        if (cfg->grant == TS_CLIENT_GRANT_CLIENT_CREDENTIALS) {
            param(body, "grant_type", "client_credentials");
        } else {
            param(body, "grant_type", TS_CLIENT_GRANT_TYPE_TOKEN_EXCHANGE);
            ts_client__form_param(body, "subject_token", rq->subject, rq->subject_len);
            param(body, "subject_token_type", cfg->subject_token_type);
            if (rq->actor) {
                ts_client__form_param(body, "actor_token", rq->actor, rq->actor_len);
                param(body, "actor_token_type", cfg->actor_token_type);
            }
            param(body, "requested_token_type", cfg->requested_token_type);
        }
        target(cfg, body, true);
        break;
    case TS_CLIENT__REQ_BOOTSTRAP:
        param(body, "grant_type", TS_CLIENT_GRANT_TYPE_TOKEN_EXCHANGE);
        ts_client__form_param(body, "subject_token", rq->credential, rq->credential_len);
        param(body, "subject_token_type", TS_CLIENT_TOKEN_TYPE_BOOTSTRAP);
        param(body, "requested_token_type", cfg->requested_token_type);
        target(cfg, body, true);
        break;
    case TS_CLIENT__REQ_REFRESH:
        param(body, "grant_type", "refresh_token");
        ts_client__form_param(body, "refresh_token", rq->credential, rq->credential_len);
        target(cfg, body, false);
        break;
    default:
        return ts_error_set(err, TS_EINTERNAL, "request", "unknown request kind");
    }
    for (size_t i = 0; i < cfg->n_params; i++)
        param(body, cfg->param_names[i], cfg->param_values[i]);
    switch (cfg->auth) {
    case TS_CLIENT_AUTH_SECRET_BASIC:
        basic(cfg, auth);
        break;
    case TS_CLIENT_AUTH_SECRET_POST:
        param(body, "client_id", cfg->client_id);
        param(body, "client_secret", cfg->client_secret);
        break;
    default:
        param(body, "client_id", cfg->client_id);
        break;
    }
    if (body->oom || auth->oom)
        return ts_error_set(err, TS_ENOMEM, "request", "out of memory");
    return TS_OK;
}
