/* A scripted loopback token endpoint for the client's tests: one connection at a time, each
 * request recorded, each answered with what the test set last (or never, while silent). The
 * tests' main thread drives it; the server runs on a thread of its own. */
#ifndef TS_CLIENT_SCRIPT_SERVER_H
#define TS_CLIENT_SCRIPT_SERVER_H

#include <stddef.h>

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

#endif
