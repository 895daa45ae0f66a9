/*
 * Rules changed at run time through the guard. They form one more fragment after every policy
 * file: a file of the policy directory (the guard option runtime_fragment) or, without one, text
 * the authorizer keeps in memory. Either way a change is one rebuild of the whole policy, so it
 * reaches decisions as one snapshot, and the policy_version covers it like any fragment.
 */
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/file.h"
#include "contract/contract.h"
#include "contract/live.h"

#define RUNTIME_HEADER                                                                             \
    "# Rules added at run time (ts_authz_guard_add_rules). Kept across restarts and reloads;\n"    \
    "# edit with care: the service rewrites this file on its next change.\n"

/* The runtime fragment as lines. */
typedef struct doc {
    char **lines; /* as written, without newline */
    size_t n;
} doc;
static ts_status read_runtime_file(const char *path, doc *d, ts_error *err);
static size_t doc_rules(const doc *d);
static void doc_free(doc *d);

/* ---- live state --------------------------------------------------------------------------- */

static char *dup_n(const char *s, size_t n)
{
    char *d = malloc(n + 1);
    if (d) {
        memcpy(d, s, n);
        d[n] = '\0';
    }
    return d;
}

static bool plain_csv_name(const char *name)
{
    size_t n = strlen(name);
    return n > 4 && name[0] != '.' && !strchr(name, '/') && strcmp(name + n - 4, ".csv") == 0;
}

ts_status ts_authz__live_new(ts_authz_guard *g, const char *runtime_fragment, ts_error *err)
{
    ts_authz__live *l = calloc(1, sizeof *l);
    if (!l)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    pthread_mutex_init(&l->mu, NULL);
    g->live = l;
    if (!runtime_fragment)
        return TS_OK;
    const char *dir = ts_authz__authorizer_source(g->o.authorizer)->policy_dir;
    if (!plain_csv_name(runtime_fragment))
        return ts_error_set(err, TS_EINVAL, "runtime_fragment",
                            "'%s' must be a file name ending in .csv (no '/', no leading '.')",
                            runtime_fragment);
    if (!dir)
        return ts_error_set(err, TS_EINVAL, "runtime_fragment",
                            "the authorizer has no policy directory to keep it in");
    size_t a = strlen(dir), b = strlen(runtime_fragment);
    if (!(l->runtime_path = malloc(a + b + 2)))
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    snprintf(l->runtime_path, a + b + 2, "%s/%s", dir, runtime_fragment);
    /* Rules a previous run wrote: counted for the diagnostics (the authorizer loaded them). */
    doc d = {NULL, 0};
    ts_status st = read_runtime_file(l->runtime_path, &d, err);
    l->runtime_rules = doc_rules(&d);
    doc_free(&d);
    return st;
}

void ts_authz__live_free(ts_authz__live *l)
{
    if (!l)
        return;
    ts_authz__watcher_stop(l->watcher);
    free(l->runtime_path);
    free(l->runtime);
    pthread_mutex_destroy(&l->mu);
    free(l);
}

void ts_authz__rfc3339(int64_t ms, char out[32])
{
    time_t t = (time_t)(ms / 1000);
    struct tm tm;
    gmtime_r(&t, &tm);
    char base[24];
    strftime(base, sizeof base, "%Y-%m-%dT%H:%M:%S", &tm);
    snprintf(out, 32, "%s.%03dZ", base, (int)(ms % 1000));
}

/* "path:12: problem": the file and line a parser named, for the log line's own members. */
static void error_place(const char *msg, char *file, size_t cap, unsigned long *line)
{
    file[0] = '\0';
    *line = 0;
    for (const char *c = strchr(msg, ':'); c; c = strchr(c + 1, ':')) {
        char *end = NULL;
        unsigned long n = strtoul(c + 1, &end, 10);
        if (end != c + 1 && *end == ':' && n > 0) {
            size_t len = (size_t)(c - msg);
            if (len < cap) {
                memcpy(file, msg, len);
                file[len] = '\0';
                *line = n;
            }
            return;
        }
    }
}

