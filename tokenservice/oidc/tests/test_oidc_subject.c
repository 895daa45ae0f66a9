/* Internal subjects: the subject template of each provider, the names it may use, and the rule
   that two providers can never give their users one subject (whatever the upstream `sub`). */
#define _POSIX_C_SOURCE 200809L
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include <tokensmith/oidc.h>

static ts_oidc_config *parse(const char *s, ts_error *e)
{
    ts_error_clear(e);
    return ts_oidc_config_parse(s, strlen(s), e);
}

/* The internal subject @p cfg gives the upstream @p sub of @p iss; NULL when refused. */
static char *subject_of(const ts_oidc_config *cfg, const char *iss, const char *sub)
{
    char claims[512];
    snprintf(claims, sizeof claims, "{\"iss\":\"%s\",\"sub\":\"%s\"}", iss, sub);
    ts_oidc_claims *o = NULL;
    ts_error e;
    ts_error_clear(&e);
    if (ts_oidc_map_claims(cfg, claims, strlen(claims), NULL, &o, &e) != TS_OIDC_OK)
        return NULL;
    char *s = strdup(o->sub);
    ts_oidc_claims_free(o);
    return s;
}

/* Two providers, each with a user whose upstream `sub` is "alice" (the reported case). */
static void test_two_providers_two_alices(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c =
        parse("{\"providers\":["
              "{\"issuer\":\"https://a.example\",\"client_id\":\"x\",\"name\":\"a\"},"
              "{\"issuer\":\"https://b.example\",\"client_id\":\"x\",\"name\":\"b\"}]}",
              &e);
    assert_non_null(c);
    char *a = subject_of(c, "https://a.example", "alice");
    char *b = subject_of(c, "https://b.example", "alice");
    assert_string_equal(a, "a:alice");
    assert_string_equal(b, "b:alice");
    /* ...and no upstream value of one provider reaches a subject of the other. */
    char *forged = subject_of(c, "https://b.example", "a:alice");
    assert_string_equal(forged, "b:a:alice");
    assert_string_equal(ts_oidc_config_name(c, 1), "b");
    assert_string_equal(ts_oidc_config_subject_template(c, 0), "{name}:{sub}");
    free(a);
    free(b);
    free(forged);
    ts_oidc_config_free(c);

    /* Without names, two providers would map "alice" to one subject: refused, with the fix. */
    assert_null(parse("{\"providers\":[{\"issuer\":\"https://a.example\",\"client_id\":\"x\"},"
                      "{\"issuer\":\"https://b.example\",\"client_id\":\"x\"}]}",
                      &e));
    assert_string_equal(e.where, "providers[1].subject_template");
    assert_non_null(strstr(e.msg, "give each provider a name"));
    /* Naming only the new one is not enough: the first one's users could send "b:alice". */
    assert_null(parse("{\"providers\":[{\"issuer\":\"https://a.example\",\"client_id\":\"x\"},"
                      "{\"issuer\":\"https://b.example\",\"client_id\":\"x\",\"name\":\"b\"}]}",
                      &e));
    assert_string_equal(e.where, "providers[1].subject_template");
}

/* One provider: the subject is readable (plain `sub`) unless the provider is named. */
static void test_single_provider_defaults(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c =
        parse("{\"providers\":[{\"issuer\":\"https://a.example\",\"client_id\":\"x\"}]}", &e);
    assert_non_null(c);
    char *s = subject_of(c, "https://a.example", "alice");
    assert_string_equal(s, "alice");
    free(s);
    assert_null(ts_oidc_config_name(c, 0));
    assert_string_equal(ts_oidc_config_subject_template(c, 0), "{sub}");
    char *j = ts_oidc_config_to_json(c, false, &e);
    assert_non_null(strstr(j, "\"subject_template\":\"{sub}\""));
    assert_null(strstr(j, "\"name\""));
    ts_free(j);
    ts_oidc_config_free(c);

    c = parse("{\"providers\":[{\"issuer\":\"https://a.example\",\"client_id\":\"x\","
              "\"name\":\"corp\"}]}",
              &e);
    s = subject_of(c, "https://a.example", "alice");
    assert_string_equal(s, "corp:alice");
    free(s);
    ts_oidc_config_free(c);

    c = parse("{\"providers\":[{\"issuer\":\"https://a.example\",\"client_id\":\"x\","
              "\"subject_template\":\"{iss}#{sub}\"}]}",
              &e);
    s = subject_of(c, "https://a.example", "alice");
    assert_string_equal(s, "https://a.example#alice");
    free(s);
    ts_oidc_config_free(c);
}

