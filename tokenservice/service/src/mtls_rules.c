/* The mapping rules of mTLS service identity: parsed once at start from the `serviceIdentity`
 * member, matched in file order against a certificate's SAN URIs or DNS names. */
#define _GNU_SOURCE

#include "mtls.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

struct ts_svc_mtls_rules {
    ts_svc_mtls_rule *v;
    size_t n;
};

static void rule_cleanup(ts_svc_mtls_rule *r)
{
    free(r->pattern);
    free(r->subject);
    free(r->scope);
    for (size_t i = 0; i < r->n_audience; i++)
        free(r->audience[i]);
    free(r->audience);
    free(r->roles);
}

void ts_svc_mtls_rules_free(ts_svc_mtls_rules *r)
{
    if (!r)
        return;
    for (size_t i = 0; i < r->n; i++)
        rule_cleanup(&r->v[i]);
    free(r->v);
    free(r);
}

/* A non-empty string of at most TS_SVC_MTLS_MAX_STR bytes without control characters (or,
 * with @p no_space, white space: scope tokens are joined by spaces). */
static const char *good_string(json_t *v, bool no_space)
{
    const char *s = json_string_value(v);
    if (!s)
        return NULL;
    size_t l = json_string_length(v);
    if (l == 0 || l > TS_SVC_MTLS_MAX_STR || strlen(s) != l)
        return NULL;
    for (size_t i = 0; i < l; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x20 || c == 0x7f || (no_space && c == ' '))
            return NULL;
    }
    return s;
}

/* A list member: an array of 0..TS_SVC_MTLS_MAX_LIST good strings (absent = empty). */
static ts_status check_list(json_t *a, const char *where, const char *name, bool no_space,
                            ts_error *err)
{
    if (!a)
        return TS_OK;
    if (!json_is_array(a) || json_array_size(a) > TS_SVC_MTLS_MAX_LIST)
        return ts_error_set(err, TS_EINVAL, "serviceIdentity",
                            "%s: %s must be an array of at most %d strings", where, name,
                            TS_SVC_MTLS_MAX_LIST);
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v) if (!good_string(v, no_space)) return ts_error_set(
        err, TS_EINVAL, "serviceIdentity",
        "%s: %s[%zu] must be a non-empty string of at most %d bytes%s", where, name, i,
        TS_SVC_MTLS_MAX_STR, no_space ? " without spaces" : "");
    return TS_OK;
}

static char *join_scopes(json_t *a)
{
    size_t total = 1, i;
    json_t *v;
    json_array_foreach(a, i, v) total += json_string_length(v) + 1;
    char *out = calloc(1, total);
    if (!out)
        return NULL;
    size_t o = 0;
    json_array_foreach(a, i, v)
    {
        size_t l = json_string_length(v);
        if (o)
            out[o++] = ' ';
        memcpy(out + o, json_string_value(v), l);
        o += l;
    }
    out[o] = '\0';
    return out;
}

static ts_status parse_rule(json_t *o, size_t index, ts_svc_mtls_rule *r, ts_error *err)
{
    char where[32];
    snprintf(where, sizeof where, "rules[%zu]", index);
    r->index = index;
    if (!json_is_object(o))
        return ts_error_set(err, TS_EINVAL, "serviceIdentity", "%s must be an object", where);
    static const char *const known[] = {"kind",    "exact",  "prefix", "glob",
                                        "subject", "scopes", "roles",  "audience"};
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        bool ok = strncmp(k, "//", 2) == 0;
        for (size_t i = 0; i < sizeof known / sizeof *known && !ok; i++)
            ok = strcmp(k, known[i]) == 0;
        if (!ok)
            return ts_error_set(err, TS_EINVAL, "serviceIdentity", "%s: unknown member \"%s\"",
                                where, k);
    }
    const char *kind = json_string_value(json_object_get(o, "kind"));
    if (!kind || (strcmp(kind, "uri") != 0 && strcmp(kind, "dns") != 0))
        return ts_error_set(err, TS_EINVAL, "serviceIdentity",
                            "%s: kind must be \"uri\" or \"dns\" (the subject's CN is never an "
                            "identity)",
                            where);
    r->kind = kind[0] == 'u' ? TS_SVC_MTLS_URI : TS_SVC_MTLS_DNS;
    static const char *const hows[] = {"exact", "prefix", "glob"};
    unsigned n_how = 0;
    const char *pattern = NULL;
    for (unsigned i = 0; i < 3; i++) {
        json_t *p = json_object_get(o, hows[i]);
        if (!p)
            continue;
        n_how++;
        r->how = (ts_svc_mtls_how)i;
        if (!(pattern = good_string(p, true)))
            return ts_error_set(err, TS_EINVAL, "serviceIdentity",
                                "%s: %s must be a non-empty string without spaces", where, hows[i]);
    }
    if (n_how != 1)
        return ts_error_set(err, TS_EINVAL, "serviceIdentity",
                            "%s: give exactly one of exact, prefix, glob", where);
    json_t *subject = json_object_get(o, "subject"), *aud = json_object_get(o, "audience");
    json_t *scopes = json_object_get(o, "scopes"), *roles = json_object_get(o, "roles");
    if (subject && !good_string(subject, false))
        return ts_error_set(err, TS_EINVAL, "serviceIdentity",
                            "%s: subject must be a non-empty string of at most %d bytes", where,
                            TS_SVC_MTLS_MAX_STR);
    ts_status st = check_list(aud, where, "audience", false, err);
    if (st == TS_OK && (!aud || json_array_size(aud) == 0))
        st = ts_error_set(err, TS_EINVAL, "serviceIdentity", "%s: audience must name at least one",
                          where);
    if (st == TS_OK)
        st = check_list(scopes, where, "scopes", true, err);
    if (st == TS_OK)
        st = check_list(roles, where, "roles", false, err);
    if (st != TS_OK)
        return st;
    r->pattern = strdup(pattern);
    if (r->pattern && r->kind == TS_SVC_MTLS_DNS) /* DNS names compare without case */
        for (char *p = r->pattern; *p; p++)
            *p = (char)tolower((unsigned char)*p);
    r->subject = subject ? strdup(json_string_value(subject)) : NULL;
    json_t *none = json_array();
    r->scope = join_scopes(scopes ? scopes : none);
    r->roles = json_dumps(roles ? roles : none, JSON_COMPACT);
    json_decref(none);
    r->audience = calloc(json_array_size(aud), sizeof *r->audience);
    bool oom = !r->pattern || (subject && !r->subject) || !r->scope || !r->roles || !r->audience;
    for (size_t i = 0; !oom && i < json_array_size(aud); i++) {
        r->audience[i] = strdup(json_string_value(json_array_get(aud, i)));
        oom = !r->audience[i];
        r->n_audience += !oom;
    }
    return oom ? ts_error_set(err, TS_ENOMEM, "serviceIdentity", "out of memory") : TS_OK;
}

