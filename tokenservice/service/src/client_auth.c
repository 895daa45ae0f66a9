/* Client authentication (RFC 6749 §2.3.1) at /oauth/revoke, /oauth/introspect and the token
 * endpoint: the registry decides (clients.c); credentials outside VSCHAR are refused here, the
 * way node oidc-provider refuses them (tests/clientauth compares the two). Failures are
 * answered here, count against the caller's address like failed grants, and are logged with
 * the client_id they named (never a secret). */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <string.h>

#include <openssl/crypto.h>

/* RFC 6749 Appendix A.1 and A.2: a client_id and a client_secret are VSCHAR (%x20-7E). */
static bool vschar_only(const char *s)
{
    for (; *s; s++)
        if ((unsigned char)*s < 0x20 || (unsigned char)*s > 0x7e)
            return false;
    return true;
}

/* Whether @p authz is Basic credentials that decode (RFC 6749 §2.3.1) to something other than
 * VSCHAR: a malformed request (400), as node oidc-provider answers, not a wrong secret. */
static bool basic_not_vschar(const char *authz)
{
    char id[TS_SVC_CLIENT_ID_MAX + 1], secret[TS_SVC_CLIENT_SECRET_MAX + 1];
    if (ts_svc_basic_decode(authz, strlen(authz), id, secret) != TS_OK)
        return false;
    bool bad = !vschar_only(id) || !vschar_only(secret);
    OPENSSL_cleanse(secret, sizeof secret);
    return bad;
}

ts_svc_auth ts_svc__client_auth(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                const ts_form *form, ts_svc_client *who, enum MHD_Result *r)
{
    const char *authz =
        MHD_lookup_connection_value(conn, MHD_HEADER_KIND, MHD_HTTP_HEADER_AUTHORIZATION);
    const char *fid = ts_form_get(form, "client_id", NULL);
    const char *fsecret = ts_form_get(form, "client_secret", NULL);
    bool basic = false;
    ts_svc_auth a = ts_svc_clients_authenticate(s->clients, authz, fid, fsecret, who, &basic);
    if (basic && a != TS_SVC_AUTH_MALFORMED && basic_not_vschar(authz))
        a = TS_SVC_AUTH_MALFORMED;
    else if (!basic && a == TS_SVC_AUTH_OK && !vschar_only(fsecret))
        a = TS_SVC_AUTH_BAD; /* a secret outside VSCHAR is no client's, whatever was configured */
    if (a != TS_SVC_AUTH_OK)
        memset(who, 0, sizeof *who);
    if (a == TS_SVC_AUTH_OK || a == TS_SVC_AUTH_NONE)
        return a;
    char key[TS_STORE_MAX_PEER_LEN + 1];
    ts_svc__client_key(s, conn, rq, key, sizeof key);
    unsigned fails = ts_store_limiter_fail(s->limiter, key, strlen(key), ts_svc__mono_ms());
    json_t *f = json_object();
    json_object_set_new(f, "audit_event", json_string("client_authentication_failed"));
    json_object_set_new(f, "client", json_string(key));
    json_object_set_new(f, "failures", json_integer(fails));
    json_object_set_new(f, "method",
                        json_string(basic ? "client_secret_basic" : "client_secret_post"));
    if (fid && strlen(fid) <= TS_SVC_CLIENT_ID_MAX)
        json_object_set_new(f, "client_id", json_string(fid));
    if (a == TS_SVC_AUTH_MALFORMED)
        *r = ts_svc__oauth_error(s, conn, rq, path, 400, "invalid_request",
                                 "Client authentication must use exactly one well-formed method", f,
                                 NULL, NULL);
    else
        *r = ts_svc__oauth_error(s, conn, rq, path, 401, "invalid_client",
                                 "Client authentication failed", f, "WWW-Authenticate",
                                 TS_SVC_WWW_AUTH_BASIC);
    return a;
}

ts_form *ts_svc__client_request(ts_svc *s, mhd_conn *conn, req *rq, const char *path,
                                ts_svc_client *who, ts_svc_auth *auth, enum MHD_Result *r)
{
    char key[TS_STORE_MAX_PEER_LEN + 1];
    ts_svc__client_key(s, conn, rq, key, sizeof key);
    char retry[24];
    if (ts_svc__limited(s, key, retry)) {
        *r = ts_svc__oauth_error(s, conn, rq, path, 429, "too_many_requests",
                                 TS_SVC_MSG_LIMITED_AUTH, NULL, "Retry-After", retry);
        return NULL;
    }
    ts_form *form = ts_svc__read_form(s, conn, rq, path, r);
    if (!form)
        return NULL;
    *auth = ts_svc__client_auth(s, conn, rq, path, form, who, r);
    if (*auth == TS_SVC_AUTH_BAD || *auth == TS_SVC_AUTH_MALFORMED) {
        ts_form_free(form);
        return NULL;
    }
    return form;
}
