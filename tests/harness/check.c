/* Counting checks and the summary line. */
#include <stdarg.h>
#include <stdio.h>

#include "harness.h"

int ts_harness_passed, ts_harness_failed;

void ts_harness_fail_at(const char *file, int line, const char *fmt, ...)
{
    printf("FAIL %s:%d: ", file, line);
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    printf("\n");
    fflush(stdout);
}

int ts_harness_summary(void)
{
    printf("%d passed, %d failed\n", ts_harness_passed, ts_harness_failed);
    return ts_harness_failed ? 1 : 0;
}
