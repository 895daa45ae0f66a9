/* File sinks with an owner, a group and a mode: the file at the sink's path has them from the
 * moment it is there (they are the temporary file's before the rename, whatever the umask),
 * and when they cannot be given, the path keeps the previous file rather than a new one with
 * the wrong group. Giving a file to another user needs root: those cases skip without it. */
#define _GNU_SOURCE

#include <dirent.h>
#include <grp.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "agent_test.h"
#include "rt_internal.h"
#define SCRATCH_NAME "sinks"
#include "scratch.h"

/* nobody:nogroup on Debian: an owner and group other than the test's own. */
#define OTHER_ID 65534

/* A graph of one file source (never fetched) and file sink @p path with @p sink_extra. */
static ts_agent__graph *graph_for(ts_agent_config **cfg, const char *path, const char *sink_extra)
{
    char text[1024];
    snprintf(text, sizeof text,
             "settings: {listen: none}\n"
             "sources:\n"
             "  s: {type: file, path: /nonexistent/token}\n"
             "sinks:\n"
             "  f: {type: file, source_id: s, path: %s%s}\n",
             path, sink_extra);
    ts_error err;
    *cfg = agent_parse(text, false, &err);
    if (!*cfg)
        fail_msg("%s: %s", err.where, err.msg);
    ts_agent__graph *g = ts_agent__graph_new(*cfg, NULL, NULL, &err);
    if (!g)
        fail_msg("%s: %s", err.where, err.msg);
    return g;
}

/* Give source 0 the token @p tok for an hour, as a fetch would, and bring its sinks up to date. */
static void deliver(ts_agent__graph *g, const char *tok)
{
    ts_agent__slot *s = ts_agent__graph_slot(g, 0);
    pthread_mutex_lock(&s->mu);
    ts_agent__tokens_clear(s->tokens, 1);
    s->tokens[0].value = strdup(tok);
    assert_non_null(s->tokens[0].value);
    s->tokens[0].len = strlen(tok);
    s->tokens[0].expires_at = (int64_t)time(NULL) + 3600;
    s->expires_at = s->tokens[0].expires_at;
    s->valid = true;
    s->generation++;
    pthread_mutex_unlock(&s->mu);
    ts_agent__file_sinks_update(g, 0, NULL);
}

/* The content of @p path into @p out; "" when it cannot be read. */
static void read_file(const char *path, char *out, size_t cap)
{
    out[0] = '\0';
    FILE *f = fopen(path, "r");
    if (!f)
        return;
    size_t n = fread(out, 1, cap - 1, f);
    out[n] = '\0';
    fclose(f);
}

/* Entries of @p d besides . and .. (a temporary file left behind would be one). */
static int entries(const char *d)
{
    DIR *h = opendir(d);
    if (!h)
        return -1;
    int n = 0;
    for (struct dirent *e; (e = readdir(h)) != NULL;)
        n += strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0;
    closedir(h);
    return n;
}

/* The file at @p path holds @p content and has @p uid, @p gid and exactly @p mode. */
static void expect_file(const char *path, uid_t uid, gid_t gid, mode_t mode, const char *content)
{
    struct stat sb;
    char buf[64];
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_uid, uid);
    assert_int_equal(sb.st_gid, gid);
    assert_int_equal(sb.st_mode & 07777, mode);
    read_file(path, buf, sizeof buf);
    assert_string_equal(buf, content);
}

/* As root: owner, group and mode 0640 exactly, even under a umask that would take the group's
 * read bit (the mode is set, not requested at creation), for the first file and its
 * replacement. */
static void test_owner_group_mode(void **state)
{
    (void)state;
    if (geteuid() != 0)
        skip();
    char path[128], extra[128];
    snprintf(path, sizeof path, "%s/owned", dir);
    snprintf(extra, sizeof extra, ", owner: %d, group: %d, mode: '0640'", OTHER_ID, OTHER_ID);
    ts_agent_config *cfg;
    ts_agent__graph *g = graph_for(&cfg, path, extra);
    mode_t old = umask(077);
    deliver(g, "tok-owned-1");
    expect_file(path, OTHER_ID, OTHER_ID, 0640, "tok-owned-1");
    deliver(g, "tok-owned-2");
    expect_file(path, OTHER_ID, OTHER_ID, 0640, "tok-owned-2");
    umask(old);
    assert_int_equal(atomic_load(&ts_agent__graph_sink_stats(g, 0)->writes), 2);
    assert_int_equal(atomic_load(&ts_agent__graph_sink_stats(g, 0)->errors), 0);
    ts_agent__graph_free(g);
    ts_agent_config_free(cfg);
}

