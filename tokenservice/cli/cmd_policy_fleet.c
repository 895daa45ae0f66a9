/*
 * tokensmith policy fleet: ask every process of a fleet which policy it enforces (its
 * GET /authz/diagnostics) and say whether they agree. The targets are fetched in parallel, each
 * with its own deadline, so one process that accepts and never answers costs the timeout once,
 * not once per target after it.
 */
#define _POSIX_C_SOURCE 200809L

#include "cli.h"

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include <tokensmith/authz_http.h>

#include "common/http_client.h"

#define FLEET_MAX_TARGETS 1024
#define FLEET_MAX_URL 2048
#define FLEET_WORKERS 32
#define FLEET_MAX_BODY (256u * 1024u)
#define FLEET_PATH "/authz/diagnostics"
/* Exit status of a fleet with a target that gave no usable answer (docs/cli.md). */
#define FLEET_UNREACHABLE 3

typedef enum fleet_status { ST_OK = 0, ST_MISMATCH, ST_UNREACHABLE } fleet_status;

typedef struct target {
    const char *given; /* as on the command line or in the file */
    char url[FLEET_MAX_URL + sizeof FLEET_PATH];
    fleet_status status;
    char version[TS_AUTHZ_POLICY_VERSION_LEN + 1];
    char mode[16];
    char source[32];
    char loaded_at[40];
    int64_t age_s; /* -1: unknown */
    char error[300];
} target;

typedef struct fleet {
    target *t;
    size_t n;
    unsigned timeout_ms;
    atomic_size_t next;
} fleet;

/* ---- targets ------------------------------------------------------------------------------ */

/* A URL without a path asks the diagnostics path; one with a path is asked as it is. */
static bool make_url(target *t, const char *given)
{
    const char *scheme = strstr(given, "://");
    size_t n = strlen(given);
    if (!scheme || n > FLEET_MAX_URL ||
        (strncmp(given, "http://", 7) != 0 && strncmp(given, "https://", 8) != 0))
        return false;
    const char *path = strchr(scheme + 3, '/');
    bool bare = !path || strcmp(path, "/") == 0;
    size_t keep = path ? (size_t)(path - given) : n;
    snprintf(t->url, sizeof t->url, "%.*s%s", (int)(bare ? keep : n), given,
             bare ? FLEET_PATH : "");
    t->given = given;
    return true;
}

static int add_target(const ts_cli_args *a, fleet *f, const char *given)
{
    if (f->n == FLEET_MAX_TARGETS)
        return ts_cli_usage_error(a->cmd, "more than %d targets", FLEET_MAX_TARGETS);
    target *t = &f->t[f->n];
    memset(t, 0, sizeof *t);
    if (!make_url(t, given))
        return ts_cli_usage_error(a->cmd, "'%s' is not an http:// or https:// URL", given);
    f->n++;
    return TS_CLI_OK;
}

/* The targets file: one URL a line; blank lines and '#' comments skipped. Lines are kept in
 * @p keep (freed by the caller) because targets borrow them. */
static int read_targets(const ts_cli_args *a, fleet *f, const char *path, char ***keep,
                        size_t *nkeep)
{
    FILE *in = fopen(path, "r");
    if (!in) {
        fprintf(stderr, "tokensmith: policy fleet: %s: cannot open\n", path);
        return TS_CLI_FAIL;
    }
    char buf[FLEET_MAX_URL + 2];
    size_t len = 0, lineno = 0;
    bool too_long = false;
    int rc = TS_CLI_OK;
    while (rc == TS_CLI_OK && ts_cli_read_line(in, buf, sizeof buf, &len, &too_long)) {
        lineno++;
        char *s = buf;
        while (*s == ' ' || *s == '\t')
            s++;
        size_t e = strlen(s);
        while (e > 0 && (s[e - 1] == ' ' || s[e - 1] == '\t' || s[e - 1] == '\r'))
            s[--e] = '\0';
        if (!*s || *s == '#')
            continue;
        if (too_long) {
            fprintf(stderr, "tokensmith: policy fleet: %s:%zu: line too long\n", path, lineno);
            rc = TS_CLI_USAGE;
            break;
        }
        char **nk = realloc(*keep, (*nkeep + 1) * sizeof *nk);
        char *copy = nk ? strdup(s) : NULL;
        if (nk)
            *keep = nk;
        if (!copy) {
            rc = TS_CLI_FAIL;
            break;
        }
        (*keep)[(*nkeep)++] = copy;
        rc = add_target(a, f, copy);
    }
    fclose(in);
    return rc;
}

