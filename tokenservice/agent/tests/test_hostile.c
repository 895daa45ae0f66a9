/* A hostile corpus: documents built to exhaust memory or time (the billion laughs, nesting a
 * hundred thousand deep, huge values, huge key counts), malformed text (invalid UTF-8, NUL,
 * tabs, control characters) and YAML features the configuration does not use (aliases, merge
 * keys, tags, several documents). Each is refused with its position and reason, within its
 * bound and within seconds; and a few thousand mutations of a good file never crash or leak
 * (ASan) and always say where they fail. */
#define _POSIX_C_SOURCE 200809L

#include "agent_test.h"

#include <stdlib.h>
#include <time.h>

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* @p text (of @p len bytes) is refused with @p code at @p where ("" for the file) and a message
 * that contains @p msg, within 5 s: a bound on the behaviour, not a benchmark. Expanding the
 * billion laughs or comparing every pair of 40,000 keys would take minutes; the largest of these
 * documents (1 MiB, 100,000 values) takes 0.1 s in a plain build and under a second with ASan
 * (AGENT_HOSTILE_TIMES=1 prints each time). */
static void refused(const char *text, size_t len, ts_status code, const char *where,
                    const char *msg)
{
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
    ts_agent_config *cfg = NULL;
    ts_error err;
    ts_error_clear(&err);
    double t0 = now_s();
    ts_status s = ts_agent_config_parse(text, len, "t.yaml", &o, &cfg, &err);
    double took = now_s() - t0;
    assert_null(cfg);
    char want[64];
    snprintf(want, sizeof want, where[0] ? "t.yaml:%s" : "t.yaml", where);
    if (s != code || err.code != code || strcmp(err.where, want) != 0 || !strstr(err.msg, msg))
        fail_msg("got [%s] %s: %s\nwanted [%s] %s: ...%s...", ts_status_str(err.code), err.where,
                 err.msg, ts_status_str(code), want, msg);
    if (getenv("AGENT_HOSTILE_TIMES"))
        print_message("%.3f s: %s\n", took, err.msg);
    if (took > 5.0)
        fail_msg("took %.2f s to refuse", took);
}

static void refused_z(const char *text, ts_status code, const char *where, const char *msg)
{
    refused(text, strlen(text), code, where, msg);
}

/* Appends to a growing buffer (the big documents). */
typedef struct buf {
    char *p;
    size_t len, cap;
} buf;

static void put(buf *b, const char *s)
{
    size_t n = strlen(s);
    if (b->len + n + 1 > b->cap) {
        b->cap = (b->len + n + 1) * 2;
        b->p = realloc(b->p, b->cap);
        assert_non_null(b->p);
    }
    memcpy(b->p + b->len, s, n + 1);
    b->len += n;
}

static void test_billion_laughs(void **state)
{
    (void)state;
    buf b = {0};
    put(&b, "a: &a [\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\",\"lol\"]\n");
    for (char c = 'b'; c <= 'j'; c++) {
        char line[96];
        char p = (char)(c - 1);
        snprintf(line, sizeof line, "%c: &%c [*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c,*%c]\n", c, c, p, p,
                 p, p, p, p, p, p, p);
        put(&b, line);
    }
    /* Refused at the first anchor, before any alias is even read. */
    refused(b.p, b.len, TS_EPARSE, "1:4", "a: YAML anchors (&name) are not supported");
    /* An alias alone (no anchor before it) is refused too. */
    refused_z("sources:\n  k: *x\n", TS_EPARSE, "2:6",
              "sources.k: YAML aliases (*name) are not supported");
    refused_z("sources:\n  k:\n    <<: {type: file}\n    path: /s\n", TS_EPARSE, "3:5",
              "sources.k: YAML merge keys (<<) are not supported");
    free(b.p);
}

