/* Every yaml block of docs/agent.md is a configuration the agent reads as the page says: it
 * loads, or, when its snippet marker says "expects: WHERE: MESSAGE", it is refused with exactly
 * that line. (tests/docs/snippets.py has no yaml language; the markers tell it to leave these
 * blocks to this test.) */
#include "agent_test.h"

#include <stdlib.h>

static char *read_all(const char *path, size_t *len)
{
    FILE *fp = fopen(path, "rb");
    assert_non_null(fp);
    char *buf = malloc(1 << 20);
    assert_non_null(buf);
    *len = fread(buf, 1, (1 << 20) - 1, fp);
    buf[*len] = '\0';
    fclose(fp);
    return buf;
}

static void test_docs_yaml_blocks(void **state)
{
    (void)state;
    size_t len;
    char *doc = read_all(TS_AGENT_DOCS, &len);
    int blocks = 0, refused_blocks = 0;
    char marker[512] = "";
    unsigned line = 0;
    for (char *p = doc; *p;) {
        char *eol = strchr(p, '\n');
        size_t n = eol ? (size_t)(eol - p) : strlen(p);
        line++;
        if (n >= 4 && strncmp(p, "<!--", 4) == 0)
            snprintf(marker, sizeof marker, "%.*s", (int)n, p);
        else if (n == 7 && strncmp(p, "```yaml", 7) == 0) {
            unsigned start = line;
            char *body = eol ? eol + 1 : p + n;
            char *end = strstr(body, "\n```\n");
            assert_non_null(end);
            end[1] = '\0';
            ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
            o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
            ts_agent_config *c = NULL;
            ts_error err;
            ts_error_clear(&err);
            ts_status s = ts_agent_config_parse(body, strlen(body), "agent.yaml", &o, &c, &err);
            const char *expects = strstr(marker, "expects: ");
            char got[512];
            snprintf(got, sizeof got, "%s: %s -->", err.where, err.msg);
            if (!expects && s != TS_OK)
                fail_msg("docs/agent.md:%u: refused: %s: %s", start, err.where, err.msg);
            if (expects && (s == TS_OK || strcmp(expects + 9, got) != 0))
                fail_msg("docs/agent.md:%u: expected %s, got %s", start, expects + 9,
                         s == TS_OK ? "success" : got);
            ts_agent_config_free(c);
            blocks++;
            refused_blocks += expects != NULL;
            for (char *q = body; q <= end; q++)
                line += *q == '\n';
            line++; /* the closing fence */
            marker[0] = '\0';
            p = end + 5;
            continue;
        } else if (n > 0) {
            marker[0] = '\0';
        }
        p = eol ? eol + 1 : p + n;
    }
    print_message("%d yaml blocks, %d of them refused as the page says\n", blocks, refused_blocks);
    assert_true(blocks >= 3 && refused_blocks >= 1);
    free(doc);
}

int main(void)
{
    const struct CMUnitTest tests[] = {cmocka_unit_test(test_docs_yaml_blocks)};
    return cmocka_run_group_tests(tests, NULL, NULL);
}
