/* The failing allocator: every allocation the libraries make, numbered, with the chosen one
   failing. See oom.h for what counts as an allocation. */
#define _GNU_SOURCE
#include "hooks.h"

#include <dirent.h>
#include <errno.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <sqlite3.h>
#define PCRE2_CODE_UNIT_WIDTH 8
#include <pcre2.h>

#if defined(__SANITIZE_ADDRESS__)
#include <sanitizer/common_interface_defs.h>
#else
#include <execinfo.h>
#endif

static atomic_bool armed, paused;
static atomic_ulong seen;
static unsigned long fail_at;
static bool show_stack;
static atomic_bool hit;
static atomic_bool misreported, lost; /* see note_load() */
static oom_kind hit_kind;
static const char *site_file; /* OpenSSL's source file of the allocation about to be numbered */
static int site_line;
static char hit_site[128];
static unsigned char *record; /* kinds of allocations 1..record_cap, or NULL */
static size_t record_cap;
static unsigned long kind_counts[OOM_KIND_COUNT];

void oom_hooks_arm(unsigned long n, bool stack, unsigned char *kinds, size_t cap)
{
    fail_at = n;
    show_stack = stack;
    record = kinds;
    record_cap = cap;
    memset(kind_counts, 0, sizeof kind_counts);
    atomic_store(&seen, 0);
    atomic_store(&hit, false);
    atomic_store(&misreported, false);
    atomic_store(&lost, false);
    atomic_store(&paused, false);
    atomic_store(&armed, true);
}

void oom_hooks_disarm(void)
{
    atomic_store(&armed, false);
}

void oom_pause(void)
{
    atomic_store(&paused, true);
}

void oom_resume(void)
{
    atomic_store(&paused, false);
}

unsigned long oom_hooks_seen(void)
{
    return atomic_load(&seen);
}

unsigned long oom_hooks_kind_count(oom_kind k)
{
    return kind_counts[k];
}

bool oom_injected(void)
{
    return atomic_load(&hit);
}

oom_kind oom_injected_kind(void)
{
    return hit_kind;
}

const char *oom_injected_site(void)
{
    return hit_site;
}

/* Number one allocation; true when it is the one that fails. */
static bool fail_now(oom_kind k)
{
    if (!atomic_load(&armed) || atomic_load(&paused))
        return false;
    unsigned long n = atomic_fetch_add(&seen, 1) + 1;
    if (record && n <= record_cap)
        record[n - 1] = (unsigned char)k;
    kind_counts[k]++;
    if (n != fail_at)
        return false;
    hit_kind = k;
    if (k == OOM_KIND_OPENSSL && site_file)
        snprintf(hit_site, sizeof hit_site, "%s:%d", site_file, site_line);
    else
        hit_site[0] = '\0';
    atomic_store(&hit, true);
    if (show_stack) {
        fprintf(stderr, "oom: allocation %lu (%s%s%s) fails here:\n", n, oom_kind_name(k),
                hit_site[0] ? " " : "", hit_site);
#if defined(__SANITIZE_ADDRESS__)
        __sanitizer_print_stack_trace();
#else
        void *frames[64];
        backtrace_symbols_fd(frames, backtrace(frames, 64), 2);
#endif
    }
    errno = ENOMEM;
    return true;
}

const char *oom_kind_name(oom_kind k)
{
    static const char *const names[OOM_KIND_COUNT] = {"libc",    "libc-io", "jansson",
                                                      "openssl", "sqlite",  "pcre2"};
    return (unsigned)k < OOM_KIND_COUNT ? names[k] : "?";
}

/* ---- The libraries' own calls (-Wl,--wrap=...) ------------------------------------------- */

/* A block handed out (or NULL), remembered until it is freed. */
static void *handed(void *p)
{
    if (p)
        oom_track_add(p);
    return p;
}

void *__real_malloc(size_t n);
void *__real_calloc(size_t n, size_t size);
void *__real_realloc(void *p, size_t n);
void *__real_aligned_alloc(size_t align, size_t n);
char *__real_strdup(const char *s);
char *__real_strndup(const char *s, size_t n);
FILE *__real_fopen(const char *path, const char *mode);
DIR *__real_opendir(const char *path);
char *__real_realpath(const char *path, char *resolved);
void __real_free(void *p);
int __real_fclose(FILE *f);
int __real_closedir(DIR *d);

