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

/* A rule's field array and strings live in an arena (the policy's, or a load's until it
 * succeeds): no allocation per rule, nothing to free per rule. @p ptype may be a string already
 * in that arena (shared by consecutive rules of one type) or NULL to copy @p pt. */
static int rule_init(ts_arena *a, ts_policy_rule *r, char *ptype, const char *pt, size_t plen,
                     const char *const *vals, const size_t *lens, size_t n,
                     const ts_policy_rule *prev)
{
    r->ptype = ptype ? ptype : ts_authz__arena_strndup(a, pt, plen);
    r->fields = ts_authz__arena_alloc_aligned(a, (n ? n : 1) * sizeof(char *), _Alignof(char *));
    if (!r->ptype || !r->fields)
        return -1;
    for (size_t i = 0; i < n; i++) {
        /* Policies list a role's members, a domain's rules, one action, line after line: a
         * field equal to the one above it shares its string (a tenth of a million-rule
         * policy's bytes, for one comparison). */
        if (prev && i < prev->nfields && strncmp(prev->fields[i], vals[i], lens[i]) == 0 &&
            prev->fields[i][lens[i]] == '\0') {
            r->fields[i] = prev->fields[i];
            continue;
        }
        r->fields[i] = ts_authz__arena_strndup(a, vals[i], lens[i]);
        if (!r->fields[i])
            return -1;
    }
    r->nfields = (uint16_t)n; /* n <= TS_AUTHZ_MAX_FIELDS */
    r->origin = NULL;
    r->line = 0;
    r->owns_fields = false;
    return 0;
}

int ts_authz__policy_rule_append_field(ts_policy_rule *r, const char *value)
{
    if (r->nfields >= TS_AUTHZ_MAX_FIELDS)
        return -1;
    /* One malloc'd block: the field array, then the strings. The rule cannot reach its
     * policy's arena, and appending is rare (bundle loading). */
    size_t size = (r->nfields + 1) * sizeof(char *), vlen = strlen(value);
    for (size_t i = 0; i < r->nfields; i++)
        size += strlen(r->fields[i]) + 1;
    size += vlen + 1;
    char *block = malloc(size);
    if (!block)
        return -1;
    char **fields = (char **)(void *)block;
    size_t at = (r->nfields + 1) * sizeof(char *);
    for (size_t i = 0; i <= r->nfields; i++) {
        const char *src = i < r->nfields ? r->fields[i] : value;
        size_t n = i < r->nfields ? strlen(src) : vlen;
        fields[i] = block + at;
        memcpy(block + at, src, n + 1);
        at += n + 1;
    }
    if (r->owns_fields)
        free(r->fields);
    r->fields = fields;
    r->nfields++;
    r->owns_fields = true;
    return 0;
}

static void rule_cleanup(ts_policy_rule *r)
{
    if (r->owns_fields)
        free(r->fields);
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
    /* A bulk reservation (a file's lines) is taken as asked: doubling past a million rules
     * would leave up to 40 MB unused. */
    if (extra > 1 && need > p->cap * 2)
        cap = need;
    nr = realloc(p->rules, cap * sizeof *nr);
    if (!nr)
        return -1;
    p->rules = nr;
    p->cap = cap;
    return 0;
}

