/* The one-line text of a ts_error (common/error_text.h). */
#define _POSIX_C_SOURCE 200809L
#include "common/error_text.h"

#include <stdio.h>
#include <string.h>

void ts_common__error_text(const ts_error *err, char *buf, size_t cap)
{
    if (cap == 0)
        return;
    if (!err || err->code == TS_OK) {
        snprintf(buf, cap, "unknown error");
        return;
    }
    const char *msg = err->msg[0] ? err->msg : ts_status_str(err->code);
    size_t wlen = strnlen(err->where, sizeof err->where);
    /* Parsers often put "file:line: problem" in the message already; do not say it twice. */
    if (wlen == 0 || strncmp(msg, err->where, wlen) == 0)
        snprintf(buf, cap, "%s", msg);
    else
        snprintf(buf, cap, "%.*s: %s", (int)wlen, err->where, msg);
}
