/*
 * Installing a policy bundle document into a policy directory: stage, verify with the authz
 * loader, swap `..data`, maintain the top-level links, clean up. The layout is a Kubernetes
 * ConfigMap volume's, which the fragment loader and the policy watchers already accept: the
 * one rename of `..data` is what makes a new policy appear to them all at once.
 */
#define _GNU_SOURCE /* mkdtemp, flock */

#include "policy_install.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <tokensmith/authz.h>

#include "common/file.h"

#define DATA "..data"
#define DATA_TMP "..data_tmp"
#define LINK_TMP "..link_tmp"
#define LOCK_NAME "..sync.lock"
#define MODEL_NAME "model.conf"

static bool join(char *out, size_t cap, const char *dir, const char *name)
{
    return (size_t)snprintf(out, cap, "%s/%s", dir, name) < cap;
}

static void sync_dir(const char *dir)
{
    int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd >= 0) {
        (void)fsync(fd);
        close(fd);
    }
}

int ts_cli_install_lock(const char *dir, ts_error *err)
{
    char path[PATH_MAX];
    if (!join(path, sizeof path, dir, LOCK_NAME)) {
        ts_error_set(err, TS_EINVAL, dir, "path too long");
        return -1;
    }
    int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) {
        ts_error_set(err, TS_EIO, path, "cannot open: %s", strerror(errno));
        return -1;
    }
    if (flock(fd, LOCK_EX | LOCK_NB) != 0) {
        int e = errno;
        close(fd);
        if (e == EWOULDBLOCK)
            ts_error_set(err, TS_EINVAL, NULL, "another policy sync holds %s", dir);
        else
            ts_error_set(err, TS_EIO, path, "cannot lock: %s", strerror(e));
        return -1;
    }
    return fd;
}

/* ---- loading what is there ------------------------------------------------------------------ */

/* Load @p dir as a service would, with @p model (or the baseline model); NULL on error. */
static ts_authz_bundle *load(const char *dir, const char *model, ts_error *err)
{
    ts_authz_source_options o = TS_AUTHZ_SOURCE_OPTIONS_INIT;
    o.policy_dir = dir;
    o.model_path = model;
    return ts_authz_bundle_load(&o, err);
}

void ts_cli_install_current(const char *dir, char version[TS_AUTHZ_POLICY_VERSION_LEN + 1])
{
    char data[PATH_MAX], model[PATH_MAX];
    struct stat st;
    version[0] = '\0';
    if (!join(data, sizeof data, dir, DATA) || lstat(data, &st) != 0 ||
        !join(model, sizeof model, dir, MODEL_NAME))
        return;
    ts_authz_bundle *b = load(dir, lstat(model, &st) == 0 ? model : NULL, NULL);
    if (b)
        memcpy(version, ts_authz_bundle_policy_version(b), TS_AUTHZ_POLICY_VERSION_LEN + 1);
    ts_authz_bundle_free(b);
}

/* ---- staging and verifying ----------------------------------------------------------------- */

/* Remove a stage directory of ours: the regular files in it, then itself. */
static void remove_stage(const char *path)
{
    DIR *d = opendir(path);
    if (d) {
        for (struct dirent *de; (de = readdir(d)) != NULL;)
            if (strcmp(de->d_name, ".") != 0 && strcmp(de->d_name, "..") != 0)
                (void)unlinkat(dirfd(d), de->d_name, 0);
        closedir(d);
    }
    (void)rmdir(path);
}

/* Write every file of @p doc (and model.conf) into the existing directory @p stage, each
 * written, synced and given mode 0644 whatever the umask: the services reading it may run as
 * other users. */
static ts_status write_files(const char *stage, const ts_cli_bundle_doc *doc, ts_error *err)
{
    char path[PATH_MAX];
    ts_status s = TS_OK;
    if (chmod(stage, 0755) != 0)
        return ts_error_set(err, TS_EIO, stage, "cannot set the mode: %s", strerror(errno));
    for (size_t i = 0; s == TS_OK && i <= doc->n_files; i++) {
        bool model = i == doc->n_files;
        if (model && !doc->model)
            break;
        if (!join(path, sizeof path, stage, model ? MODEL_NAME : doc->files[i].name))
            return ts_error_set(err, TS_EINVAL, stage, "path too long");
        s = ts_common__write_file_atomic_owned(path, model ? doc->model : doc->files[i].text,
                                               model ? doc->model_len : doc->files[i].len, 0644,
                                               (uid_t)-1, (gid_t)-1, err);
    }
    return s;
}

/* Load the staged files with the authz loader: the document's policy_version must be what its
 * files give (a tampered or truncated document, or a publisher with another baseline, stops
 * here) and every rule must fit the model (file:line). */