ts_svc_mtls_rules *ts_svc_mtls_rules_new(const char *json, size_t len, ts_error *err)
{
    json_error_t je;
    json_t *root = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    json_t *rules = json_object_get(root, "rules");
    ts_status st = TS_OK;
    if (!json_is_object(root))
        st = ts_error_set(err, TS_EPARSE, "serviceIdentity", "must be a JSON object");
    else if (json_object_size(root) != 1 || !json_is_array(rules) || !json_array_size(rules))
        st = ts_error_set(err, TS_EINVAL, "serviceIdentity",
                          "must be {\"rules\": [...]} with at least one rule");
    else if (json_array_size(rules) > TS_SVC_MTLS_MAX_RULES)
        st = ts_error_set(err, TS_ELIMIT, "serviceIdentity", "more than %d rules",
                          TS_SVC_MTLS_MAX_RULES);
    ts_svc_mtls_rules *r = NULL;
    if (st == TS_OK &&
        (!(r = calloc(1, sizeof *r)) || !(r->v = calloc(json_array_size(rules), sizeof *r->v))))
        st = ts_error_set(err, TS_ENOMEM, "serviceIdentity", "out of memory");
    for (size_t i = 0; st == TS_OK && i < json_array_size(rules); i++) {
        st = parse_rule(json_array_get(rules, i), i, &r->v[i], err);
        r->n++;
    }
    json_decref(root);
    if (st != TS_OK) {
        ts_svc_mtls_rules_free(r);
        return NULL;
    }
    return r;
}

/* Glob: `*` any run without @p sep, `?` one character other than @p sep. Iterative with one
 * backtrack point, so its time is bounded by pattern length times name length. */
static bool glob(const char *p, const char *s, char sep)
{
    const char *star = NULL, *resume = NULL;
    while (*s) {
        if (*p == '*') {
            star = ++p;
            resume = s;
        } else if (*p && *p != '*' && (*p == *s || (*p == '?' && *s != sep))) {
            p++;
            s++;
        } else if (star && *resume != sep) {
            p = star;
            s = ++resume;
        } else {
            return false;
        }
    }
    while (*p == '*')
        p++;
    return *p == '\0';
}

bool ts_svc_mtls_pattern_matches(ts_svc_mtls_kind kind, ts_svc_mtls_how how, const char *pattern,
                                 const char *id)
{
    switch (how) {
    case TS_SVC_MTLS_EXACT:
        return strcmp(pattern, id) == 0;
    case TS_SVC_MTLS_PREFIX:
        return strncmp(pattern, id, strlen(pattern)) == 0;
    case TS_SVC_MTLS_GLOB:
        return glob(pattern, id, kind == TS_SVC_MTLS_URI ? '/' : '.');
    }
    return false;
}

const ts_svc_mtls_rule *ts_svc_mtls_rules_match(const ts_svc_mtls_rules *r, ts_svc_mtls_kind kind,
                                                const char *id)
{
    for (size_t i = 0; r && i < r->n; i++)
        if (r->v[i].kind == kind &&
            ts_svc_mtls_pattern_matches(kind, r->v[i].how, r->v[i].pattern, id))
            return &r->v[i];
    return NULL;
}
