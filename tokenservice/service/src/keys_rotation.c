/* One rotation step of a key directory (keys_rotation.h): adopt what the directory holds,
 * retire keys whose tokens have all expired, publish a next key ahead of its use, promote it.
 * Every step runs under an exclusive flock on rotation.lock, so that replicas sharing the
 * directory never take the same step twice; the others see its result on their next check. */
#define _POSIX_C_SOURCE 200809L

#include "keys_rotation.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "common/file.h"
#include "keys.h"

ts_svc_rotation_key *ts_svc__rotation_find(ts_svc_rotation_state *st, const char *kid)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->keys[i].state != TS_SVC_KEY_RETIRED && strcmp(st->keys[i].kid, kid) == 0)
            return &st->keys[i];
    return NULL;
}

ts_svc_rotation_key *ts_svc__rotation_find_state(ts_svc_rotation_state *st, ts_svc_key_state s)
{
    for (size_t i = 0; i < st->n; i++)
        if (st->keys[i].state == s)
            return &st->keys[i];
    return NULL;
}

/* Room for one more entry: the oldest retired entry goes first (it is history only). */
ts_svc_rotation_key *ts_svc__rotation_append(ts_svc_rotation_state *st, ts_error *err)
{
    size_t retired = 0, oldest = SIZE_MAX;
    for (size_t i = 0; i < st->n; i++) {
        if (st->keys[i].state != TS_SVC_KEY_RETIRED)
            continue;
        retired++;
        if (oldest == SIZE_MAX || st->keys[i].retired < st->keys[oldest].retired)
            oldest = i;
    }
    if ((st->n == TS_SVC_ROTATION_MAX_KEYS || retired >= TS_SVC_ROTATION_RETIRED_KEPT) &&
        oldest != SIZE_MAX) {
        memmove(&st->keys[oldest], &st->keys[oldest + 1],
                (st->n - oldest - 1) * sizeof st->keys[0]);
        st->n--;
    }
    if (st->n == TS_SVC_ROTATION_MAX_KEYS) {
        ts_error_set(err, TS_ELIMIT, "key dir", "more than %u keys", TS_SVC_ROTATION_MAX_KEYS);
        return NULL;
    }
    ts_svc_rotation_key *k = &st->keys[st->n++];
    memset(k, 0, sizeof *k);
    return k;
}

/* active.pem becomes a symlink to @p file (a name in the same directory), atomically: a
 * reader sees the old key or the new one, never none. */
static ts_status point_active(const char *dir, const char *file, ts_error *err)
{
    char tmp[PATH_MAX], dst[PATH_MAX];
    int a = snprintf(tmp, sizeof tmp, "%s/.active.pem.%ld.tmp", dir, (long)getpid());
    int b = snprintf(dst, sizeof dst, "%s/active.pem", dir);
    if (a < 0 || b < 0 || (size_t)a >= sizeof tmp || (size_t)b >= sizeof dst)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    unlink(tmp);
    if (symlink(file, tmp) != 0 || rename(tmp, dst) != 0) {
        int e = errno;
        unlink(tmp);
        return ts_error_set(err, TS_EIO, dst, "cannot point active.pem at %s: %s", file,
                            strerror(e));
    }
    return TS_OK;
}

/* A regular active.pem (a layout made by hand) gets a name of its own, <kid>.pem, so that the
 * symlink can move away from it without the key leaving the directory. */
static ts_status name_active_file(const char *dir, const char *kid, char *name, size_t cap,
                                  ts_error *err)
{
    char src[PATH_MAX], dst[PATH_MAX];
    int a = snprintf(src, sizeof src, "%s/active.pem", dir);
    int b = snprintf(dst, sizeof dst, "%s/%s.pem", dir, kid);
    if (a < 0 || b < 0 || (size_t)a >= sizeof src || (size_t)b >= sizeof dst)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    if (link(src, dst) != 0 && errno != EEXIST)
        return ts_error_set(err, TS_EIO, dst, "cannot name the active key: %s", strerror(errno));
    snprintf(name, cap, "%s.pem", kid);
    return TS_OK;
}

