/* The CLI's one HTTP client, for the service's own APIs on a listener the operator names (the
 * admin API of `oidc status|configure`, the management API of `mappings`): one HTTP/1.1
 * exchange per call with Connection: close, over TCP (http://HOST:PORT, http://[V6]:PORT),
 * TLS over TCP (https://HOST:PORT: the listeners of a `serve` with tlsCertFile; the server's
 * certificate verified against the PEM CA file of $TOKENSMITH_CACERT, else the system's trust,
 * and its name or IP address checked) or, where the caller allows it, a Unix socket
 * (unix:PATH). Bounded: connect, TLS handshake, send and receive share one deadline, and the
 * answer is cut at the caller's maximum. */
#ifndef TS_CLI_ADMIN_HTTP_H
#define TS_CLI_ADMIN_HTTP_H

#include <stdbool.h>
#include <stddef.h>

/* The whole exchange, connect included. */
#define TS_CLI_HTTP_TIMEOUT_S 30

typedef struct ts_cli_http_request {
    const char *url;      /* the listener: http[s]://HOST[:PORT][/...] or unix:PATH */
    const char *ca_file;  /* https: PEM CA file the server must chain to; NULL/"": the system's */
    bool allow_unix;      /* unix:PATH accepted */
    const char *method;   /* "GET", "PUT", ... */
    const char *path;     /* the request target, "/api/v1/..." */
    const char *token;    /* bearer token for the Authorization header, or NULL */
    const char *if_match; /* ETag (without quotes) for If-Match, or NULL */
    const char *body;     /* JSON body (sent with Content-Type: application/json), or NULL */
    size_t max_answer;    /* the most bytes of the answer read, head included */
} ts_cli_http_request;

typedef struct ts_cli_http_answer {
    int status; /* 0: no answer, and msg says why */
    char *body; /* NUL-terminated, free() with ts_cli_http_answer_free() */
    char etag[64];
    char msg[512];
} ts_cli_http_answer;

/** One exchange. Always fills @p out (status 0 with a message on failure). The token is sent
 *  in the Authorization header only and never appears in a message. */
void ts_cli_http_call(const ts_cli_http_request *rq, ts_cli_http_answer *out);

/** Free the body. NULL-safe. */
void ts_cli_http_answer_free(ts_cli_http_answer *a);

#endif