void ts_authz__log_rebuild(const ts_authz_guard *g, const char *event, ts_status st,
                           const ts_authz__rebuild *r, const ts_error *err, const char *fields,
                           size_t fields_len)
{
    if (!g->o.log)
        return;
    ts_common__json b;
    ts_common__json_init(&b, TS_COMMON__JSON_ASCII);
    ts_common__json_kbool(&b, "ok", st == TS_OK);
    if (st == TS_OK) {
        ts_common__json_kbool(&b, "changed", r->changed);
        ts_common__json_kstr(&b, "policy_version", r->current);
        ts_common__json_kstr(&b, "previous_policy_version", r->previous);
        ts_common__json_kuint(&b, "p_rules", r->p_rules);
        ts_common__json_kuint(&b, "g_rules", r->g_rules);
    } else {
        char why[400], file[256];
        unsigned long line;
        ts_authz__error_text(err, why, sizeof why);
        ts_common__json_kstr(&b, "error", why);
        error_place(why, file, sizeof file, &line);
        if (line) {
            ts_common__json_kstr(&b, "file", file);
            ts_common__json_kuint(&b, "line", line);
        }
        ts_common__json_kstr(&b, "policy_version", r->previous);
        ts_common__json_kbool(&b, "kept", true);
    }
    if (fields_len) {
        ts_common__json_raw(&b, ",", 1);
        ts_common__json_embed(&b, fields, fields_len);
    }
    if (!b.oom)
        ts_authz__log_event(g->o.log, g->o.log_ud, event, b.ptr, b.len);
    ts_common__json_cleanup(&b);
}

void ts_authz__runtime_render(ts_authz__live *l, ts_common__json *b)
{
    pthread_mutex_lock(&l->mu);
    ts_common__json_key(b, "runtime");
    ts_common__json_open(b);
    ts_common__json_kuint(b, "rules", l->runtime_rules);
    ts_common__json_kstr(b, "fragment", l->runtime_path ? l->runtime_path : "");
    ts_common__json_kbool(b, "persisted", l->runtime_path != NULL);
    ts_common__json_close(b);
    pthread_mutex_unlock(&l->mu);
}

/* ---- the runtime fragment as lines ------------------------------------------------------- */

static void doc_free(doc *d)
{
    for (size_t i = 0; i < d->n; i++)
        free(d->lines[i]);
    free(d->lines);
    d->lines = NULL;
    d->n = 0;
}

static bool doc_push(doc *d, char *line)
{
    char **nl = line ? realloc(d->lines, (d->n + 1) * sizeof *nl) : NULL;
    if (!nl) {
        free(line);
        return false;
    }
    d->lines = nl;
    d->lines[d->n++] = line;
    return true;
}

static ts_status doc_parse(const char *text, size_t len, doc *d, ts_error *err)
{
    for (size_t i = 0; i < len;) {
        const char *nl = memchr(text + i, '\n', len - i);
        size_t end = nl ? (size_t)(nl - text) : len, e = end;
        if (e > i && text[e - 1] == '\r')
            e--;
        if (!doc_push(d, dup_n(text + i, e - i)))
            return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        i = end + 1;
    }
    return TS_OK;
}

static char *doc_text(const doc *d, size_t *len)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++)
        n += strlen(d->lines[i]) + 1;
    char *t = malloc(n + 1), *w = t;
    if (!t)
        return NULL;
    for (size_t i = 0; i < d->n; i++) {
        size_t k = strlen(d->lines[i]);
        memcpy(w, d->lines[i], k);
        w += k;
        *w++ = '\n';
    }
    *w = '\0';
    *len = n;
    return t;
}

/* Does the policy line @p line hold exactly @p r? Comments, blank and unreadable lines never. */
static bool line_is(const char *line, const ts_authz_rule_row *r)
{
    char **f = NULL;
    size_t nf = 0;
    if (ts_authz_csv_split_line(line, strlen(line), &f, &nf, NULL, NULL) != TS_OK)
        return false;
    bool same = nf == r->nfields + 1 && strcmp(f[0], r->ptype) == 0;
    for (size_t i = 0; same && i < r->nfields; i++)
        same = strcmp(f[i + 1], r->fields[i]) == 0;
    ts_authz_csv_fields_free(f, nf);
    return same;
}

static size_t doc_rules(const doc *d)
{
    size_t n = 0;
    for (size_t i = 0; i < d->n; i++) {
        const char *s = d->lines[i];
        while (*s == ' ' || *s == '\t')
            s++;
        n += *s && *s != '#';
    }
    return n;
}

/* One field as the policy CSV reads it back: quoted when it holds a separator, a quote or
 * white space at either end (which the reader would trim), or is empty. */
static bool put_field(char *w, size_t cap, size_t *pos, const char *f)
{
    size_t n = strlen(f);
    bool quote = n == 0 || strpbrk(f, ",\"") || f[0] == ' ' || f[0] == '\t' || f[n - 1] == ' ' ||
                 f[n - 1] == '\t';
    if (*pos + 2 * n + 4 >= cap)
        return false;
    if (quote)
        w[(*pos)++] = '"';
    for (const char *c = f; *c; c++) {
        if (*c == '"')
            w[(*pos)++] = '"';
        w[(*pos)++] = *c;
    }
    if (quote)
        w[(*pos)++] = '"';
    w[*pos] = '\0';
    return true;
}

