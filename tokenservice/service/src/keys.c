/* Signing keys: PEM loading, generation that never overwrites, key directories, and the key
 * set read from them or from a PKCS#11 token (immutable once built; keys_published.c swaps
 * sets on reload), and signing with the set's active key wherever it lives. */
#define _POSIX_C_SOURCE 200809L

#include "keys.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/file.h"
#include "keys_pkcs11.h"
#include "keys_rotation.h"

#define KEYRING_MAX 64u
#define KEY_PEM_MAX (64u * 1024u)

struct ts_svc_keyset {
    ts_jwk *keys[KEYRING_MAX];
    size_t n;
    size_t active;
    ts_jws_alg alg;
    char *jwks_json;
    char active_path[PATH_MAX];
    bool allow_insecure;       /* load key files that group or others may read */
    ts_svc_p11_key *token_key; /* pkcs11: the active key signs in the token (keys[0] public) */
};

static ts_jws_alg alg_for_key(const ts_jwk *key, ts_jws_alg want)
{
    if (ts_jwk_kty(key) == TS_JWK_EC) {
        const char *crv = ts_jwk_curve(key);
        if (crv && strcmp(crv, "P-256") == 0)
            return TS_JWS_ES256;
        if (crv && strcmp(crv, "P-384") == 0)
            return TS_JWS_ES384;
        return TS_JWS_ALG_UNKNOWN;
    }
    return (want == TS_JWS_RS256) ? TS_JWS_RS256 : TS_JWS_PS256;
}

static EVP_PKEY *keygen(ts_jws_alg alg, ts_error *err)
{
    EVP_PKEY *pk = NULL;
    switch (alg) {
    case TS_JWS_PS256:
    case TS_JWS_RS256:
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
        break;
    case TS_JWS_ES256:
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
        break;
    case TS_JWS_ES384:
        pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-384");
        break;
    default:
        ts_error_set(err, TS_EINVAL, "alg",
                     "cannot generate a key for %s (use PS256, RS256, "
                     "ES256 or ES384)",
                     ts_jws_alg_name(alg));
        return NULL;
    }
    if (!pk)
        ts_error_set(err, TS_EINTERNAL, "keygen", "OpenSSL key generation failed");
    return pk;
}

static ts_status write_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = write(fd, p, n);
        if (w < 0) {
            if (errno == EINTR)
                continue;
            return TS_EIO;
        }
        p += w;
        n -= (size_t)w;
    }
    return TS_OK;
}

ts_status ts_svc_key_generate_file(const char *path, ts_jws_alg alg, ts_jwk **out, ts_error *err)
{
    if (out)
        *out = NULL;
    if (!path || !*path)
        return ts_error_set(err, TS_EINVAL, "key file", "empty path");
    EVP_PKEY *pk = keygen(alg, err);
    if (!pk)
        return err ? err->code : TS_EINTERNAL;
    BIO *bio = BIO_new(BIO_s_mem());
    char *pem = NULL;
    long pem_len = 0;
    if (!bio || !PEM_write_bio_PrivateKey(bio, pk, NULL, NULL, 0, NULL, NULL) ||
        (pem_len = BIO_get_mem_data(bio, &pem)) <= 0) {
        BIO_free(bio);
        EVP_PKEY_free(pk);
        return ts_error_set(err, TS_EINTERNAL, path, "cannot encode the key as PEM");
    }
    EVP_PKEY_free(pk);
    /* O_EXCL: a key that exists is never replaced, even by a concurrent generator. */
    int fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600);
    if (fd < 0) {
        int e = errno;
        BIO_free(bio);
        return ts_error_set(err, TS_EIO, path, "cannot create key file: %s", strerror(e));
    }
    ts_status st = write_all(fd, pem, (size_t)pem_len);
    if (st == TS_OK && fsync(fd) != 0)
        st = TS_EIO;
    if (close(fd) != 0)
        st = TS_EIO;
    if (st != TS_OK) {
        BIO_free(bio);
        unlink(path);
        return ts_error_set(err, TS_EIO, path, "cannot write key file: %s", strerror(errno));
    }
    ts_jwk *key = ts_jwk_from_pem(pem, (size_t)pem_len, err);
    BIO_free(bio);
    if (!key)
        return err ? err->code : TS_EINTERNAL;
    if (out) {
        *out = ts_jwk_with(key, NULL, alg, err);
        ts_jwk_free(key);
        return *out ? TS_OK : (err ? err->code : TS_EINTERNAL);
    }
    ts_jwk_free(key);
    return TS_OK;
}

