/* common/file.h: bounded whole-file reads, atomic replacement, the one-level directory rule. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>

#include "common/file.h"
#include "common/mem.h"

static char dir[64];

static int setup(void **state)
{
    (void)state;
    snprintf(dir, sizeof dir, "/tmp/ts-common-file-XXXXXX");
    return mkdtemp(dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[128];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void in_dir(char *out, size_t cap, const char *name)
{
    snprintf(out, cap, "%s/%s", dir, name);
}

static void put(const char *path, const void *data, size_t n)
{
    FILE *f = fopen(path, "wb");
    assert_non_null(f);
    assert_int_equal(fwrite(data, 1, n, f), n);
    assert_int_equal(fclose(f), 0);
}

static void test_read_bounds(void **state)
{
    (void)state;
    char path[128];
    in_dir(path, sizeof path, "ten");
    put(path, "0123456789", 10);
    char *buf = NULL;
    size_t len = 99;
    ts_error err;
    ts_error_clear(&err);
    /* Exactly the bound is accepted; the text is NUL-terminated. */
    assert_int_equal(ts_common__read_file(path, 10, 0, &buf, &len, &err), TS_OK);
    assert_int_equal(len, 10);
    assert_string_equal(buf, "0123456789");
    free(buf);
    /* One byte over is refused, naming the file and the bound; nothing is handed out. */
    buf = (char *)path;
    assert_int_equal(ts_common__read_file(path, 9, 0, &buf, &len, &err), TS_ELIMIT);
    assert_null(buf);
    assert_int_equal(len, 0);
    assert_string_equal(err.where, path);
    assert_string_equal(err.msg, "larger than 9 bytes");
    /* An empty file is an empty text, not an error. */
    in_dir(path, sizeof path, "empty");
    put(path, "", 0);
    assert_int_equal(ts_common__read_file(path, 10, 0, &buf, NULL, NULL), TS_OK);
    assert_string_equal(buf, "");
    free(buf);
}

static void test_read_large_and_pipe(void **state)
{
    (void)state;
    /* Larger than the first buffer: the growth keeps every byte. */
    size_t n = 300000;
    char *data = malloc(n);
    assert_non_null(data);
    for (size_t i = 0; i < n; i++)
        data[i] = (char)('a' + i % 26);
    char path[128];
    in_dir(path, sizeof path, "large");
    put(path, data, n);
    char *buf = NULL;
    size_t len = 0;
    assert_int_equal(ts_common__read_file(path, 1u << 20, 0, &buf, &len, NULL), TS_OK);
    assert_int_equal(len, n);
    assert_memory_equal(buf, data, n);
    free(buf);
    /* A pipe has no size to start from: the buffer grows, and the bound still holds. */
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], data, 60000), 60000);
    close(fds[1]);
    assert_int_equal(ts_common__read_fd(fds[0], "stdin", 60000, 0, &buf, &len, NULL), TS_OK);
    assert_int_equal(len, 60000);
    assert_memory_equal(buf, data, 60000);
    free(buf);
    close(fds[0]);
    assert_int_equal(pipe(fds), 0);
    assert_int_equal(write(fds[1], data, 5000), 5000);
    close(fds[1]);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__read_fd(fds[0], "stdin", 4999, 0, &buf, &len, &err), TS_ELIMIT);
    assert_null(buf);
    assert_string_equal(err.where, "stdin");
    close(fds[0]);
    free(data);
}

static void test_read_errors(void **state)
{
    (void)state;
    char path[128];
    in_dir(path, sizeof path, "missing");
    char *buf = NULL;
    ts_error err;
    ts_error_clear(&err);
    /* Absence is an I/O error by default, "not found" for callers that expect it. */
    assert_int_equal(ts_common__read_file(path, 10, 0, &buf, NULL, &err), TS_EIO);
    assert_string_equal(err.where, path);
    assert_non_null(strstr(err.msg, "cannot open: "));
    ts_error_clear(&err);
    assert_int_equal(
        ts_common__read_file(path, 10, TS_COMMON__READ_MISSING_NOTFOUND, &buf, NULL, &err),
        TS_ENOTFOUND);
    assert_string_equal(err.msg, "no such file");
    /* A NUL byte is refused only when asked. */
    in_dir(path, sizeof path, "nul");
    put(path, "ab\0cd", 5);
    size_t len = 0;
    assert_int_equal(ts_common__read_file(path, 10, 0, &buf, &len, NULL), TS_OK);
    assert_int_equal(len, 5);
    free(buf);
    ts_error_clear(&err);
    assert_int_equal(ts_common__read_file(path, 10, TS_COMMON__READ_NO_NUL, &buf, &len, &err),
                     TS_EPARSE);
    assert_null(buf);
    assert_string_equal(err.msg, "holds a NUL byte");
    /* A directory cannot be read as a file. */
    ts_error_clear(&err);
    assert_int_equal(ts_common__read_file(dir, 10, 0, &buf, &len, &err), TS_EIO);
    assert_non_null(strstr(err.msg, "cannot read: "));
    assert_int_equal(ts_common__read_file(NULL, 10, 0, &buf, &len, NULL), TS_EINVAL);
}