static void test_deep_nesting(void **state)
{
    (void)state;
    size_t n = 100000;
    char *flow = malloc(n + 1);
    assert_non_null(flow);
    memset(flow, '[', n);
    flow[n] = '\0';
    refused(flow, n, TS_ELIMIT, "1:33", "nested deeper than 32 levels");
    memset(flow, '{', n); /* mappings, and keys that are mappings */
    refused(flow, n, TS_EPARSE, "1:2", "a mapping key must be a string");
    free(flow);
    buf b = {0};
    for (int i = 0; i < 40; i++) {
        char line[128];
        snprintf(line, sizeof line, "%*sk%d:\n", 2 * i, "", i);
        put(&b, line);
    }
    refused(b.p, b.len, TS_ELIMIT, "33:65", "k30.k31: nested deeper than 32 levels");
    free(b.p);
    /* A lower bound from the options is the one applied. */
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.max_depth = 2;
    ts_agent_config *c = NULL;
    ts_error err;
    const char *t = "sources: {k: {type: file, path: /s}}\n";
    assert_int_equal(ts_agent_config_parse(t, strlen(t), "t.yaml", &o, &c, &err), TS_ELIMIT);
    assert_string_equal(err.msg, "sources.k: nested deeper than 2 levels");
}

static void test_huge_values(void **state)
{
    (void)state;
    buf b = {0};
    put(&b, "sources:\n  k: {type: file, path: \"/");
    for (int i = 0; i < 700; i++)
        put(&b,
            "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
            "aaaaaaaaaaaaaaaa");
    put(&b, "\"}\n");
    refused(b.p, b.len, TS_ELIMIT, "2:25", "sources.k.path: a value longer than 65536 bytes");
    free(b.p);
    /* More than max_bytes in all: refused before it is read. */
    size_t n = TS_AGENT_CONFIG_MAX_BYTES + 1;
    char *big = malloc(n);
    assert_non_null(big);
    memset(big, '#', n);
    refused(big, n, TS_ELIMIT, "", "larger than 1048576 bytes");
    free(big);
}

static void test_huge_key_counts(void **state)
{
    (void)state;
    /* 120,000 keys: refused at the node bound, not after building them all. */
    buf b = {0};
    put(&b, "sources:\n");
    for (int i = 0; i < 120000 && b.len < 1000000; i++) {
        char line[32];
        snprintf(line, sizeof line, "  k%d: 1\n", i);
        put(&b, line);
    }
    refused(b.p, b.len, TS_ELIMIT, "50000:11",
            "sources.k49998: more than 100000 values in the configuration");
    /* 20,000 sources fit the node bound: the schema's bound refuses them. */
    b.len = 0;
    put(&b, "sinks: {o: {type: file, source_id: k0, path: /o}}\nsources:\n");
    for (int i = 0; i < 20000; i++) {
        char line[32];
        snprintf(line, sizeof line, "  k%d: 1\n", i);
        put(&b, line);
    }
    refused(b.p, b.len, TS_ELIMIT, "3:3", "sources: more than 256 sources");
    /* A key given twice among 40,000 is found (by sorting, not by comparing every pair). */
    b.len = 0;
    put(&b, "x:\n");
    for (int i = 0; i < 40000; i++) {
        char line[32];
        snprintf(line, sizeof line, "  k%d: 1\n", i);
        put(&b, line);
    }
    put(&b, "  k7: 2\n");
    refused(b.p, b.len, TS_EPARSE, "40002:3", "x.k7: given twice (first at 9:3)");
    free(b.p);
}

static void test_malformed_text(void **state)
{
    (void)state;
    refused_z("sources:\n  k: {type: file, path: \"/\xff\"}\n", TS_EPARSE, "2:27",
              "invalid UTF-8 (the configuration must be UTF-8 text)");
    refused_z("a: \"\xc0\xaf\"\n", TS_EPARSE, "1:5", "invalid UTF-8");     /* overlong '/' */
    refused_z("a: \"\xed\xa0\x80\"\n", TS_EPARSE, "1:5", "invalid UTF-8"); /* surrogate */
    refused_z("\xff\xfe"
              "a\0:\0",
              TS_EPARSE, "1:1", "invalid UTF-8"); /* UTF-16 */
    refused("sources:\n  k: {type: file,\0 path: /s}\n", 37, TS_EPARSE, "2:18",
            "NUL byte (the configuration must be text)");
    refused_z("sources:\n\tk: {type: file, path: /s}\n", TS_EPARSE, "2:1",
              "sources: a tab character where YAML allows none (indent with spaces)");
    refused_z("sources:\n  k: {type: file, path: \"/s\\x01\"}\n", TS_EPARSE, "2:25",
              "sources.k.path: a control character inside a value");
    refused_z("sources:\n  k: {type: file, path: \"/s\\0t\"}\n", TS_EPARSE, "2:25",
              "sources.k.path: a control character inside a value");
    refused_z("sources:\n  k: {type: file, path: \"/s\\nt\"}\n", TS_EPARSE, "2:25",
              "sources.k.path: a line break inside a value (values are one line)");
    refused_z("sources:\n  k:\n    type: file\n    path: |\n      /s\n", TS_EPARSE, "4:11",
              "sources.k.path: a line break inside a value");
    refused_z("sources: {k: [a, b}\n", TS_EPARSE, "1:19",
              "sources.k[2]: did not find expected ',' or ']' (while parsing a flow sequence)");
}

