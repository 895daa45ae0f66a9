/* libFuzzer target: libtokensmith-client's token-response parser (client/src/response.c), the
 * code that reads whatever a token endpoint answers. The first byte picks the HTTP status, the
 * second the Content-Type, the rest is the body. Deterministic: no state between inputs, no
 * clock, no I/O. Checked beyond "no crash": a success holds tokens of visible ASCII of the
 * stated lengths within the cap, a failure leaves nothing allocated, a non-200 answer is never
 * a success, and the error fields are always terminated, printable text. */
#define _POSIX_C_SOURCE 200809L
#include <stddef.h>
#include <stdint.h>
#include <string.h>

/* The parser's private header: the fuzz target is the one user outside the library. */
#include "../client/src/response.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_TOKEN 512u

static const long statuses[] = {200, 200, 200, 200, 400, 401, 403, 429, 500, 502, 503, 302};
static const char *const types[] = {
    "application/json",    "application/json; charset=utf-8",
    "Application/JSON",    "application/token+json",
    "text/html",           NULL,
    " application/json ;", "application/jsonx",
};

static void visible(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x21 || (unsigned char)s[i] > 0x7e)
            __builtin_trap();
}

static void printable_z(const char *s, size_t cap)
{
    size_t n = strnlen(s, cap);
    if (n == cap)
        __builtin_trap();
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            __builtin_trap();
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 2)
        return 0;
    long status = statuses[data[0] % (sizeof statuses / sizeof statuses[0])];
    const char *ctype = types[data[1] % (sizeof types / sizeof types[0])];
    const char *body = (const char *)data + 2;
    size_t len = size - 2;
    ts_client__tokens t;
    ts_client_oauth_error oe;
    ts_error err;
    ts_error_clear(&err);
    ts_status st = ts_client__parse_response(status, ctype, body, len, MAX_TOKEN, &t, &oe, &err);
    if (oe.http_status != status)
        __builtin_trap();
    printable_z(oe.error, sizeof oe.error);
    printable_z(oe.error_description, sizeof oe.error_description);
    printable_z(oe.error_uri, sizeof oe.error_uri);
    if (st == TS_OK) {
        if (status != 200 || !t.access_token || t.access_len == 0 || t.access_len > MAX_TOKEN ||
            strlen(t.access_token) != t.access_len || !t.token_type[0])
            __builtin_trap();
        visible(t.access_token, t.access_len);
        visible(t.token_type, strlen(t.token_type));
        if (t.refresh_token) {
            if (t.refresh_len == 0 || t.refresh_len > MAX_TOKEN ||
                strlen(t.refresh_token) != t.refresh_len)
                __builtin_trap();
            visible(t.refresh_token, t.refresh_len);
        }
        if (t.has_expires_in && (t.expires_in < 0 || t.expires_in > TS_CLIENT__MAX_LIFETIME_S))
            __builtin_trap();
    } else if (t.access_token || t.refresh_token || t.scope || t.issued_token_type ||
               err.code != st) {
        __builtin_trap();
    }
    ts_client__tokens_cleanup(&t);
    return 0;
}