TS_API ts_authz_policy *ts_authz_policy_new(void)
{
    ts_authz_policy *p = calloc(1, sizeof(ts_authz_policy));
    if (p)
        ts_authz__arena_init(&p->arena, 1u << 12);
    return p;
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
    ts_authz__arena_cleanup(&p->arena);
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
    if (reserve(p, 1) != 0 ||
        rule_init(&p->arena, &r, NULL, ptype, strlen(ptype), fields, lens, nfields, NULL) != 0)
        return ts_error_set(err, TS_ENOMEM, "ts_authz_policy_add", "out of memory");
    p->rules[p->n++] = r;
    return TS_OK;
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

/* Parse every line into p->rules[p->n ...] (room reserved by the caller for @p room rules),
 * the strings into @p a; p->n is not changed here, so that a failed load leaves the policy as
 * it was. *added: the rules parsed. */
static ts_status parse_lines(const char *text, size_t len, const char *name, const char *origin,
                             ts_authz_policy *p, size_t room, ts_arena *a, size_t *added,
                             ts_error *err)
{
    ts_csv_span spans[TS_CSV_MAX_FIELDS];
    const char *vals[TS_CSV_MAX_FIELDS];
    size_t lens[TS_CSV_MAX_FIELDS];
    size_t pos = 0, lineno = 0, k = 0;
    char *scratch = malloc((len < TS_AUTHZ_MAX_LINE_BYTES ? len : TS_AUTHZ_MAX_LINE_BYTES) + 1);
    char *last_ptype = NULL; /* consecutive rules of one type share its string */
    ts_status st = TS_OK;
    *added = 0;
    if (!scratch)
        return ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
    while (pos < len) {
        const char *line = text + pos;
        const char *nl = memchr(line, '\n', len - pos);
        size_t n = nl ? (size_t)(nl - line) : len - pos;
        size_t nf = 0, col = 0;
        const char *why = "";
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
        if (k == room) {
            /* The caller counted lines: more rules than lines cannot happen. */
            st = ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
            break;
        }
        for (size_t i = 1; i < nf; i++) {
            vals[i - 1] = scratch + spans[i].off;
            lens[i - 1] = spans[i].len;
        }
        const char *pt = scratch + spans[0].off;
        bool same = last_ptype && strlen(last_ptype) == spans[0].len &&
                    memcmp(last_ptype, pt, spans[0].len) == 0;
        ts_policy_rule *r = &p->rules[p->n + k];
        if (rule_init(a, r, same ? last_ptype : NULL, pt, spans[0].len, vals, lens, nf - 1,
                      same ? r - 1 : NULL) != 0) {
            st = ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
            break;
        }
        last_ptype = r->ptype;
        r->origin = origin;
        r->line = lineno > INT32_MAX ? INT32_MAX : (int)lineno;
        k++;
    }
    free(scratch);
    *added = k;
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
    char *origin;
    int fresh;
    ts_status st;
    size_t lines = 1, added = 0;
    if (!p || (!text && len > 0))
        return ts_error_set(err, TS_EINVAL, "ts_authz_policy_load_csv", "invalid argument");
    if (len >= 3 && memcmp(text, "\xEF\xBB\xBF", 3) == 0) {
        text += 3;
        len -= 3;
    }
    /* Room for one rule per line, reserved once: rules are parsed in place, with no staging
     * copy (a million rules would otherwise hold two 40 MB arrays at once). */
    for (size_t at = 0; at < len; lines++) {
        const char *q = memchr(text + at, '\n', len - at);
        if (!q)
            break;
        at = (size_t)(q - text) + 1;
    }
    origin = origin_for(p, display_name(name), &fresh);
    if (!origin)
        return ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
    char **no = NULL;
    if (fresh) {
        no = realloc(p->origins, (p->norigins + 1) * sizeof *no);
        if (no)
            p->origins = no;
    }
    if ((fresh && !no) || reserve(p, lines) != 0) {
        free(fresh ? origin : NULL);
        return ts_error_set(err, TS_ENOMEM, display_name(name), "out of memory");
    }
    /* The strings go to an arena of their own, adopted by the policy only on success. */
    ts_arena a;
    ts_authz__arena_init(&a, 1u << 16);
    st = parse_lines(text ? text : "", len, name, origin, p, p->cap - p->n, &a, &added, err);
    if (st == TS_OK && added > 0) {
        ts_authz__arena_adopt(&p->arena, &a);
        p->n += added;
        if (fresh) {
            p->origins[p->norigins++] = origin;
            fresh = 0;
        }
    }
    ts_authz__arena_cleanup(&a);
    if (fresh)
        free(origin);
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
