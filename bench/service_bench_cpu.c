/* service_bench's CPU accounting from /proc: one process (a server), and a PostgreSQL cluster
 * as a whole (the postmaster, its live children, and the children it has already reaped), so a
 * phase can be charged the database's work next to the servers'. */
#define _POSIX_C_SOURCE 200809L

#include "service_bench.h"

#include <ctype.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/* The fields of /proc/PID/stat that follow the command name (which may hold spaces and
 * parentheses, so they start after its last ')'). */
typedef struct proc_stat {
    long ppid;
    unsigned long long utime, stime; /* this process, in clock ticks */
    long long cutime, cstime;        /* its reaped children, in clock ticks */
} proc_stat;

static bool read_stat(long pid, proc_stat *out)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%ld/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[1024];
    char *ok = fgets(line, sizeof line, f);
    fclose(f);
    char *p = ok ? strrchr(line, ')') : NULL;
    if (!p)
        return false;
    return sscanf(p + 2, "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu %lld %lld",
                  &out->ppid, &out->utime, &out->stime, &out->cutime, &out->cstime) == 5;
}

static double ticks_s(long long t)
{
    long hz = sysconf(_SC_CLK_TCK);
    return (double)t / (double)(hz > 0 ? hz : 100);
}

double sb_proc_cpu_s(long pid)
{
    proc_stat s;
    if (!read_stat(pid, &s))
        return -1;
    return ticks_s((long long)(s.utime + s.stime));
}

/* A backend that exits during a phase leaves /proc, but its whole CPU time moves into the
 * postmaster's cutime/cstime when it is reaped: the sum below only ever grows, and a
 * difference of two readings is the cluster's CPU in between. */
double sb_cluster_cpu_s(long postmaster)
{
    proc_stat pm;
    if (!read_stat(postmaster, &pm))
        return -1;
    long long ticks = (long long)(pm.utime + pm.stime) + pm.cutime + pm.cstime;
    DIR *d = opendir("/proc");
    if (!d)
        return -1;
    struct dirent *e;
    while ((e = readdir(d)) != NULL) {
        if (!isdigit((unsigned char)e->d_name[0]))
            continue;
        long pid = strtol(e->d_name, NULL, 10);
        proc_stat s;
        if (pid != postmaster && read_stat(pid, &s) && s.ppid == postmaster)
            ticks += (long long)(s.utime + s.stime);
    }
    closedir(d);
    return ticks_s(ticks);
}
