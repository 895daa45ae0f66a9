/* The driver: each case once in this process (one-time initialisation of the libraries), once
   in a child that numbers its allocations, then once per N in a child where allocation N fails,
   until N is past the last allocation. See oom.h. */
#define _GNU_SOURCE
#include "hooks.h"
#include "oom.h"

#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/lsan_interface.h>
#endif

#ifndef TS_SOURCE_DIR
#error "TS_SOURCE_DIR must name the source tree"
#endif

/* How a child ended (its exit status); anything else is a crash. */
enum {
    EX_REFUSED = 40,   /* allocation N failed, the case refused cleanly */
    EX_TOLERATED = 41, /* allocation N failed, the case still succeeded (result checked) */
    EX_NOT_HIT = 42,   /* the case made fewer than N allocations */
    EX_WRONG = 43,     /* a wrong result, error code or error record */
    EX_LEAK = 44,      /* a leak after the case (LeakSanitizer), or a file left open */
    EX_EXCUSED = 45,   /* a wrong result from a document jansson changed (oom_parser_lost_data) */
};

/* Most allocations numbered one by one in the counting run; more are still counted. */
#define KINDS_CAP (1u << 20)
/* A child that runs longer than this is hung. */
#define CHILD_TIMEOUT_S 120u
/* Runs past the counted allocations before a case that keeps allocating fails. */
#define MAX_EXTRA 64u
/* Failing N values reported in full per case; the others are only counted. */
#define MAX_REPORTS 3u
/* LeakSanitizer checks every run that may have leaked (a block the hooks handed out is still
   held), and also every this many runs, for what the hooks cannot see. */
#define FULL_LEAK_CHECK_EVERY 16u

typedef struct shared {
    unsigned long seen;
    unsigned long kinds[OOM_KIND_COUNT];
    unsigned char kind_of[KINDS_CAP];
} shared;

static shared *sh;
static bool in_child;
static bool warming; /* in warm_up(): a wrong result jumps back there */
static jmp_buf warm_jmp;
static char base_dir[PATH_MAX];
static char run_dir[PATH_MAX + 32];
static bool run_dir_made;

__attribute__((noreturn)) void oom_wrong_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "oom: WRONG at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (oom_injected())
        fprintf(stderr, " [the failed allocation: %s%s%s]", oom_kind_name(oom_injected_kind()),
                oom_injected_site()[0] ? " " : "", oom_injected_site());
    fputc('\n', stderr);
    if (in_child)
        _exit(oom_parser_lost_data() ? EX_EXCUSED : EX_WRONG);
    if (warming)
        longjmp(warm_jmp, 1);
    exit(1); /* a helper misused outside any case */
}

oom_result oom_refused_at(const char *file, int line, ts_status st, const ts_error *err,
                          unsigned openssl_also)
{
    const char *msg = err ? err->msg : "", *where = err ? err->where : "";
    if (!oom_injected())
        oom_wrong_at(file, line, "failed without an allocation failure: %s: %s (%s)",
                     ts_status_str(st), msg, where);
    if (st == TS_OK)
        oom_wrong_at(file, line, "no result and no error recorded");
    if (err && err->code != st)
        oom_wrong_at(file, line, "returned %s but recorded %s (%s)", ts_status_str(st),
                     ts_status_str(err->code), msg);
    if (err && err->msg[0] == '\0')
        oom_wrong_at(file, line, "error %s recorded without a message", ts_status_str(st));
    oom_kind kind = oom_injected_kind();
    bool io = st == TS_EIO && kind == OOM_KIND_LIBC_IO;
    bool json = st == TS_EPARSE && oom_parser_misreported();
    bool crypto = kind == OOM_KIND_OPENSSL && (st == TS_EINTERNAL || (openssl_also & OOM_ALSO(st)));
    if (st != TS_ENOMEM && !io && !json && !crypto)
        oom_wrong_at(file, line, "a failed %s allocation reported as %s: %s (%s)",
                     oom_kind_name(oom_injected_kind()), ts_status_str(st), msg, where);
    return OOM_REFUSED;
}

const char *oom_scratch_dir(void)
{
    if (!run_dir_made) {
        if (mkdir(run_dir, 0700) != 0 && errno != EEXIST) {
            fprintf(stderr, "oom: cannot create %s: %s\n", run_dir, strerror(errno));
            in_child ? _exit(EX_WRONG) : exit(1);
        }
        run_dir_made = true;
    }
    return run_dir;
}