static ts_status verify(const char *stage, const ts_cli_bundle_doc *doc, ts_error *err)
{
    char model[PATH_MAX];
    if (!join(model, sizeof model, stage, MODEL_NAME))
        return ts_error_set(err, TS_EINVAL, stage, "path too long");
    ts_authz_bundle *b = load(stage, doc->model ? model : NULL, err);
    if (!b)
        return err ? err->code : TS_EINVAL;
    ts_status s = TS_OK;
    const char *got = ts_authz_bundle_policy_version(b);
    if (strcmp(got, doc->policy_version) != 0) {
        s = ts_error_set(err, TS_EINVAL, NULL,
                         "policy_version mismatch: document says %s, files give %s",
                         doc->policy_version, got);
    } else {
        ts_authz_enforcer *e = ts_authz_bundle_enforcer(b, err);
        if (!e)
            s = err ? err->code : TS_EINVAL;
        ts_authz_enforcer_free(e);
    }
    ts_authz_bundle_free(b);
    return s;
}

ts_status ts_cli_install_check(const char *tmp_parent, const ts_cli_bundle_doc *doc, ts_error *err)
{
    char stage[PATH_MAX];
    if (!join(stage, sizeof stage, tmp_parent, "tokensmith-bundle.XXXXXX"))
        return ts_error_set(err, TS_EINVAL, tmp_parent, "path too long");
    if (!mkdtemp(stage))
        return ts_error_set(err, TS_EIO, tmp_parent, "cannot create a directory: %s",
                            strerror(errno));
    ts_status s = write_files(stage, doc, err);
    if (s == TS_OK)
        s = verify(stage, doc, err);
    remove_stage(stage);
    return s;
}

/* ---- the directory --------------------------------------------------------------------------- */

/* Whether the top-level entry @p name of @p dir is one of our links (into ..data/); its
 * target, relative to @p dir, goes into @p target (@p cap bytes). */
static bool our_link(const char *dir, const char *name, char *target, size_t cap)
{
    char path[PATH_MAX];
    if (!join(path, sizeof path, dir, name))
        return false;
    ssize_t n = readlink(path, target, cap - 1);
    if (n < 0)
        return false;
    target[n] = '\0';
    return strncmp(target, DATA "/", sizeof DATA) == 0;
}

static bool fragment_entry(const char *name)
{
    size_t n = strlen(name);
    return name[0] != '.' && n > 4 && strcmp(name + n - 4, ".csv") == 0;
}

/* Everything the loader would read from @p dir must be ours: a regular file or a foreign link
 * named *.csv would be loaded next to the document's files, and replacing it would destroy
 * someone's file. Refused, naming it, before anything changes. */
static ts_status check_in_way(const char *dir, const ts_cli_bundle_doc *doc, ts_error *err)
{
    DIR *d = opendir(dir);
    if (!d)
        return ts_error_set(err, TS_EIO, dir, "cannot open directory: %s", strerror(errno));
    ts_status s = TS_OK;
    for (struct dirent *de; s == TS_OK && (de = readdir(d)) != NULL;) {
        bool watched =
            fragment_entry(de->d_name) || (doc->model && strcmp(de->d_name, MODEL_NAME) == 0);
        char path[PATH_MAX], target[PATH_MAX];
        if (watched && !our_link(dir, de->d_name, target, sizeof target)) {
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            s = ts_error_set(err, TS_EINVAL, NULL,
                             "%s: not installed by policy sync (a file, or a link that does not "
                             "point into " DATA "/): move it out of the directory",
                             path);
        }
    }
    closedir(d);
    return s;
}

/* DIR/@p name -> @p target, made as DIR/@p tmp and renamed into place, so that a reader sees
 * the old link or the new one, never none. */
static ts_status place_link(const char *dir, const char *tmp_name, const char *target,
                            const char *name, ts_error *err)
{
    char path[PATH_MAX], tmp[PATH_MAX];
    if (!join(path, sizeof path, dir, name) || !join(tmp, sizeof tmp, dir, tmp_name))
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    (void)unlink(tmp);
    if (symlink(target, tmp) != 0)
        return ts_error_set(err, TS_EIO, tmp, "cannot create link: %s", strerror(errno));
    if (rename(tmp, path) != 0) {
        int e = errno;
        (void)unlink(tmp);
        return ts_error_set(err, TS_EIO, path, "cannot rename into place: %s", strerror(e));
    }
    return TS_OK;
}

