/* libFuzzer target: client authentication at /oauth/revoke and /oauth/introspect. The input is
 * an Authorization header value, a newline, and a form body. The header is decoded as Basic
 * credentials and the whole request is authenticated against a fixed registry: every input must
 * come out as one of the outcomes, consistently with what the decoder said, never crash, leak or
 * read past its bounds. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "clients.h"
#include "form.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const char registry[] =
    "[{\"client_id\":\"rs1\",\"client_secret\":\"s3cret-s3cret-s3cret\",\"introspect\":true},"
    "{\"client_id\":\"a%b\",\"client_secret\":\"p%w q+0123456789abc\",\"revoke_any\":true}]";

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static ts_svc_clients *reg;
    if (!reg) {
        ts_error e;
        ts_error_clear(&e);
        if (ts_svc_clients_parse(registry, sizeof registry - 1, false, &reg, &e) != TS_OK)
            __builtin_trap();
    }
    if (size > 2 * TS_FORM_MAX_BODY)
        return 0;
    const uint8_t *nl = memchr(data, '\n', size);
    size_t hlen = nl ? (size_t)(nl - data) : size;
    char *hdr = malloc(hlen + 1);
    if (!hdr)
        return 0;
    memcpy(hdr, data, hlen);
    hdr[hlen] = '\0';
    char id[TS_SVC_CLIENT_ID_MAX + 1], secret[TS_SVC_CLIENT_SECRET_MAX + 1];
    ts_status st = ts_svc_basic_decode(hdr, hlen, id, secret);
    if (st == TS_OK && (!id[0] || strlen(id) > TS_SVC_CLIENT_ID_MAX ||
                        strlen(secret) > TS_SVC_CLIENT_SECRET_MAX || strchr(id, '\n')))
        __builtin_trap();
    if (st != TS_OK && (id[0] || (st != TS_EINVAL && st != TS_ENOTFOUND)))
        __builtin_trap();
    ts_form *f = NULL;
    ts_error e;
    ts_error_clear(&e);
    const char *body = nl ? (const char *)nl + 1 : "";
    size_t blen = nl ? size - hlen - 1 : 0;
    if (ts_form_parse(body, blen, &f, &e) == TS_OK) {
        ts_svc_client who;
        bool basic = false;
        /* A header without its NUL inside counts; one with a NUL is what a server never sees. */
        const char *authz = strlen(hdr) == hlen && hlen ? hdr : NULL;
        ts_svc_auth a =
            ts_svc_clients_authenticate(reg, authz, ts_form_get(f, "client_id", NULL),
                                        ts_form_get(f, "client_secret", NULL), &who, &basic);
        if (a == TS_SVC_AUTH_OK && strcmp(who.id, "rs1") != 0 && strcmp(who.id, "a%b") != 0)
            __builtin_trap();
        if (a != TS_SVC_AUTH_OK && who.id[0])
            __builtin_trap();
        if (authz && basic != (ts_svc_basic_decode(authz, hlen, id, secret) != TS_ENOTFOUND))
            __builtin_trap();
        ts_form_free(f);
    }
    free(hdr);
    return 0;
}
