/*
 * The guard's watcher: inotify on the directories of the authorizer's policy files, a quiet
 * period after the last change, then one rebuild of the whole policy. The directories
 * themselves are watched, not the files: an editor replaces a file by renaming over it, and
 * Kubernetes updates a ConfigMap volume by renaming a new `..data` symlink over the old one, and
 * neither changes the inode a watch on the file would follow. Whatever happened, everything is
 * read again, so no event needs to be understood; the content hash (policy_version) tells
 * whether anything changed.
 */
#define _GNU_SOURCE /* pipe2 */

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/inotify.h>
#include <time.h>
#include <unistd.h>

#include "contract/contract.h"
#include "contract/live.h"

#define WATCH_MASK                                                                                 \
    (IN_CREATE | IN_MOVED_TO | IN_MOVED_FROM | IN_CLOSE_WRITE | IN_MODIFY | IN_DELETE |            \
     IN_ATTRIB | IN_DELETE_SELF | IN_MOVE_SELF)
#define MAX_DIRS 4u
#define MAX_DEBOUNCE_MS 60000u

struct ts_authz__watcher {
    const ts_authz_guard *g;
    ts_authz_authorizer *a;
    pthread_t thread;
    int ifd, wake[2];
    unsigned debounce_ms;
    char *dirs[MAX_DIRS];
    size_t ndirs;
    pthread_mutex_t mu; /* what the diagnostics read */
    bool pending;
    uint64_t events, applied, unchanged, refused;
    int64_t last_applied_ms;
    char last_error[400];
};

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static int64_t real_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* The directory of @p path ("." for a bare name), once in the list. */
static bool add_dir(ts_authz__watcher *w, const char *path, bool is_dir)
{
    if (!path || !*path)
        return true;
    size_t n = strlen(path);
    if (!is_dir) {
        const char *slash = strrchr(path, '/');
        n = slash ? (size_t)(slash - path) : 0;
        if (slash == path)
            n = 1;
        if (n == 0)
            path = ".", n = 1;
    }
    for (size_t i = 0; i < w->ndirs; i++)
        if (strlen(w->dirs[i]) == n && memcmp(w->dirs[i], path, n) == 0)
            return true;
    char *d = malloc(n + 1);
    if (!d)
        return false;
    memcpy(d, path, n);
    d[n] = '\0';
    w->dirs[w->ndirs++] = d;
    return true;
}

/* (Re)arm every directory: after a swap the path may name a new directory. */
static ts_status arm(ts_authz__watcher *w, ts_error *err)
{
    for (size_t i = 0; i < w->ndirs; i++)
        if (inotify_add_watch(w->ifd, w->dirs[i], WATCH_MASK | IN_ONLYDIR) < 0)
            return ts_error_set(err, TS_EIO, w->dirs[i], "cannot watch: %s", strerror(errno));
    return TS_OK;
}

static void apply(ts_authz__watcher *w)
{
    ts_error err;
    ts_error_clear(&err);
    ts_authz__rebuild r;
    ts_status st = ts_authz__authorizer_rebuild(w->a, false, NULL, 0, false, &r, &err);
    ts_error aerr;
    ts_error_clear(&aerr);
    (void)arm(w, &aerr); /* a directory that is gone now is watched again once it is back */
    pthread_mutex_lock(&w->mu);
    if (st != TS_OK) {
        w->refused++;
        ts_authz__error_text(&err, w->last_error, sizeof w->last_error);
    } else if (r.changed) {
        w->applied++;
        w->last_applied_ms = real_ms();
        w->last_error[0] = '\0';
    } else {
        w->unchanged++;
        w->last_error[0] = '\0';
    }
    pthread_mutex_unlock(&w->mu);
    /* The same bytes again (a file touched, a ConfigMap resynced) are not news. */
    if (st != TS_OK || r.changed)
        ts_authz__log_rebuild(w->g, "authz.watch", st, &r, &err, NULL, 0);
}

static void *run(void *arg)
{
    ts_authz__watcher *w = arg;
    bool pending = false;
    int64_t due = 0;
    for (;;) {
        int timeout = -1;
        if (pending) {
            int64_t left = due - mono_ms();
            timeout = left > 0 ? (int)left : 0;
        }
        struct pollfd p[2] = {{w->ifd, POLLIN, 0}, {w->wake[0], POLLIN, 0}};
        int rc = poll(p, 2, timeout);
        if (rc < 0 && errno != EINTR)
            break;
        if (rc > 0 && p[1].revents)
            break; /* stopped: a pending change is dropped with the guard */
        if (rc > 0 && (p[0].revents & POLLIN)) {
            char buf[4096] __attribute__((aligned(__alignof__(struct inotify_event))));
            uint64_t n = 0;
            ssize_t got;
            while ((got = read(w->ifd, buf, sizeof buf)) > 0)
                for (ssize_t off = 0; off < got; n++) {
                    const struct inotify_event *ev = (const void *)(buf + off);
                    off += (ssize_t)(sizeof *ev + ev->len);
                }
            pending = true; /* each change restarts the quiet period */
            due = mono_ms() + w->debounce_ms;
            pthread_mutex_lock(&w->mu);
            w->events += n;
            w->pending = true;
            pthread_mutex_unlock(&w->mu);
            continue;
        }
        if (pending && mono_ms() >= due) {
            pending = false;
            pthread_mutex_lock(&w->mu);
            w->pending = false;
            pthread_mutex_unlock(&w->mu);
            apply(w);
        }
    }
    return NULL;
}

