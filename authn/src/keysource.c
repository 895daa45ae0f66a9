#define _POSIX_C_SOURCE 200809L
/* Key sources: PEM files read once, JWKS files read again when they change, remote JWKS with a
   bounded cache, stale-if-error up to a hard age, and a rate-limited unknown-kid refetch.
   Remote fetches run on one background thread per key source (one at a time); a verification
   waits for one at most max_wait_ms, so a slow JWKS host never holds request threads for the
   length of a fetch. A JWKS file is looked at (a stat, and a read when it changed) on the
   unknown-kid path under the same cooldown, and by ts_authn_keysource_refresh(): a service that
   rewrites the file on a key rotation is seen without a new key source. */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "authn_internal.h"
#include "common/file.h"
#include "common/http_client.h"
#include "jose/jose_internal.h"

typedef struct remote {
    char *url;
    ts_jwks *keys;   /* last good set, or NULL */
    int64_t fetched; /* mono_ms() of the last success */
    int64_t fresh_until;
} remote;

/* A key file: its last good keys and, for a JWKS file, the identity of what was read. Atomic
   replacement (rename) gives a new inode; an edit in place a new size or mtime. */
typedef struct keyfile {
    char *path;            /* JWKS files; NULL for a PEM file, read once */
    ts_jwks *keys;         /* last good set */
    ts_common__file_id id; /* at the last good read */
} keyfile;

struct ts_authn_keysource {
    ts_authn_keysource_options o;
    keyfile *f;
    size_t nf;
    pthread_mutex_t file_mu; /* one check of the files at a time; taken before mu */
    int64_t files_checked;   /* mono_ms() of the last check, 0 = never; under mu */
    ts_jwks *file_keys;      /* the union of f[].keys; swapped under mu */
    remote *r;
    size_t nr;
    pthread_mutex_t mu;
    pthread_cond_t done; /* broadcast at the end of every fetch (CLOCK_MONOTONIC waits) */
    pthread_cond_t wake; /* the background thread waits here for work */
    pthread_t worker;
    bool have_worker;
    ts_jwks *merged;      /* file keys + live remote keys; swapped under mu */
    bool fetching;        /* a fetch runs: the background one or ts_authn_keysource_refresh() */
    bool wanted;          /* the background thread is asked for a fetch */
    bool stopping;        /* ts_authn_keysource_free() has begun */
    atomic_bool stop;     /* the same, for the transfer in flight */
    uint64_t completed;   /* fetches finished so far */
    ts_error last_error;  /* of the last fetch (code TS_OK when it succeeded) */
    int64_t last_attempt; /* mono_ms(), 0 = never */
    atomic_ulong fetches;
};

/* Monotonic milliseconds, offset so that 0 keeps meaning "never". Milliseconds, not seconds:
   a cooldown of 1 s must not pass between two calls a millisecond apart that straddle a
   second boundary. */
static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ((int64_t)ts.tv_sec + 1000000) * 1000 + ts.tv_nsec / 1000000;
}

/* Seconds of an option as milliseconds. */
static int64_t s_to_ms(unsigned seconds)
{
    return (int64_t)seconds * 1000;
}

void ts_authn_keysource_free(ts_authn_keysource *ks)
{
    if (!ks)
        return;
    if (ks->have_worker) {
        pthread_mutex_lock(&ks->mu);
        ks->stopping = true;
        atomic_store(&ks->stop, true);
        pthread_cond_signal(&ks->wake);
        pthread_mutex_unlock(&ks->mu);
        pthread_join(ks->worker, NULL);
    }
    for (size_t i = 0; i < ks->nr; i++) {
        free(ks->r[i].url);
        ts_jwks_free(ks->r[i].keys);
    }
    free(ks->r);
    for (size_t i = 0; i < ks->nf; i++) {
        free(ks->f[i].path);
        ts_jwks_free(ks->f[i].keys);
    }
    free(ks->f);
    ts_jwks_free(ks->file_keys);
    ts_jwks_free(ks->merged);
    pthread_mutex_destroy(&ks->mu);
    pthread_mutex_destroy(&ks->file_mu);
    pthread_cond_destroy(&ks->done);
    pthread_cond_destroy(&ks->wake);
    free(ks);
}

static void *worker_main(void *arg);

