/* Request framing checks: refuse the requests whose length two HTTP parsers could read
 * differently (request smuggling, RFC 9112 §6.3 and §11.2).
 *
 * libmicrohttpd 0.9.75 (Debian 12) frames a request like this (connection.c,
 * parse_connection_headers): a Transfer-Encoding of any value makes the body length unknown and
 * only "chunked" is decoded (anything else is read until the connection closes); Content-Length
 * is ignored when Transfer-Encoding is present; of two Content-Length headers the first wins;
 * "Host" is only required in pedantic mode; and a header line "Content-Length : 5" is stored
 * under the name "Content-Length " (with the space), so the request has no body to
 * libmicrohttpd while a lenient proxy in front sees five bytes of one. Each of these is a place
 * where a proxy and this server can disagree about where the next request starts, so each is
 * refused here, before the server's handler sees anything, and the connection is closed after
 * the answer (libmicrohttpd reads no body once an answer is queued on the first call). */
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "mhd_internal.h"

typedef struct framing {
    unsigned content_length, transfer_encoding, host;
    bool te_not_chunked;
    bool blank_in_name;
} framing;

static enum MHD_Result count_header(void *cls, enum MHD_ValueKind kind, const char *key,
                                    const char *value)
{
    (void)kind;
    framing *f = cls;
    if (!key)
        return MHD_YES;
    if (strpbrk(key, " \t"))
        f->blank_in_name = true;
    if (strcasecmp(key, MHD_HTTP_HEADER_CONTENT_LENGTH) == 0) {
        f->content_length++;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_TRANSFER_ENCODING) == 0) {
        f->transfer_encoding++;
        /* Exactly "chunked": a list ("gzip, chunked") or another coding is not framed the same
         * way by every parser, and this server decodes nothing else. */
        if (!value || strcasecmp(value, "chunked") != 0)
            f->te_not_chunked = true;
    } else if (strcasecmp(key, MHD_HTTP_HEADER_HOST) == 0) {
        f->host++;
    }
    return MHD_YES;
}

/* The reason to refuse, or NULL. */
static const char *framing_problem(struct MHD_Connection *conn, const char *version)
{
    framing f;
    memset(&f, 0, sizeof f);
    MHD_get_connection_values(conn, MHD_HEADER_KIND, count_header, &f);
    bool http11 = version && strcmp(version, MHD_HTTP_VERSION_1_1) == 0;
    if (f.blank_in_name)
        return "White space in a header field name";
    if (f.content_length > 1)
        return "More than one Content-Length header";
    if (f.transfer_encoding && f.content_length)
        return "Transfer-Encoding together with Content-Length";
    if (f.transfer_encoding > 1)
        return "More than one Transfer-Encoding header";
    if (f.te_not_chunked)
        return "Unsupported Transfer-Encoding (only chunked is accepted)";
    if (f.transfer_encoding && !http11)
        return "Transfer-Encoding in a request older than HTTP/1.1";
    if (http11 && f.host == 0)
        return "HTTP/1.1 request without a Host header";
    if (f.host > 1)
        return "More than one Host header";
    return NULL;
}

enum MHD_Result ts_mhd_queue_invalid_request(struct MHD_Connection *conn, unsigned status,
                                             const char *description)
{
    char body[512];
    int n =
        snprintf(body, sizeof body, "{\"error\":\"invalid_request\",\"error_description\":\"%s\"}",
                 description ? description : "Invalid request");
    if (n < 0 || (size_t)n >= sizeof body)
        return MHD_NO;
    struct MHD_Response *r =
        MHD_create_response_from_buffer((size_t)n, body, MHD_RESPMEM_MUST_COPY);
    if (!r)
        return MHD_NO;
    enum MHD_Result ret = MHD_NO;
    if (MHD_add_response_header(r, MHD_HTTP_HEADER_CONTENT_TYPE, "application/json") == MHD_YES &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_CACHE_CONTROL, "no-store") == MHD_YES &&
        MHD_add_response_header(r, MHD_HTTP_HEADER_CONNECTION, "close") == MHD_YES)
        ret = MHD_queue_response(conn, status, r);
    MHD_destroy_response(r);
    return ret;
}

ts_hook_result ts_mhd_check_framing(struct MHD_Connection *conn, const char *version)
{
    const char *why = framing_problem(conn, version);
    if (!why)
        return TS_HOOK_CONTINUE;
    return ts_mhd_queue_invalid_request(conn, MHD_HTTP_BAD_REQUEST, why) == MHD_YES
               ? TS_HOOK_RESPONDED
               : TS_HOOK_ERROR;
}