/* ---- one target ------------------------------------------------------------------------- */

static int64_t days_from_civil(int64_t y, unsigned m, unsigned d)
{
    y -= m <= 2;
    int64_t era = (y >= 0 ? y : y - 399) / 400;
    unsigned yoe = (unsigned)(y - era * 400);
    unsigned doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
    unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + (int64_t)doe - 719468;
}

/* "2026-12-07T11:14:43.123Z" (UTC, as the guard writes it): seconds since the epoch, or -1. */
static int64_t parse_rfc3339(const char *s)
{
    int y, mo, d, h, mi, sec;
    char z = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d", &y, &mo, &d, &h, &mi, &sec) != 6)
        return -1;
    const char *tail = s + 19;
    if (*tail == '.')
        for (tail++; *tail >= '0' && *tail <= '9'; tail++)
            ;
    z = *tail;
    if (z != 'Z' || mo < 1 || mo > 12 || d < 1 || d > 31)
        return -1;
    return days_from_civil(y, (unsigned)mo, (unsigned)d) * 86400 + h * 3600 + mi * 60 + sec;
}

static void copy_member(json_t *j, const char *key, char *out, size_t cap)
{
    const char *v = json_string_value(json_object_get(j, key));
    snprintf(out, cap, "%s", v ? v : "");
}

static void fetch(target *t, unsigned timeout_ms)
{
    static const char *const accept[] = {"Accept: application/json"};
    ts_common__http_req rq = {0};
    rq.url = t->url;
    rq.headers = accept;
    rq.n_headers = 1;
    rq.timeout_ms = timeout_ms;
    rq.max_body = FLEET_MAX_BODY;
    rq.allow_plain_http = true; /* diagnostics hold no secret; fleets answer inside clusters */
    rq.label = "diagnostics";
    long status = 0;
    char *body = NULL;
    size_t len = 0;
    ts_error err;
    ts_error_clear(&err);
    t->status = ST_UNREACHABLE;
    t->age_s = -1;
    if (ts_common__http(&rq, &status, &body, &len, &err) != TS_OK) {
        ts_cli_format_error(&err, t->error, sizeof t->error);
        return;
    }
    json_t *j = status == 200 ? json_loadb(body, len, 0, NULL) : NULL;
    free(body);
    if (status != 200) {
        snprintf(t->error, sizeof t->error, "HTTP status %ld", status);
        return;
    }
    copy_member(j, "policy_version", t->version, sizeof t->version);
    if (!j || strlen(t->version) != TS_AUTHZ_POLICY_VERSION_LEN) {
        snprintf(t->error, sizeof t->error, "the answer is not an authz diagnostics document");
        t->version[0] = '\0';
        json_decref(j);
        return;
    }
    copy_member(j, "mode", t->mode, sizeof t->mode);
    copy_member(j, "policy_source", t->source, sizeof t->source);
    copy_member(j, "loaded_at", t->loaded_at, sizeof t->loaded_at);
    json_decref(j);
    int64_t at = parse_rfc3339(t->loaded_at);
    if (at >= 0) {
        int64_t now = (int64_t)time(NULL);
        t->age_s = now > at ? now - at : 0;
    }
    t->status = ST_OK;
}

static void *worker(void *arg)
{
    fleet *f = arg;
    for (size_t i; (i = atomic_fetch_add(&f->next, 1)) < f->n;)
        fetch(&f->t[i], f->timeout_ms);
    return NULL;
}

static void fetch_all(fleet *f)
{
    pthread_t th[FLEET_WORKERS];
    size_t nth = f->n < FLEET_WORKERS ? f->n : FLEET_WORKERS, started = 0;
    for (; started < nth; started++)
        if (pthread_create(&th[started], NULL, worker, f) != 0)
            break;
    if (started == 0)
        worker(f); /* no thread to be had: one after the other, still each bounded */
    for (size_t i = 0; i < started; i++)
        pthread_join(th[i], NULL);
}