ts_authn_keysource *ts_authn_keysource_new(const ts_authn_keysource_options *opt, ts_error *err)
{
    if (!opt || opt->version != TS_AUTHN_KEYSOURCE_OPTIONS_VERSION) {
        ts_error_set(err, TS_EINVAL, "ts_authn_keysource_options",
                     "NULL options or unknown version");
        return NULL;
    }
    ts_authn_keysource *ks = calloc(1, sizeof *ks);
    if (!ks) {
        ts_error_set(err, TS_ENOMEM, "ts_authn_keysource_new", "out of memory");
        return NULL;
    }
    pthread_mutex_init(&ks->mu, NULL);
    pthread_mutex_init(&ks->file_mu, NULL);
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&ks->done, &ca);
    pthread_condattr_destroy(&ca);
    pthread_cond_init(&ks->wake, NULL);
    atomic_init(&ks->fetches, 0);
    atomic_init(&ks->stop, false);
    ks->o = *opt;
    ks->o.pem_files = ks->o.jwks_files = ks->o.urls = NULL;
#define DEF(f, d) ks->o.f = ks->o.f ? ks->o.f : (d)
    DEF(default_ttl_s, 600);
    DEF(min_ttl_s, 60);
    DEF(max_ttl_s, 86400);
    DEF(max_stale_s, 86400);
    DEF(refetch_cooldown_s, 30);
    DEF(timeout_ms, 5000);
    DEF(max_body_bytes, TS_JOSE_MAX_JWKS_BYTES);
    DEF(max_wait_ms, 100);
#undef DEF
    if (ks->o.min_ttl_s > ks->o.max_ttl_s)
        ks->o.min_ttl_s = ks->o.max_ttl_s;

    size_t nfile = opt->n_pem_files + opt->n_jwks_files;
    ts_jwks **sets = calloc(nfile ? nfile : 1, sizeof *sets);
    if (!sets || !(ks->f = calloc(nfile ? nfile : 1, sizeof *ks->f))) {
        free(sets);
        goto oom;
    }
    bool ok = true;
    for (size_t i = 0; ok && i < opt->n_pem_files; i++) {
        ts_jwk *k = ts_jwk_load_file(opt->pem_files[i], err);
        ts_jwk *pub = k;
        ok = k && (ks->f[ks->nf].keys = ts_jwks_new(&pub, 1, err)) != NULL;
        ts_jwk_free(k);
        ks->nf += ok;
    }
    for (size_t i = 0; ok && i < opt->n_jwks_files; i++) {
        keyfile *f = &ks->f[ks->nf];
        /* The identity before the read: a change between the two is read at the next check. */
        f->id = ts_common__file_id_of(opt->jwks_files[i]);
        ok = (f->keys = ts_jwks_load_file(opt->jwks_files[i], err)) != NULL;
        if (ok && !(f->path = strdup(opt->jwks_files[i]))) {
            ts_jwks_free(f->keys);
            f->keys = NULL;
            free(sets);
            goto oom;
        }
        ks->nf += ok;
    }
    for (size_t i = 0; i < ks->nf; i++)
        sets[i] = ks->f[i].keys;
    if (ok)
        ks->file_keys = ts_jwks_merge((const ts_jwks *const *)sets, ks->nf, err);
    free(sets);
    if (!ok || !ks->file_keys) {
        ts_authn_keysource_free(ks);
        return NULL;
    }
    ks->merged = ts_jwks_ref(ks->file_keys);
    if (opt->n_urls) {
        ks->r = calloc(opt->n_urls, sizeof *ks->r);
        if (!ks->r)
            goto oom;
        for (size_t i = 0; i < opt->n_urls; i++) {
            if (!ts_common__http_url_allowed(opt->urls[i], opt->allow_insecure_http)) {
                ts_error_set(err, TS_EINVAL, opt->urls[i] ? opt->urls[i] : "urls",
                             "JWKS URL must be https:// (or http:// on loopback)");
                ts_authn_keysource_free(ks);
                return NULL;
            }
            if (!(ks->r[i].url = strdup(opt->urls[i])))
                goto oom;
            ks->nr = i + 1;
        }
        if (ts_common__http_init(err) != TS_OK) {
            ts_authn_keysource_free(ks);
            return NULL;
        }
        /* The fetch thread starts with every signal blocked: the application's signals go to
           its own threads, never to one it does not know about. */
        sigset_t all, old;
        sigfillset(&all);
        pthread_sigmask(SIG_SETMASK, &all, &old);
        int rc = pthread_create(&ks->worker, NULL, worker_main, ks);
        pthread_sigmask(SIG_SETMASK, &old, NULL);
        if (rc != 0) {
            ts_authn_keysource_free(ks);
            ts_error_set(err, TS_EINTERNAL, "ts_authn_keysource_new",
                         "cannot start the JWKS fetch thread");
            return NULL;
        }
        ks->have_worker = true;
    }
    return ks;
