/* The checks that depend on the machine, against a temporary directory: the directories file
 * sinks, sockets and state files are written into exist and are writable, what is there
 * already is of the right kind, CA files are readable, user and group names exist; and that
 * TS_AGENT_CONFIG_SKIP_FS_CHECKS skips every one of them. */
#define _POSIX_C_SOURCE 200809L

#include "agent_test.h"

#include <grp.h>
#include <pwd.h>
#include <stdlib.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#define SCRATCH_NAME "fs"
#include "scratch.h"

/* The issue's shape, with every path under @p base and the sink's owner and group. */
static void issue_shape(char *out, size_t cap, const char *base, const char *owner,
                        const char *group)
{
    snprintf(out, cap,
             "settings:\n"
             "  listen: 127.0.0.1:8181\n"
             "sources:\n"
             "  svc:\n"
             "    type: tokensmith\n"
             "    token_endpoint: http://127.0.0.1:8080/oauth/token\n"
             "    bootstrap_token: { from_file: %s/secrets/bootstrap }\n"
             "    state_file: %s/state/svc.json\n"
             "sinks:\n"
             "  svc_file: { type: file, source_id: svc, token_id: access_token, path: "
             "%s/tokens/svc, owner: '%s', group: '%s' }\n"
             "  svc_sock: { type: uds,  source_id: svc, token_id: access_token, path: "
             "%s/tokens/svc.sock, allowed_uids: ['%s'] }\n",
             base, base, base, owner, group, base, owner);
}

/* "LINE:COL" of the first @p needle in @p text (after @p after, when given). */
static const char *pos_of(const char *text, const char *after, const char *needle)
{
    static char buf[32];
    const char *from = after ? strstr(text, after) : text;
    assert_non_null(from);
    const char *at = strstr(from, needle);
    assert_non_null(at);
    unsigned line = 1, col = 1;
    for (const char *p = text; p < at; p++, col++)
        if (*p == '\n') {
            line++;
            col = 0;
        }
    snprintf(buf, sizeof buf, "%u:%u", line, col);
    return buf;
}

static void make_dir(const char *sub, mode_t mode)
{
    char p[256];
    snprintf(p, sizeof p, "%s/%s", dir, sub);
    assert_int_equal(mkdir(p, mode), 0);
}

static void test_fs_accepted(void **state)
{
    (void)state;
    make_dir("state", 0700);
    make_dir("tokens", 0700);
    struct passwd *pw = getpwuid(geteuid());
    struct group *gr = getgrgid(getegid());
    assert_non_null(pw);
    assert_non_null(gr);
    char text[2048];
    issue_shape(text, sizeof text, dir, pw->pw_name, gr->gr_name);
    ts_error err;
    ts_agent_config *c = agent_parse(text, true, &err);
    if (!c)
        fail_msg("%s: %s", err.where, err.msg);
    const ts_agent_sink *f = ts_agent_config_sink(c, "svc_file");
    assert_int_equal(f->owner_uid, (int64_t)geteuid());
    assert_int_equal(f->group_gid, (int64_t)getegid());
    assert_string_equal(f->owner, pw->pw_name);
    const ts_agent_sink *u = ts_agent_config_sink(c, "svc_sock");
    assert_int_equal(u->n_allowed_uids, 1);
    assert_int_equal(u->allowed_uids[0], (int64_t)geteuid());
    ts_agent_config_free(c);
    /* The same without the checks: names are not looked up. */
    c = agent_parse(text, false, &err);
    assert_non_null(c);
    assert_int_equal(ts_agent_config_sink(c, "svc_file")->owner_uid, -1);
    assert_int_equal(ts_agent_config_sink(c, "svc_sock")->allowed_uids[0], -1);
    ts_agent_config_free(c);
}

static void expect_fs_error(const char *text, ts_status code, const char *where, const char *msg)
{
    agent_assert_refused(text, true, code, where, msg);
    /* Every one of them is a check of the machine: skipped, the text is accepted. */
    ts_error err;
    ts_agent_config *c = agent_parse(text, false, &err);
    if (!c)
        fail_msg("refused without the checks: %s: %s", err.where, err.msg);
    ts_agent_config_free(c);
}

static void test_fs_missing_directories(void **state)
{
    (void)state;
    char text[2048], msg[256];
    issue_shape(text, sizeof text, dir, "0", "0");
    snprintf(msg, sizeof msg,
             "sources.svc.state_file: directory %s/state: No such file or directory", dir);
    expect_fs_error(text, TS_EIO, pos_of(text, "state_file:", "/"), msg);
    make_dir("state", 0700);
    snprintf(msg, sizeof msg, "sinks.svc_file.path: directory %s/tokens: No such file or directory",
             dir);
    expect_fs_error(text, TS_EIO, pos_of(text, "svc_file", "/"), msg);
}

