/* Helpers shared by the agent's tests: parse a configuration from a string or a fixture, and
 * assert the exact error (position and message) of a refused one. */
#ifndef TS_AGENT_TEST_H
#define TS_AGENT_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <cmocka.h>

#include "agent_config.h"

/* Parse @p text named "t.yaml", without the file-system checks unless @p fs. */
static inline ts_agent_config *agent_parse(const char *text, bool fs, ts_error *err)
{
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.flags = fs ? 0 : TS_AGENT_CONFIG_SKIP_FS_CHECKS;
    ts_agent_config *cfg = NULL;
    ts_error_clear(err);
    ts_status s = ts_agent_config_parse(text, strlen(text), "t.yaml", &o, &cfg, err);
    if (s != TS_OK) {
        assert_null(cfg);
        return NULL;
    }
    return cfg;
}

/* A fixture of tests/data, loaded without the file-system checks. */
static inline ts_agent_config *agent_fixture(const char *name, ts_error *err)
{
    char path[512];
    snprintf(path, sizeof path, "%s/%s", TS_AGENT_TEST_DATA, name);
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
    ts_agent_config *cfg = NULL;
    ts_error_clear(err);
    if (ts_agent_config_load(path, &o, &cfg, err) != TS_OK) {
        print_error("%s: %s: %s\n", path, err->where, err->msg);
        return NULL;
    }
    return cfg;
}

/* @p text is refused with @p code at "t.yaml:<where>" (or "t.yaml" when @p where is "")
 * and exactly the message @p msg. */
#define assert_refused(text, code, where, msg) agent_assert_refused(text, false, code, where, msg)

static inline void agent_assert_refused(const char *text, bool fs, ts_status code,
                                        const char *where, const char *msg)
{
    ts_error err;
    ts_agent_config *cfg = agent_parse(text, fs, &err);
    if (cfg) {
        ts_agent_config_free(cfg);
        fail_msg("accepted, expected %s: %s", where, msg);
    }
    char want[160];
    snprintf(want, sizeof want, where[0] ? "t.yaml:%s" : "t.yaml", where);
    if (strcmp(err.where, want) != 0 || strcmp(err.msg, msg) != 0 || err.code != code)
        fail_msg("got [%s] %s: %s\nwanted [%s] %s: %s", ts_status_str(err.code), err.where, err.msg,
                 ts_status_str(code), want, msg);
}

#endif