oom:
    ts_authn_keysource_free(ks);
    ts_error_set(err, TS_ENOMEM, "ts_authn_keysource_new", "out of memory");
    return NULL;
}

unsigned long ts_authn_keysource_fetch_count(const ts_authn_keysource *ks)
{
    return ks ? atomic_load(&ks->fetches) : 0;
}

/* Rebuild the merged set from file keys and the remote sets still within max_stale_s. */
static void rebuild_locked(ts_authn_keysource *ks, int64_t now)
{
    size_t n = 0;
    const ts_jwks *sets[1 + 64];
    sets[n++] = ks->file_keys;
    for (size_t i = 0; i < ks->nr && n < sizeof sets / sizeof sets[0]; i++) {
        remote *r = &ks->r[i];
        if (r->keys && now - r->fetched > s_to_ms(ks->o.max_stale_s)) {
            ts_jwks_free(r->keys);
            r->keys = NULL;
        }
        if (r->keys)
            sets[n++] = r->keys;
    }
    ts_jwks *m = ts_jwks_merge(sets, n, NULL);
    if (!m) {
        /* Two URLs disagreeing about a kid: keep file keys plus the first remote set that
           merges cleanly rather than no keys at all. */
        m = ts_jwks_ref(ks->file_keys);
        for (size_t i = 1; i < n; i++) {
            const ts_jwks *two[2] = {m, sets[i]};
            ts_jwks *t = ts_jwks_merge(two, 2, NULL);
            if (t) {
                ts_jwks_free(m);
                m = t;
            }
        }
    }
    ts_jwks_free(ks->merged);
    ks->merged = m;
}

/* Read again the JWKS files that changed since they were read (a stat each), and install their
   union. A file that cannot be read or parsed now, or whose keys conflict with another file's,
   leaves the last good keys of every file in place and is tried again at the next check; the
   first such failure goes to @p err. Called without mu. */
static ts_status check_files(ts_authn_keysource *ks, ts_error *err)
{
    ts_status st = TS_OK;
    pthread_mutex_lock(&ks->file_mu);
    pthread_mutex_lock(&ks->mu);
    ks->files_checked = mono_ms();
    pthread_mutex_unlock(&ks->mu);
    ts_jwks **sets = calloc(ks->nf ? ks->nf : 1, sizeof *sets);
    ts_common__file_id *seen = calloc(ks->nf ? ks->nf : 1, sizeof *seen);
    if (!sets || !seen) {
        st = ts_error_set(err, TS_ENOMEM, "keysource", "out of memory");
        goto out;
    }
    bool changed = false;
    for (size_t i = 0; i < ks->nf; i++) {
        const keyfile *f = &ks->f[i];
        sets[i] = f->keys;
        if (!f->path)
            continue;
        ts_error fe;
        ts_error_clear(&fe);
        seen[i] = ts_common__file_id_of(f->path);
        if (!seen[i].ok) {
            if (st == TS_OK)
                st = ts_error_set(err, TS_EIO, f->path, "cannot stat the JWKS file: %s",
                                  strerror(errno));
            continue;
        }
        if (ts_common__file_id_same(&f->id, &seen[i]))
            continue;
        ts_jwks *fresh = ts_jwks_load_file(f->path, &fe);
        if (!fresh) {
            if (st == TS_OK)
                st = ts_error_set(err, fe.code, fe.where, "%s (the last good keys stay)", fe.msg);
            continue;
        }
        sets[i] = fresh;
        changed = true;
    }
    if (!changed)
        goto out;
    ts_error me;
    ts_error_clear(&me);
    ts_jwks *all = ts_jwks_merge((const ts_jwks *const *)sets, ks->nf, &me);
    if (!all) {
        if (st == TS_OK)
            st = ts_error_set(err, me.code, "jwks_files", "%s (the last good keys stay)", me.msg);
    } else {
        /* Commit: each re-read file takes its new keys and identity. */
        for (size_t i = 0; i < ks->nf; i++) {
            keyfile *f = &ks->f[i];
            if (sets[i] == f->keys)
                continue;
            ts_jwks_free(f->keys);
            f->keys = sets[i];
            f->id = seen[i];
            sets[i] = NULL;
        }
        pthread_mutex_lock(&ks->mu);
        ts_jwks_free(ks->file_keys);
        ks->file_keys = all;
        rebuild_locked(ks, mono_ms());
        pthread_mutex_unlock(&ks->mu);
    }
    for (size_t i = 0; i < ks->nf; i++)
        if (sets[i] && sets[i] != ks->f[i].keys)
            ts_jwks_free(sets[i]);
out:
    free(sets);
    free(seen);
    pthread_mutex_unlock(&ks->file_mu);
    return st;
}

