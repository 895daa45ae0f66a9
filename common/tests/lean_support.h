/* Shared by the lean HTTP client's tests, common.test_http_lean (plain) and
   common.test_http_lean_tls (TLS and the test PKI), and by their builds against libcurl
   (TS_TEST_HTTP_CURL): a scripted loopback server, one exchange with what it returned, and
   small clocks. Its name does not match tests/test_*.c, so it is linked into those tests and is
   no test itself. */
#ifndef TS_COMMON_TESTS_LEAN_SUPPORT_H
#define TS_COMMON_TESTS_LEAN_SUPPORT_H

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <cmocka.h>
#include <openssl/ssl.h>

#include "common/http_client.h"

#ifdef TS_TEST_HTTP_CURL
#define LEAN 0
#else
#define LEAN 1
#endif

/* An error message as the lean client words it (libcurl words its own). */
#define assert_lean_msg(got, want)                                                                 \
    do {                                                                                           \
        if (LEAN)                                                                                  \
            assert_string_equal(got, want);                                                        \
    } while (0)

/* ---- a scripted server: per connection, a reply in parts with a pause between them ---- */

typedef enum lean_mode {
    LEAN_REPLY, /* read the request, write the parts */
    LEAN_DRIP,  /* the parts, then a byte every 100 ms for 10 s */
    LEAN_RESET  /* a FIN, then a reset while the client still writes */
} lean_mode;

/* Set tls, mode, parts and gap_ms before lean_server_start(); request and conns are the
   server thread's until the exchange that filled them has returned (the reply follows them). */
typedef struct lean_server {
    int fd;
    int port;
    pthread_t thread;
    SSL_CTX *tls; /* NULL: plain; borrowed */
    lean_mode mode;
    const char *const *parts[2]; /* the reply to the first and to any later connection */
    unsigned gap_ms;
    int conns;
    char request[16384]; /* the last request as read, NUL-terminated */
    size_t request_len;
} lean_server;

/* Listen on the loopback of @p family (AF_INET or AF_INET6) on a free port and serve on a
   thread of its own; false when that family has no loopback here. */
bool lean_server_start(lean_server *s, int family);
/* Stop listening and join the thread (a connection being served is finished first). */
void lean_server_stop(lean_server *s);
/* A plain server on 127.0.0.1 answering every connection with @p reply (NULL-terminated parts,
   borrowed), started. */
void lean_plain(lean_server *s, const char *const *reply);
/* "scheme://host:port/path" for @p s, in a static buffer: valid until the next call. */
const char *lean_url(const lean_server *s, const char *scheme, const char *host, const char *path);

/* ---- one exchange ---- */

typedef struct lean_result {
    ts_status st;
    long status;
    char *body; /* free with lean_done() */
    size_t n;
    ts_error err;
    bool sent;
    char headers[1024]; /* the response header lines, as on_header saw them */
} lean_result;

/* ts_common__http(@p rq) with on_header, sent and (when 0) a max_body of 64 filled in. */
void lean_fetch(ts_common__http_req *rq, lean_result *r);
void lean_done(lean_result *r);

/* POST 32 MiB to @p s, a server in LEAN_RESET mode, over @p scheme (@p ca_file for https):
   the status it ends with. The process must still be here afterwards (no SIGPIPE). */
ts_status lean_post_into_reset(const lean_server *s, const char *scheme, const char *ca_file);

/* ---- small things ---- */

void lean_sleep_ms(unsigned ms);
double lean_now_s(void);
/* Whether OpenSSL's SSL part has started in this process (its error strings are loaded). */
bool lean_ssl_strings_loaded(void);

#endif
