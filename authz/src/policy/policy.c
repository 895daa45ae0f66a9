/* The rule list behind ts_authz_policy and Casbin's file-adapter CSV loading
 * (Go persist/file-adapter + persist.LoadPolicyLine). */
#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "model/gostr.h"
#include "policy.h"
#include "policy/csv_internal.h"
#include "common/file.h"

static const char *display_name(const char *name)
{
    return name ? name : "<input>";
}

/* One allocation per rule: the field pointer array, then the ptype and the field strings.
 * rule->fields is the block, so freeing it releases everything. */
static int rule_init(ts_policy_rule *r, const char *ptype, size_t plen, const char *const *vals,
                     const size_t *lens, size_t n)
{
    size_t size = n * sizeof(char *) + plen + 1, at;
    char *block;
    for (size_t i = 0; i < n; i++) {
        if (lens[i] >= SIZE_MAX - size)
            return -1;
        size += lens[i] + 1;
    }
    block = malloc(size ? size : 1);
    if (!block)
        return -1;
    r->fields = (char **)(void *)block;
    at = n * sizeof(char *);
    r->ptype = block + at;
    memcpy(block + at, ptype, plen);
    block[at + plen] = '\0';
    at += plen + 1;
    for (size_t i = 0; i < n; i++) {
        r->fields[i] = block + at;
        if (lens[i])
            memcpy(block + at, vals[i], lens[i]);
        block[at + lens[i]] = '\0';
        at += lens[i] + 1;
    }
    r->nfields = n;
    r->origin = NULL;
    r->line = 0;
    return 0;
}

static void rule_cleanup(ts_policy_rule *r)
{
    free(r->fields);
}

int ts_authz__policy_rule_append_field(ts_policy_rule *r, const char *value)
{
    if (r->nfields >= TS_AUTHZ_MAX_FIELDS)
        return -1;
    const char *vals[TS_AUTHZ_MAX_FIELDS + 1];
    size_t lens[TS_AUTHZ_MAX_FIELDS + 1];
    for (size_t i = 0; i < r->nfields; i++) {
        vals[i] = r->fields[i];
        lens[i] = strlen(r->fields[i]);
    }
    vals[r->nfields] = value;
    lens[r->nfields] = strlen(value);
    ts_policy_rule fresh;
    if (rule_init(&fresh, r->ptype, strlen(r->ptype), vals, lens, r->nfields + 1) != 0)
        return -1;
    fresh.origin = r->origin;
    fresh.line = r->line;
    rule_cleanup(r);
    *r = fresh;
    return 0;
}

/* Grow @p p so that @p extra more rules fit without another allocation. */
static int reserve(ts_authz_policy *p, size_t extra)
{
    size_t need, cap;
    ts_policy_rule *nr;
    if (extra > SIZE_MAX / sizeof *p->rules - p->n)
        return -1;
    need = p->n + extra;
    if (need <= p->cap)
        return 0;
    cap = p->cap ? p->cap : 16;
    while (cap < need)
        cap = cap > SIZE_MAX / 2 / sizeof *p->rules ? need : cap * 2;
    nr = realloc(p->rules, cap * sizeof *nr);
    if (!nr)
        return -1;
    p->rules = nr;
    p->cap = cap;
    return 0;
}

TS_API ts_authz_policy *ts_authz_policy_new(void)
{
    return calloc(1, sizeof(ts_authz_policy));
}

TS_API void ts_authz_policy_free(ts_authz_policy *p)
{
    if (!p)
        return;
    for (size_t i = 0; i < p->n; i++)
        rule_cleanup(&p->rules[i]);
    free(p->rules);
    for (size_t i = 0; i < p->norigins; i++)
        free(p->origins[i]);
    free(p->origins);
    free(p);
}

TS_API size_t ts_authz_policy_count(const ts_authz_policy *p)
{
    return p ? p->n : 0;
}