/* Whether the files are due for a check on an unknown kid: at most once per cooldown. */
static bool files_due(ts_authn_keysource *ks)
{
    if (!ks->o.n_jwks_files)
        return false;
    pthread_mutex_lock(&ks->mu);
    int64_t now = mono_ms();
    bool due =
        ks->files_checked == 0 || now - ks->files_checked >= s_to_ms(ks->o.refetch_cooldown_s);
    if (due)
        ks->files_checked = now; /* claimed: concurrent unknown kids do not check again */
    pthread_mutex_unlock(&ks->mu);
    return due;
}

/* Fetch every URL (the caller owns the single flight: ks->fetching was set under mu). */
static ts_status fetch_all(ts_authn_keysource *ks, ts_error *err)
{
    ts_status st = TS_OK;
    for (size_t i = 0; i < ks->nr && !atomic_load(&ks->stop); i++) {
        unsigned ttl = 0;
        ts_error fe;
        ts_error_clear(&fe);
        ts_jwks *set = ts_authn__jwks_fetch(ks->r[i].url, &ks->o, &ks->stop, &ttl, &fe);
        atomic_fetch_add(&ks->fetches, 1);
        int64_t now = mono_ms();
        pthread_mutex_lock(&ks->mu);
        if (set) {
            ts_jwks_free(ks->r[i].keys);
            ks->r[i].keys = set;
            ks->r[i].fetched = now;
            ks->r[i].fresh_until = now + s_to_ms(ttl);
        } else {
            /* Retry a failing URL only after the cooldown, not on every request. */
            ks->r[i].fresh_until = now + s_to_ms(ks->o.refetch_cooldown_s);
            if (st == TS_OK) {
                st = fe.code;
                ts_error_set(err, fe.code, fe.where, "%s", fe.msg);
            }
        }
        pthread_mutex_unlock(&ks->mu);
    }
    return st;
}

/* Run one fetch on this thread. Called with mu held and ks->fetching set; returns with mu held,
   the fetch recorded and waiters woken. */
static ts_status fetch_now_locked(ts_authn_keysource *ks, ts_error *err)
{
    ks->last_attempt = mono_ms();
    pthread_mutex_unlock(&ks->mu);
    ts_error fe;
    ts_error_clear(&fe);
    ts_status st = fetch_all(ks, &fe);
    if (st != TS_OK)
        ts_error_set(err, fe.code, fe.where, "%s", fe.msg);
    pthread_mutex_lock(&ks->mu);
    ks->last_error = fe;
    /* The cooldown runs from the end of the attempt: a fetch that took the whole timeout is
       not followed at once by another one. */
    ks->last_attempt = mono_ms();
    rebuild_locked(ks, ks->last_attempt);
    ks->fetching = false;
    ks->completed++;
    pthread_cond_broadcast(&ks->done);
    pthread_cond_signal(&ks->wake); /* a fetch asked for meanwhile can start now */
    return st;
}

/* The background thread: one fetch whenever one is wanted, until the key source is freed. */
static void *worker_main(void *arg)
{
    ts_authn_keysource *ks = arg;
    pthread_mutex_lock(&ks->mu);
    for (;;) {
        while (!ks->stopping && !(ks->wanted && !ks->fetching))
            pthread_cond_wait(&ks->wake, &ks->mu);
        if (ks->stopping)
            break;
        ks->wanted = false;
        ks->fetching = true;
        (void)fetch_now_locked(ks, NULL); /* a failure is kept in last_error */
    }
    pthread_mutex_unlock(&ks->mu);
    return NULL;
}

/* Ask the background thread for a fetch (single flight: nothing when one is due or running). */
static void want_fetch_locked(ts_authn_keysource *ks)
{
    if (ks->fetching || ks->wanted)
        return;
    ks->wanted = true;
    pthread_cond_signal(&ks->wake);
}

/* Wait until the fetch due or running ends, at most @p ms milliseconds (UINT_MAX: no limit).
   Called with mu held. */