typedef struct bad_case {
    const char *provider; /* the members after issuer and client_id */
    const char *where;
    const char *msg_part;
} bad_case;

static void test_bad_names_and_templates(void **state)
{
    (void)state;
    static const bad_case cases[] = {
        {"\"name\":\"Corp\"", "providers[0].name", "a-z"},
        {"\"name\":\"a:b\"", "providers[0].name", "a-z"},
        {"\"name\":\"-a\"", "providers[0].name", "starting"},
        {"\"name\":\"a b\"", "providers[0].name", "without spaces"},
        {"\"name\":\"\"", "providers[0].name", "1 to 2048"},
        {"\"name\":\"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"",
         "providers[0].name", "1 to 64"},
        {"\"name\":3", "providers[0].name", "string"},
        {"\"subject_template\":\"user-\"", "providers[0].subject_template", "{sub} exactly once"},
        {"\"subject_template\":\"{sub}{sub}\"", "providers[0].subject_template",
         "{sub} exactly once"},
        {"\"subject_template\":\"{email}:{sub}\"", "providers[0].subject_template", "placeholder"},
        {"\"subject_template\":\"{sub\"", "providers[0].subject_template", "placeholder"},
        {"\"subject_template\":\"{sub}}\"", "providers[0].subject_template", "without its"},
        {"\"subject_template\":\"{name}:{sub}\"", "providers[0].subject_template", "has no name"},
        {"\"subject_template\":\"a {sub}\"", "providers[0].subject_template", "without spaces"},
        {"\"subject_template\":\"a\\n{sub}\"", "providers[0].subject_template", "printable"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char cfg[1024];
        snprintf(cfg, sizeof cfg,
                 "{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",%s}]}",
                 cases[i].provider);
        ts_error e;
        ts_oidc_config *c = parse(cfg, &e);
        if (c || strcmp(e.where, cases[i].where) != 0 || !strstr(e.msg, cases[i].msg_part))
            fail_msg("case %zu (%s): where=\"%s\" msg=\"%s\"", i, cfg, e.where, e.msg);
    }
    char big[512] = "{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\","
                    "\"subject_template\":\"";
    size_t n = strlen(big);
    memset(big + n, 'x', 300);
    snprintf(big + n + 300, sizeof big - n - 300, "{sub}\"}]}");
    ts_error e;
    assert_null(parse(big, &e));
    assert_string_equal(e.where, "providers[0].subject_template");
    assert_non_null(strstr(e.msg, "at most 256"));
    /* Names are unique. */
    assert_null(
        parse("{\"providers\":[{\"issuer\":\"https://a\",\"client_id\":\"x\",\"name\":\"n\"},"
              "{\"issuer\":\"https://b\",\"client_id\":\"x\",\"name\":\"n\"}]}",
              &e));
    assert_string_equal(e.where, "providers[1].name");
    assert_non_null(strstr(e.msg, "duplicates providers[0].name"));
}

/* The templates the exhaustive check pairs with each other. */
static const char *const templates[] = {
    "{sub}",  "a:{sub}",  "b:{sub}", "a{sub}", "ab{sub}", "{sub}@a",  "{sub}@b",
    "{sub}a", "a:{sub}@", "x{sub}y", "x{sub}", "{sub}y",  "xy{sub}y", "{sub}:a:",
};
#define N_TEMPLATES (sizeof templates / sizeof templates[0])

/* Every upstream value over a small alphabet (the templates' own characters), 1 to 4 long. */
#define ALPHABET "ab:@xy"
#define MAX_LEN 4u

static size_t all_subs(char (*out)[MAX_LEN + 1])
{
    size_t n = 0, k = strlen(ALPHABET);
    for (unsigned len = 1; len <= MAX_LEN; len++) {
        size_t count = 1;
        for (unsigned i = 0; i < len; i++)
            count *= k;
        for (size_t x = 0; x < count; x++, n++) {
            size_t y = x;
            for (unsigned i = 0; i < len; i++, y /= k)
                out[n][i] = ALPHABET[y % k];
            out[n][len] = '\0';
        }
    }
    return n;
}