const char *oom_source_path(const char *rel)
{
    static char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/%s", TS_SOURCE_DIR, rel);
    return path;
}

static int remove_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
    (void)st, (void)flag, (void)ftw;
    remove(path);
    return 0;
}

static void remove_tree(const char *dir)
{
    nftw(dir, remove_entry, 16, FTW_DEPTH | FTW_PHYS);
}

static void set_run_dir(const char *label)
{
    snprintf(run_dir, sizeof run_dir, "%s/%s", base_dir, label);
    run_dir_made = false;
}

#if defined(__SANITIZE_ADDRESS__)
/* Zero the stack the case used: a stale copy of a leaked pointer there would keep the block
   "reachable" for LeakSanitizer. */
__attribute__((noinline)) static void scrub_stack(void)
{
    volatile unsigned char junk[64 * 1024];
    for (size_t i = 0; i < sizeof junk; i++)
        junk[i] = 0;
}
#endif

static bool leaked(void)
{
#if defined(__SANITIZE_ADDRESS__)
    scrub_stack();
    return __lsan_do_recoverable_leak_check() != 0;
#else
    return false;
#endif
}

/* One run of @p c with allocation @p n failing (0: none), in a child. @return its exit status
   as EX_* or another value for a crash; *sig gets the signal that ended it, if one did. */
