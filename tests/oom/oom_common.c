/* oom.common: the private base layer's allocating calls (file reader, JSON writer). */
#include "oom.h"

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/file.h"
#include "common/json_writer.h"

/* Larger than the reader's first buffer, so that it grows. */
#define BIG 100000u

static char *make_content(void)
{
    char *s = malloc(BIG);
    if (!s)
        oom_wrong("setup: out of memory");
    for (size_t i = 0; i < BIG; i++)
        s[i] = (char)('a' + i % 26);
    return s;
}

static void *setup_file(void)
{
    static char path[4096];
    snprintf(path, sizeof path, "%s/data.txt", oom_scratch_dir());
    char *s = make_content();
    FILE *f = fopen(path, "wb");
    if (!f || fwrite(s, 1, BIG, f) != BIG || fclose(f) != 0)
        oom_wrong("setup: cannot write %s", path);
    free(s);
    return path;
}

static void check_content(const char *out, size_t len)
{
    if (len != BIG)
        oom_wrong("length %zu", len);
    for (size_t i = 0; i < BIG; i++)
        if (out[i] != (char)('a' + i % 26))
            oom_wrong("content differs at byte %zu", i);
    OOM_EXPECT(out[BIG] == '\0');
}

static oom_result run_read_file(void *ctx)
{
    ts_error err;
    ts_error_clear(&err);
    char *out = NULL;
    size_t len = 0;
    ts_status st = ts_common__read_file(ctx, 1u << 20, TS_COMMON__READ_NO_NUL, &out, &len, &err);
    if (st != TS_OK) {
        OOM_EXPECT(out == NULL && len == 0);
        return oom_refused(st, &err);
    }
    check_content(out, len);
    free(out);
    return OOM_SUCCEEDED;
}

static oom_result run_read_fd(void *ctx)
{
    int fd = open(ctx, O_RDONLY);
    OOM_EXPECT(fd >= 0);
    ts_error err;
    ts_error_clear(&err);
    char *out = NULL;
    size_t len = 0;
    ts_status st = ts_common__read_fd(fd, "stdin", 1u << 20, 0, &out, &len, &err);
    close(fd);
    if (st != TS_OK) {
        OOM_EXPECT(out == NULL && len == 0);
        return oom_refused(st, &err);
    }
    check_content(out, len);
    free(out);
    return OOM_SUCCEEDED;
}

/* A document larger than the writer's stack buffer, in both modes. */
static oom_result run_json(void *ctx)
{
    (void)ctx;
    for (int mode = 0; mode < 2; mode++) {
        ts_common__json w;
        ts_common__json_init(&w, mode ? TS_COMMON__JSON_ASCII : TS_COMMON__JSON_UTF8);
        ts_common__json_open(&w);
        const char *const roles[] = {"admin", "operator", "caf\xc3\xa9"};
        for (int i = 0; i < 200; i++) {
            char key[16];
            snprintf(key, sizeof key, "k%d", i);
            ts_common__json_kstr(&w, key, "value \xe2\x80\xae with \"quotes\"\n");
        }
        ts_common__json_kint(&w, "n", -42);
        ts_common__json_kreal(&w, "r", 1.5);
        ts_common__json_kstrs(&w, "roles", roles, 3);
        ts_common__json_kembed(&w, "obj", "{\"a\":[1,2]}", 11);
        ts_common__json_close(&w);
        size_t len = 0;
        char *out = ts_common__json_take(&w, &len);
        ts_common__json_cleanup(&w);
        if (!out) {
            OOM_EXPECT(oom_injected());
            return OOM_REFUSED;
        }
        OOM_EXPECT(len > 1536 && out[0] == '{' && out[len - 1] == '}' && strlen(out) == len);
        OOM_EXPECT(strstr(out, "\"k199\":") != NULL && strstr(out, "\"obj\":{\"a\":[1,2]}"));
        free(out);
    }
    return OOM_SUCCEEDED;
}

static void teardown_none(void *ctx, oom_result r)
{
    (void)ctx, (void)r;
}

static const oom_case cases[] = {
    {"read_file", setup_file, run_read_file, teardown_none},
    {"read_fd", setup_file, run_read_fd, teardown_none},
    {"json_writer", NULL, run_json, NULL},
};

int main(int argc, char **argv)
{
    return oom_main("oom.common", cases, sizeof cases / sizeof cases[0], argc, argv);
}
