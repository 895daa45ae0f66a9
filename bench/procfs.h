/* Small helpers the load generators share: the clock (clock.h) and a process's resident memory. */
#ifndef TS_BENCH_PROCFS_H
#define TS_BENCH_PROCFS_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "clock.h"

/* VmRSS of process @p pid in kB, -1 when unreadable. */
static inline long bench_vm_rss_kb(long pid)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/status", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return -1;
    char line[256];
    long kb = -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

#endif