ts_status ts_svc_key_generate_dir(const char *dir, ts_jws_alg alg, char *path_out, size_t cap,
                                  ts_error *err)
{
    if (!dir || !*dir)
        return ts_error_set(err, TS_EINVAL, "key dir", "empty path");
    /* The one directory rule (common/file.h): one level, mode 0700. */
    ts_status st = ts_common__mkdir_one(dir, 0700, err);
    if (st != TS_OK)
        return st;
    /* Generate under a temporary unique name, then link to <kid>.pem (never replacing). */
    char tmp[PATH_MAX];
    unsigned char rnd[8];
    FILE *ur = fopen("/dev/urandom", "rb");
    if (!ur || fread(rnd, 1, sizeof rnd, ur) != sizeof rnd) {
        if (ur)
            fclose(ur);
        return ts_error_set(err, TS_EINTERNAL, dir, "no randomness");
    }
    fclose(ur);
    int n = snprintf(tmp, sizeof tmp, "%s/.new-%02x%02x%02x%02x%02x%02x%02x%02x.tmp", dir, rnd[0],
                     rnd[1], rnd[2], rnd[3], rnd[4], rnd[5], rnd[6], rnd[7]);
    if (n < 0 || (size_t)n >= sizeof tmp)
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    ts_jwk *key = NULL;
    if ((st = ts_svc_key_generate_file(tmp, alg, &key, err)) != TS_OK)
        return st;
    char final[PATH_MAX];
    n = snprintf(final, sizeof final, "%s/%s.pem", dir, ts_jwk_thumbprint(key));
    ts_jwk_free(key);
    if (n < 0 || (size_t)n >= sizeof final) {
        unlink(tmp);
        return ts_error_set(err, TS_EINVAL, dir, "path too long");
    }
    if (link(tmp, final) != 0) {
        int e = errno;
        unlink(tmp);
        return ts_error_set(err, TS_EIO, final, "cannot create key file: %s", strerror(e));
    }
    unlink(tmp);
    if (path_out && cap)
        snprintf(path_out, cap, "%s", final);
    return TS_OK;
}

/* A private key file must be readable by its owner alone: the key signs tokens for anyone. */
static ts_status check_mode(const char *path, bool allow_insecure, ts_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ts_error_set(err, TS_EIO, path, "cannot read key file: %s", strerror(errno));
    if ((sb.st_mode & 077) == 0 || allow_insecure)
        return TS_OK;
    return ts_error_set(err, TS_EINVAL, path,
                        "the signing key may be read by %s (mode %04o): chmod 600 it, or set "
                        "allowInsecureKeyPermissions",
                        (sb.st_mode & 007) ? "every user" : "its group",
                        (unsigned)(sb.st_mode & 07777));
}

static ts_jwk *load_private(const char *path, bool allow_insecure, ts_error *err)
{
    if (check_mode(path, allow_insecure, err) != TS_OK)
        return NULL;
    ts_jwk *key = ts_jwk_load_file(path, err);
    if (!key)
        return NULL;
    if (!ts_jwk_is_private(key)) {
        ts_jwk_free(key);
        ts_error_set(err, TS_EINVAL, path, "not a private key");
        return NULL;
    }
    if (ts_jwk_kty(key) == TS_JWK_EC &&
        alg_for_key(key, TS_JWS_ALG_UNKNOWN) == TS_JWS_ALG_UNKNOWN) {
        ts_jwk_free(key);
        ts_error_set(err, TS_EUNSUPPORTED, path, "EC curve %s is not supported (P-256, P-384)",
                     ts_jwk_curve(key) ? ts_jwk_curve(key) : "?");
        return NULL;
    }
    return key;
}

static ts_status add_key(ts_svc_keyset *kr, ts_jwk *key, ts_jws_alg want, ts_error *err)
{
    for (size_t i = 0; i < kr->n; i++) {
        if (strcmp(ts_jwk_thumbprint(kr->keys[i]), ts_jwk_thumbprint(key)) == 0) {
            ts_jwk_free(key);
            return TS_OK; /* active.pem symlinked to another file: one key */
        }
    }
    if (kr->n == KEYRING_MAX) {
        ts_jwk_free(key);
        return ts_error_set(err, TS_ELIMIT, "key dir", "more than %u keys", KEYRING_MAX);
    }
    ts_jwk *bound = ts_jwk_with(key, NULL, alg_for_key(key, want), err);
    ts_jwk_free(key);
    if (!bound)
        return err ? err->code : TS_EINTERNAL;
    kr->keys[kr->n++] = bound;
    return TS_OK;
}

