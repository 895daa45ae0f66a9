/*
 * The allocation-failure harness (tests/oom): every allocation a case makes can be made to fail,
 * and the driver runs each case with allocation N failing for N = 1, 2, 3, ... until the case
 * completes without reaching the failure.
 *
 * What counts as an allocation (each one is numbered, and the Nth returns "out of memory"):
 *  - the libraries' own malloc, calloc, realloc, aligned_alloc, strdup and strndup (the test
 *    programs are linked with -Wl,--wrap=... for each);
 *  - the libc calls that allocate for them and report ENOMEM: fopen, opendir, realpath;
 *  - jansson (json_set_alloc_funcs), OpenSSL (CRYPTO_set_mem_functions) and SQLite
 *    (sqlite3_config(SQLITE_CONFIG_MALLOC)), hooked once at start-up;
 *  - PCRE2 calls that allocate (compile, match context, match data, match): wrapped at link
 *    time, since the libraries give PCRE2 no general context of their own.
 *
 * Each N runs in a fork()ed child, so that a crash, a hang or a leak is charged to exactly one N.
 * A child must end with the case's clean refusal (TS_ENOMEM and an error record, or the
 * documented result) or with a success whose result the case has checked; anything else fails
 * the case, and the driver runs that N again with the child's output and the stack of the
 * failed allocation shown. Leaks: every block the hooks hand out is remembered until freed, and
 * LeakSanitizer (slow: tens of milliseconds) is asked whenever one is still held after the
 * case, and every 16th run; a stream or directory left open is a leak of its own (libc keeps
 * them reachable).
 *
 * Cases run setup and teardown without failures, and only run() under them. Before the loop
 * the driver runs each case once in the parent (so the libraries' one-time initialisation is
 * done before any failure is injected) and once in a child that numbers the allocations.
 *
 * Time: a case making more allocations than TS_OOM_BUDGET (environment; default 200, 0 = no
 * limit) runs every allocation of tokensmith's own code, the first of each run of allocations
 * inside another library (where a call into it begins), and evenly spread ones up to the
 * budget. `prog --n N case` runs one N of one case with its output.
 */
#ifndef TS_TEST_OOM_H
#define TS_TEST_OOM_H

#include <stdbool.h>
#include <stddef.h>

#include <tokensmith/error.h>

/** How a run of a case ended, as the case tells the driver. */
typedef enum oom_result {
    OOM_SUCCEEDED = 0, /**< the call worked and the case checked its result */
    OOM_REFUSED,       /**< the call failed cleanly (checked with oom_refused()) */
} oom_result;

/** What kind of allocation was numbered (for the report and the accepted error codes). */
typedef enum oom_kind {
    OOM_KIND_LIBC = 0, /**< malloc and friends called by tokensmith code */
    OOM_KIND_LIBC_IO,  /**< fopen, opendir, realpath (ENOMEM) */
    OOM_KIND_JANSSON,
    OOM_KIND_OPENSSL,
    OOM_KIND_SQLITE,
    OOM_KIND_PCRE2,
    OOM_KIND_COUNT
} oom_kind;

typedef struct oom_case {
    const char *name;
    /** Builds what run() needs, without failures; NULL: run() gets NULL. */
    void *(*setup)(void);
    /** The calls under test; allocation N fails. */
    oom_result (*run)(void *ctx);
    /** Checks the state run() left (without failures) and frees @p ctx; may be NULL. */
    void (*teardown)(void *ctx, oom_result r);
} oom_case;

/**
 * Run @p cases (all, or those named on the command line: `prog [--n N] [case ...]`, where
 * --n runs one N of one case with its output shown). @return the process exit status.
 */
int oom_main(const char *suite, const oom_case *cases, size_t ncases, int argc, char **argv);

/** True once the allocation chosen to fail has failed in this run. */
bool oom_injected(void);
/** The kind of the allocation that failed (valid when oom_injected()). */
oom_kind oom_injected_kind(void);
/** For an OpenSSL allocation, OpenSSL's source file and line of it ("crypto/bn/bn_lib.c:280"),
 *  when its build records them; else "". */
