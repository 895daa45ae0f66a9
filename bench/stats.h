/* The benchmarks' order statistics: one comparison for qsort and one percentile rule. */
#ifndef TS_BENCH_STATS_H
#define TS_BENCH_STATS_H

#include <stddef.h>
#include <stdlib.h>

/** qsort's comparison for doubles, ascending. */
static inline int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/** Sort @p n doubles in place, ascending. */
static inline void bench_sort(double *v, size_t n)
{
    if (n > 1)
        qsort(v, n, sizeof *v, bench_cmp_double);
}

/** Nearest-rank percentile (@p p in [0, 1]) of a sorted array; 0 for an empty one. */
static inline double bench_percentile(const double *v, size_t n, double p)
{
    if (n == 0)
        return 0;
    size_t k = (size_t)(p * (double)n + 0.999999);
    if (k < 1)
        k = 1;
    if (k > n)
        k = n;
    return v[k - 1];
}

#endif