static ts_status retire_file(void *ud, ts_svc_rotation_key *k, bool del, ts_error *err)
{
    const char *dir = ud;
    char src[PATH_MAX];
    int a = snprintf(src, sizeof src, "%s/%s", dir, k->file);
    if (a < 0 || (size_t)a >= sizeof src)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    if (del) {
        if (unlink(src) != 0 && errno != ENOENT)
            return ts_error_set(err, TS_EIO, src, "cannot delete a retired key: %s",
                                strerror(errno));
        return TS_OK;
    }
    char adir[PATH_MAX], dst[PATH_MAX];
    a = snprintf(adir, sizeof adir, "%s/%s", dir, TS_SVC_ROTATION_ARCHIVE_DIR);
    int b = snprintf(dst, sizeof dst, "%s/%s", adir, k->file);
    if (a < 0 || b < 0 || (size_t)a >= sizeof adir || (size_t)b >= sizeof dst)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    ts_status rc = ts_common__mkdir_one(adir, 0700, err);
    if (rc != TS_OK)
        return rc;
    /* The archive is outside what the key set reads (one level, *.pem): the key is no longer
     * published, yet an operator can still look at tokens it signed. */
    if (rename(src, dst) != 0 && errno != ENOENT)
        return ts_error_set(err, TS_EIO, src, "cannot archive a retired key: %s", strerror(errno));
    char moved[sizeof k->file + sizeof TS_SVC_ROTATION_ARCHIVE_DIR];
    int m = snprintf(moved, sizeof moved, "%s/%s", TS_SVC_ROTATION_ARCHIVE_DIR, k->file);
    if (m > 0 && (size_t)m < sizeof k->file)
        memcpy(k->file, moved, (size_t)m + 1);
    return TS_OK;
}

void ts_svc__rotation_demote(ts_svc_rotation_key *k, const ts_svc_rotation_policy *p, int64_t now)
{
    k->state = TS_SVC_KEY_RETIRING;
    k->deactivated = now;
    /* A replica may sign with it until its next check; each token it signs lives at most the
     * policy's lifetime (which carries the verifiers' leeway). */
    k->retires_at = now + TS_SVC_ROTATION_CHECK_S + p->token_lifetime_s;
}

/* Make the state agree with the directory: the key that signs is active, keys rotation never
 * saw are retiring (they may have signed until now), keys gone from the directory are retired. */
static ts_status reconcile(const char *dir, ts_svc_rotation_state *st,
                           const ts_svc_rotation_file *files, size_t nf, const char *active_kid,
                           const ts_svc_rotation_policy *p, int64_t now, bool *changed,
                           ts_error *err)
{
    for (size_t i = 0; i < st->n; i++) {
        ts_svc_rotation_key *k = &st->keys[i];
        if (k->state == TS_SVC_KEY_RETIRED)
            continue;
        bool present = false;
        for (size_t j = 0; j < nf && !present; j++)
            present = strcmp(files[j].kid, k->kid) == 0;
        if (!present) {
            k->state = TS_SVC_KEY_RETIRED;
            k->retired = now;
            *changed = true;
        } else if (k->state == TS_SVC_KEY_ACTIVE && strcmp(k->kid, active_kid) != 0) {
            ts_svc__rotation_demote(k, p, now); /* active.pem was moved by hand */
            *changed = true;
        }
    }
    for (size_t j = 0; j < nf; j++) {
        ts_svc_rotation_key *k = ts_svc__rotation_find(st, files[j].kid);
        bool is_active = strcmp(files[j].kid, active_kid) == 0;
        if (!k) {
            if (!(k = ts_svc__rotation_append(st, err)))
                return err && err->code ? err->code : TS_ELIMIT;
            snprintf(k->kid, sizeof k->kid, "%s", files[j].kid);
            snprintf(k->alg, sizeof k->alg, "%s", files[j].alg);
            k->created = now;
            if (is_active) {
                k->state = TS_SVC_KEY_ACTIVE;
                k->activated = now;
            } else {
                ts_svc__rotation_demote(k, p, now);
            }
            *changed = true;
        } else if (is_active && k->state != TS_SVC_KEY_ACTIVE) {
            k->state = TS_SVC_KEY_ACTIVE; /* promoted by hand */
            k->activated = now;
            k->deactivated = k->retires_at = 0;
            *changed = true;
        }
        if (strcmp(k->file, files[j].name) != 0) {
            snprintf(k->file, sizeof k->file, "%s", files[j].name);
            *changed = true;
        }
    }
    (void)dir;
    return TS_OK;
}