const char *oom_injected_site(void);

/**
 * True when the failed allocation was inside a jansson load (json_loadb, json_loads) that
 * reported it as a syntax error, with nothing to tell it from one: a caller can only report
 * bad JSON then. A failure jansson reports recognisably (an empty message, or
 * json_error_out_of_memory) leaves this false.
 */
bool oom_parser_misreported(void);

/**
 * True when the failed allocation was inside a jansson load or dump that went on regardless and
 * returned a result: jansson 2.14 ignores a failure to grow its lexer's buffer (a loaded string
 * arrives with a character missing) and a failure to write an object's key (the dumped text
 * lacks it). What the case computes from that may differ from the truth through no fault of
 * tokensmith, so a wrong result is excused then (counted as such); a crash or a leak is not.
 */
bool oom_parser_lost_data(void);

/** Stop numbering allocations (the case's own checks), until oom_resume(). */
void oom_pause(void);
void oom_resume(void);

/** Stop the run as wrong (a crash-free but incorrect outcome). Never returns. */
__attribute__((noreturn, format(printf, 3, 4))) void oom_wrong_at(const char *file, int line,
                                                                  const char *fmt, ...);
#define oom_wrong(...) oom_wrong_at(__FILE__, __LINE__, __VA_ARGS__)

/** Check @p cond; when false the run is wrong. */
#define OOM_EXPECT(cond)                                                                           \
    do {                                                                                           \
        if (!(cond))                                                                               \
            oom_wrong_at(__FILE__, __LINE__, "expected %s", #cond);                                \
    } while (0)

/** Codes accepted besides TS_ENOMEM, as a mask of OOM_ALSO(code). */
#define OOM_ALSO(code) (1u << (unsigned)(code))

/**
 * A call returned @p st != TS_OK with @p err: check it is a clean refusal of the injected
 * failure: an allocation failed in this run, @p err holds @p st and a message, and @p st is
 * TS_ENOMEM; or TS_EIO when the failed allocation was an fopen/opendir/realpath (the libraries
 * report those as I/O errors); or TS_EPARSE when jansson reported the failure as bad JSON
 * (oom_parser_misreported()); or, when it failed inside OpenSSL, TS_EINTERNAL (the libraries'
 * documented result for a failing crypto call: OpenSSL does not always tell an allocation
 * failure apart) or a code in @p openssl_also (OOM_ALSO() bits). @return OOM_REFUSED; a wrong
 * refusal stops the run.
 */
oom_result oom_refused_at(const char *file, int line, ts_status st, const ts_error *err,
                          unsigned openssl_also);
#define oom_refused(st, err) oom_refused_at(__FILE__, __LINE__, (st), (err), 0u)
#define oom_refused_openssl(st, err, also) oom_refused_at(__FILE__, __LINE__, (st), (err), (also))

/** Return from run() with the refusal when @p st is not TS_OK. */
#define OOM_TRY(st, err)                                                                           \
    do {                                                                                           \
        ts_status oom_st_ = (st);                                                                  \
        if (oom_st_ != TS_OK)                                                                      \
            return oom_refused_at(__FILE__, __LINE__, oom_st_, (err), 0u);                         \
    } while (0)

/** For constructors: return the refusal recorded in @p err when @p ptr is NULL. */
#define OOM_TRY_PTR(ptr, err)                                                                      \
    do {                                                                                           \
        if ((ptr) == NULL)                                                                         \
            return oom_refused_at(__FILE__, __LINE__, (err)->code, (err), 0u);                     \
    } while (0)

/**
 * A directory of its own for this run (created on first use, removed by the driver after the
 * run): cases that write files put them here. Borrowed until the run ends.
 */
const char *oom_scratch_dir(void);

/** Path of a file of the source tree's test data ("authn/tests/data/keys/x.pem"). Static. */
const char *oom_source_path(const char *rel);

#endif
