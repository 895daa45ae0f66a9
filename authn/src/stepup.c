#define _POSIX_C_SOURCE 200809L
/* Step-up authentication (RFC 9470): whether a verified token's authentication context (`acr`,
   `auth_time`) meets what a verifier or a route requires, and the challenge that tells the
   client what to obtain. A cached principal is judged here on every request, never once at
   verification: auth_time ages while the token stays cached, and one token may meet one route's
   requirement and not another's. */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "verifier_internal.h"

/* An acr value goes into a quoted, space-separated list (acr_values="a b"): no space, quote,
   backslash or control character, and not empty, which would read as no value at all. */
static bool acr_value_ok(const char *s)
{
    if (!s || !*s)
        return false;
    for (const unsigned char *c = (const unsigned char *)s; *c; c++)
        if (*c <= 0x20 || *c == 0x7f || *c == '"' || *c == '\\')
            return false;
    return true;
}

ts_status ts_authn_requirement_check(const ts_authn_requirement *req, ts_error *err)
{
    if (!req || req->version != TS_AUTHN_REQUIREMENT_VERSION)
        return ts_error_set(err, TS_EINVAL, "ts_authn_requirement",
                            "NULL requirement or unknown version");
    if (req->n_acr_values && !req->acr_values)
        return ts_error_set(err, TS_EINVAL, "acr_values", "n_acr_values is %zu but no array",
                            req->n_acr_values);
    for (size_t i = 0; i < req->n_acr_values; i++) {
        if (!acr_value_ok(req->acr_values[i])) {
            char where[48];
            snprintf(where, sizeof where, "acr_values[%zu]", i);
            return ts_error_set(err, TS_EINVAL, where,
                                "%s is empty or holds a space, quote, backslash or control "
                                "character",
                                where);
        }
    }
    if (req->max_age_s < 0)
        return ts_error_set(err, TS_EINVAL, "max_age_s", "max_age_s %" PRId64 " is negative",
                            req->max_age_s);
    return TS_OK;
}

bool ts_authn__requirement_empty(const ts_authn_requirement *req)
{
    return !req || (req->n_acr_values == 0 && req->max_age_s == 0);
}

/* now - t, saturated (t is chosen by the token's signer and may be anywhere in int64_t). */
static int64_t age_of(int64_t now, int64_t t)
{
    if (t < 0 ? now > INT64_MAX + t : now < INT64_MIN + t)
        return t < 0 ? INT64_MAX : INT64_MIN;
    return now - t;
}

ts_authn_reason ts_authn__require(const ts_authn_principal *p, const ts_authn_requirement *req,
                                  int64_t now, int64_t leeway, bool *age_problem, ts_error *err)
{
    if (age_problem)
        *age_problem = false;
    if (req->n_acr_values) {
        const char *acr = ts_authn_principal_acr(p);
        bool ok = false;
        /* Exact bytes: a claim with an embedded NUL is longer than its C string. */
        json_t *j = json_object_get(p->claims, "acr");
        for (size_t i = 0; acr && !ok && i < req->n_acr_values; i++)
            ok = strlen(req->acr_values[i]) == json_string_length(j) &&
                 strcmp(req->acr_values[i], acr) == 0;
        if (!ok) {
            ts_error_set(err, TS_EINVAL, "acr",
                         acr ? "the token's acr is not one of the required values"
                             : "the token has no acr; one of the required values is needed");
            return TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION;
        }
    }
    if (req->max_age_s > 0) {
        int64_t at = 0;
        if (!ts_authn_principal_auth_time(p, &at)) {
            if (age_problem)
                *age_problem = true;
            ts_error_set(err, TS_EINVAL, "auth_time",
                         "the token has no integer auth_time; a recent authentication is needed");
            return TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION;
        }
        int64_t age = age_of(now, at);
        if (age < -leeway) { /* another login would not mend a clock this far ahead */
            ts_error_set(err, TS_EINVAL, "auth_time", "auth_time is in the future");
            return TS_AUTHN_INVALID_CLAIM;
        }
        /* age > max_age + leeway, written so that nothing overflows (both bounds are small). */
        if (age > req->max_age_s && age - req->max_age_s > leeway) {
            if (age_problem)
                *age_problem = true;
            ts_error_set(err, TS_EINVAL, "auth_time",
                         "authentication %" PRId64 " s ago is older than %" PRId64 " s", age,
                         req->max_age_s);
            return TS_AUTHN_INSUFFICIENT_USER_AUTHENTICATION;
        }
    }
    return TS_AUTHN_OK;
}

ts_authn_reason ts_authn_require(const ts_authn_verifier *v, const ts_authn_principal *p,
                                 const ts_authn_requirement *req, bool *age_problem, ts_error *err)
{
    if (age_problem)
        *age_problem = false;
    if (!v || !p || ts_authn_requirement_check(req, err) != TS_OK) {
        if (!v || !p)
            ts_error_set(err, TS_EINVAL, "ts_authn_require", "NULL verifier or principal");
        if (err)
            err->code = TS_EINTERNAL;
        return TS_AUTHN_INTERNAL;
    }
    return ts_authn__require(p, req, ts_authn__verifier_now(v), v->leeway, age_problem, err);
}

ts_status ts_authn_stepup_challenge(const ts_authn_requirement *req, bool with_max_age,
                                    const char *realm, char **challenge, ts_error *err)
{
    if (challenge)
        *challenge = NULL;
    if (!challenge)
        return ts_error_set(err, TS_EINVAL, "ts_authn_stepup_challenge", "NULL argument");
    if (ts_authn_requirement_check(req, err) != TS_OK)
        return TS_EINVAL;
    if (realm && !ts_authn__realm_ok(realm))
        return ts_error_set(err, TS_EINVAL, "realm",
                            "realm must not contain quotes, \\ or control characters");
    size_t cap = 128 + (realm ? strlen(realm) : 0);
    for (size_t i = 0; i < req->n_acr_values; i++)
        cap += strlen(req->acr_values[i]) + 1;
    char *w = malloc(cap);
    if (!w)
        return ts_error_set(err, TS_ENOMEM, "ts_authn_stepup_challenge", "out of memory");
    size_t n = 0;
    if (realm)
        n += (size_t)snprintf(w + n, cap - n, "Bearer realm=\"%s\", ", realm);
    else
        n += (size_t)snprintf(w + n, cap - n, "Bearer ");
    /* No error_description: the error code says it, and a fixed text would need translating. */
    n += (size_t)snprintf(w + n, cap - n, "error=\"insufficient_user_authentication\"");
    if (req->n_acr_values) {
        n += (size_t)snprintf(w + n, cap - n, ", acr_values=\"");
        for (size_t i = 0; i < req->n_acr_values; i++)
            n += (size_t)snprintf(w + n, cap - n, "%s%s", i ? " " : "", req->acr_values[i]);
        n += (size_t)snprintf(w + n, cap - n, "\"");
    }
    if (with_max_age && req->max_age_s > 0)
        snprintf(w + n, cap - n, ", max_age=\"%" PRId64 "\"", req->max_age_s);
    *challenge = w;
    return TS_OK;
}
