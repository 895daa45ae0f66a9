/*
 * Corpus replay for a fuzz target without libFuzzer: links with one fuzz/fuzz_*.c and runs its
 * LLVMFuzzerTestOneInput on every file named (directories: their files, in name order), so the
 * corpus, crash reproducers included, runs in the normal ASan+UBSan test build under ctest.
 *
 *   replay_fuzz_X [--interrupt-us=N] PATH...
 *
 * --interrupt-us=N sends SIGALRM to the calling thread every N microseconds, to a handler
 * installed without SA_RESTART, while the inputs run. That is what libFuzzer's -timeout alarm
 * does (every timeout/2 + 1 seconds, to whichever thread the kernel picks: mostly the main one),
 * made dense: a target whose system calls are not safe against EINTR fails at once here instead
 * of once in a while in CI.
 *
 * A failing input ends the process (trap, abort or sanitizer report) after its name was printed.
 */
#define _POSIX_C_SOURCE 200809L
#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* Optional in a target, as with libFuzzer. */
int LLVMFuzzerInitialize(int *argc, char ***argv) __attribute__((weak));

/* Messages go to the stderr this process started with: a target may point stderr elsewhere. */
static FILE *out;
static pthread_t main_thread;
static atomic_bool stop_interrupting;
static long interrupt_us;

static void on_alarm(int sig)
{
    (void)sig; /* only to interrupt system calls */
}

static void *interrupter(void *arg)
{
    (void)arg;
    struct timespec d = {interrupt_us / 1000000, (interrupt_us % 1000000) * 1000};
    while (!atomic_load(&stop_interrupting)) {
        pthread_kill(main_thread, SIGALRM);
        nanosleep(&d, NULL);
    }
    return NULL;
}

static void run_file(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        fprintf(out, "replay: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t cap = 4096, len = 0;
    uint8_t *buf = malloc(cap);
    size_t n;
    while (buf && (n = fread(buf + len, 1, cap - len, f)) > 0) {
        len += n;
        if (len == cap) {
            uint8_t *bigger = realloc(buf, cap * 2);
            if (!bigger)
                free(buf);
            buf = bigger;
            cap *= 2;
        }
    }
    fclose(f);
    if (!buf) {
        fprintf(out, "replay: out of memory\n");
        exit(2);
    }
    fprintf(out, "replay: %s (%zu bytes)\n", path, len);
    /* Inputs are copied to a buffer of their exact size, so reads past the end are caught. */
    uint8_t *exact = malloc(len ? len : 1);
    if (!exact) {
        fprintf(out, "replay: out of memory\n");
        exit(2);
    }
    memcpy(exact, buf, len);
    free(buf);
    LLVMFuzzerTestOneInput(exact, len);
    free(exact);
}

static size_t run_path(const char *path)
{
    struct stat sb;
    if (stat(path, &sb) != 0) {
        fprintf(out, "replay: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    if (!S_ISDIR(sb.st_mode)) {
        run_file(path);
        return 1;
    }
    struct dirent **names = NULL;
    int n = scandir(path, &names, NULL, alphasort);
    if (n < 0) {
        fprintf(out, "replay: %s: %s\n", path, strerror(errno));
        exit(2);
    }
    size_t count = 0;
    for (int i = 0; i < n; i++) {
        char full[4096];
        snprintf(full, sizeof full, "%s/%s", path, names[i]->d_name);
        if (names[i]->d_name[0] != '.' && stat(full, &sb) == 0 && S_ISREG(sb.st_mode)) {
            run_file(full);
            count++;
        }
        free(names[i]);
    }
    free(names);
    return count;
}

int main(int argc, char **argv)
{
    out = stderr;
    int first = 1;
    if (argc > 1 && strncmp(argv[1], "--interrupt-us=", 15) == 0) {
        interrupt_us = strtol(argv[1] + 15, NULL, 10);
        first = 2;
    }
    if (first >= argc) {
        fprintf(out, "usage: %s [--interrupt-us=N] PATH...\n", argv[0]);
        return 2;
    }
    if (LLVMFuzzerInitialize)
        LLVMFuzzerInitialize(&argc, &argv);
    pthread_t t;
    if (interrupt_us > 0) {
        struct sigaction sa;
        memset(&sa, 0, sizeof sa);
        sa.sa_handler = on_alarm;
        sigemptyset(&sa.sa_mask);
        sa.sa_flags = 0; /* no SA_RESTART, like libFuzzer */
        sigaction(SIGALRM, &sa, NULL);
        main_thread = pthread_self();
        if (pthread_create(&t, NULL, interrupter, NULL) != 0) {
            fprintf(out, "replay: cannot start the interrupter\n");
            return 2;
        }
    }
    size_t count = 0;
    for (int i = first; i < argc; i++)
        count += run_path(argv[i]);
    if (interrupt_us > 0) {
        atomic_store(&stop_interrupting, true);
        pthread_join(t, NULL);
    }
    fprintf(out, "replay: %zu inputs passed\n", count);
    return count > 0 ? 0 : 1; /* an empty corpus is a mistake in the test */
}