static size_t find_kid(const ts_svc_keyset *kr, const char *thumb)
{
    for (size_t i = 0; i < kr->n; i++)
        if (strcmp(ts_jwk_thumbprint(kr->keys[i]), thumb) == 0)
            return i;
    return SIZE_MAX;
}

static bool is_pem_name(const char *name)
{
    size_t l = strlen(name);
    return name[0] != '.' && l > 4 && strcmp(name + l - 4, ".pem") == 0;
}

static ts_status open_dir(ts_svc_keyset *kr, const char *dir, ts_jws_alg want, ts_error *err)
{
    DIR *d = opendir(dir);
    if (!d && errno != ENOENT)
        return ts_error_set(err, TS_EIO, dir, "cannot read key directory: %s", strerror(errno));
    char newest_name[NAME_MAX + 1] = "";
    char newest_thumb[TS_JOSE_THUMBPRINT_LEN + 1] = "";
    char active_thumb[TS_JOSE_THUMBPRINT_LEN + 1] = "";
    struct timespec newest_t = {0, 0};
    ts_status st = TS_OK;
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (!is_pem_name(de->d_name))
                continue;
            char path[PATH_MAX];
            int n = snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            if (n < 0 || (size_t)n >= sizeof path) {
                st = ts_error_set(err, TS_EINVAL, dir, "path too long");
                break;
            }
            struct stat sb;
            if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
                continue;
            ts_jwk *key = load_private(path, kr->allow_insecure, err);
            if (!key) {
                st = err ? err->code : TS_EINVAL;
                break;
            }
            char thumb[TS_JOSE_THUMBPRINT_LEN + 1];
            snprintf(thumb, sizeof thumb, "%s", ts_jwk_thumbprint(key));
            if ((st = add_key(kr, key, want, err)) != TS_OK)
                break;
            if (strcmp(de->d_name, "active.pem") == 0) {
                snprintf(active_thumb, sizeof active_thumb, "%s", thumb);
                snprintf(kr->active_path, sizeof kr->active_path, "%s", path);
                continue;
            }
            bool newer =
                sb.st_mtim.tv_sec > newest_t.tv_sec ||
                (sb.st_mtim.tv_sec == newest_t.tv_sec &&
                 (sb.st_mtim.tv_nsec > newest_t.tv_nsec ||
                  (sb.st_mtim.tv_nsec == newest_t.tv_nsec && strcmp(de->d_name, newest_name) > 0)));
            if (!newest_name[0] || newer) {
                newest_t = sb.st_mtim;
                snprintf(newest_name, sizeof newest_name, "%s", de->d_name);
                snprintf(newest_thumb, sizeof newest_thumb, "%s", thumb);
            }
        }
        closedir(d);
    }
    if (st != TS_OK)
        return st;
    if (kr->n == 0) {
        char path[PATH_MAX];
        st = ts_svc_key_generate_dir(dir, want == TS_JWS_ALG_UNKNOWN ? TS_JWS_PS256 : want, path,
                                     sizeof path, err);
        if (st != TS_OK)
            return st;
        ts_jwk *key = load_private(path, kr->allow_insecure, err);
        if (!key)
            return err ? err->code : TS_EINVAL;
        snprintf(kr->active_path, sizeof kr->active_path, "%s", path);
        kr->active = 0;
        return add_key(kr, key, want, err);
    }
    if (active_thumb[0]) {
        kr->active = find_kid(kr, active_thumb);
    } else {
        kr->active = find_kid(kr, newest_thumb);
        snprintf(kr->active_path, sizeof kr->active_path, "%s/%s", dir, newest_name);
    }
    return TS_OK;
}

static bool want_ok(ts_jws_alg want, ts_error *err)
{
    if (want != TS_JWS_ALG_UNKNOWN && want != TS_JWS_PS256 && want != TS_JWS_RS256 &&
        want != TS_JWS_ES256 && want != TS_JWS_ES384) {
        ts_error_set(err, TS_EINVAL, "alg",
                     "unsupported signing algorithm %s (PS256, RS256, "
                     "ES256, ES384)",
                     ts_jws_alg_name(want));
        return false;
    }
    return true;
}