static void test_fs_wrong_kinds(void **state)
{
    (void)state;
    make_dir("state", 0700);
    make_dir("tokens", 0700);
    make_dir("tokens/svc", 0700); /* a directory where the token file goes */
    char text[2048];
    issue_shape(text, sizeof text, dir, "0", "0");
    expect_fs_error(text, TS_EIO, pos_of(text, "svc_file", "/"),
                    "sinks.svc_file.path: exists and is not a regular file");
    snprintf(text, sizeof text, "%s/tokens/svc", dir);
    assert_int_equal(rmdir(text), 0);

    /* A regular file where the socket goes is never removed to make room. */
    char sock[256];
    snprintf(sock, sizeof sock, "%s/tokens/svc.sock", dir);
    FILE *fp = fopen(sock, "w");
    assert_non_null(fp);
    fclose(fp);
    issue_shape(text, sizeof text, dir, "0", "0");
    expect_fs_error(text, TS_EIO, pos_of(text, "svc_sock", "/"),
                    "sinks.svc_sock.path: exists and is not a socket (the agent replaces only a "
                    "socket)");
    /* A socket there (a previous run's) is fine. */
    assert_int_equal(unlink(sock), 0);
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    assert_true(strlen(sock) < sizeof sa.sun_path);
    memcpy(sa.sun_path, sock, strlen(sock) + 1);
    assert_int_equal(bind(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    close(fd);
    ts_error err;
    ts_agent_config *c = agent_parse(text, true, &err);
    if (!c)
        fail_msg("%s: %s", err.where, err.msg);
    ts_agent_config_free(c);
}

static void test_fs_not_writable(void **state)
{
    (void)state;
    if (geteuid() == 0)
        skip(); /* root writes anywhere */
    make_dir("state", 0500);
    make_dir("tokens", 0700);
    char text[2048], msg[256];
    issue_shape(text, sizeof text, dir, "0", "0");
    snprintf(msg, sizeof msg,
             "sources.svc.state_file: directory %s/state is not writable: Permission denied", dir);
    expect_fs_error(text, TS_EIO, pos_of(text, "state_file:", "/"), msg);
}

static void test_fs_names_and_ca(void **state)
{
    (void)state;
    make_dir("state", 0700);
    make_dir("tokens", 0700);
    char text[2048], msg[256];
    issue_shape(text, sizeof text, dir, "no-such-user-ts-agent", "0");
    expect_fs_error(text, TS_ENOTFOUND, pos_of(text, "owner:", "'"),
                    "sinks.svc_file.owner: no user 'no-such-user-ts-agent' on this system");
    issue_shape(text, sizeof text, dir, "0", "no-such-group-ts-agent");
    expect_fs_error(text, TS_ENOTFOUND, pos_of(text, "group:", "'"),
                    "sinks.svc_file.group: no group 'no-such-group-ts-agent' on this system");

    snprintf(text, sizeof text,
             "sources:\n"
             "  h: {type: http, request: {url: 'https://h/', ca_file: %s/ca.pem}, parse: "
             "{tokens: [{id: t, token_type: jwt}]}}\n"
             "sinks:\n"
             "  o: {type: http, source_id: h, path: /t}\n",
             dir);
    snprintf(msg, sizeof msg,
             "sources.h.request.ca_file: cannot read %s/ca.pem: No such file or directory", dir);
    expect_fs_error(text, TS_EIO, pos_of(text, "ca_file:", "/"), msg);
}

static void test_load_file(void **state)
{
    (void)state;
    ts_agent_config *c = NULL;
    ts_error err;
    char path[256];
    snprintf(path, sizeof path, "%s/missing.yaml", dir);
    assert_int_equal(ts_agent_config_load(path, NULL, &c, &err), TS_EIO);
    assert_null(c);
    assert_string_equal(err.where, path);
    /* Larger than max_bytes: refused before it is parsed. */
    snprintf(path, sizeof path, "%s/issue15.yaml", TS_AGENT_TEST_DATA);
    ts_agent_config_options o = TS_AGENT_CONFIG_OPTIONS_INIT;
    o.flags = TS_AGENT_CONFIG_SKIP_FS_CHECKS;
    o.max_bytes = 100;
    assert_int_equal(ts_agent_config_load(path, &o, &c, &err), TS_ELIMIT);
    assert_string_equal(err.where, path);
    o.max_bytes = 0;
    assert_int_equal(ts_agent_config_load(path, &o, &c, &err), TS_OK);
    assert_string_equal(c->name, path);
    ts_agent_config_free(c);
    /* An options struct from another version is refused, not misread. */
    o.version = 99;
    assert_int_equal(ts_agent_config_load(path, &o, &c, &err), TS_EINVAL);
    assert_null(c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_fs_accepted, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_fs_missing_directories, scratch_setup,
                                        scratch_teardown),
        cmocka_unit_test_setup_teardown(test_fs_wrong_kinds, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_fs_not_writable, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_fs_names_and_ca, scratch_setup, scratch_teardown),
        cmocka_unit_test_setup_teardown(test_load_file, scratch_setup, scratch_teardown),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