ts_jws_alg ts_svc__rotation_new_alg(const ts_svc_rotation_policy *p,
                                    const ts_svc_rotation_key *active)
{
    if (p->alg != TS_JWS_ALG_UNKNOWN)
        return p->alg;
    if (active && strcmp(active->alg, "ES256") == 0)
        return TS_JWS_ES256;
    if (active && strcmp(active->alg, "ES384") == 0)
        return TS_JWS_ES384;
    return TS_JWS_PS256;
}

static ts_status generate_next(void *ud, ts_svc_rotation_state *st, const ts_svc_rotation_policy *p,
                               const ts_svc_rotation_key *active, int64_t now,
                               ts_svc_rotation_key **out, ts_error *err)
{
    const char *dir = ud;
    ts_jws_alg alg = ts_svc__rotation_new_alg(p, active);
    char path[PATH_MAX];
    ts_status rc = ts_svc_key_generate_dir(dir, alg, path, sizeof path, err);
    if (rc != TS_OK)
        return rc;
    ts_svc_rotation_key *k = ts_svc__rotation_append(st, err);
    if (!k)
        return err && err->code ? err->code : TS_ELIMIT;
    const char *base = strrchr(path, '/');
    base = base ? base + 1 : path;
    size_t bl = strlen(base);
    if (bl >= sizeof k->file || bl < 5) {
        st->n--;
        return ts_error_set(err, TS_EINVAL, path, "unexpected key file name");
    }
    memcpy(k->file, base, bl + 1);
    snprintf(k->kid, sizeof k->kid, "%.*s", (int)(bl - 4), base); /* <kid>.pem */
    snprintf(k->alg, sizeof k->alg, "%s",
             alg == TS_JWS_ES256   ? "ES256"
             : alg == TS_JWS_ES384 ? "ES384"
                                   : "RSA");
    k->state = TS_SVC_KEY_NEXT;
    k->created = now;
    *out = k;
    return TS_OK;
}

/* The earliest moment a next key made at @p created may sign: every replica has served it
 * (one check) and every verifier's cached JWKS has expired since (the window). */
static int64_t signs_from(const ts_svc_rotation_policy *p, int64_t created)
{
    return created + TS_SVC_ROTATION_CHECK_S + p->prepublish_s;
}

/* active.pem follows the promoted key. */
static ts_status promote_file(void *ud, const ts_svc_rotation_key *k, ts_error *err)
{
    return point_active(ud, k->file, err);
}

