/* The benchmarks' one clock: monotonic seconds as a double (nanosecond resolution, which a
   double keeps for the uptime of any machine). */
#ifndef TS_BENCH_CLOCK_H
#define TS_BENCH_CLOCK_H

#include <time.h>

static inline double bench_now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

#endif