static ts_status build_jwks(ts_svc_keyset *kr, ts_error *err)
{
    ts_jwks *set = ts_jwks_new(kr->keys, kr->n, err);
    if (!set)
        return err && err->code ? err->code : TS_ENOMEM;
    kr->jwks_json = ts_jwks_to_json(set, err);
    ts_jwks_free(set);
    return kr->jwks_json ? TS_OK : (err && err->code ? err->code : TS_ENOMEM);
}

/* The token's keys the rotation state in @p dir publishes (next, active, retiring), the active
 * one first; none (no state, or none of the token's) leaves pkcs11KeyLabel's key alone. */
static ts_status token_state_labels(const char *dir, ts_svc_rotation_state *st, ts_error *err)
{
    ts_svc_rotation_state *all = malloc(sizeof *all);
    if (!all)
        return ts_error_set(err, TS_ENOMEM, "keys", "out of memory");
    size_t n = 0;
    ts_status rc = ts_svc__rotation_load(dir, all, err);
    const ts_svc_rotation_key *active = NULL;
    for (size_t i = 0; rc == TS_OK && i < all->n; i++)
        if (all->keys[i].label[0] && all->keys[i].state == TS_SVC_KEY_ACTIVE)
            active = &all->keys[i];
    if (active)
        st->keys[n++] = *active;
    for (size_t i = 0; active && i < all->n && n < KEYRING_MAX; i++) {
        const ts_svc_rotation_key *k = &all->keys[i];
        if (k != active && k->label[0] &&
            (k->state == TS_SVC_KEY_NEXT || k->state == TS_SVC_KEY_RETIRING))
            st->keys[n++] = *k;
    }
    st->n = n;
    free(all);
    return rc;
}

/* The key labelled @p label, checked against the kid the state recorded for it: a label
 * given to another key by hand is not silently published or signed with. */
static ts_svc_p11_key *token_key(struct ts_svc_p11 *token, const ts_svc_rotation_key *k,
                                 ts_jws_alg want, ts_error *err)
{
    ts_svc_p11_key *key = ts_svc_p11_key_find_label(token, k->label, want, err);
    if (key && strcmp(ts_jwk_thumbprint(ts_svc_p11_key_public(key)), k->kid) != 0) {
        ts_error_set(err, TS_EINVAL, "pkcs11KeyLabel",
                     "the key labelled \"%s\" is no longer the rotation's kid %s (a rotation "
                     "step adopts the change)",
                     k->label, k->kid);
        ts_svc_p11_key_free(key);
        return NULL;
    }
    return key;
}

ts_svc_keyset *ts_svc_keyset_open_token(struct ts_svc_p11 *token, const char *state_dir,
                                        ts_jws_alg want, ts_error *err)
{
    if (!want_ok(want, err))
        return NULL;
    ts_svc_keyset *kr = calloc(1, sizeof *kr);
    ts_svc_rotation_state *st = calloc(1, sizeof *st);
    if (!kr || !st) {
        free(kr);
        free(st);
        ts_error_set(err, TS_ENOMEM, "keys", "out of memory");
        return NULL;
    }
    if (state_dir && *state_dir && token_state_labels(state_dir, st, err) != TS_OK)
        goto fail;
    if (st->n == 0)
        kr->token_key = ts_svc_p11_key_find(token, want, err);
    else
        kr->token_key = token_key(token, &st->keys[0], want, err);
    if (!kr->token_key || !(kr->keys[0] = ts_jwk_with(ts_svc_p11_key_public(kr->token_key), NULL,
                                                      TS_JWS_ALG_UNKNOWN, err)))
        goto fail;
    kr->n = 1;
    kr->alg = ts_jwk_alg(kr->keys[0]);
    /* The next and retiring keys: published, their public halves only. RSA ones are bound to
     * the active key's algorithm (the configured one). */
    for (size_t i = 1; i < st->n; i++) {
        ts_svc_p11_key *k = token_key(token, &st->keys[i], kr->alg, err);
        if (!k)
            goto fail;
        ts_jwk *pub = ts_jwk_with(ts_svc_p11_key_public(k), NULL, TS_JWS_ALG_UNKNOWN, err);
        ts_svc_p11_key_free(k);
        if (!pub)
            goto fail;
        kr->keys[kr->n++] = pub;
    }
    if (st->n)
        ts_svc_p11_describe_label(token, st->keys[0].label, kr->active_path,
                                  sizeof kr->active_path);
    else
        snprintf(kr->active_path, sizeof kr->active_path, "%s", ts_svc_p11_describe(token));
    free(st);
    st = NULL;
    if (build_jwks(kr, err) != TS_OK)
        goto fail;
    return kr;
fail:
    free(st);
    ts_svc_keyset_free(kr);
    return NULL;
}