/* DIR/<name> -> ..data/<name>, unless it is that link already. */
static ts_status link_one(const char *dir, const char *name, ts_error *err)
{
    char path[PATH_MAX], target[PATH_MAX], have[PATH_MAX];
    if (!join(path, sizeof path, dir, name) || !join(target, sizeof target, DATA, name))
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    ssize_t n = readlink(path, have, sizeof have - 1);
    if (n >= 0 && (size_t)n == strlen(target) && memcmp(have, target, (size_t)n) == 0)
        return TS_OK;
    return place_link(dir, LINK_TMP, target, name, err);
}

static bool stage_name(const char *name)
{
    return name[0] == '.' && name[1] == '.' && name[2] >= '0' && name[2] <= '9';
}

/* After the swap: our links whose file the new ..data no longer has, and the stage
 * directories other than @p keep. Regular files and foreign links are never touched. */
static void clean_up(const char *dir, const char *keep)
{
    DIR *d = opendir(dir);
    if (!d)
        return;
    for (struct dirent *de; (de = readdir(d)) != NULL;) {
        char path[PATH_MAX], target[PATH_MAX], gone[PATH_MAX];
        struct stat st;
        if (!join(path, sizeof path, dir, de->d_name) || lstat(path, &st) != 0)
            continue;
        if (S_ISDIR(st.st_mode) && stage_name(de->d_name) && strcmp(de->d_name, keep) != 0)
            remove_stage(path);
        else if (S_ISLNK(st.st_mode) && de->d_name[0] != '.' &&
                 our_link(dir, de->d_name, target, sizeof target) &&
                 join(gone, sizeof gone, dir, target) && lstat(gone, &st) != 0)
            (void)unlink(path);
    }
    closedir(d);
}

/* "..2026_12_07_14_51_46.XXXXXX": the moment in UTC, as Kubernetes names its stages. */
static ts_status make_stage(const char *dir, char *name, size_t cap, char *path, size_t pcap,
                            ts_error *err)
{
    time_t now = time(NULL);
    struct tm tm;
    char stamp[32];
    if (!gmtime_r(&now, &tm) || strftime(stamp, sizeof stamp, "%Y_%m_%d_%H_%M_%S", &tm) == 0)
        return ts_error_set(err, TS_EINTERNAL, NULL, "cannot format the time");
    if ((size_t)snprintf(path, pcap, "%s/..%s.XXXXXX", dir, stamp) >= pcap)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    if (!mkdtemp(path))
        return ts_error_set(err, TS_EIO, dir, "cannot create a stage directory: %s",
                            strerror(errno));
    snprintf(name, cap, "%s", strrchr(path, '/') + 1);
    return TS_OK;
}

ts_cli_install_outcome ts_cli_install(const char *dir, const ts_cli_bundle_doc *doc,
                                      const char *current, const char *expect, ts_error *err)
{
    if (expect && strcmp(expect, doc->policy_version) != 0) {
        ts_error_set(err, TS_EINVAL, NULL, "policy_version %s is not the expected %s",
                     doc->policy_version, expect);
        return TS_CLI_INSTALL_REFUSED;
    }
    char name[64], stage[PATH_MAX];
    if (make_stage(dir, name, sizeof name, stage, sizeof stage, err) != TS_OK)
        return TS_CLI_INSTALL_FAILED;
    if (write_files(stage, doc, err) != TS_OK) {
        remove_stage(stage);
        return TS_CLI_INSTALL_FAILED;
    }
    sync_dir(stage);
    if (verify(stage, doc, err) != TS_OK) {
        remove_stage(stage);
        return TS_CLI_INSTALL_REFUSED;
    }
    /* Verified first: a document that claims the installed version while its files give
     * another is refused, not taken for "unchanged". One that is the installed policy (a
     * server without ETags sends it again) costs a load, never a swap. */
    if (current && strcmp(current, doc->policy_version) == 0) {
        remove_stage(stage);
        return TS_CLI_INSTALL_UNCHANGED;
    }
    if (check_in_way(dir, doc, err) != TS_OK) {
        remove_stage(stage);
        return TS_CLI_INSTALL_REFUSED;
    }
    /* The swap: DIR/..data_tmp -> <stage>, renamed over DIR/..data. */
    if (place_link(dir, DATA_TMP, name, DATA, err) != TS_OK) {
        remove_stage(stage);
        return TS_CLI_INSTALL_FAILED;
    }
    ts_status s = TS_OK;
    for (size_t i = 0; s == TS_OK && i < doc->n_files; i++)
        s = link_one(dir, doc->files[i].name, err);
    if (s == TS_OK && doc->model)
        s = link_one(dir, MODEL_NAME, err);
    clean_up(dir, name);
    sync_dir(dir);
    /* A link that could not be made leaves the new ..data in place (what the links that exist
     * point to is the new policy); the next document tries again. */
    return s == TS_OK ? TS_CLI_INSTALL_DONE : TS_CLI_INSTALL_FAILED;
}
