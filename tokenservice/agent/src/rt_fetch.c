/* Fetching an `http` or `file` source: the request with its headers and JSON body rendered from
 * the current tokens of its inputs, or the file; then its tokens parsed out of the answer. */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "common/file.h"
#include "common/http_client.h"
#include "common/json_writer.h"
#include "common/mem.h"
#include "rt_internal.h"

/* The response's header lines, kept up to a bound (they may hold a token). */
typedef struct headers_buf {
    char buf[16384];
    size_t len;
    bool cut;
} headers_buf;

static void on_header(const char *line, size_t len, void *ud)
{
    headers_buf *h = ud;
    /* A new status line starts a new answer (after a 100 Continue): keep only the last. */
    if (len >= 5 && memcmp(line, "HTTP/", 5) == 0)
        h->len = 0;
    if (h->len + len + 1 > sizeof h->buf) {
        h->cut = true;
        return;
    }
    memcpy(h->buf + h->len, line, len);
    h->len += len;
    h->buf[h->len] = '\0';
}

typedef struct request_parts {
    char *lines[TS_AGENT_MAX_FIELDS + 2];
    size_t lens[TS_AGENT_MAX_FIELDS + 2];
    size_t n;
    char *body;
    size_t body_len;
} request_parts;

static void parts_clear(request_parts *p)
{
    for (size_t i = 0; i < p->n; i++)
        ts_agent__secret_free(p->lines[i], p->lens[i]);
    ts_agent__secret_free(p->body, p->body_len);
    memset(p, 0, sizeof *p);
}

/* The header lines and the body of @p hs, with the values of this moment. A value that cannot
 * be produced fails the fetch when it is required and is left out otherwise. */
static ts_status build_request(ts_agent__graph *g, const ts_agent_source *src, request_parts *p,
                               ts_error *err)
{
    const ts_agent_http_source *hs = &src->http;
    for (size_t i = 0; i < hs->n_headers; i++) {
        char *v;
        size_t vl;
        ts_status st = ts_agent__value_text(g, &hs->headers[i].value, &v, &vl, err);
        if (st == TS_ENOTFOUND && !hs->headers[i].value.required)
            continue;
        if (st != TS_OK)
            return st;
        size_t nl = strlen(hs->headers[i].name), ll = nl + 2 + vl;
        char *line = malloc(ll + 1);
        if (!line) {
            ts_agent__secret_free(v, vl);
            return ts_error_set(err, TS_ENOMEM, src->id, "out of memory");
        }
        memcpy(line, hs->headers[i].name, nl);
        memcpy(line + nl, ": ", 2);
        memcpy(line + nl + 2, v, vl);
        line[ll] = '\0';
        ts_agent__secret_free(v, vl);
        p->lines[p->n] = line;
        p->lens[p->n++] = ll;
    }
    if (hs->method != TS_AGENT_METHOD_POST)
        return TS_OK;
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_UTF8);
    ts_common__json_open(&w);
    for (size_t i = 0; i < hs->n_body; i++) {
        char *v;
        size_t vl;
        ts_status st = ts_agent__value_text(g, &hs->body[i].value, &v, &vl, err);
        if (st == TS_ENOTFOUND && !hs->body[i].value.required)
            continue;
        if (st != TS_OK) {
            ts_common__json_cleanup(&w);
            return st;
        }
        ts_common__json_key(&w, hs->body[i].name);
        ts_common__json_strn(&w, v, vl);
        ts_agent__secret_free(v, vl);
    }
    ts_common__json_close(&w);
    p->body = ts_common__json_take(&w, &p->body_len);
    ts_common__json_cleanup(&w);
    if (!p->body)
        return ts_error_set(err, TS_ENOMEM, src->id, "out of memory");
    static const char ct[] = "Content-Type: application/json";
    if (!(p->lines[p->n] = strdup(ct)))
        return ts_error_set(err, TS_ENOMEM, src->id, "out of memory");
    p->lens[p->n++] = sizeof ct - 1;
    return TS_OK;
}

/* A token read from the body by a JSON pointer, or an expiry read from it, needs a JSON
 * answer: an error page or a login form with status 200 is refused by its type first. */
