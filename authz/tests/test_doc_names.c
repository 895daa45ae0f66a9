/* Every ts_ / TS_ name that authz's public headers and documentation mention exists: it is
 * declared in a public header (outside comments) or set by the build. A renamed or removed
 * function otherwise lives on in a comment or a guide, and readers call what is not there
 * (authz_http.h once pointed to a ts_authz_bundle_validate() that never existed). */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Where names are defined: public headers and the top-level build file (cache variables). */
static const char *const defining[] = {
    "authz/include/tokensmith/authz.h",
    "authz/include/tokensmith/authz_http.h",
    "authz/include/tokensmith/authz_guard.h",
    "authz/include/tokensmith/authz_functions.h",
    "authz/include/tokensmith/authz_query.h",
    "include/tokensmith/error.h",
    "include/tokensmith/hook.h",
    "include/tokensmith/version.h.in",
    "authn/include/tokensmith/authn.h",
    "authn/include/tokensmith/authn_mhd.h",
    "authn/include/tokensmith/authn_binding.h",
    "authn/include/tokensmith/jose.h",
    "mhd/include/tokensmith/mhd.h",
    "CMakeLists.txt",
};

/* Where names are mentioned. */
static const char *const mentioning[] = {
    "authz/include/tokensmith/authz.h",
    "authz/include/tokensmith/authz_http.h",
    "authz/include/tokensmith/authz_guard.h",
    "authz/include/tokensmith/authz_functions.h",
    "authz/include/tokensmith/authz_query.h",
    "docs/policy.md",
    "docs/authz-engine.md",
    "docs/casbin-compatibility.md",
};

typedef struct names {
    char **v;
    size_t n, cap;
} names;

/* The source tree: TS_POLICY_SRC_DIR is <root>/policy. */
static char *source_path(const char *rel)
{
    const char *pol = TS_POLICY_SRC_DIR;
    const char *slash = strrchr(pol, '/');
    size_t root = slash ? (size_t)(slash - pol) : 0;
    size_t n = root + 1 + strlen(rel) + 1;
    char *p = malloc(n);
    assert_non_null(p);
    snprintf(p, n, "%.*s/%s", (int)root, pol, rel);
    return p;
}

static char *read_all(const char *rel)
{
    char *path = source_path(rel);
    FILE *f = fopen(path, "rb");
    if (!f)
        fail_msg("cannot read %s", path);
    free(path);
    size_t cap = 1 << 16, len = 0;
    char *buf = malloc(cap);
    assert_non_null(buf);
    size_t got;
    while ((got = fread(buf + len, 1, cap - len - 1, f)) > 0) {
        len += got;
        if (cap - len - 1 == 0) {
            cap *= 2;
            buf = realloc(buf, cap);
            assert_non_null(buf);
        }
    }
    fclose(f);
    buf[len] = '\0';
    return buf;
}

/* Blank out C comments, so that a name only mentioned in one does not count as defined. */
static void strip_comments(char *s)
{
    for (char *p = s; *p; p++) {
        if (p[0] == '/' && p[1] == '*') {
            char *end = strstr(p + 2, "*/");
            char *stop = end ? end + 2 : p + strlen(p);
            memset(p, ' ', (size_t)(stop - p));
            p = stop - 1;
        } else if (p[0] == '/' && p[1] == '/') {
            while (*p && *p != '\n')
                *p++ = ' ';
            if (!*p)
                break;
        }
    }
}

static bool ident_char(char c)
{
    return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_';
}

/* Call @p fn for every identifier starting with ts_ or TS_ (names ending in '_' are prefixes
 * such as ts_authz_mhd_, not names). */
static void each_name(const char *s, void (*fn)(const char *name, size_t len, size_t line, void *),
                      void *ud)
{
    size_t line = 1;
    for (const char *p = s; *p; p++) {
        if (*p == '\n')
            line++;
        if ((p == s || !ident_char(p[-1])) &&
            (strncmp(p, "ts_", 3) == 0 || strncmp(p, "TS_", 3) == 0)) {
            size_t n = 3;
            while (ident_char(p[n]))
                n++;
            if (p[n - 1] != '_')
                fn(p, n, line, ud);
            p += n - 1;
        }
    }
}

static void add_name(const char *name, size_t len, size_t line, void *ud)
{
    (void)line;
    names *d = ud;
    if (d->n == d->cap) {
        d->cap = d->cap ? d->cap * 2 : 256;
        d->v = realloc(d->v, d->cap * sizeof *d->v);
        assert_non_null(d->v);
    }
    d->v[d->n] = malloc(len + 1);
    assert_non_null(d->v[d->n]);
    memcpy(d->v[d->n], name, len);
    d->v[d->n][len] = '\0';
    d->n++;
}

static bool has_name(const names *d, const char *name, size_t len)
{
    for (size_t i = 0; i < d->n; i++)
        if (strlen(d->v[i]) == len && memcmp(d->v[i], name, len) == 0)
            return true;
    return false;
}

typedef struct check {
    const names *defined;
    const char *file;
    size_t missing;
} check;

static void check_name(const char *name, size_t len, size_t line, void *ud)
{
    check *c = ud;
    if (!has_name(c->defined, name, len)) {
        print_error("%s:%zu: %.*s is mentioned but declared nowhere\n", c->file, line, (int)len,
                    name);
        c->missing++;
    }
}

static void test_mentioned_names_exist(void **state)
{
    (void)state;
    names defined = {NULL, 0, 0};
    for (size_t i = 0; i < sizeof defining / sizeof defining[0]; i++) {
        char *text = read_all(defining[i]);
        if (strstr(defining[i], ".h")) /* C headers; CMake globs hold a slash-star */
            strip_comments(text);
        each_name(text, add_name, &defined);
        free(text);
    }
    assert_true(has_name(&defined, "ts_authz_authorize", strlen("ts_authz_authorize")));
    size_t missing = 0;
    for (size_t i = 0; i < sizeof mentioning / sizeof mentioning[0]; i++) {
        char *text = read_all(mentioning[i]);
        check c = {&defined, mentioning[i], 0};
        each_name(text, check_name, &c);
        missing += c.missing;
        free(text);
    }
    for (size_t i = 0; i < defined.n; i++)
        free(defined.v[i]);
    free(defined.v);
    assert_int_equal(missing, 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_mentioned_names_exist),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