static void test_write_atomic(void **state)
{
    (void)state;
    char sub[128], path[160];
    in_dir(sub, sizeof sub, "w");
    assert_int_equal(mkdir(sub, 0700), 0);
    snprintf(path, sizeof path, "%s/state.json", sub);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__write_file_atomic(path, "{\"a\":1}", 7, 0600, &err), TS_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    char *got = NULL;
    size_t len = 0;
    assert_int_equal(ts_common__read_file(path, 64, 0, &got, &len, NULL), TS_OK);
    assert_string_equal(got, "{\"a\":1}");
    free(got);
    /* Replacing gives the new mode even when the old file was wider. */
    assert_int_equal(chmod(path, 0644), 0);
    assert_int_equal(ts_common__write_file_atomic(path, "{}", 2, 0600, &err), TS_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    /* A failed write leaves the old file and no temporary file behind. */
    char bad[200];
    snprintf(bad, sizeof bad, "%s/no/such/dir/x.json", sub);
    assert_int_equal(ts_common__write_file_atomic(bad, "x", 1, 0600, &err), TS_EIO);
    assert_non_null(strstr(err.msg, "cannot create: "));
    assert_int_equal(ts_common__read_file(path, 64, 0, &got, &len, NULL), TS_OK);
    assert_string_equal(got, "{}");
    free(got);
    /* Zero bytes make an empty file. */
    assert_int_equal(ts_common__write_file_atomic(path, NULL, 0, 0600, NULL), TS_OK);
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_size, 0);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(sub), 0); /* empty: no temporary file left */
}

/* The owned variant: the exact mode whatever the umask, and (as root) the owner and group
   before the file takes the path, for the first file and a replacement. */
static void test_write_atomic_owned(void **state)
{
    (void)state;
    char sub[128], path[160];
    in_dir(sub, sizeof sub, "o");
    assert_int_equal(mkdir(sub, 0755), 0);
    snprintf(path, sizeof path, "%s/token", sub);
    mode_t old = umask(077);
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(
        ts_common__write_file_atomic_owned(path, "t1", 2, 0640, (uid_t)-1, (gid_t)-1, &err), TS_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0640); /* not 0600, as the umask would make it */
    assert_int_equal(sb.st_uid, geteuid());
    if (geteuid() == 0) {
        assert_int_equal(
            ts_common__write_file_atomic_owned(path, "t2", 2, 0640, 65534, 65534, &err), TS_OK);
        assert_int_equal(stat(path, &sb), 0);
        assert_int_equal(sb.st_uid, 65534);
        assert_int_equal(sb.st_gid, 65534);
        assert_int_equal(sb.st_mode & 0777, 0640);
    } else {
        /* Without root, giving the file away fails and the previous file stays. */
        assert_int_equal(
            ts_common__write_file_atomic_owned(path, "t2", 2, 0640, 0, (gid_t)-1, &err), TS_EIO);
        assert_non_null(strstr(err.msg, "owner or group"));
        char *got = NULL;
        assert_int_equal(ts_common__read_file(path, 64, 0, &got, NULL, NULL), TS_OK);
        assert_string_equal(got, "t1");
        free(got);
    }
    umask(old);
    assert_int_equal(unlink(path), 0);
    assert_int_equal(rmdir(sub), 0); /* empty: no temporary file left */
}

static void test_mkdir_one(void **state)
{
    (void)state;
    char path[128], file[128];
    in_dir(path, sizeof path, "d");
    ts_error err;
    ts_error_clear(&err);
    assert_int_equal(ts_common__mkdir_one(path, 0700, &err), TS_OK);
    struct stat sb;
    assert_int_equal(stat(path, &sb), 0);
    assert_true(S_ISDIR(sb.st_mode));
    assert_int_equal(sb.st_mode & 0777, 0700);
    /* An existing directory is fine. */
    assert_int_equal(ts_common__mkdir_one(path, 0700, &err), TS_OK);
    /* Something else of that name is not. */
    in_dir(file, sizeof file, "f");
    put(file, "x", 1);
    assert_int_equal(ts_common__mkdir_one(file, 0700, &err), TS_EINVAL);
    assert_string_equal(err.where, file);
    assert_string_equal(err.msg, "not a directory");
    /* One level only: a missing parent is named, and nothing is created. */
    char chain[160], parent[160], want[400];
    in_dir(parent, sizeof parent, "x");
    in_dir(chain, sizeof chain, "x/y");
    ts_error_clear(&err);
    assert_int_equal(ts_common__mkdir_one(chain, 0700, &err), TS_ENOTFOUND);
    snprintf(want, sizeof want, "its parent %s does not exist", parent);
    assert_non_null(strstr(err.msg, want));
    assert_int_not_equal(stat(parent, &sb), 0);
    assert_int_equal(ts_common__mkdir_one("", 0700, NULL), TS_EINVAL);
}

static void test_dir_of(void **state)
{
    (void)state;
    char out[32];
    ts_common__dir_of("a/b/c.db", out, sizeof out);
    assert_string_equal(out, "a/b");
    ts_common__dir_of("c.db", out, sizeof out);
    assert_string_equal(out, ".");
    ts_common__dir_of("/c.db", out, sizeof out);
    assert_string_equal(out, "/");
    ts_common__dir_of("/var/lib/x", out, 5);
    assert_string_equal(out, "/var");
}

static void test_memzero(void **state)
{
    (void)state;
    char buf[8] = "secret!";
    ts_common__memzero(buf, sizeof buf);
    for (size_t i = 0; i < sizeof buf; i++)
        assert_int_equal(buf[i], 0);
    ts_common__memzero(NULL, 8);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_read_bounds),
        cmocka_unit_test(test_read_large_and_pipe),
        cmocka_unit_test(test_read_errors),
        cmocka_unit_test(test_write_atomic),
        cmocka_unit_test(test_write_atomic_owned),
        cmocka_unit_test(test_mkdir_one),
        cmocka_unit_test(test_dir_of),
        cmocka_unit_test(test_memzero),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