void *__wrap_malloc(size_t n);
void *__wrap_calloc(size_t n, size_t size);
void *__wrap_realloc(void *p, size_t n);
void *__wrap_aligned_alloc(size_t align, size_t n);
char *__wrap_strdup(const char *s);
char *__wrap_strndup(const char *s, size_t n);
FILE *__wrap_fopen(const char *path, const char *mode);
DIR *__wrap_opendir(const char *path);
char *__wrap_realpath(const char *path, char *resolved);
void __wrap_free(void *p);
int __wrap_fclose(FILE *f);
int __wrap_closedir(DIR *d);

void *__wrap_malloc(size_t n)
{
    return fail_now(OOM_KIND_LIBC) ? NULL : handed(__real_malloc(n));
}

void *__wrap_calloc(size_t n, size_t size)
{
    return fail_now(OOM_KIND_LIBC) ? NULL : handed(__real_calloc(n, size));
}

void *__wrap_realloc(void *p, size_t n)
{
    if (fail_now(OOM_KIND_LIBC))
        return NULL;
    void *q = __real_realloc(p, n);
    if (q || n == 0)
        oom_track_remove(p);
    return handed(q);
}

void *__wrap_aligned_alloc(size_t align, size_t n)
{
    return fail_now(OOM_KIND_LIBC) ? NULL : handed(__real_aligned_alloc(align, n));
}

char *__wrap_strdup(const char *s)
{
    return fail_now(OOM_KIND_LIBC) ? NULL : handed(__real_strdup(s));
}

char *__wrap_strndup(const char *s, size_t n)
{
    return fail_now(OOM_KIND_LIBC) ? NULL : handed(__real_strndup(s, n));
}

void __wrap_free(void *p)
{
    oom_track_remove(p);
    __real_free(p);
}

/* Open streams and directories: libc keeps every FILE on a list of its own, so LeakSanitizer
   never reports one left open; the hooks count them instead. */
static pthread_mutex_t handles_lock = PTHREAD_MUTEX_INITIALIZER;
static const void *handles[256];
static size_t nhandles, lost_handles;

static void *handle_opened(void *h)
{
    if (h) {
        pthread_mutex_lock(&handles_lock);
        if (nhandles < sizeof handles / sizeof handles[0])
            handles[nhandles++] = h;
        else
            lost_handles++; /* counted as open for good: a run never opens that many */
        pthread_mutex_unlock(&handles_lock);
    }
    return h;
}

static void handle_closed(const void *h)
{
    pthread_mutex_lock(&handles_lock);
    for (size_t i = 0; i < nhandles; i++) {
        if (handles[i] == h) {
            handles[i] = handles[--nhandles];
            break;
        }
    }
    pthread_mutex_unlock(&handles_lock);
}

size_t oom_hooks_open_handles(void)
{
    pthread_mutex_lock(&handles_lock);
    size_t n = nhandles + lost_handles;
    pthread_mutex_unlock(&handles_lock);
    return n;
}

void oom_hooks_forget_handles(void)
{
    pthread_mutex_lock(&handles_lock);
    nhandles = lost_handles = 0;
    pthread_mutex_unlock(&handles_lock);
}

FILE *__wrap_fopen(const char *path, const char *mode)
{
    return fail_now(OOM_KIND_LIBC_IO) ? NULL : handle_opened(__real_fopen(path, mode));
}

int __wrap_fclose(FILE *f)
{
    handle_closed(f);
    return __real_fclose(f);
}

DIR *__wrap_opendir(const char *path)
{
    return fail_now(OOM_KIND_LIBC_IO) ? NULL : handle_opened(__real_opendir(path));
}

int __wrap_closedir(DIR *d)
{
    handle_closed(d);
    return __real_closedir(d);
}

char *__wrap_realpath(const char *path, char *resolved)
{
    /* Only the allocating form can run out of memory. */
    if (resolved != NULL)
        return __real_realpath(path, resolved);
    return fail_now(OOM_KIND_LIBC_IO) ? NULL : handed(__real_realpath(path, NULL));
}

/* ---- PCRE2: the calls that allocate, wrapped at link time --------------------------------- */

pcre2_code *__real_pcre2_compile_8(PCRE2_SPTR pattern, PCRE2_SIZE len, uint32_t options,
                                   int *errorcode, PCRE2_SIZE *erroroffset,
                                   pcre2_compile_context *ccontext);
pcre2_match_context *__real_pcre2_match_context_create_8(pcre2_general_context *g);
pcre2_match_data *__real_pcre2_match_data_create_from_pattern_8(const pcre2_code *code,
                                                                pcre2_general_context *g);
int __real_pcre2_match_8(const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE len,
                         PCRE2_SIZE start, uint32_t options, pcre2_match_data *md,
                         pcre2_match_context *mcontext);