static ts_status rule_line(const ts_authz_rule_row *r, size_t i, char **out, ts_error *err)
{
    *out = NULL;
    if (!r->ptype || !*r->ptype || r->nfields == 0 || r->nfields > TS_AUTHZ_MAX_FIELDS ||
        !r->fields)
        return ts_error_set(err, TS_EINVAL, "rules", "rule %zu: a ptype and 1..%u fields", i + 1,
                            TS_AUTHZ_MAX_FIELDS);
    size_t cap = 2 * strlen(r->ptype) + 8;
    for (size_t k = 0; k < r->nfields; k++) {
        if (!r->fields[k])
            return ts_error_set(err, TS_EINVAL, "rules", "rule %zu: field %zu is NULL", i + 1,
                                k + 1);
        for (const char *c = r->fields[k]; *c; c++)
            if ((unsigned char)*c < 0x20 || *c == 0x7f)
                return ts_error_set(err, TS_EINVAL, "rules",
                                    "rule %zu: field %zu contains a control character", i + 1,
                                    k + 1);
        cap += 2 * strlen(r->fields[k]) + 6;
    }
    for (const char *c = r->ptype; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= '0' && *c <= '9') || *c == '_'))
            return ts_error_set(err, TS_EINVAL, "rules", "rule %zu: bad ptype", i + 1);
    if (cap > TS_AUTHZ_MAX_LINE_BYTES)
        return ts_error_set(err, TS_ELIMIT, "rules", "rule %zu: longer than %u bytes", i + 1,
                            TS_AUTHZ_MAX_LINE_BYTES);
    char *w = malloc(cap);
    size_t pos = 0;
    if (!w)
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    pos = (size_t)snprintf(w, cap, "%s", r->ptype);
    for (size_t k = 0; k < r->nfields; k++) {
        w[pos++] = ',';
        w[pos++] = ' ';
        put_field(w, cap, &pos, r->fields[k]);
    }
    *out = w;
    return TS_OK;
}

/* ---- the file ----------------------------------------------------------------------------- */

static ts_status read_runtime_file(const char *path, doc *d, ts_error *err)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
    if (fd < 0) {
        if (errno == ENOENT)
            return TS_OK; /* no runtime rule yet */
        return ts_error_set(err, TS_EIO, path, "cannot open: %s", strerror(errno));
    }
    char *buf = NULL;
    size_t n = 0;
    ts_status st = ts_common__read_fd(fd, path, TS_AUTHZ_MAX_FRAGMENT_BYTES, 0, &buf, &n, err);
    close(fd);
    if (st == TS_OK)
        st = doc_parse(buf, n, d, err);
    free(buf);
    return st;
}

/* Temporary file (a dot name: never read as a fragment), fsync, rename, fsync the directory:
 * a reader of the directory sees the old file or the new one, never a part. */
static ts_status write_runtime_file(const char *path, const char *text, size_t len, ts_error *err)
{
    size_t pl = strlen(path);
    const char *slash = strrchr(path, '/');
    size_t dl = slash ? (size_t)(slash - path) : 0;
    char *tmp = malloc(pl + 32), *dir = dup_n(path, dl ? dl : 1);
    if (!tmp || !dir) {
        free(tmp);
        free(dir);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    if (!dl)
        dir[0] = '.';
    snprintf(tmp, pl + 32, "%.*s/.%s.%ld.tmp", (int)dl, path, slash ? slash + 1 : path,
             (long)getpid());
    ts_status st = TS_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        st = ts_error_set(err, TS_EIO, path, "cannot write: %s", strerror(errno));
        goto out;
    }
    size_t done = 0;
    while (done < len) {
        ssize_t w = write(fd, text + done, len - done);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            break;
        done += (size_t)w;
    }
    bool ok = done == len && fchmod(fd, 0644) == 0 && fsync(fd) == 0;
    ok = close(fd) == 0 && ok;
    if (!ok || rename(tmp, path) != 0) {
        st = ts_error_set(err, TS_EIO, path, "cannot write: %s", strerror(errno));
        unlink(tmp);
        goto out;
    }
    int dfd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dfd >= 0) {
        (void)fsync(dfd);
        close(dfd);
    }
out:
    free(tmp);
    free(dir);
    return st;
}

/* ---- changes ------------------------------------------------------------------------------ */