static void test_unused_yaml_features(void **state)
{
    (void)state;
    refused_z("sources:\n  k: {type: !!str file, path: /s}\n", TS_EPARSE, "2:13",
              "sources.k.type: YAML tags (!tag) are not supported");
    refused_z("sources: {}\n---\nsinks: {}\n", TS_EPARSE, "2:1",
              "a second YAML document (the configuration is one document)");
    refused_z("? [a]\n: b\n", TS_EPARSE, "1:3", "a mapping key must be a string");
    refused_z("", TS_EPARSE, "", "empty configuration");
    refused_z("---\n", TS_EINVAL, "2:1", "the configuration must be a mapping");
}

/* xorshift64*: the same mutations on every run. */
static uint64_t rnd(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 2685821657736338717ull;
}

static void test_mutations(void **state)
{
    (void)state;
    static const char *const fixtures[] = {"issue15.yaml", "token_agent_readme.yaml", "chain.json"};
    static const char bytes[] = "{}[]:,-&*!|>'\"#%@`\t\n ~0aZ{{}}.\xff\xc3";
    uint64_t seed = 0x5eed5eed5eedull;
    size_t accepted = 0, refused_n = 0;
    for (size_t f = 0; f < 3; f++) {
        char path[512];
        snprintf(path, sizeof path, "%s/%s", TS_AGENT_TEST_DATA, fixtures[f]);
        FILE *fp = fopen(path, "rb");
        assert_non_null(fp);
        char orig[8192];
        size_t len = fread(orig, 1, sizeof orig, fp);
        fclose(fp);
        for (int round = 0; round < 1500; round++) {
            char text[8300];
            size_t n = len;
            memcpy(text, orig, len);
            for (int k = 1 + (int)(rnd(&seed) % 4); k > 0; k--) {
                size_t at = (size_t)(rnd(&seed) % n);
                char b = bytes[rnd(&seed) % (sizeof bytes - 1)];
                switch (rnd(&seed) % 3) {
                case 0:
                    text[at] = b;
                    break;
                case 1: /* insert */
                    memmove(text + at + 1, text + at, n - at);
                    text[at] = b;
                    n++;
                    break;
                default: /* delete */
                    memmove(text + at, text + at + 1, n - at - 1);
                    n--;
                }
            }
            ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
            o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
            ts_agent_config *c = NULL;
            ts_error err;
            ts_error_clear(&err);
            if (ts_agent_config_parse(text, n, "t.yaml", &o, &c, &err) == TS_OK) {
                assert_non_null(c);
                assert_non_null(c->order);
                ts_agent_config_free(c);
                accepted++;
            } else {
                assert_null(c);
                assert_int_not_equal(err.code, TS_OK);
                assert_int_equal(strncmp(err.where, "t.yaml", 6), 0);
                assert_true(err.msg[0] != '\0');
                refused_n++;
            }
        }
    }
    print_message("%zu accepted, %zu refused\n", accepted, refused_n);
    assert_true(accepted > 0 && refused_n > 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_billion_laughs), cmocka_unit_test(test_deep_nesting),
        cmocka_unit_test(test_huge_values),    cmocka_unit_test(test_huge_key_counts),
        cmocka_unit_test(test_malformed_text), cmocka_unit_test(test_unused_yaml_features),
        cmocka_unit_test(test_mutations),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