static void wait_fetch_locked(ts_authn_keysource *ks, unsigned ms)
{
    uint64_t seen = ks->completed;
    struct timespec dl;
    clock_gettime(CLOCK_MONOTONIC, &dl);
    dl.tv_sec += (time_t)(ms / 1000);
    dl.tv_nsec += (long)(ms % 1000) * 1000000L;
    if (dl.tv_nsec >= 1000000000L) {
        dl.tv_sec++;
        dl.tv_nsec -= 1000000000L;
    }
    while (ks->completed == seen && (ks->fetching || ks->wanted) && !ks->stopping) {
        if (ms == UINT_MAX)
            pthread_cond_wait(&ks->done, &ks->mu);
        else if (pthread_cond_timedwait(&ks->done, &ks->mu, &dl) == ETIMEDOUT)
            break;
    }
}

ts_status ts_authn_keysource_refresh(ts_authn_keysource *ks, ts_error *err)
{
    if (!ks)
        return ts_error_set(err, TS_EINVAL, "ts_authn_keysource_refresh", "NULL key source");
    ts_status fst = ks->o.n_jwks_files ? check_files(ks, err) : TS_OK;
    if (!ks->nr)
        return fst;
    pthread_mutex_lock(&ks->mu);
    /* One fetch at a time: wait for one in progress, then fetch now on this thread, so that
       the result describes the upstream as it is after this call began. */
    while (ks->fetching)
        pthread_cond_wait(&ks->done, &ks->mu);
    ks->fetching = true;
    ks->wanted = false; /* this fetch answers a pending request too */
    ts_status st = fetch_now_locked(ks, err);
    pthread_mutex_unlock(&ks->mu);
    return fst != TS_OK ? fst : st;
}

static ts_jwks *current_locked(ts_authn_keysource *ks, ts_error *err)
{
    if (ts_jwks_count(ks->merged) == 0) {
        if (ks->last_error.code != TS_OK) /* say why: the URL and what went wrong */
            ts_error_set(err, ks->last_error.code, ks->last_error.where, "%s", ks->last_error.msg);
        else
            ts_error_set(err, TS_ENOTFOUND, "keysource", "no keys available");
        return NULL;
    }
    return ts_jwks_ref(ks->merged);
}

ts_jwks *ts_authn_keysource_keys(ts_authn_keysource *ks, ts_error *err)
{
    if (!ks)
        return NULL;
    pthread_mutex_lock(&ks->mu);
    if (ks->nr) {
        int64_t now = mono_ms();
        bool stale = false;
        for (size_t i = 0; i < ks->nr; i++)
            stale |= now >= ks->r[i].fresh_until;
        if (stale) {
            /* Stale-while-revalidate: the refetch runs in the background. Without any key a
               caller waits for it: for the whole first fetch (nothing was ever fetched), else
               at most max_wait_ms. */
            want_fetch_locked(ks);
            if (ts_jwks_count(ks->merged) == 0)
                wait_fetch_locked(ks, ks->completed == 0 ? UINT_MAX : ks->o.max_wait_ms);
        } else {
            /* Only a remote set past its hard age changes the merged set here. */
            bool aged = false;
            for (size_t i = 0; i < ks->nr; i++)
                aged |= ks->r[i].keys && now - ks->r[i].fetched > s_to_ms(ks->o.max_stale_s);
            if (aged)
                rebuild_locked(ks, now);
        }
    }
    ts_jwks *s = current_locked(ks, err);
    pthread_mutex_unlock(&ks->mu);
    return s;
}

ts_jwks *ts_authn_keysource_keys_for_unknown_kid(ts_authn_keysource *ks, ts_error *err)
{
    if (!ks)
        return NULL;
    /* A local stat (a read only when the file changed): done here, on the verifying thread. A
       failure keeps the last good keys; ts_authn_keysource_refresh() reports it. */
    if (files_due(ks))
        (void)check_files(ks, NULL);
    pthread_mutex_lock(&ks->mu);
    if (ks->nr) {
        int64_t now = mono_ms();
        if (ks->last_attempt == 0 || now - ks->last_attempt >= s_to_ms(ks->o.refetch_cooldown_s))
            want_fetch_locked(ks);
        /* A fetch due or running may bring the kid: wait for it, but only briefly. */
        wait_fetch_locked(ks, ks->o.max_wait_ms);
    }
    ts_jwks *s = current_locked(ks, err);
    pthread_mutex_unlock(&ks->mu);
    return s;
}
