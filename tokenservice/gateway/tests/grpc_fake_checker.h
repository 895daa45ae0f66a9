/* A scripted checker for the gRPC listener's tests (test_grpc_server.c, grpc_fake_server.c):
 * the request's path says what to answer, so a test picks the verdict with the CheckRequest it
 * sends and the listener is tested without the decision core.
 *   /allow...        ALLOW: Authorization "Bearer translated-<path>", x-tokensmith-subject
 *                    "alice", remove the client's x-tokensmith-forged
 *   /deny401...      DENY 401, WWW-Authenticate and an authz.deny.v1-like body
 *   /deny403...      DENY 403 with a body
 *   /unavailable...  CANNOT_DECIDE
 *   /sleep/<ms>...   sleep <ms> milliseconds, then ALLOW as above
 *   anything else    DENY 403
 * It counts the calls it began and those it finished (atomically: the workers call it at
 * once), so a test can tell that an answer came while a check was still running. */
#ifndef TS_GATEWAY_TEST_GRPC_FAKE_CHECKER_H
#define TS_GATEWAY_TEST_GRPC_FAKE_CHECKER_H

#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "gw_internal.h"

typedef struct fake_checker {
    atomic_uint calls;
    atomic_uint finished;
} fake_checker;

static inline bool fake_prefix(ts_gateway__str s, const char *p)
{
    return s.len >= strlen(p) && memcmp(s.ptr, p, strlen(p)) == 0;
}

static inline void fake_allow(const ts_gateway__input *in, ts_gateway__verdict *out)
{
    char value[300];
    int n = snprintf(value, sizeof value, "Bearer translated-%.*s",
                     (int)(in->path.len > 200 ? 200 : in->path.len), in->path.ptr);
    if (ts_gateway__verdict_add_header(out, "authorization", 13, value, (size_t)n, NULL) != TS_OK ||
        ts_gateway__verdict_add_header(out, "x-tokensmith-subject", 20, "alice", 5, NULL) !=
            TS_OK ||
        ts_gateway__verdict_add_remove(out, "x-tokensmith-forged", 19, NULL) != TS_OK)
        return; /* stays CANNOT_DECIDE */
    ts_gateway__verdict_decide(out, TS_GATEWAY__ALLOW, 200, "allowed");
}

static inline void fake_decide(const ts_gateway__input *in, ts_gateway__verdict *out);

static inline void fake_check(const ts_gateway__input *in, ts_gateway__verdict *out, void *ud)
{
    fake_checker *f = ud;
    atomic_fetch_add(&f->calls, 1);
    fake_decide(in, out);
    atomic_fetch_add(&f->finished, 1);
}

static inline void fake_decide(const ts_gateway__input *in, ts_gateway__verdict *out)
{
    static const char body[] = "{\"error\":\"forbidden\",\"schema\":\"authz.deny.v1\"}";
    if (fake_prefix(in->path, "/allow")) {
        fake_allow(in, out);
    } else if (fake_prefix(in->path, "/sleep/")) {
        long ms = strtol(in->path.ptr + 7, NULL, 10);
        struct timespec ts = {ms / 1000, (ms % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        fake_allow(in, out);
    } else if (fake_prefix(in->path, "/deny401")) {
        static const char chal[] = "Bearer error=\"invalid_token\"";
        if (ts_gateway__verdict_add_header(out, "www-authenticate", 16, chal, sizeof chal - 1,
                                           NULL) == TS_OK &&
            ts_gateway__verdict_set_body(out, body, sizeof body - 1, NULL) == TS_OK)
            ts_gateway__verdict_decide(out, TS_GATEWAY__DENY, 401, "invalid_token");
    } else if (fake_prefix(in->path, "/unavailable")) {
        ts_gateway__verdict_decide(out, TS_GATEWAY__CANNOT_DECIDE, 503, "keys unavailable");
    } else {
        if (ts_gateway__verdict_set_body(out, body, sizeof body - 1, NULL) == TS_OK)
            ts_gateway__verdict_decide(out, TS_GATEWAY__DENY, 403, "forbidden");
    }
}

#endif