TS_API ts_status ts_authz_policy_add(ts_authz_policy *p, const char *ptype,
                                     const char *const *fields, size_t nfields, ts_error *err)
{
    size_t lens[TS_AUTHZ_MAX_FIELDS];
    ts_policy_rule r;
    if (!p || !ptype || (!fields && nfields > 0))
        return ts_error_set(err, TS_EINVAL, "ts_authz_policy_add", "invalid argument");
    if (ptype[0] == '\0')
        return ts_error_set(err, TS_EINVAL, "ts_authz_policy_add", "empty policy type");
    if (nfields == 0)
        return ts_error_set(err, TS_EINVAL, "ts_authz_policy_add", "rule %s has no fields", ptype);
    if (nfields > TS_AUTHZ_MAX_FIELDS)
        return ts_error_set(err, TS_ELIMIT, "ts_authz_policy_add",
                            "rule has %zu fields (at most %u)", nfields, TS_AUTHZ_MAX_FIELDS);
    for (size_t i = 0; i < nfields; i++) {
        if (!fields[i])
            return ts_error_set(err, TS_EINVAL, "ts_authz_policy_add", "field %zu is NULL", i);
        lens[i] = strlen(fields[i]);
    }
    if (reserve(p, 1) != 0 || rule_init(&r, ptype, strlen(ptype), fields, lens, nfields) != 0)
        return ts_error_set(err, TS_ENOMEM, "ts_authz_policy_add", "out of memory");
    p->rules[p->n++] = r;
    return TS_OK;
}

typedef struct staged {
    ts_policy_rule *rules;
    size_t n, cap;
} staged;

static void staged_cleanup(staged *s)
{
    for (size_t i = 0; i < s->n; i++)
        rule_cleanup(&s->rules[i]);
    free(s->rules);
}

static int staged_push(staged *s, const ts_policy_rule *r)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 64;
        ts_policy_rule *nr;
        if (cap > SIZE_MAX / sizeof *nr)
            return -1;
        nr = realloc(s->rules, cap * sizeof *nr);
        if (!nr)
            return -1;
        s->rules = nr;
        s->cap = cap;
    }
    s->rules[s->n++] = *r;
    return 0;
}

static TS_PRINTF(5, 6) ts_status
    line_error(ts_error *err, ts_status code, const char *name, size_t line, const char *fmt, ...)
{
    char where[128], msg[256];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    snprintf(where, sizeof where, "%s:%zu", display_name(name), line);
    return ts_error_set(err, code, where, "%s", msg);
}

/* Parse every line into @p out; nothing is appended to the policy here. */
static ts_status parse_lines(const char *text, size_t len, const char *name, const char *origin,
                             staged *out, ts_error *err)
{
    ts_csv_span spans[TS_CSV_MAX_FIELDS];
    const char *vals[TS_CSV_MAX_FIELDS];
    size_t lens[TS_CSV_MAX_FIELDS];
    size_t pos = 0, lineno = 0;
    char *scratch = malloc((len < TS_AUTHZ_MAX_LINE_BYTES ? len : TS_AUTHZ_MAX_LINE_BYTES) + 1);
    ts_status st = TS_OK;
    if (!scratch)
        return ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        size_t nf = 0, col = 0;
        const char *why = "";
        ts_policy_rule r;
        pos += n + (nl ? 1 : 0);
        lineno++;
        /* Go's bufio.Scanner refuses longer lines (bufio.ErrTooLong). The limit is on the
         * content: the CR of a CRLF ending is not part of the line (Go's ScanLines drops it). */
        if (n - (n > 0 && line[n - 1] == '\r') > TS_AUTHZ_MAX_LINE_BYTES) {
            st = line_error(err, TS_ELIMIT, name, lineno, "line longer than %u bytes",
                            TS_AUTHZ_MAX_LINE_BYTES);
            break;
        }
        /* Rule strings are NUL-terminated, so a NUL byte could silently cut a field. */
        if (memchr(line, '\0', n)) {
            st = line_error(err, TS_EPARSE, name, lineno, "NUL byte in policy line");
            break;
        }
        ts_authz__go_trim_space(&line, &n);
        if (n == 0 || line[0] == '#')
            continue;
        st = ts_authz__csv_split(line, n, scratch, spans, TS_CSV_MAX_FIELDS, &nf, &col, &why);
        if (st == TS_EPARSE) {
            /* Go's csv.ParseError text; Go reads each line with its own reader and so always
             * says "line 1", here the line is the file's. */
            st = line_error(err, st, name, lineno, "parse error on line %zu, column %zu: %s",
                            lineno, col, why);
            break;
        }
        if (st != TS_OK) {
            st = line_error(err, st, name, lineno, "%s (at most %zu)", why,
                            (size_t)TS_CSV_MAX_FIELDS);
            break;
        }
        if (spans[0].len == 0) {
            st = line_error(err, TS_EPARSE, name, lineno, "empty policy type");
            break;
        }
        if (nf < 2) {
            st = line_error(err, TS_EPARSE, name, lineno, "rule %.64s has no fields",
                            scratch + spans[0].off);
            break;
        }
        for (size_t i = 1; i < nf; i++) {
            vals[i - 1] = scratch + spans[i].off;
            lens[i - 1] = spans[i].len;
        }
        if (rule_init(&r, scratch + spans[0].off, spans[0].len, vals, lens, nf - 1) != 0) {
            st = ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
            break;
        }
        r.origin = origin;
        r.line = lineno > INT32_MAX ? INT32_MAX : (int)lineno;
        if (staged_push(out, &r) != 0) {
            rule_cleanup(&r);
            st = ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
            break;
        }
    }
    free(scratch);
    return st;
}

