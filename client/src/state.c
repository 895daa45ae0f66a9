/* The state file of a refresh family: which refresh token may be presented next, until when
 * the family lives, and which initial credential (bootstrap token) was already presented.
 * Written whole and atomically (common/file.h: temporary file, fsync, rename, directory
 * fsync; mode 0600), so that a reader after any crash finds either the previous file or the
 * next, never a mix. It holds a live credential: it is never readable by others, and it names
 * the token endpoint it belongs to so that its refresh token is never sent to another server
 * (an endpoint changed in the configuration would otherwise receive it). */
#define _GNU_SOURCE
#include "client_internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "common/file.h"
#include "common/json_load.h"
#include "common/json_writer.h"
#include "common/str.h"

#define FORMAT "tokensmith-client-state"
#define VERSION 1
#define MAX_STATE_BYTES (64u * 1024u)

void ts_client__state_cleanup(ts_client__state *st)
{
    ts_client__free_secret(st->refresh_token, st->refresh_len);
    memset(st, 0, sizeof *st);
}

static bool hex_of(const char *s, size_t want)
{
    if (strlen(s) != want)
        return false;
    for (size_t i = 0; i < want; i++)
        if (!((s[i] >= '0' && s[i] <= '9') || (s[i] >= 'a' && s[i] <= 'f')))
            return false;
    return true;
}

static ts_status parse(const char *path, const char *endpoint, size_t max_token, const json_t *o,
                       ts_client__state *st, ts_error *err)
{
    const char *fmt = json_string_value(json_object_get(o, "format"));
    const json_t *ver = json_object_get(o, "version");
    if (!fmt || strcmp(fmt, FORMAT) != 0 || !json_is_integer(ver))
        return ts_error_set(err, TS_EPARSE, path, "not a tokensmith client state file");
    if (json_integer_value(ver) != VERSION)
        return ts_error_set(err, TS_EPARSE, path,
                            "state file version %lld is not supported (this library writes %d)",
                            (long long)json_integer_value(ver), VERSION);
    const char *ep = json_string_value(json_object_get(o, "token_endpoint"));
    if (!ep)
        return ts_error_set(err, TS_EPARSE, path, "no token_endpoint");
    if (strcmp(ep, endpoint) != 0)
        return ts_error_set(err, TS_EINVAL, path,
                            "holds a refresh family of another token endpoint; its refresh "
                            "token is never sent elsewhere: restore token_endpoint, or remove "
                            "the file and configure a new bootstrap token");
    const json_t *rt = json_object_get(o, "refresh_token");
    if (rt && !json_is_null(rt)) {
        size_t n = json_string_length(rt);
        if (!json_is_string(rt) || n == 0 || n > max_token ||
            !ts_client__visible(json_string_value(rt), n))
            return ts_error_set(err, TS_EPARSE, path, "refresh_token is not a token");
        if (!(st->refresh_token = ts_client__strndup(json_string_value(rt), n)))
            return ts_error_set(err, TS_ENOMEM, path, "out of memory");
        st->refresh_len = n;
    }
    const json_t *exp = json_object_get(o, "refresh_expires_at");
    if (exp && !json_is_null(exp)) {
        if (!json_is_integer(exp) || json_integer_value(exp) < 0)
            return ts_error_set(err, TS_EPARSE, path, "refresh_expires_at is not a time");
        st->refresh_expires_at = (int64_t)json_integer_value(exp);
    }
    const json_t *ih = json_object_get(o, "initial_sha256");
    if (ih && !json_is_null(ih)) {
        if (!json_is_string(ih) || !hex_of(json_string_value(ih), 64))
            return ts_error_set(err, TS_EPARSE, path, "initial_sha256 is not a SHA-256");
        ts_common__copyz(st->initial_sha256, sizeof st->initial_sha256, json_string_value(ih));
    }
    const json_t *lp = json_object_get(o, "lost_refresh_token_prefix");
    if (json_is_string(lp) && hex_of(json_string_value(lp), 8))
        ts_common__copyz(st->lost_prefix, sizeof st->lost_prefix, json_string_value(lp));
    const json_t *la = json_object_get(o, "lost_at");
    if (json_is_integer(la))
        st->lost_at = (int64_t)json_integer_value(la);
    return TS_OK;
}