ts_status ts_svc__rotation_advance(const ts_svc__rotation_ops *ops, ts_svc_rotation_state *st,
                                   const ts_svc_rotation_policy *p, int64_t now, unsigned flags,
                                   ts_svc_rotation_report *r, ts_error *err)
{
    ts_status rc;
    bool by_hand = flags & TS_SVC_ROTATE_BY_HAND, force = by_hand && (flags & TS_SVC_ROTATE_FORCE);
    for (size_t i = 0; i < st->n; i++) {
        ts_svc_rotation_key *k = &st->keys[i];
        if (k->state != TS_SVC_KEY_RETIRING || k->retires_at > now)
            continue;
        if ((rc = ops->retire(ops->ud, k, p->retire_delete, err)) != TS_OK)
            return rc;
        k->state = TS_SVC_KEY_RETIRED;
        k->retired = now;
        r->retired++;
        r->changed = true;
    }
    ts_svc_rotation_key *active = ts_svc__rotation_find_state(st, TS_SVC_KEY_ACTIVE);
    ts_svc_rotation_key *next = ts_svc__rotation_find_state(st, TS_SVC_KEY_NEXT);
    bool auto_on = p->interval_s > 0 && active;
    int64_t due = auto_on ? active->activated + p->interval_s : 0;
    /* The next key is made early enough that it may sign when the active key's time is up. */
    bool make =
        !next && (by_hand || (auto_on && now >= due - p->prepublish_s - TS_SVC_ROTATION_CHECK_S));
    bool made_now = false;
    if (make) {
        if ((rc = ops->make(ops->ud, st, p, active, now, &next, err)) != TS_OK)
            return rc;
        active = ts_svc__rotation_find_state(
            st, TS_SVC_KEY_ACTIVE); /* append() may have moved entries */
        snprintf(r->generated, sizeof r->generated, "%s", next->kid);
        r->changed = true;
        made_now = true;
    }
    bool ready = next && now >= signs_from(p, next->created);
    bool promote =
        next && (force || (ready && ((by_hand && !made_now) || (auto_on && now >= due))));
    if (promote) {
        if ((rc = ops->promote(ops->ud, next, err)) != TS_OK)
            return rc;
        if (active) {
            ts_svc__rotation_demote(active, p, now);
            snprintf(r->demoted, sizeof r->demoted, "%s", active->kid);
        }
        next->state = TS_SVC_KEY_ACTIVE;
        next->activated = now;
        snprintf(r->promoted, sizeof r->promoted, "%s", next->kid);
        r->changed = true;
        active = next;
        next = NULL;
    } else if (by_hand && next && !made_now && !ready) {
        char when[32] = "?";
        time_t t = (time_t)signs_from(p, next->created);
        struct tm tm;
        if (gmtime_r(&t, &tm))
            strftime(when, sizeof when, "%Y-%m-%dT%H:%M:%SZ", &tm);
        return ts_error_set(err, TS_EINVAL, next->kid,
                            "the next key may sign from %s (its pre-publication window); --force "
                            "promotes it now",
                            when);
    }
    if (active)
        snprintf(r->active_kid, sizeof r->active_kid, "%s", active->kid);
    if (next)
        r->next_action_at = signs_from(p, next->created) > due ? signs_from(p, next->created) : due;
    else if (auto_on)
        r->next_action_at = due - p->prepublish_s - TS_SVC_ROTATION_CHECK_S;
    for (size_t i = 0; i < st->n; i++) {
        const ts_svc_rotation_key *k = &st->keys[i];
        if (k->state == TS_SVC_KEY_RETIRING &&
            (!r->next_action_at || k->retires_at < r->next_action_at))
            r->next_action_at = k->retires_at;
    }
    return TS_OK;
}