/* @return the policy's copy of @p name, reusing an identical one; *fresh says whether a new
 * string was allocated (it joins p->origins only when the load succeeds). */
static char *origin_for(const ts_authz_policy *p, const char *name, int *fresh)
{
    size_t n;
    char *o;
    *fresh = 0;
    for (size_t i = 0; i < p->norigins; i++)
        if (strcmp(p->origins[i], name) == 0)
            return p->origins[i];
    n = strlen(name);
    o = malloc(n + 1);
    if (o) {
        memcpy(o, name, n + 1);
        *fresh = 1;
    }
    return o;
}

TS_API ts_status ts_authz_policy_load_csv(ts_authz_policy *p, const char *text, size_t len,
                                          const char *name, ts_error *err)
{
    staged s = {NULL, 0, 0};
    char *origin;
    int fresh;
    ts_status st;
    if (!p || (!text && len > 0))
        return ts_error_set(err, TS_EINVAL, "ts_authz_policy_load_csv", "invalid argument");
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    origin = origin_for(p, display_name(name), &fresh);
    if (!origin)
        return ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
    st = parse_lines(text ? text : "", len, name, origin, &s, err);
    if (st == TS_OK && s.n > 0) {
        char **no = NULL;
        if (fresh) {
            no = realloc(p->origins, (p->norigins + 1) * sizeof *no);
            if (no)
                p->origins = no;
        }
        if ((fresh && !no) || reserve(p, s.n) != 0) {
            st = ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
        } else {
            if (fresh) {
                p->origins[p->norigins++] = origin;
                fresh = 0;
            }
            memcpy(p->rules + p->n, s.rules, s.n * sizeof *s.rules);
            p->n += s.n;
            s.n = 0; /* the rules now belong to the policy */
        }
    }
    if (fresh)
        free(origin);
    staged_cleanup(&s);
    return st;
}

TS_API ts_status ts_authz_policy_load_file(ts_authz_policy *p, const char *path, ts_error *err)
{
    if (!p || !path)
        return ts_error_set(err, TS_EINVAL, "ts_authz_policy_load_file", "invalid argument");
    char *buf = NULL;
    size_t len = 0;
    ts_status st = ts_common__read_file(path, TS_POLICY_MAX_FILE_BYTES, 0, &buf, &len, err);
    if (st != TS_OK)
        return st;
    st = ts_authz_policy_load_csv(p, buf, len, path, err);
    free(buf);
    return st;
}