static void watcher_free(ts_authz__watcher *w)
{
    if (w->ifd >= 0)
        close(w->ifd);
    for (int i = 0; i < 2; i++)
        if (w->wake[i] >= 0)
            close(w->wake[i]);
    for (size_t i = 0; i < w->ndirs; i++)
        free(w->dirs[i]);
    pthread_mutex_destroy(&w->mu);
    free(w);
}

void ts_authz__watcher_stop(ts_authz__watcher *w)
{
    if (!w)
        return;
    ssize_t n;
    do
        n = write(w->wake[1], "x", 1);
    while (n < 0 && errno == EINTR);
    pthread_join(w->thread, NULL); /* poll() returns at once; a rebuild in progress ends */
    watcher_free(w);
}

ts_status ts_authz_guard_watch(const ts_authz_guard *g, unsigned debounce_ms, ts_error *err)
{
    if (!g || !g->live)
        return ts_error_set(err, TS_EINVAL, "ts_authz_guard_watch", "guard is NULL");
    if (debounce_ms > MAX_DEBOUNCE_MS)
        return ts_error_set(err, TS_EINVAL, "watch_debounce_ms", "at most %u ms", MAX_DEBOUNCE_MS);
    ts_authz__live *l = g->live;
    pthread_mutex_lock(&l->mu);
    if (l->watcher) {
        pthread_mutex_unlock(&l->mu);
        return TS_OK;
    }
    ts_status st = TS_OK;
    ts_authz__watcher *w = calloc(1, sizeof *w);
    if (!w) {
        pthread_mutex_unlock(&l->mu);
        return ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
    }
    w->ifd = w->wake[0] = w->wake[1] = -1;
    pthread_mutex_init(&w->mu, NULL);
    w->g = g;
    w->a = (ts_authz_authorizer *)(uintptr_t)g->o.authorizer; /* its policy is live state */
    w->debounce_ms = debounce_ms ? debounce_ms : TS_AUTHZ_WATCH_DEBOUNCE_MS;
    const ts_authz_source_options *src = ts_authz__authorizer_source(w->a);
    if (!add_dir(w, src->policy_dir, true) || !add_dir(w, src->policy_file, false) ||
        !add_dir(w, src->grouping_file, false) || !add_dir(w, src->model_path, false)) {
        st = ts_error_set(err, TS_ENOMEM, NULL, "out of memory");
        goto fail;
    }
    if (w->ndirs == 0) {
        st = ts_error_set(err, TS_EINVAL, "watch",
                          "no policy files to watch (the embedded baseline alone)");
        goto fail;
    }
    if ((w->ifd = inotify_init1(IN_NONBLOCK | IN_CLOEXEC)) < 0 ||
        pipe2(w->wake, O_NONBLOCK | O_CLOEXEC) != 0) {
        st = ts_error_set(err, TS_EIO, "watch", "inotify: %s", strerror(errno));
        goto fail;
    }
    if ((st = arm(w, err)) != TS_OK)
        goto fail;
    /* The thread takes no signal: SIGHUP and the stop signals stay with the application. */
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    int rc = pthread_create(&w->thread, NULL, run, w);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (rc != 0) {
        st = ts_error_set(err, TS_EINTERNAL, "pthread_create", "%s", strerror(rc));
        goto fail;
    }
    l->watcher = w;
    pthread_mutex_unlock(&l->mu);
    return TS_OK;
fail:
    pthread_mutex_unlock(&l->mu);
    watcher_free(w);
    return st;
}

void ts_authz__watcher_render(ts_authz__watcher *w, ts_common__json *b)
{
    ts_common__json_key(b, "watch");
    ts_common__json_open(b);
    ts_common__json_kbool(b, "enabled", w != NULL);
    if (w) {
        ts_common__json_kuint(b, "debounce_ms", w->debounce_ms);
        ts_common__json_kstrs(b, "directories", (const char *const *)w->dirs, w->ndirs);
        pthread_mutex_lock(&w->mu);
        ts_common__json_kbool(b, "pending", w->pending);
        ts_common__json_kuint(b, "events", w->events);
        ts_common__json_kuint(b, "applied", w->applied);
        ts_common__json_kuint(b, "unchanged", w->unchanged);
        ts_common__json_kuint(b, "refused", w->refused);
        if (w->last_applied_ms) {
            char t[32];
            ts_authz__rfc3339(w->last_applied_ms, t);
            ts_common__json_kstr(b, "last_applied_at", t);
        }
        if (w->last_error[0])
            ts_common__json_kstr(b, "last_error", w->last_error);
        pthread_mutex_unlock(&w->mu);
    }
    ts_common__json_close(b);
}
