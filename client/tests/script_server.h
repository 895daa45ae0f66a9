/* A scripted loopback token endpoint for the client's tests (test_exchange.c, test_failures.c):
 * one connection at a time, each request recorded, each answered with what the test set last
 * (or never, while silent). The tests' main thread drives it; the server runs on a thread of
 * its own. Below it, the client side those tests share: a clock the test moves, options for a
 * client of the endpoint, and calls that fail the test with the library's message. */
#ifndef TS_CLIENT_SCRIPT_SERVER_H
#define TS_CLIENT_SCRIPT_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include <tokensmith/client.h>

/** Start it on 127.0.0.1 and a free port. @return 0, or -1. */
int script_start(void);
void script_stop(void);
/** "http://127.0.0.1:PORT/token" */
const char *script_endpoint(void);
/** Answer @p status with @p body, Content-Type @p ctype (NULL: none) and @p headers (extra
 *  header lines, each ending in CRLF; may be NULL). */
void script_answer(int status, const char *ctype, const char *headers, const char *body);
/** Answer 200 application/json with @p json. */
void script_answer_token(const char *json);
/** Wait @p ms after reading each request before answering (0: at once). */
void script_delay(unsigned ms);
/** Read each request and never answer (the client's deadline ends it). */
void script_silent(void);
/** The last request, head and body. */
void script_last_request(char *out, size_t cap);
/** The body of a request. */
const char *script_body_of(const char *req);
/** Requests received so far. */
int script_requests(void);
/** cmocka group fixtures: script_start() before the first test, script_stop() after the last. */
int script_setup(void **state);
int script_teardown(void **state);

/* ---- the client side ---------------------------------------------------------------------- */

/** A token answer good for an hour. */
#define SCRIPT_TOKEN_OK "{\"access_token\":\"at-1\",\"token_type\":\"Bearer\",\"expires_in\":3600}"

/** The clients' clock (ts_client_options.clock_ms), in ms: it starts at 1,000,000 and moves
 *  only by script_clock_advance(). */
int64_t script_clock(void *ud);
void script_clock_advance(int64_t ms);
/** client_credentials at script_endpoint() with @p auth (client "svc:a b", secret
 *  "p@ss/w+rd=" unless TS_CLIENT_AUTH_NONE), script_clock, a 2 s deadline. */
ts_client_options script_cc_options(ts_client_auth auth);
/** ts_client_new(), failing the test with the library's message when it fails. */
ts_client *script_client(const ts_client_options *o);
/** ts_client_token_get() with @p err cleared first. */
ts_status script_get(ts_client *c, char *tok, size_t cap, ts_client_token_info *info,
                     ts_error *err);

#endif