static ts_status change(const ts_authz_guard *g, bool add, const ts_authz_rule_row *rules, size_t n,
                        size_t *changed, char *policy_version, ts_error *uerr)
{
    ts_error local;
    ts_error_clear(&local);
    ts_error *err = &local;
    size_t count = 0;
    if (changed)
        *changed = 0;
    if (!g || (!rules && n))
        return ts_error_set(uerr, TS_EINVAL, "rules", "no guard or rules");
    if (n == 0 || n > TS_AUTHZ_MAX_RULE_CHANGE)
        return ts_error_set(uerr, TS_ELIMIT, "rules", "1..%u rules per change",
                            TS_AUTHZ_MAX_RULE_CHANGE);
    ts_authz__live *l = g->live;
    ts_authz_authorizer *a = (ts_authz_authorizer *)(uintptr_t)g->o.authorizer; /* live state */
    ts_authz__rebuild r;
    memset(&r, 0, sizeof r);
    ts_authz_authorizer_policy_version(a, r.previous);
    memcpy(r.current, r.previous, sizeof r.current);
    doc d = {NULL, 0};
    char *text = NULL;
    size_t len = 0;
    ts_status st = TS_OK;
    pthread_mutex_lock(&l->mu);
    /* The file is read again each time: an operator, or the watcher's source, may have
     * changed it since. */
    if (l->runtime_path)
        st = read_runtime_file(l->runtime_path, &d, err);
    else if (l->runtime)
        st = doc_parse(l->runtime, l->runtime_len, &d, err);
    if (st == TS_OK && l->runtime_path && d.n == 0 && add &&
        !doc_push(&d, dup_n(RUNTIME_HEADER, sizeof RUNTIME_HEADER - 2)))
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    for (size_t i = 0; st == TS_OK && i < n; i++) {
        char *line = NULL;
        if ((st = rule_line(&rules[i], i, &line, err)) != TS_OK)
            break;
        free(line);
        size_t w = 0;
        bool found = false;
        for (size_t k = 0; k < d.n; k++) {
            bool same = line_is(d.lines[k], &rules[i]);
            found = found || same;
            if (!add && same) {
                free(d.lines[k]);
                count++;
            } else {
                d.lines[w++] = d.lines[k];
            }
        }
        d.n = w;
        if (add && !found) {
            if ((st = rule_line(&rules[i], i, &line, err)) != TS_OK)
                break;
            if (!doc_push(&d, line))
                st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
            count++;
        }
    }
    if (st == TS_OK && !(text = doc_text(&d, &len)))
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    if (st == TS_OK && count > 0) {
        if (l->runtime_path) {
            /* Checked before written: a rule the model refuses never reaches the file. The
             * check builds the policy with the new rules on top of the file as it is. */
            st = ts_authz__authorizer_rebuild(a, true, text, len, true, &r, err);
            if (st == TS_OK)
                st = write_runtime_file(l->runtime_path, text, len, err);
            if (st == TS_OK)
                st = ts_authz__authorizer_rebuild(a, false, NULL, 0, false, &r, err);
        } else {
            st = ts_authz__authorizer_rebuild(a, true, text, len, false, &r, err);
            if (st == TS_OK) {
                free(l->runtime);
                l->runtime = text;
                l->runtime_len = len;
                text = NULL;
            }
        }
        if (st == TS_OK)
            l->runtime_rules = doc_rules(&d);
    }
    pthread_mutex_unlock(&l->mu);
    char fields[160];
    int fl =
        snprintf(fields, sizeof fields, "\"op\":\"%s\",\"rules\":%zu,\"%s\":%zu",
                 add ? "add" : "remove", n, add ? "added" : "removed", st == TS_OK ? count : 0);
    ts_authz__log_rebuild(g, "authz.rules", st, &r, err, fields, (size_t)fl);
    if (policy_version)
        ts_authz_authorizer_policy_version(a, policy_version);
    if (changed && st == TS_OK)
        *changed = count;
    if (uerr && st != TS_OK)
        *uerr = local;
    free(text);
    doc_free(&d);
    return st;
}

ts_status ts_authz_guard_add_rules(const ts_authz_guard *g, const ts_authz_rule_row *rules,
                                   size_t n, size_t *changed,
                                   char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1],
                                   ts_error *err)
{
    return change(g, true, rules, n, changed, policy_version, err);
}

ts_status ts_authz_guard_remove_rules(const ts_authz_guard *g, const ts_authz_rule_row *rules,
                                      size_t n, size_t *changed,
                                      char policy_version[TS_AUTHZ_POLICY_VERSION_LEN + 1],
                                      ts_error *err)
{
    return change(g, false, rules, n, changed, policy_version, err);
}
