/* The answer to a refused request, shared by the libmicrohttpd hook and by any front that
   authenticates with authn (the gateway): the status (401 for a verdict on the token, 503 when
   verification could not be completed), the authz.deny.v1 body and the RFC 6750 challenge. One
   place, so that every front refuses with the same bytes. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authn_internal.h"

/* TS_AUTHN_INTERNAL says nothing about the token: verification could not be completed. Calling
   that an invalid token would tell the client to drop a good token (and the operator to look
   for forged ones), so it is answered as the server's condition it is: 503, try again. Every
   other reason, keys_unavailable included, is a verdict on the token. */
int ts_authn_refusal_status(ts_authn_reason r)
{
    if (r == TS_AUTHN_OK)
        return 0;
    /* A fail-closed revocation source without a fresh list cannot say whether the token was
       revoked: the server's condition as well, not the token's. */
    return r == TS_AUTHN_INTERNAL || r == TS_AUTHN_REVOCATIONS_UNAVAILABLE ? 503 : 401;
}

bool ts_authn__request_id_ok(const char *id, size_t len)
{
    if (!id || len == 0 || len > TS_AUTHN__MAX_REQUEST_ID)
        return false;
    for (size_t i = 0; i < len; i++)
        if ((unsigned char)id[i] <= 0x20 || (unsigned char)id[i] >= 0x7f)
            return false;
    return true;
}

bool ts_authn__realm_ok(const char *realm)
{
    /* The realm goes inside a quoted-string (RFC 9110 §5.6.4): no quote or backslash, which
       would need escaping, and no control character but HTAB, which a header cannot carry. */
    for (const unsigned char *p = (const unsigned char *)realm; *p; p++)
        if (*p == '"' || *p == '\\' || (*p < 0x20 && *p != '\t') || *p == 0x7f)
            return false;
    return true;
}

/* What the body says, by the kind of refusal. */
typedef struct deny_text {
    const char *code, *message, *reason;
} deny_text;

/* A string member from (pointer, length); invalid UTF-8 from the client leaves it out. */
static void set_str(json_t *o, const char *key, const char *s, size_t n)
{
    json_object_set_new(o, key, s ? json_stringn(s, n) : json_string(""));
}

ts_status ts_authn_refusal_body(ts_authn_reason r, const ts_authn_refused_request *rq, char **body,
                                size_t *len, ts_error *err)
{
    if (body)
        *body = NULL;
    if (len)
        *len = 0;
    if (!body || !rq || r == TS_AUTHN_OK)
        return ts_error_set(err, TS_EINVAL, "ts_authn_refusal_body",
                            "NULL argument, or TS_AUTHN_OK is not a refusal");
    /* missing_token: no credentials were sent at all (RFC 6750 §3.1), which is not an invalid
       token; internal_error: ours, not the token's (see ts_authn_refusal_status()). */
    static const deny_text required = {"AUTHN_REQUIRED", "authentication required", "no_principal"},
                           invalid = {"AUTHN_INVALID", "invalid token", "invalid_token"},
                           unavailable = {"AUTHN_UNAVAILABLE",
                                          "authentication could not be completed",
                                          "internal_error"},
                           step_up = {"AUTHN_STEP_UP",
                                      "stronger or more recent authentication "
                                      "required",
                                      "insufficient_user_authentication"};
    bool req = r == TS_AUTHN_MISSING_TOKEN;
    /* A step-up refusal is about a good token: the client needs another login, not a new token
       from the same one (RFC 9470). */
    const deny_text *t = req ? &required
                         : r == TS_AUTHN_INTERNAL || r == TS_AUTHN_REVOCATIONS_UNAVAILABLE
                             ? &unavailable
                         : r == TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION ? &step_up
                                                                          : &invalid;
    json_t *o = json_object(), *pr = json_object(), *in = json_object(), *rqo = json_object();
    char *s = NULL;
    if (!o || !pr || !in || !rqo)
        goto out;
    json_object_set_new(o, "schema_version", json_string("authz.deny.v1"));
    json_object_set_new(o, "code", json_string(t->code));
    json_object_set_new(o, "message", json_string(t->message));
    json_object_set_new(o, "decision", json_string("deny"));
    json_object_set_new(o, "reason", json_string(t->reason));
    json_object_set_new(o, "mode", json_string("enforce"));
    json_object_set_new(pr, "id", json_string(""));
    json_object_set_new(pr, "type", json_string("unknown"));
    json_object_set(o, "principal", pr);
    set_str(in, "object", rq->path, rq->path_len);
    set_str(in, "action", rq->method, rq->method_len);
    json_object_set(o, "input", in);
    json_object_set_new(o, "policy_version", json_string(""));
    set_str(rqo, "method", rq->method, rq->method_len);
    set_str(rqo, "path", rq->path, rq->path_len);
    json_object_set(o, "request", rqo);
    if (ts_authn__request_id_ok(rq->request_id, rq->request_id_len))
        set_str(o, "request_id", rq->request_id, rq->request_id_len);
    if (!req) {
        json_t *det = json_object();
        json_object_set_new(det, "authn_reason", json_string(ts_authn_reason_str(r)));
        json_object_set_new(o, "details", det);
    }
    s = json_dumps(o, JSON_COMPACT);
out:
    json_decref(pr);
    json_decref(in);
    json_decref(rqo);
    json_decref(o);
    size_t n = s ? strlen(s) : 0;
    char *line = s ? realloc(s, n + 2) : NULL; /* one line: the body ends in a newline */
    if (!line) {
        free(s);
        return ts_error_set(err, TS_ENOMEM, "ts_authn_refusal_body", "out of memory");
    }
    line[n] = '\n';
    line[n + 1] = '\0';
    *body = line;
    if (len)
        *len = n + 1;
    return TS_OK;
}

ts_status ts_authn_refusal_challenge(ts_authn_reason r, const char *realm, char **challenge,
                                     ts_error *err)
{
    if (challenge)
        *challenge = NULL;
    if (!challenge || r == TS_AUTHN_OK)
        return ts_error_set(err, TS_EINVAL, "ts_authn_refusal_challenge",
                            "NULL argument, or TS_AUTHN_OK is not a refusal");
    if (realm && !ts_authn__realm_ok(realm))
        return ts_error_set(err, TS_EINVAL, "realm",
                            "realm must not contain quotes, \\ or control characters");
    /* A 503 has no challenge at all: other credentials would not change it (RFC 9110 §11.6.1). */
    if (ts_authn_refusal_status(r) == 503)
        return TS_OK;
    /* RFC 6750 §3.1: no error attribute when the request carried no credentials. */
    const char *error = r == TS_AUTHN_MISSING_TOKEN ? ""
                        : r == TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION
                            ? "error=\"insufficient_user_authentication\""
                            : "error=\"invalid_token\"";
    size_t cap = sizeof "Bearer realm=\"\", " + (realm ? strlen(realm) : 0) + strlen(error);
    char *w = malloc(cap);
    if (!w)
        return ts_error_set(err, TS_ENOMEM, "ts_authn_refusal_challenge", "out of memory");
    if (realm)
        snprintf(w, cap, "Bearer realm=\"%s\"%s%s", realm, *error ? ", " : "", error);
    else
        snprintf(w, cap, "Bearer%s%s", *error ? " " : "", error);
    *challenge = w;
    return TS_OK;
}