static bool needs_json(const ts_agent_source *src)
{
    for (size_t i = 0; i < src->n_tokens; i++) {
        const ts_agent_token_spec *t = &src->tokens[i];
        if ((t->parent == TS_AGENT_PARENT_BODY && *t->pointer) ||
            t->expiration.source == TS_AGENT_EXP_JSON_BODY_FIELD)
            return true;
    }
    return false;
}

/* The last Content-Type of @p headers is application/json or a +json type. */
static bool json_type(const char *headers)
{
    const char *v = NULL;
    for (const char *p = headers; *p;) {
        const char *e = strchr(p, '\n');
        if (strncasecmp(p, "Content-Type:", 13) == 0)
            v = p + 13;
        if (!e)
            break;
        p = e + 1;
    }
    if (!v)
        return false;
    while (*v == ' ' || *v == '\t')
        v++;
    size_t n = strcspn(v, ";\r\n \t");
    return (n == 16 && strncasecmp(v, "application/json", 16) == 0) ||
           (n > 5 && strncasecmp(v + n - 5, "+json", 5) == 0);
}

static ts_status fetch_http(ts_agent__graph *g, const ts_agent_source *src, const atomic_bool *stop,
                            ts_agent__token *out, ts_error *err)
{
    request_parts parts;
    memset(&parts, 0, sizeof parts);
    ts_status st = build_request(g, src, &parts, err);
    if (st != TS_OK) {
        parts_clear(&parts);
        return st;
    }
    headers_buf *hb = calloc(1, sizeof *hb);
    if (!hb) {
        parts_clear(&parts);
        return ts_error_set(err, TS_ENOMEM, src->id, "out of memory");
    }
    const ts_agent_config *cfg = ts_agent__graph_config(g);
    ts_common__http_req rq = {
        .url = src->http.endpoint.url,
        .headers = (const char *const *)parts.lines,
        .n_headers = parts.n,
        .body = parts.body,
        .body_len = parts.body_len,
        .user_agent = "tokensmith-agent",
        .timeout_ms = cfg->settings.request_timeout_ms,
        .max_body = TS_AGENT__MAX_BODY,
        /* The configuration has already applied its own URL rule (loopback and link-local
         * plain http); the exchange must not refuse a metadata server at 169.254.169.254. */
        .allow_plain_http = true,
        .stop = stop,
        .on_header = on_header,
        .header_ud = hb,
        .label = src->id,
        .ca_file = *src->http.endpoint.ca_file ? src->http.endpoint.ca_file : NULL,
    };
    long status = 0;
    char *body = NULL;
    size_t body_len = 0;
    st = ts_common__http(&rq, &status, &body, &body_len, err);
    parts_clear(&parts);
    if (st == TS_OK && (status < 200 || status > 299))
        st = ts_error_set(err, TS_EIO, src->id, "the server answered %ld", status);
    if (st == TS_OK && needs_json(src) && !json_type(hb->buf))
        st = ts_error_set(err, TS_EPARSE, src->id,
                          "the answer's Content-Type is not JSON (application/json or +json)");
    if (st == TS_OK)
        st = ts_agent__parse_tokens(src, body, body_len, hb->buf, ts_agent__graph_now_ms(g) / 1000,
                                    out, err);
    ts_common__memzero(hb, sizeof *hb);
    free(hb);
    ts_agent__secret_free(body, body_len);
    return st;
}

ts_status ts_agent__fetch_http_file(ts_agent__graph *g, size_t i, const atomic_bool *stop,
                                    ts_agent__token *out, ts_error *err)
{
    const ts_agent_source *src = &ts_agent__graph_config(g)->sources[i];
    if (src->type == TS_AGENT_SOURCE_HTTP)
        return fetch_http(g, src, stop, out, err);
    char *body;
    size_t len;
    ts_status st = ts_common__read_file(src->file_path, TS_AGENT__MAX_BODY, TS_COMMON__READ_NO_NUL,
                                        &body, &len, err);
    if (st != TS_OK)
        return st;
    st = ts_agent__parse_tokens(src, body, len, "", ts_agent__graph_now_ms(g) / 1000, out, err);
    ts_agent__secret_free(body, len);
    return st;
}