int ts_svc__rotation_lock(const char *dir, ts_error *err)
{
    if (ts_common__mkdir_one(dir, 0700, err) != TS_OK)
        return -1;
    char path[PATH_MAX];
    int n = snprintf(path, sizeof path, "%s/%s", dir, TS_SVC_ROTATION_LOCK_FILE);
    if (n < 0 || (size_t)n >= sizeof path) {
        ts_error_set(err, TS_EINVAL, dir, "path too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
    if (fd < 0) {
        ts_error_set(err, TS_EIO, path, "cannot open the rotation lock: %s", strerror(errno));
        return -1;
    }
    /* A new open file description per step: flock() then also excludes other threads of this
     * process (two keyrings on one directory), not only other processes. */
    while (flock(fd, LOCK_EX) != 0) {
        if (errno != EINTR) {
            ts_error_set(err, TS_EIO, path, "cannot lock: %s", strerror(errno));
            close(fd);
            return -1;
        }
    }
    return fd;
}

ts_status ts_svc_rotation_step(const char *dir, const ts_svc_rotation_policy *p, int64_t now,
                               unsigned flags, ts_svc_rotation_report *out, ts_error *err)
{
    ts_svc_rotation_report r;
    memset(&r, 0, sizeof r);
    if (out)
        *out = r;
    if (!dir || !*dir || !p)
        return ts_error_set(err, TS_EINVAL, "key rotation", "no key directory");
    ts_status rc = TS_OK;
    int fd = ts_svc__rotation_lock(dir, err);
    if (fd < 0)
        return err && err->code ? err->code : TS_EIO;
    ts_svc_rotation_state *s = calloc(1, sizeof *s);
    ts_svc_rotation_file *files = calloc(TS_SVC_ROTATION_MAX_KEYS, sizeof *files);
    if (!s || !files) {
        rc = ts_error_set(err, TS_ENOMEM, dir, "out of memory");
        goto done;
    }
    char active_kid[TS_JOSE_THUMBPRINT_LEN + 1];
    bool is_link = false;
    size_t nf = 0;
    if ((rc = ts_svc__rotation_load(dir, s, err)) != TS_OK ||
        (rc = ts_svc__rotation_scan(dir, s, files, TS_SVC_ROTATION_MAX_KEYS, &nf, active_kid,
                                    &is_link, err)) != TS_OK)
        goto done;
    for (size_t i = 0; i < s->n; i++) {
        /* A token's keys are not files: this step would take them for deleted ones. */
        if (s->keys[i].label[0] && s->keys[i].state != TS_SVC_KEY_RETIRED) {
            rc = ts_error_set(err, TS_EINVAL, dir,
                              "%s holds the rotation state of keys in a PKCS#11 token "
                              "(keyBackend pkcs11): give the key files a keyDir of their own",
                              TS_SVC_ROTATION_STATE_FILE);
            goto done;
        }
    }
    if (!active_kid[0]) {
        /* An empty directory: its first key, as the service would make it. */
        ts_svc_rotation_key *none = NULL;
        ts_svc_rotation_key *k = NULL;
        if ((rc = generate_next((void *)(uintptr_t)dir, s, p, none, now, &k, err)) != TS_OK)
            goto done;
        s->n--; /* adopted below, as active */
        if ((rc = ts_svc__rotation_scan(dir, s, files, TS_SVC_ROTATION_MAX_KEYS, &nf, active_kid,
                                        &is_link, err)) != TS_OK)
            goto done;
    }
    bool found = false;
    for (size_t j = 0; j < nf && !found; j++)
        found = strcmp(files[j].kid, active_kid) == 0;
    if (!found) {
        /* active.pem is a file of its own: give it a name the symlink can point at. */
        if (nf == TS_SVC_ROTATION_MAX_KEYS) {
            rc = ts_error_set(err, TS_ELIMIT, dir, "too many keys");
            goto done;
        }
        ts_svc_rotation_file *f = &files[nf];
        if ((rc = name_active_file(dir, active_kid, f->name, sizeof f->name, err)) != TS_OK)
            goto done;
        snprintf(f->kid, sizeof f->kid, "%s", active_kid);
        snprintf(f->alg, sizeof f->alg, "?");
        nf++;
        is_link = false;
    }
    if ((rc = reconcile(dir, s, files, nf, active_kid, p, now, &r.changed, err)) != TS_OK)
        goto done;
    if (!is_link) {
        const ts_svc_rotation_key *a = ts_svc__rotation_find(s, active_kid);
        if ((rc = point_active(dir, a->file, err)) != TS_OK)
            goto done;
        r.changed = true;
    }
    const ts_svc__rotation_ops ops = {(void *)(uintptr_t)dir, generate_next, promote_file,
                                      retire_file};
    if ((rc = ts_svc__rotation_advance(&ops, s, p, now, flags, &r, err)) != TS_OK)
        goto done;
    if (r.changed)
        rc = ts_svc__rotation_save(dir, s, err);
done:
    free(files);
    free(s);
    close(fd); /* releases the lock */
    if (out && rc == TS_OK)
        *out = r;
    return rc;
}

ts_status ts_svc_rotation_list(const char *dir, bool allow_insecure, ts_svc_rotation_key *keys,
                               size_t cap, size_t *n, ts_error *err)
{
    (void)allow_insecure; /* kids only: the key set's load judges modes */
    *n = 0;
    ts_svc_rotation_state *s = calloc(1, sizeof *s);
    ts_svc_rotation_file *files = calloc(TS_SVC_ROTATION_MAX_KEYS, sizeof *files);
    ts_status rc = TS_OK;
    if (!s || !files) {
        rc = ts_error_set(err, TS_ENOMEM, dir, "out of memory");
        goto done;
    }
    char active_kid[TS_JOSE_THUMBPRINT_LEN + 1];
    bool is_link = false;
    size_t nf = 0;
    if ((rc = ts_svc__rotation_load(dir, s, err)) != TS_OK ||
        (rc = ts_svc__rotation_scan(dir, s, files, TS_SVC_ROTATION_MAX_KEYS, &nf, active_kid,
                                    &is_link, err)) != TS_OK)
        goto done;
    /* What a step would adopt, without writing: a policy that retires nothing yet. */
    ts_svc_rotation_policy p = {0};
    bool changed = false;
    if (active_kid[0] &&
        (rc = reconcile(dir, s, files, nf, active_kid, &p, 0, &changed, err)) != TS_OK)
        goto done;
    for (size_t i = 0; i < s->n && *n < cap; i++)
        keys[(*n)++] = s->keys[i];
done:
    free(files);
    free(s);
    return rc;
}