int __real_pcre2_jit_compile_8(pcre2_code *code, uint32_t options);
void __real_pcre2_code_free_8(pcre2_code *code);
void __real_pcre2_match_context_free_8(pcre2_match_context *m);
void __real_pcre2_match_data_free_8(pcre2_match_data *md);

pcre2_code *__wrap_pcre2_compile_8(PCRE2_SPTR pattern, PCRE2_SIZE len, uint32_t options,
                                   int *errorcode, PCRE2_SIZE *erroroffset,
                                   pcre2_compile_context *ccontext);
pcre2_match_context *__wrap_pcre2_match_context_create_8(pcre2_general_context *g);
pcre2_match_data *__wrap_pcre2_match_data_create_from_pattern_8(const pcre2_code *code,
                                                                pcre2_general_context *g);
int __wrap_pcre2_match_8(const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE len,
                         PCRE2_SIZE start, uint32_t options, pcre2_match_data *md,
                         pcre2_match_context *mcontext);
int __wrap_pcre2_jit_compile_8(pcre2_code *code, uint32_t options);
void __wrap_pcre2_code_free_8(pcre2_code *code);
void __wrap_pcre2_match_context_free_8(pcre2_match_context *m);
void __wrap_pcre2_match_data_free_8(pcre2_match_data *md);

pcre2_code *__wrap_pcre2_compile_8(PCRE2_SPTR pattern, PCRE2_SIZE len, uint32_t options,
                                   int *errorcode, PCRE2_SIZE *erroroffset,
                                   pcre2_compile_context *ccontext)
{
    if (fail_now(OOM_KIND_PCRE2)) {
        *errorcode = PCRE2_ERROR_HEAP_FAILED;
        *erroroffset = 0;
        return NULL;
    }
    return handed(__real_pcre2_compile_8(pattern, len, options, errorcode, erroroffset, ccontext));
}

pcre2_match_context *__wrap_pcre2_match_context_create_8(pcre2_general_context *g)
{
    return fail_now(OOM_KIND_PCRE2) ? NULL : handed(__real_pcre2_match_context_create_8(g));
}

pcre2_match_data *__wrap_pcre2_match_data_create_from_pattern_8(const pcre2_code *code,
                                                                pcre2_general_context *g)
{
    return fail_now(OOM_KIND_PCRE2)
               ? NULL
               : handed(__real_pcre2_match_data_create_from_pattern_8(code, g));
}

void __wrap_pcre2_code_free_8(pcre2_code *code)
{
    oom_track_remove(code);
    __real_pcre2_code_free_8(code);
}

void __wrap_pcre2_match_context_free_8(pcre2_match_context *m)
{
    oom_track_remove(m);
    __real_pcre2_match_context_free_8(m);
}

void __wrap_pcre2_match_data_free_8(pcre2_match_data *md)
{
    oom_track_remove(md);
    __real_pcre2_match_data_free_8(md);
}

int __wrap_pcre2_match_8(const pcre2_code *code, PCRE2_SPTR subject, PCRE2_SIZE len,
                         PCRE2_SIZE start, uint32_t options, pcre2_match_data *md,
                         pcre2_match_context *mcontext)
{
    /* pcre2_match() allocates its backtracking frames in the match data on first use. */
    if (fail_now(OOM_KIND_PCRE2))
        return PCRE2_ERROR_NOMEMORY;
    return __real_pcre2_match_8(code, subject, len, start, options, md, mcontext);
}

int __wrap_pcre2_jit_compile_8(pcre2_code *code, uint32_t options)
{
    return fail_now(OOM_KIND_PCRE2) ? PCRE2_ERROR_NOMEMORY
                                    : __real_pcre2_jit_compile_8(code, options);
}

/* ---- jansson's loaders: whether they reported the failure as bad JSON --------------------- */

/* jansson 2.14 reports some allocation failures of its lexer as syntax errors ("string or '}'
   expected near ..."), with nothing to tell them from real ones; others it reports with an
   empty message or as json_error_out_of_memory, which a caller can recognise. */
bool oom_parser_misreported(void)
{
    return atomic_load(&misreported);
}

/* jansson 2.14 also ignores some allocation failures and goes on with wrong data: its lexer's
   failure to grow a buffer (load.c, lex_save(); akheron/jansson#362, #747) drops a character
   from a string it loads (or aborts on an assertion while reading a number), and its dumper's
   failure to write an object's key (dump.c, dump_string(); akheron/jansson#655, #649) leaves
   the key out of the text, which is then not JSON. */
bool oom_parser_lost_data(void)
{
    return atomic_load(&lost);
}