static int run_child(const oom_case *c, unsigned long n, bool verbose, bool count, int *sig)
{
    static unsigned long children;
    bool full_check = count || verbose || ++children % FULL_LEAK_CHECK_EVERY == 0;
    *sig = 0;
    char label[32];
    snprintf(label, sizeof label, "n%lu", n);
    set_run_dir(label);
    fflush(NULL);
    pid_t pid = fork();
    if (pid < 0) {
        perror("oom: fork");
        return -1;
    }
    if (pid == 0) {
        in_child = true;
        if (!verbose) {
            int null = open("/dev/null", O_WRONLY);
            if (null >= 0) {
                dup2(null, 1);
                dup2(null, 2);
                close(null);
            }
        }
        alarm(CHILD_TIMEOUT_S);
        oom_track_start();
        oom_hooks_forget_handles();
        void *ctx = c->setup ? c->setup() : NULL;
        oom_hooks_arm(n, verbose, count ? sh->kind_of : NULL, KINDS_CAP);
        oom_result r = c->run(ctx);
        oom_hooks_disarm();
        bool hit = oom_injected();
        if (count) {
            sh->seen = oom_hooks_seen();
            for (int k = 0; k < OOM_KIND_COUNT; k++)
                sh->kinds[k] = oom_hooks_kind_count((oom_kind)k);
        }
        if (c->teardown)
            c->teardown(ctx, r);
        if (!hit && r != OOM_SUCCEEDED)
            oom_wrong("the case refused without an allocation failure");
        /* OpenSSL keeps the text of its last errors per thread until they are cleared. */
        ERR_clear_error();
        size_t open_handles = oom_hooks_open_handles();
        if (open_handles) {
            fprintf(stderr, "oom: %zu files or directories left open\n", open_handles);
            _exit(EX_LEAK);
        }
        if ((full_check || oom_track_live() > 0) && leaked())
            _exit(EX_LEAK);
        _exit(!hit ? EX_NOT_HIT : r == OOM_REFUSED ? EX_REFUSED : EX_TOLERATED);
    }
    int status = 0;
    while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
        ;
    remove_tree(run_dir);
    if (WIFSIGNALED(status)) {
        *sig = WTERMSIG(status);
        return -1;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

static const char *outcome_name(int rc, int sig)
{
    static char buf[64];
    switch (rc) {
    case EX_REFUSED:
        return "refused";
    case EX_TOLERATED:
        return "tolerated";
    case EX_NOT_HIT:
        return "completed without reaching the failure";
    case EX_WRONG:
        return "wrong result or error";
    case EX_LEAK:
        return "leak";
    case EX_EXCUSED:
        return "excused: jansson lost data";
    default:
        if (sig == SIGALRM)
            return "hang";
        if (sig)
            snprintf(buf, sizeof buf, "crash (signal %d)", sig);
        else
            snprintf(buf, sizeof buf, "crash or sanitizer report (exit %d)", rc);
        return buf;
    }
}

/* The N values to run when a case makes more than @p budget allocations: every allocation of
   tokensmith's own code, the first of each run of allocations inside another library (where a
   call into it starts), then evenly spread ones up to the budget. */
static size_t choose(unsigned long total, size_t budget, unsigned long *ns)
{
    size_t k = 0;
    unsigned long recorded = total < KINDS_CAP ? total : KINDS_CAP;
    if (budget == 0 || total <= budget) {
        for (unsigned long n = 1; n <= total; n++)
            ns[k++] = n;
        return k;
    }
    unsigned char *pick = calloc(total + 1, 1);
    if (!pick)
        return 0;
    for (unsigned long n = 1; n <= recorded; n++) {
        unsigned char kind = sh->kind_of[n - 1];
        if (kind == OOM_KIND_LIBC || kind == OOM_KIND_LIBC_IO ||
            (n == 1 || sh->kind_of[n - 2] != kind))
            pick[n] = 1;
    }
    size_t picked = 0;
    for (unsigned long n = 1; n <= total; n++)
        picked += pick[n];
    if (picked < budget) {
        unsigned long stride = total / (budget - picked) + 1;
        for (unsigned long n = 1; n <= total; n += stride)
            pick[n] = 1;
    }
    for (unsigned long n = 1; n <= total; n++)
        if (pick[n])
            ns[k++] = n;
    free(pick);
    return k;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static size_t budget_of_env(void)
{
    const char *b = getenv("TS_OOM_BUDGET");
    return b && *b ? (size_t)strtoul(b, NULL, 10) : 200u;
}

/* Run @p c once in this process, without failures: the libraries initialise what they keep for
   the whole process, and the case must work and leak nothing. @return false when it does not. */
static bool warm_up(const char *suite, const oom_case *c)
{
    set_run_dir("warm");
    warming = true;
    if (setjmp(warm_jmp)) {
        warming = false;
        remove_tree(run_dir);
        printf("FAIL %s.%s: wrong without any allocation failure (above)\n", suite, c->name);
        return false;
    }
    void *ctx = c->setup ? c->setup() : NULL;
    oom_result r = c->run(ctx);
    if (c->teardown)
        c->teardown(ctx, r);
    warming = false;
    remove_tree(run_dir);
    if (r != OOM_SUCCEEDED) {
        printf("FAIL %s.%s: refused without any allocation failure\n", suite, c->name);
        return false;
    }
    if (leaked()) {
        printf("FAIL %s.%s: leaks without any allocation failure\n", suite, c->name);
        return false;
    }
    return true;
}

/* @return the number of failures. *runs gets the N values run. */
static unsigned run_case(const char *suite, const oom_case *c, size_t budget, unsigned long *runs)
{
    double t0 = now_s();
    *runs = 0;
    if (!warm_up(suite, c))
        return 1;

    /* Number the allocations. */
    int sig = 0;
    int rc = run_child(c, 0, false, true, &sig);
    if (rc != EX_NOT_HIT) {
        printf("FAIL %s.%s: counting run: %s\n", suite, c->name, outcome_name(rc, sig));
        run_child(c, 0, true, false, &sig);
        return 1;
    }
    unsigned long total = sh->seen;
    unsigned long kinds[OOM_KIND_COUNT];
    memcpy(kinds, sh->kinds, sizeof kinds);

    /* Allocation N fails, for every chosen N and then from total + 1 on until the case
       completes without reaching the failure (a case whose allocations vary between runs
       may need a few more). */
    unsigned long *ns = calloc(total + 1, sizeof *ns);
    if (!ns) {
        printf("FAIL %s.%s: out of memory in the driver\n", suite, c->name);
        return 1;
    }
    size_t count = choose(total, budget, ns);
    unsigned failures = 0;
    unsigned long refused = 0, tolerated = 0, not_hit = 0, excused = 0;
    for (size_t i = 0; i < count + MAX_EXTRA; i++) {
        unsigned long n = i < count ? ns[i] : total + 1 + (i - count);
        rc = run_child(c, n, false, false, &sig);
        (*runs)++;
        if (rc == EX_REFUSED) {
            refused++;
        } else if (rc == EX_TOLERATED) {
            tolerated++;
        } else if (rc == EX_EXCUSED) {
            excused++;
        } else if (rc == EX_NOT_HIT) {
            not_hit++;
            if (i >= count)
                break; /* completed */
        } else if (failures++ < MAX_REPORTS) {
            printf("FAIL %s.%s: allocation %lu of %lu fails: %s; the run again:\n", suite, c->name,
                   n, total, outcome_name(rc, sig));
            fflush(stdout);
            run_child(c, n, true, false, &sig);
        }
        if (i + 1 == count + MAX_EXTRA) {
            printf("FAIL %s.%s: still allocating after %lu allocations\n", suite, c->name, n);
            failures++;
        }
    }
    free(ns);

    char by_kind[256] = "";
    size_t off = 0;
    for (int k = 0; k < OOM_KIND_COUNT; k++)
        if (kinds[k] && off < sizeof by_kind)
            off += (size_t)snprintf(by_kind + off, sizeof by_kind - off, "%s%s %lu",
                                    off ? ", " : "", oom_kind_name((oom_kind)k), kinds[k]);
    char more[64] = "";
    if (excused)
        snprintf(more, sizeof more, ", %lu excused (jansson lost data)", excused);
    printf("%s %s.%s: %lu allocations (%s); %lu runs: %lu refused, %lu tolerated, %lu complete"
           "%s%s [%.1f s]\n",
           failures ? "FAIL" : "ok  ", suite, c->name, total, total ? by_kind : "none", *runs,
           refused, tolerated, not_hit, more, failures ? ", failures above" : "", now_s() - t0);
    fflush(stdout);
    return failures;
}

int oom_main(const char *suite, const oom_case *cases, size_t ncases, int argc, char **argv)
{
    if (!oom_hooks_install())
        return 1;
    ERR_clear_error(); /* OpenSSL's error state of this thread, made once here */
    long only_n = -1;
    int first_name = 1;
    if (argc > 2 && strcmp(argv[1], "--n") == 0) {
        only_n = strtol(argv[2], NULL, 10);
        first_name = 3;
    }
    sh = mmap(NULL, sizeof *sh, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (sh == MAP_FAILED) {
        perror("oom: mmap");
        return 1;
    }
    /* Runs write files (the store's database) thousands of times: in memory where the system
       has a tmpfs at /dev/shm, where syncing them costs nothing. */
    const char *tmp = getenv("TS_OOM_TMPDIR");
    if (!tmp || !*tmp)
        tmp = access("/dev/shm", W_OK) == 0 ? "/dev/shm" : getenv("TMPDIR");
    snprintf(base_dir, sizeof base_dir, "%s/ts-oom-XXXXXX", tmp && *tmp ? tmp : "/tmp");
    if (!mkdtemp(base_dir)) {
        perror("oom: mkdtemp");
        return 1;
    }

    double t0 = now_s();
    size_t budget = budget_of_env();
    unsigned failures = 0, ran = 0;
    unsigned long runs = 0;
    for (size_t i = 0; i < ncases; i++) {
        bool wanted = first_name >= argc;
        for (int a = first_name; a < argc; a++)
            wanted = wanted || strcmp(argv[a], cases[i].name) == 0;
        if (!wanted)
            continue;
        ran++;
        if (only_n >= 0) {
            if (!warm_up(suite, &cases[i])) {
                failures++;
                continue;
            }
            int sig = 0;
            int rc = run_child(&cases[i], (unsigned long)only_n, true, false, &sig);
            printf("%s.%s with allocation %ld failing: %s\n", suite, cases[i].name, only_n,
                   outcome_name(rc, sig));
            failures += rc != EX_REFUSED && rc != EX_TOLERATED && rc != EX_NOT_HIT;
            runs++;
            continue;
        }
        unsigned long n = 0;
        failures += run_case(suite, &cases[i], budget, &n);
        runs += n;
    }
    remove_tree(base_dir);
    if (ran == 0) {
        printf("oom: no case of that name\n");
        return 1;
    }
    printf("%s: %u cases, %lu runs, %u failures [%.1f s]\n", suite, ran, runs, failures,
           now_s() - t0);
    return failures ? 1 : 0;
}