ts_status ts_svc_keyset_sign(const ts_svc_keyset *ks, const char *typ, const char *payload,
                             size_t len, char **out, size_t *out_len, ts_error *err)
{
    if (!ks || !out)
        return ts_error_set(err, TS_EINVAL, "sign", "no key set");
    /* The key is bound to its algorithm: one read gives both. */
    const ts_jwk *key = ks->keys[ks->active];
    if (ks->token_key)
        return ts_jws_sign_external(key, ts_jwk_alg(key), typ, payload, len, ts_svc_p11_key_sign,
                                    ks->token_key, out, out_len, err);
    return ts_jws_sign(key, ts_jwk_alg(key), typ, payload, len, out, out_len, err);
}

ts_svc_keyset *ts_svc_keyset_open(const char *key_file, const char *key_dir, ts_jws_alg want,
                                  bool allow_insecure_permissions, ts_error *err)
{
    if (!want_ok(want, err))
        return NULL;
    ts_svc_keyset *kr = calloc(1, sizeof *kr);
    if (!kr) {
        ts_error_set(err, TS_ENOMEM, "keys", "out of memory");
        return NULL;
    }
    kr->allow_insecure = allow_insecure_permissions;
    ts_status st;
    if (ts_svc_p11_is_uri(key_file)) {
        /* A token's key is never read, nor generated, as a file of that name. */
        ts_error_set(err, TS_EINVAL, "keyFile",
                     "a pkcs11: URI names a key in a token: the keyring opens it");
        goto fail;
    }
    if (key_file && *key_file) {
        ts_jwk *key = NULL;
        if (access(key_file, F_OK) != 0 && errno == ENOENT) {
            st = ts_svc_key_generate_file(
                key_file, want == TS_JWS_ALG_UNKNOWN ? TS_JWS_PS256 : want, NULL, err);
            if (st != TS_OK)
                goto fail;
        }
        key = load_private(key_file, kr->allow_insecure, err);
        if (!key)
            goto fail;
        snprintf(kr->active_path, sizeof kr->active_path, "%s", key_file);
        if (add_key(kr, key, want, err) != TS_OK)
            goto fail;
        kr->active = 0;
    } else {
        if (!key_dir || !*key_dir) {
            ts_error_set(err, TS_EINVAL, "keys", "neither a key file nor a key directory");
            goto fail;
        }
        if (open_dir(kr, key_dir, want, err) != TS_OK)
            goto fail;
    }
    kr->alg = ts_jwk_alg(kr->keys[kr->active]);
    if (want != TS_JWS_ALG_UNKNOWN && kr->alg != want) {
        ts_error_set(err, TS_EINVAL, kr->active_path,
                     "the active key signs with %s, but %s was asked for", ts_jws_alg_name(kr->alg),
                     ts_jws_alg_name(want));
        goto fail;
    }
    if (build_jwks(kr, err) != TS_OK)
        goto fail;
    return kr;
fail:
    ts_svc_keyset_free(kr);
    return NULL;
}

void ts_svc_keyset_free(ts_svc_keyset *kr)
{
    if (!kr)
        return;
    for (size_t i = 0; i < kr->n; i++)
        ts_jwk_free(kr->keys[i]);
    ts_free(kr->jwks_json);
    ts_svc_p11_key_free(kr->token_key);
    free(kr);
}

const ts_jwk *ts_svc_keyset_active(const ts_svc_keyset *kr)
{
    return kr ? kr->keys[kr->active] : NULL;
}

ts_jws_alg ts_svc_keyset_alg(const ts_svc_keyset *kr)
{
    return kr ? kr->alg : TS_JWS_ALG_UNKNOWN;
}

const char *ts_svc_keyset_jwks_json(const ts_svc_keyset *kr)
{
    return kr ? kr->jwks_json : NULL;
}

size_t ts_svc_keyset_count(const ts_svc_keyset *kr)
{
    return kr ? kr->n : 0;
}

const char *ts_svc_keyset_active_path(const ts_svc_keyset *kr)
{
    return kr ? kr->active_path : "";
}

const ts_jwk *ts_svc_keyset_key(const ts_svc_keyset *ks, size_t i)
{
    return ks && i < ks->n ? ks->keys[i] : NULL;
}