static void note_load(bool failed_before, const json_t *j, const json_error_t *e)
{
    if (failed_before || !oom_injected())
        return;
    if (j)
        atomic_store(&lost, true);
    else if (e->text[0] != '\0' && json_error_code(e) != json_error_out_of_memory)
        atomic_store(&misreported, true);
}

char *__real_json_dumps(const json_t *j, size_t flags);
char *__wrap_json_dumps(const json_t *j, size_t flags);

char *__wrap_json_dumps(const json_t *j, size_t flags)
{
    bool before = oom_injected();
    char *s = __real_json_dumps(j, flags);
    if (s && !before && oom_injected())
        atomic_store(&lost, true);
    return s;
}

json_t *__real_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e);
json_t *__real_json_loads(const char *s, size_t flags, json_error_t *e);
json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e);
json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e);

json_t *__wrap_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *e)
{
    json_error_t local;
    bool before = oom_injected();
    json_t *j = __real_json_loadb(buf, len, flags, e ? e : &local);
    note_load(before, j, e ? e : &local);
    return j;
}

json_t *__wrap_json_loads(const char *s, size_t flags, json_error_t *e)
{
    json_error_t local;
    bool before = oom_injected();
    json_t *j = __real_json_loads(s, flags, e ? e : &local);
    note_load(before, j, e ? e : &local);
    return j;
}

/* ---- jansson, OpenSSL and SQLite: their allocator hooks ----------------------------------- */

static void *json_alloc(size_t n)
{
    return fail_now(OOM_KIND_JANSSON) ? NULL : handed(__real_malloc(n));
}

static void json_release(void *p)
{
    oom_track_remove(p);
    __real_free(p);
}

static void ossl_free(void *p, const char *file, int line)
{
    (void)file, (void)line;
    oom_track_remove(p);
    __real_free(p);
}

static bool ossl_fail_now(const char *file, int line)
{
    site_file = file;
    site_line = line;
    return fail_now(OOM_KIND_OPENSSL);
}

static void *ossl_malloc(size_t n, const char *file, int line)
{
    if (n == 0) /* what CRYPTO_malloc() does itself */
        return NULL;
    return ossl_fail_now(file, line) ? NULL : handed(__real_malloc(n));
}

static void *ossl_realloc(void *p, size_t n, const char *file, int line)
{
    (void)file, (void)line;
    if (p == NULL)
        return ossl_malloc(n, file, line);
    if (n == 0) {
        ossl_free(p, file, line);
        return NULL;
    }
    if (ossl_fail_now(file, line))
        return NULL;
    void *q = __real_realloc(p, n);
    if (q)
        oom_track_remove(p);
    return handed(q);
}

/* SQLite needs the size of every block: kept in an 8-byte header. */
static void *sq_malloc(int n)
{
    if (n <= 0 || fail_now(OOM_KIND_SQLITE))
        return NULL;
    sqlite3_int64 *p = __real_malloc((size_t)n + sizeof *p);
    if (!p)
        return NULL;
    p[0] = n;
    return handed(p + 1);
}

static void sq_free(void *p)
{
    if (p) {
        oom_track_remove(p);
        __real_free((sqlite3_int64 *)p - 1);
    }
}

static void *sq_realloc(void *p, int n)
{
    if (n <= 0 || fail_now(OOM_KIND_SQLITE))
        return NULL;
    sqlite3_int64 *q = __real_realloc((sqlite3_int64 *)p - 1, (size_t)n + sizeof *q);
    if (!q)
        return NULL;
    oom_track_remove(p);
    q[0] = n;
    return handed(q + 1);
}

static int sq_size(void *p)
{
    return p ? (int)((sqlite3_int64 *)p)[-1] : 0;
}

static int sq_roundup(int n)
{
    return (n + 7) & ~7;
}

static int sq_init(void *ud)
{
    (void)ud;
    return SQLITE_OK;
}

static void sq_shutdown(void *ud)
{
    (void)ud;
}

bool oom_hooks_install(void)
{
    static bool installed;
    if (installed)
        return true;
    installed = true;
    static const sqlite3_mem_methods sq = {sq_malloc,  sq_free, sq_realloc,  sq_size,
                                           sq_roundup, sq_init, sq_shutdown, NULL};
    json_set_alloc_funcs(json_alloc, json_release);
    if (!CRYPTO_set_mem_functions(ossl_malloc, ossl_realloc, ossl_free)) {
        fprintf(stderr, "oom: OpenSSL allocated before its hooks could be set\n");
        return false;
    }
    if (sqlite3_config(SQLITE_CONFIG_MALLOC, &sq) != SQLITE_OK) {
        fprintf(stderr, "oom: SQLite was initialised before its hooks could be set\n");
        return false;
    }
    return true;
}