/* ---- verdict and output ----------------------------------------------------------------- */

/* The version the fleet should have: --expect, else the one most targets report (ties: the
 * first of them in target order). */
static const char *reference(const fleet *f, const char *expect)
{
    if (expect)
        return expect;
    const char *best = NULL;
    size_t best_n = 0;
    for (size_t i = 0; i < f->n; i++) {
        if (f->t[i].status != ST_OK)
            continue;
        size_t n = 0;
        for (size_t k = 0; k < f->n; k++)
            n += f->t[k].status == ST_OK && strcmp(f->t[k].version, f->t[i].version) == 0;
        if (n > best_n)
            best = f->t[i].version, best_n = n;
    }
    return best;
}

static void age_text(int64_t s, char *buf, size_t cap)
{
    if (s < 0)
        snprintf(buf, cap, "-");
    else if (s < 60)
        snprintf(buf, cap, "%llds", (long long)s);
    else if (s < 3600)
        snprintf(buf, cap, "%lldm%02llds", (long long)(s / 60), (long long)(s % 60));
    else if (s < 86400)
        snprintf(buf, cap, "%lldh%02lldm", (long long)(s / 3600), (long long)(s % 3600 / 60));
    else
        snprintf(buf, cap, "%lldd%02lldh", (long long)(s / 86400), (long long)(s % 86400 / 3600));
}

static const char *status_name(fleet_status s)
{
    return s == ST_OK ? "ok" : s == ST_MISMATCH ? "mismatch" : "unreachable";
}

static void print_table(const fleet *f, const char *ref, size_t mismatch, size_t down)
{
    int w = 6;
    for (size_t i = 0; i < f->n; i++) {
        int l = (int)strlen(f->t[i].given);
        w = l > w ? (l > 60 ? 60 : l) : w;
    }
    printf("%-*s  %-12s  %-7s  %-7s  %s\n", w, "TARGET", "VERSION", "MODE", "AGE", "STATUS");
    for (size_t i = 0; i < f->n; i++) {
        const target *t = &f->t[i];
        char age[24];
        age_text(t->age_s, age, sizeof age);
        printf("%-*s  %-12.12s  %-7s  %-7s  %s", w, t->given, t->version[0] ? t->version : "-",
               t->mode[0] ? t->mode : "-", age, status_name(t->status));
        if (t->status == ST_UNREACHABLE)
            printf(" (%s)", t->error);
        putchar('\n');
    }
    printf("%zu targets: %zu agree on %s, %zu differ, %zu unreachable\n", f->n,
           f->n - mismatch - down, ref ? ref : "(none)", mismatch, down);
}

static int print_json(const fleet *f, const char *expect, const char *ref, size_t mismatch,
                      size_t down)
{
    json_t *root = json_object(), *arr = json_array();
    json_object_set_new(root, "expected", expect ? json_string(expect) : json_null());
    json_object_set_new(root, "reference", ref ? json_string(ref) : json_null());
    json_object_set_new(root, "agree", json_boolean(mismatch == 0 && down == 0 && ref));
    json_object_set_new(root, "mismatched", json_integer((json_int_t)mismatch));
    json_object_set_new(root, "unreachable", json_integer((json_int_t)down));
    for (size_t i = 0; i < f->n; i++) {
        const target *t = &f->t[i];
        json_t *o = json_object();
        json_object_set_new(o, "target", json_string(t->given));
        json_object_set_new(o, "url", json_string(t->url));
        json_object_set_new(o, "status", json_string(status_name(t->status)));
        if (t->status != ST_UNREACHABLE) {
            json_object_set_new(o, "policy_version", json_string(t->version));
            json_object_set_new(o, "mode", json_string(t->mode));
            json_object_set_new(o, "policy_source", json_string(t->source));
            json_object_set_new(o, "loaded_at", json_string(t->loaded_at));
            json_object_set_new(o, "age_s",
                                t->age_s >= 0 ? json_integer((json_int_t)t->age_s) : json_null());
        } else {
            json_object_set_new(o, "error", json_string(t->error));
        }
        json_array_append_new(arr, o);
    }
    json_object_set_new(root, "targets", arr);
    char *text = json_dumps(root, JSON_INDENT(2) | JSON_PRESERVE_ORDER);
    json_decref(root);
    if (!text)
        return TS_CLI_FAIL;
    int rc = printf("%s\n", text) < 0 ? TS_CLI_FAIL : TS_CLI_OK;
    free(text);
    return rc;
}

