/* libFuzzer target: the request-head parser of the agent's listeners
 * (tokenservice/agent/src/rt_httpd_request.c), the code that reads whatever a client sends to
 * `tokensmith agent`'s http and uds sinks, /health and /metrics. Deterministic: pure functions,
 * no state between inputs, no clock, no I/O.
 *
 * The first byte picks the size of the pieces in which the input "arrives" (1..16 bytes), as a
 * client trickling its head would send it; the rest is the bytes on the wire. Checked beyond
 * "no crash":
 *  - the end of the head is found at the same place whether the bytes arrive in pieces or at
 *    once, and it ends with a LF;
 *  - the parse of a head is a known status with its error, the same on a second call; a head
 *    to serve has its path (up to any '?') inside the head;
 *  - the decoded path is no longer than the raw one, holds no NUL, and is NUL-terminated. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "rt_httpd.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void check_head(const char *buf, size_t len)
{
    ts_agent__httpd_head a, b;
    ts_agent__httpd_parse_head(buf, len, &a);
    ts_agent__httpd_parse_head(buf, len, &b);
    if (memcmp(&a, &b, sizeof a) != 0)
        __builtin_trap();
    switch (a.status) {
    case 0:
        if (a.error || a.description || a.path_off + a.path_len > len)
            __builtin_trap();
        if (a.minor > 9)
            __builtin_trap();
        break;
    case 400:
        if (!a.error || strcmp(a.error, "invalid_request") != 0 || !a.description)
            __builtin_trap();
        return;
    case 505:
        if (!a.description)
            __builtin_trap();
        return;
    case 405:
        if (!a.error || strcmp(a.error, "method_not_allowed") != 0)
            __builtin_trap();
        return;
    case 413:
        if (!a.error || strcmp(a.error, "request_body_not_allowed") != 0)
            __builtin_trap();
        return;
    default:
        __builtin_trap();
    }
    char *out = malloc(a.path_len + 1);
    if (!out)
        return;
    long n = ts_agent__httpd_decode_path(buf + a.path_off, a.path_len, out);
    if (n >= 0 && ((size_t)n > a.path_len || out[n] != '\0' || strlen(out) != (size_t)n))
        __builtin_trap();
    free(out);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1)
        return 0;
    size_t piece = (size_t)(data[0] % 16) + 1;
    const char *buf = (const char *)data + 1;
    size_t len = size - 1;
    if (len > TS_AGENT__HTTPD_MAX_HEAD)
        len = TS_AGENT__HTTPD_MAX_HEAD;

    ts_agent__httpd_scan whole = TS_AGENT__HTTPD_SCAN_INIT;
    size_t end_whole = ts_agent__httpd_scan_head(&whole, buf, len);
    ts_agent__httpd_scan s = TS_AGENT__HTTPD_SCAN_INIT;
    size_t end = 0;
    for (size_t have = 0; have < len && !end;) {
        have = have + piece < len ? have + piece : len;
        end = ts_agent__httpd_scan_head(&s, buf, have);
    }
    if (end != end_whole || end > len || (end && buf[end - 1] != '\n'))
        __builtin_trap();
    /* The head as the server would parse it, and the whole input as a head too (any bytes). */
    if (end)
        check_head(buf, end);
    check_head(buf, len);
    return 0;
}