static int cmp(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

/* The subjects template @p t gives every value of @p subs, sorted. */
static char **subjects(const char *t, char (*subs)[MAX_LEN + 1], size_t n)
{
    char cfg[256];
    snprintf(cfg, sizeof cfg,
             "{\"providers\":[{\"issuer\":\"https://p\",\"client_id\":\"x\","
             "\"subject_template\":\"%s\"}]}",
             t);
    ts_error e;
    ts_oidc_config *c = parse(cfg, &e);
    assert_non_null(c);
    char **v = calloc(n, sizeof *v);
    assert_non_null(v);
    for (size_t i = 0; i < n; i++) {
        v[i] = subject_of(c, "https://p", subs[i]);
        assert_non_null(v[i]);
    }
    ts_oidc_config_free(c);
    qsort(v, n, sizeof *v, cmp);
    return v;
}

static bool collide(char **a, char **b, size_t n)
{
    for (size_t i = 0, j = 0; i < n && j < n;) {
        int d = strcmp(a[i], b[j]);
        if (d == 0)
            return true;
        if (d < 0)
            i++;
        else
            j++;
    }
    return false;
}

/* The configuration accepts two templates exactly when no two upstream values collide: every
   accepted pair is searched for a collision, and every refused pair must have one. */
static void test_collision_rule_is_exact(void **state)
{
    (void)state;
    size_t k = strlen(ALPHABET), total = 0, pow = 1;
    for (unsigned i = 0; i < MAX_LEN; i++)
        total += (pow *= k);
    char(*subs)[MAX_LEN + 1] = calloc(total, sizeof *subs);
    assert_non_null(subs);
    assert_int_equal(all_subs(subs), total);
    char **sets[N_TEMPLATES];
    for (size_t i = 0; i < N_TEMPLATES; i++)
        sets[i] = subjects(templates[i], subs, total);
    unsigned accepted = 0, refused = 0;
    for (size_t i = 0; i < N_TEMPLATES; i++)
        for (size_t j = i + 1; j < N_TEMPLATES; j++) {
            char cfg[512];
            snprintf(cfg, sizeof cfg,
                     "{\"providers\":[{\"issuer\":\"https://p\",\"client_id\":\"x\","
                     "\"subject_template\":\"%s\"},{\"issuer\":\"https://q\",\"client_id\":\"x\","
                     "\"subject_template\":\"%s\"}]}",
                     templates[i], templates[j]);
            ts_error e;
            ts_oidc_config *c = parse(cfg, &e);
            bool clash = collide(sets[i], sets[j], total);
            if ((c != NULL) == clash)
                fail_msg("\"%s\" with \"%s\": config %s, collision %s", templates[i], templates[j],
                         c ? "accepted" : "refused", clash ? "found" : "none");
            if (!c)
                assert_string_equal(e.where, "providers[1].subject_template");
            c ? accepted++ : refused++;
            ts_oidc_config_free(c);
        }
    /* Both outcomes occur, so the check above can fail either way. */
    assert_true(accepted > 10);
    assert_true(refused > 10);
    for (size_t i = 0; i < N_TEMPLATES; i++) {
        for (size_t x = 0; x < total; x++)
            free(sets[i][x]);
        free(sets[i]);
    }
    free(subs);
}

/* The admin API merges the current providers (canonical form) with new ones and parses the
   result: a provider configured alone keeps "{sub}" in that form, so adding a second one is
   refused until the first is named. */
static void test_merge_through_canonical_form(void **state)
{
    (void)state;
    ts_error e;
    ts_oidc_config *c =
        parse("{\"providers\":[{\"issuer\":\"https://a.example\",\"client_id\":\"x\"}]}", &e);
    char *j = ts_oidc_config_to_json(c, true, &e);
    ts_oidc_config_free(c);
    char merged[2048];
    size_t n = strlen(j);
    assert_true(n > 2 && n < 1024);
    snprintf(merged, sizeof merged,
             "%.*s,{\"issuer\":\"https://b.example\",\"client_id\":\"x\",\"name\":\"b\"}]}",
             (int)(n - 2), j);
    ts_free(j);
    assert_null(parse(merged, &e));
    assert_string_equal(e.where, "providers[1].subject_template");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_two_providers_two_alices),
        cmocka_unit_test(test_single_provider_defaults),
        cmocka_unit_test(test_bad_names_and_templates),
        cmocka_unit_test(test_collision_rule_is_exact),
        cmocka_unit_test(test_merge_through_canonical_form),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
