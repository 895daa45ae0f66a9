/* RFC 7662 introspection of opaque access tokens. The answer is flat; it is trusted only for the
   claims it returned, and only after the iss, client_id and aud checks. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "oidc_internal.h"

static ts_oidc__rp_provider *pick(ts_oidc *rp, const char *issuer, ts_error *err)
{
    if (issuer) {
        ts_oidc__rp_provider *p = ts_oidc__rp_find(rp, issuer, strlen(issuer));
        if (!p)
            ts_error_set(err, TS_EINVAL, "issuer", "issuer \"%.150s\" is not a configured provider",
                         issuer);
        else if (!ts_oidc__rp_config(p)->introspection) {
            ts_error_set(err, TS_EINVAL, "issuer", "introspection is not enabled for \"%.150s\"",
                         issuer);
            p = NULL;
        }
        return p;
    }
    ts_oidc__rp_provider *found = NULL;
    size_t n = 0;
    for (size_t i = 0; i < rp->cfg->n; i++)
        if (rp->cfg->p[i].introspection) {
            found = ts_oidc__rp_find(rp, rp->cfg->p[i].issuer, strlen(rp->cfg->p[i].issuer));
            n++;
        }
    if (n != 1) {
        ts_error_set(err, TS_EINVAL, "issuer",
                     n ? "several providers introspect: the request must name one"
                       : "no provider has introspection enabled");
        return NULL;
    }
    return found;
}

static ts_oidc_reason check_answer(const ts_oidc__provider *c, json_t *a, int64_t now,
                                   ts_error *err)
{
    if (!json_is_true(json_object_get(a, "active")))
        return ts_error_set(err, TS_EINVAL, "active", "the provider says the token is not active"),
               TS_OIDC_INACTIVE;
    const json_t *iss = json_object_get(a, "iss");
    if (iss && (!json_is_string(iss) || strcmp(json_string_value(iss), c->issuer) != 0))
        return ts_error_set(err, TS_EINVAL, "iss", "introspection names another issuer"),
               TS_OIDC_WRONG_ISSUER;
    const char *cid = json_string_value(json_object_get(a, "client_id"));
    if (!cid)
        return ts_error_set(err, TS_EINVAL, "client_id", "introspection returned no client_id"),
               TS_OIDC_MISSING_CLAIM;
    if (!ts_oidc__strv_has(&c->introspection_client_ids, cid))
        return ts_error_set(err, TS_EINVAL, "client_id",
                            "token was issued to client \"%.100s\", not an accepted one", cid),
               TS_OIDC_WRONG_CLIENT;
    const json_t *aud = json_object_get(a, "aud");
    if (aud) {
        bool ok = json_is_string(aud) && strcmp(json_string_value(aud), c->client_id) == 0;
        size_t i;
        const json_t *e;
        json_array_foreach(aud, i, e) ok |=
            json_is_string(e) && strcmp(json_string_value(e), c->client_id) == 0;
        if (!ok)
            return ts_error_set(err, TS_EINVAL, "aud", "token audience does not include \"%.100s\"",
                                c->client_id),
                   TS_OIDC_WRONG_AUDIENCE;
    }
    if (!json_is_string(json_object_get(a, "sub")))
        return ts_error_set(err, TS_EINVAL, "sub", "introspection returned no sub"),
               TS_OIDC_MISSING_CLAIM;
    const json_t *exp = json_object_get(a, "exp");
    if (!json_is_integer(exp))
        return ts_error_set(err, TS_EINVAL, "exp", "introspection returned no exp"),
               TS_OIDC_MISSING_CLAIM;
    if ((int64_t)json_integer_value(exp) + c->leeway_s <= now)
        return ts_error_set(err, TS_EINVAL, "exp", "token expired"), TS_OIDC_EXPIRED;
    return TS_OIDC_OK;
}

ts_oidc_reason ts_oidc_introspect(ts_oidc *rp, const char *issuer, const char *token, size_t len,
                                  char **claims_json, ts_error *err)
{
    if (claims_json)
        *claims_json = NULL;
    if (!rp)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_introspect", "NULL relying party"),
               TS_OIDC_INTERNAL;
    if (!token || len == 0)
        return ts_error_set(err, TS_EINVAL, "token", "no subject token"), TS_OIDC_MISSING_TOKEN;
    if (len > 16384)
        return ts_error_set(err, TS_ELIMIT, "token", "token larger than 16384 bytes"),
               TS_OIDC_TOO_LARGE;
    ts_oidc__rp_provider *p = pick(rp, issuer, err);
    if (!p)
        return TS_OIDC_WRONG_ISSUER;
    const ts_oidc__provider *c = ts_oidc__rp_config(p);
    ts_oidc__live live;
    if (ts_oidc__live_get(rp, p, &live, err) != TS_OK)
        return TS_OIDC_DISCOVERY_FAILED;
    char *enc = ts_oidc__form_encode(token, len);
    static const char pre[] = "token=", hint[] = "&token_type_hint=access_token";
    char *form = enc ? malloc(sizeof pre + strlen(enc) + sizeof hint) : NULL;
    if (!form) {
        free(enc);
        ts_oidc__live_release(&live);
        return ts_error_set(err, TS_ENOMEM, "introspection", "out of memory"), TS_OIDC_INTERNAL;
    }
    size_t el = strlen(enc);
    memcpy(form, pre, sizeof pre - 1);
    memcpy(form + sizeof pre - 1, enc, el);
    memcpy(form + sizeof pre - 1 + el, hint, sizeof hint);
    free(enc);
    ts_oidc__http_req rq = {.url = live.introspection_endpoint,
                            .form = form,
                            .user = c->client_id,
                            .secret = c->client_secret,
                            .timeout_ms = c->timeout_ms,
                            .max_body = TS_OIDC_MAX_DOC_BYTES};
    long status = 0;
    char *body = NULL;
    size_t n = 0;
    ts_status st = ts_oidc__http(&rq, &status, &body, &n, err);
    free(form);
    ts_oidc__live_release(&live);
    if (st != TS_OK)
        return TS_OIDC_INTROSPECTION_FAILED;
    if (status != 200) {
        free(body);
        return ts_error_set(err, TS_EIO, "introspection", "provider answered HTTP status %ld",
                            status),
               TS_OIDC_INTROSPECTION_FAILED;
    }
    /* A repeated member is refused, not read as "last one wins": {"active":false,...,
       "active":true} must not be an active token to us and an inactive one to the provider. */
    json_error_t je;
    json_t *a = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
    free(body);
    if (!json_is_object(a)) {
        /* The parser's own text would quote the answer; say only what kind of fault it is. */
        const char *why = a ? "is not a JSON object"
                          : json_error_code(&je) == json_error_duplicate_key ? "repeats a member"
                                                                             : "is not valid JSON";
        json_decref(a);
        return ts_error_set(err, TS_EPARSE, "introspection", "answer %s", why),
               TS_OIDC_INTROSPECTION_FAILED;
    }
    ts_oidc_reason r = check_answer(c, a, ts_oidc__now(rp), err);
    if (r == TS_OIDC_OK) {
        json_object_set_new(a, "iss", json_string(c->issuer));
        json_object_del(a, "active");
        if (claims_json && !(*claims_json = json_dumps(a, JSON_COMPACT | JSON_PRESERVE_ORDER))) {
            ts_error_set(err, TS_ENOMEM, "introspection", "out of memory");
            r = TS_OIDC_INTERNAL;
        }
    }
    json_decref(a);
    return r;
}
