/* {{source.token}} templates: parsing (references, blanks, text around them, malformed ones),
 * rendering with a lookup callback (every reference looked up once, a missing value refused
 * with the reference named, never the values), and ownership of the output. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "agent_template.h"

static ts_agent_template *parse(const char *text)
{
    ts_agent_template *t = NULL;
    ts_error err;
    ts_error_clear(&err);
    if (ts_agent_template_parse(text, strlen(text), &t, &err) != TS_OK)
        fail_msg("'%s': %s", text, err.msg);
    return t;
}

typedef struct lookups {
    int calls;
    const char *missing; /* a source id that has no value */
} lookups;

/* "<source>/<token>" as the value of each reference. */
static ts_status lookup(const ts_agent_template_ref *ref, const char **value, size_t *len, void *ud)
{
    static char vals[8][160];
    lookups *l = ud;
    if (l->missing && strcmp(ref->source_id, l->missing) == 0)
        return TS_ENOTFOUND;
    char *v = vals[l->calls++ % 8];
    snprintf(v, sizeof vals[0], "%s/%s", ref->source_id, ref->token_id);
    *value = v;
    *len = strlen(v);
    return TS_OK;
}

static void test_parse_refs(void **state)
{
    (void)state;
    ts_agent_template *t = parse("Bearer {{metadata.metadata_token}}");
    assert_string_equal(ts_agent_template_text(t), "Bearer {{metadata.metadata_token}}");
    assert_int_equal(ts_agent_template_ref_count(t), 1);
    const ts_agent_template_ref *r = ts_agent_template_ref_at(t, 0);
    assert_string_equal(r->source_id, "metadata");
    assert_string_equal(r->token_id, "metadata_token");
    assert_int_equal(r->offset, 7);
    assert_int_equal(r->source_index, SIZE_MAX);
    assert_null(ts_agent_template_ref_at(t, 1));
    ts_agent_template_free(t);

    t = parse("{{ a.b }}-{{\tc-1.D_2\t}}} {{x.y}}");
    assert_int_equal(ts_agent_template_ref_count(t), 3);
    assert_string_equal(ts_agent_template_ref_at(t, 1)->source_id, "c-1");
    assert_string_equal(ts_agent_template_ref_at(t, 1)->token_id, "D_2");
    assert_int_equal(ts_agent_template_ref_at(t, 2)->offset, 25);
    ts_agent_template_free(t);

    t = parse("no references } }} {");
    assert_int_equal(ts_agent_template_ref_count(t), 0);
    ts_agent_template_free(t);
    t = parse("");
    assert_int_equal(ts_agent_template_ref_count(t), 0);
    ts_agent_template_free(t);
    ts_agent_template_free(NULL);
}

static void test_parse_errors(void **state)
{
    (void)state;
    static const struct {
        const char *text, *msg;
    } bad[] = {
        {"Bearer {{a.b", "unterminated '{{' at byte 7"},
        {"{{a.b}} {{", "unterminated '{{' at byte 8"},
        {"{{a}}", "'{{...}}' at byte 0 is not {{source_id.token_id}}"},
        {"x{{a.b.c}}", "'{{...}}' at byte 1 is not {{source_id.token_id}}"},
        {"{{}}", "'{{...}}' at byte 0 is not {{source_id.token_id}}"},
        {"{{a b.c}}", "'{{...}}' at byte 0 is not {{source_id.token_id}}"},
        {"{{a.}}", "'{{...}}' at byte 0 is not {{source_id.token_id}}"},
        {"{{{a.b}}}", "'{{...}}' at byte 0 is not {{source_id.token_id}}"}, /* no escape */
        {"{{a.b\n}}", "'{{...}}' at byte 0 is not {{source_id.token_id}}"},
        {"{{aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.b}}",
         "'{{...}}' at byte 0 is not {{source_id.token_id}}"}, /* a 65-byte id */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        ts_agent_template *t = (ts_agent_template *)1;
        ts_error err;
        ts_error_clear(&err);
        assert_int_equal(ts_agent_template_parse(bad[i].text, strlen(bad[i].text), &t, &err),
                         TS_EPARSE);
        assert_null(t);
        assert_string_equal(err.msg, bad[i].msg);
    }
    /* Untrusted (pointer, length): a NUL inside is refused, not a cut. */
    ts_agent_template *t;
    ts_error err;
    assert_int_equal(ts_agent_template_parse("{{a.b}}\0x", 9, &t, &err), TS_EPARSE);
    assert_string_equal(err.msg, "NUL byte in the template");
    /* Not NUL-terminated: only len bytes are read. */
    char raw[] = {'{', '{', 'a', '.', 'b', '}', '}', 'X'};
    assert_int_equal(ts_agent_template_parse(raw, 7, &t, &err), TS_OK);
    assert_string_equal(ts_agent_template_text(t), "{{a.b}}");
    ts_agent_template_free(t);
}

static void test_render(void **state)
{
    (void)state;
    ts_agent_template *t = parse("Bearer {{ m.tok }}; x={{e.t}}!");
    lookups l = {0};
    char *out;
    size_t len;
    ts_error err;
    assert_int_equal(ts_agent_template_render(t, lookup, &l, &out, &len, &err), TS_OK);
    assert_string_equal(out, "Bearer m/tok; x=e/t!");
    assert_int_equal(len, strlen(out));
    assert_int_equal(l.calls, 2); /* each reference looked up once */
    ts_agent_template_output_free(out, len);

    /* A reference without a value: the render fails naming it, with the lookup's status. */
    l = (lookups){.missing = "e"};
    out = (char *)1;
    assert_int_equal(ts_agent_template_render(t, lookup, &l, &out, &len, &err), TS_ENOTFOUND);
    assert_null(out);
    assert_string_equal(err.where, "{{e.t}}");
    assert_string_equal(err.msg, "no value for {{e.t}}");
    ts_agent_template_free(t);

    /* No references: no lookup needed. */
    t = parse("plain");
    assert_int_equal(ts_agent_template_render(t, NULL, NULL, &out, NULL, &err), TS_OK);
    assert_string_equal(out, "plain");
    ts_agent_template_output_free(out, 5);
    ts_agent_template_free(t);
    ts_agent_template_output_free(NULL, 0);
}

static ts_status huge(const ts_agent_template_ref *ref, const char **value, size_t *len, void *ud)
{
    (void)ref;
    *value = ud;
    *len = 600 * 1024;
    return TS_OK;
}

static void test_render_bounded(void **state)
{
    (void)state;
    static char big[600 * 1024];
    ts_agent_template *t = parse("{{a.b}}{{a.b}}");
    char *out = NULL;
    ts_error err;
    assert_int_equal(ts_agent_template_render(t, huge, big, &out, NULL, &err), TS_ELIMIT);
    assert_null(out);
    ts_agent_template_free(t);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_refs),
        cmocka_unit_test(test_parse_errors),
        cmocka_unit_test(test_render),
        cmocka_unit_test(test_render_bounded),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
