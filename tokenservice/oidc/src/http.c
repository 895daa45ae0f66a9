/* The provider's side of an HTTP exchange (discovery GET, introspection POST): its headers and
   client_secret_basic credentials, over the common bounded client (common/http_client.h); and
   the form encoding of RFC 6749 Appendix B. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "common/http_client.h"
#include "common/mem.h"
#include "oidc_internal.h"

ts_status ts_oidc__http(const ts_oidc__http_req *rq, long *status, char **out, size_t *out_len,
                        ts_error *err)
{
    *out = NULL;
    *out_len = 0;
    *status = 0;
    static const char *const get_headers[] = {"Accept: application/json"};
    static const char *const form_headers[] = {"Accept: application/json",
                                               "Content-Type: application/x-www-form-urlencoded"};
    ts_common__http_req hr = {.url = rq->url,
                              .headers = rq->form ? form_headers : get_headers,
                              .n_headers = rq->form ? 2 : 1,
                              .body = rq->form,
                              .body_len = rq->form ? strlen(rq->form) : 0,
                              .user_agent = "tokensmith-oidc",
                              .timeout_ms = rq->timeout_ms,
                              .max_body = rq->max_body};
    char *user = NULL, *pass = NULL;
    if (rq->user) {
        /* RFC 6749 §2.3.1: client_secret_basic form-encodes id and secret before Base64. */
        user = ts_oidc__form_encode(rq->user, strlen(rq->user));
        pass =
            ts_oidc__form_encode(rq->secret ? rq->secret : "", rq->secret ? strlen(rq->secret) : 0);
        if (!user || !pass) {
            free(user);
            free(pass);
            return ts_error_set(err, TS_ENOMEM, rq->url, "out of memory");
        }
        hr.user = user;
        hr.password = pass;
    }
    ts_status st = ts_common__http(&hr, status, out, out_len, err);
    free(user);
    if (pass) {
        ts_common__memzero(pass, strlen(pass));
        free(pass);
    }
    return st;
}

char *ts_oidc__form_encode(const char *s, size_t len)
{
    static const char hex[] = "0123456789ABCDEF";
    if (len > (SIZE_MAX - 1) / 3)
        return NULL;
    char *o = malloc(len * 3 + 1), *q = o;
    if (!o)
        return NULL;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '-' || c == '.' || c == '_' || c == '*') {
            *q++ = (char)c;
        } else if (c == ' ') {
            *q++ = '+';
        } else {
            *q++ = '%';
            *q++ = hex[c >> 4];
            *q++ = hex[c & 15];
        }
    }
    *q = '\0';
    return o;
}