ts_status ts_client__state_load(const char *path, const char *endpoint, size_t max_token,
                                ts_client__state *st, bool *loose, ts_error *err)
{
    memset(st, 0, sizeof *st);
    *loose = false;
    char *text = NULL;
    size_t len = 0;
    /* A missing file is no failure: the caller's record is touched only by a real one. */
    ts_error e;
    ts_error_clear(&e);
    ts_status rc = ts_common__read_file(path, MAX_STATE_BYTES + max_token,
                                        TS_COMMON__READ_NO_NUL | TS_COMMON__READ_MISSING_NOTFOUND,
                                        &text, &len, &e);
    if (rc == TS_ENOTFOUND)
        return TS_OK;
    if (rc != TS_OK) {
        if (err)
            *err = e;
        return rc;
    }
    struct stat sb;
    if (stat(path, &sb) == 0 && (sb.st_mode & 077))
        *loose = true;
    json_error_t je;
    json_t *o = json_loadb(text, len, JSON_REJECT_DUPLICATES, &je);
    ts_client__free_secret(text, len);
    if (!o)
        return ts_common__json_load_oom(&je)
                   ? ts_error_set(err, TS_ENOMEM, path, "out of memory")
                   : ts_error_set(err, TS_EPARSE, path, "not JSON: %s (line %d)", je.text, je.line);
    ts_status st2 = json_is_object(o) ? parse(path, endpoint, max_token, o, st, err)
                                      : ts_error_set(err, TS_EPARSE, path, "not a JSON object");
    if (json_is_object(o))
        ts_client__json_wipe_strings(o); /* one is a refresh token */
    json_decref(o);
    if (st2 != TS_OK)
        ts_client__state_cleanup(st);
    return st2;
}

ts_status ts_client__state_save(const char *path, const char *endpoint, const ts_client__state *st,
                                int64_t now_s, ts_error *err)
{
    ts_common__json w;
    ts_common__json_init(&w, TS_COMMON__JSON_UTF8);
    ts_common__json_open(&w);
    ts_common__json_kstr(&w, "format", FORMAT);
    ts_common__json_kint(&w, "version", VERSION);
    ts_common__json_kstr(&w, "token_endpoint", endpoint);
    if (st->refresh_token) {
        ts_common__json_key(&w, "refresh_token");
        ts_common__json_strn(&w, st->refresh_token, st->refresh_len);
    }
    if (st->refresh_expires_at)
        ts_common__json_kint(&w, "refresh_expires_at", st->refresh_expires_at);
    if (st->initial_sha256[0])
        ts_common__json_kstr(&w, "initial_sha256", st->initial_sha256);
    if (st->lost_prefix[0]) {
        ts_common__json_kstr(&w, "lost_refresh_token_prefix", st->lost_prefix);
        ts_common__json_kint(&w, "lost_at", st->lost_at);
    }
    ts_common__json_kint(&w, "updated_at", now_s);
    ts_common__json_close(&w);
    ts_common__json_raw(&w, "\n", 1);
    size_t len = 0;
    char *text = ts_common__json_take(&w, &len);
    ts_common__json_cleanup(&w);
    if (!text)
        return ts_error_set(err, TS_ENOMEM, path, "out of memory");
    ts_status rc = ts_common__write_file_atomic(path, text, len, 0600, err);
    ts_client__free_secret(text, len);
    return rc;
}

ts_status ts_client__state_lock(const char *path, int *fd, ts_error *err)
{
    char lock[4096 + 8];
    int n = snprintf(lock, sizeof lock, "%s.lock", path);
    if (n < 0 || (size_t)n >= sizeof lock)
        return ts_error_set(err, TS_EINVAL, path, "path too long");
    *fd = open(lock, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (*fd < 0)
        return ts_error_set(err, TS_EIO, lock, "cannot open the lock file: %s", strerror(errno));
    /* flock() locks belong to the open file description: a second client in this process is
     * refused as surely as one in another process. */
    if (flock(*fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(*fd);
        *fd = -1;
        if (e == EWOULDBLOCK)
            return ts_error_set(err, TS_EINVAL, path,
                                "is in use by another client (two users of one refresh family "
                                "would revoke it)");
        return ts_error_set(err, TS_EIO, lock, "cannot lock: %s", strerror(e));
    }
    return TS_OK;
}