static bool is_version(const char *s)
{
    size_t n = 0;
    for (; s[n]; n++)
        if (!((s[n] >= '0' && s[n] <= '9') || (s[n] >= 'a' && s[n] <= 'f')))
            return false;
    return n == TS_AUTHZ_POLICY_VERSION_LEN;
}

static int run_policy_fleet(const ts_cli_args *a)
{
    const char *expect = ts_cli_get(a, F_FLEET_EXPECT);
    if (expect && !*expect)
        expect = NULL;
    if (expect && !is_version(expect))
        return ts_cli_usage_error(a->cmd, "--expect: a policy_version is 64 lowercase hex "
                                          "characters (tokensmith policy version prints one)");
    fleet f = {NULL, 0, (unsigned)ts_cli_num(a, F_FLEET_TIMEOUT) * 1000u, 0};
    char **keep = NULL;
    size_t nkeep = 0;
    int rc = TS_CLI_OK;
    if (!(f.t = calloc(FLEET_MAX_TARGETS, sizeof *f.t)))
        return TS_CLI_FAIL;
    for (int i = 0; rc == TS_CLI_OK && i < a->n_operands; i++)
        rc = add_target(a, &f, a->operands[i]);
    const char *file = ts_cli_get(a, F_FLEET_TARGETS);
    if (rc == TS_CLI_OK && file && *file)
        rc = read_targets(a, &f, file, &keep, &nkeep);
    if (rc == TS_CLI_OK && f.n == 0)
        rc = ts_cli_usage_error(a->cmd, "no targets: give URLs or --targets FILE");
    if (rc == TS_CLI_OK) {
        atomic_init(&f.next, 0);
        fetch_all(&f);
        const char *ref = reference(&f, expect);
        size_t mismatch = 0, down = 0;
        for (size_t i = 0; i < f.n; i++) {
            target *t = &f.t[i];
            if (t->status == ST_UNREACHABLE)
                down++;
            else if (!ref || strcmp(t->version, ref) != 0)
                t->status = ST_MISMATCH, mismatch++;
        }
        if (ts_cli_bool(a, F_FLEET_JSON))
            rc = print_json(&f, expect, ref, mismatch, down);
        else
            print_table(&f, ref, mismatch, down);
        if (fflush(stdout) != 0)
            rc = TS_CLI_FAIL;
        if (rc == TS_CLI_OK)
            rc = mismatch ? TS_CLI_FAIL : down ? FLEET_UNREACHABLE : TS_CLI_OK;
    }
    for (size_t i = 0; i < nkeep; i++)
        free(keep[i]);
    free(keep);
    free(f.t);
    return rc;
}

static const ts_cli_use fleet_uses[] = {
    {F_FLEET_EXPECT, 0}, {F_FLEET_TARGETS, 0}, {F_FLEET_TIMEOUT, 0},
    {F_FLEET_JSON, 0},   {F_COUNT, 0},
};

const ts_cli_command ts_cli_cmd_policy_fleet = {
    .name = "policy fleet",
    .summary = "check that every process of a fleet enforces the same policy",
    .operands = "[URL ...]",
    .min_operands = 0,
    .max_operands = FLEET_MAX_TARGETS,
    .about = "Fetch GET /authz/diagnostics from every target in parallel (a URL without a path\n"
             "gets /authz/diagnostics; one with a path is asked as it is) and print each one's\n"
             "policy_version, mode and age (how long that version has been in force). The\n"
             "targets agree when they all report --expect, or without it the version most of\n"
             "them report. Each exchange, connect included, is bounded by --timeout.",
    .after = "Exit status: 0 every target answered and they agree; 1 a target reports another\n"
             "policy_version (also when some are unreachable); 2 usage error; 3 a target gave\n"
             "no usable answer (no connection, timeout, an HTTP error, not a diagnostics\n"
             "document) and the others agree.",
    .uses = fleet_uses,
    .run = run_policy_fleet,
};