/* Without owner or group: the mode is still exactly the sink's. */
static void test_mode_only(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "%s/mode", dir);
    ts_agent_config *cfg;
    ts_agent__graph *g = graph_for(&cfg, path, ", mode: '0640'");
    mode_t old = umask(077);
    deliver(g, "tok-mode");
    umask(old);
    expect_file(path, geteuid(), getegid(), 0640, "tok-mode");
    ts_agent__graph_free(g);
    ts_agent_config_free(cfg);
}

/* A group the process may not give files to: the write fails, the path keeps the previous
 * token with its group, and no temporary file is left. Returns what is wrong, or NULL. (It may
 * run in a child that dropped root, so it reports instead of asserting.) */
static const char *refused_group_case(const char *sub, gid_t foreign)
{
    char d[128], path[160], extra[64], buf[64];
    snprintf(d, sizeof d, "%s/%s", dir, sub);
    snprintf(path, sizeof path, "%s/token", d);
    if (mkdir(d, 0700) != 0)
        return "cannot create the case's directory";
    FILE *f = fopen(path, "w");
    if (!f || fputs("old-token", f) < 0 || fclose(f) != 0)
        return "cannot write the old token";
    struct stat before, after;
    if (stat(path, &before) != 0)
        return "cannot stat the old token";
    snprintf(extra, sizeof extra, ", group: %u", (unsigned)foreign);
    ts_agent_config *cfg;
    ts_agent__graph *g = graph_for(&cfg, path, extra);
    deliver(g, "new-token");
    const char *bad = NULL;
    read_file(path, buf, sizeof buf);
    if (stat(path, &after) != 0)
        bad = "the path is gone";
    else if (after.st_gid != before.st_gid || after.st_ino != before.st_ino)
        bad = "a new file with the wrong group took the path";
    else if (strcmp(buf, "old-token") != 0)
        bad = "the path does not hold the old token";
    else if (entries(d) != 1)
        bad = "a temporary file was left";
    else if (atomic_load(&ts_agent__graph_sink_stats(g, 0)->errors) != 1 ||
             atomic_load(&ts_agent__graph_sink_stats(g, 0)->writes) != 0)
        bad = "the sink's counters do not show one error and no write";
    ts_agent__graph_free(g);
    ts_agent_config_free(cfg);
    return bad;
}

static bool member_of(gid_t gid)
{
    gid_t groups[256];
    int n = getgroups(256, groups);
    for (int i = 0; i < n; i++)
        if (groups[i] == gid)
            return true;
    return getegid() == gid;
}

static void test_refused_group_keeps_old_file(void **state)
{
    (void)state;
    const char *bad;
    if (geteuid() != 0) {
        /* Root's group is one an ordinary user may not give a file to. */
        if (member_of(0))
            skip();
        if ((bad = refused_group_case("user", 0)) != NULL)
            fail_msg("%s", bad);
        return;
    }
    /* As root any group can be given: the case runs in a child that is nobody:nogroup. */
    char sub[128];
    snprintf(sub, sizeof sub, "%s/nobody", dir);
    assert_int_equal(chmod(dir, 0711), 0);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_int_equal(chown(sub, OTHER_ID, OTHER_ID), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(OTHER_ID) != 0 || setuid(OTHER_ID) != 0) {
            fprintf(stderr, "cannot become nobody:nogroup\n");
            _exit(1);
        }
        if ((bad = refused_group_case("nobody/case", 0)) != NULL) {
            fprintf(stderr, "as nobody: %s\n", bad);
            _exit(1);
        }
        _exit(0);
    }
    int st;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_owner_group_mode),
        cmocka_unit_test(test_mode_only),
        cmocka_unit_test(test_refused_group_keeps_old_file),
    };
    return cmocka_run_group_tests(tests, scratch_setup, scratch_teardown);
}
