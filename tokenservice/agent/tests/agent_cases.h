/* A table of refused configurations: each with the status, the position and the exact message
 * the agent gives. Shared by the test_errors_*.c files. */
#ifndef TS_AGENT_CASES_H
#define TS_AGENT_CASES_H

#include "agent_test.h"

/* The pieces most cases are built around: one file source k, one file sink o of it. */
#define SRC "sources:\n  k: {type: file, path: /s/t}\n"
#define SNK "sinks:\n  o: {type: file, source_id: k, path: /o/t}\n"

typedef struct bad_case {
    const char *name;
    const char *yaml;
    ts_status code;
    const char *where; /* LINE:COLUMN in t.yaml, "" for the file as a whole */
    const char *msg;
} bad_case;

static inline void run_cases(const bad_case *cases, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        print_message("%s\n", cases[i].name);
        agent_assert_refused(cases[i].yaml, false, cases[i].code, cases[i].where, cases[i].msg);
    }
}

#endif
