/* Key rotation with the keys in a PKCS#11 token (keys_rotation.h): the steps of a key directory
 * (ts_svc__rotation_advance()), with keys generated and destroyed inside the token and the
 * state (rotation.json, rotation.lock) in a directory of its own. The state file is the one
 * record of which key signs: its active entry's label. Replicas that share the directory and
 * the token take each step once (the lock) and read the same active label. */
#define _POSIX_C_SOURCE 200809L

#include "keys_rotation.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "common/file.h"
#include "keys_pkcs11.h"

ts_status ts_svc_rotation_dir(const char *key_dir, const char *home, char *buf, size_t cap,
                              ts_error *err)
{
    int n = key_dir && *key_dir ? snprintf(buf, cap, "%s", key_dir)
                                : snprintf(buf, cap, "%s/keys", home ? home : "");
    if (n < 0 || (size_t)n >= cap || (!(key_dir && *key_dir) && !(home && *home)))
        return ts_error_set(err, TS_EINVAL, "keyDir",
                            "no directory for the key rotation state (keyDir, or home)");
    return TS_OK;
}

/* The algorithm name the state records: the curve's JWS algorithm, "RSA" for RSA keys (they
 * sign PS256 or RS256 as configured), as for key files. */
static void alg_name(const ts_jwk *pub, char *out, size_t cap)
{
    const char *crv = ts_jwk_curve(pub);
    snprintf(out, cap, "%s",
             !crv                    ? "RSA"
             : !strcmp(crv, "P-256") ? "ES256"
             : !strcmp(crv, "P-384") ? "ES384"
                                     : "?");
}

/* The kid of the private key labelled @p label; TS_ENOTFOUND when the token has none. */
static ts_status label_kid(ts_svc_p11 *t, const char *label, char *kid, char *alg, size_t alg_cap,
                           ts_error *err)
{
    ts_svc_p11_key *k = ts_svc_p11_key_find_label(t, label, TS_JWS_ALG_UNKNOWN, err);
    if (!k)
        return err && err->code ? err->code : TS_EIO;
    snprintf(kid, TS_JOSE_THUMBPRINT_LEN + 1, "%s", ts_jwk_thumbprint(ts_svc_p11_key_public(k)));
    if (alg)
        alg_name(ts_svc_p11_key_public(k), alg, alg_cap);
    ts_svc_p11_key_free(k);
    return TS_OK;
}

/* Make the state agree with the token: a key the token no longer holds under its label (or
 * holds a different key under it) is retired; without an active key, pkcs11KeyLabel's key is
 * adopted as active. Only keys the state names are looked at: the token may hold other keys. */
static ts_status reconcile(ts_svc_rotation_state *st, ts_svc_p11 *t, int64_t now, bool *changed,
                           ts_error *err)
{
    char kid[TS_JOSE_THUMBPRINT_LEN + 1];
    for (size_t i = 0; i < st->n; i++) {
        ts_svc_rotation_key *k = &st->keys[i];
        if (k->state == TS_SVC_KEY_RETIRED)
            continue;
        if (!k->label[0])
            return ts_error_set(err, TS_EINVAL, TS_SVC_ROTATION_STATE_FILE,
                                "the rotation state holds key files (keyBackend files): give the "
                                "token's rotation a keyDir of its own");
        ts_error e;
        ts_error_clear(&e);
        ts_status rc = label_kid(t, k->label, kid, NULL, 0, &e);
        if (rc != TS_OK && rc != TS_ENOTFOUND) {
            if (err)
                *err = e;
            return rc;
        }
        if (rc == TS_ENOTFOUND || strcmp(kid, k->kid) != 0) {
            k->state = TS_SVC_KEY_RETIRED; /* destroyed or replaced by hand */
            k->retired = now;
            *changed = true;
        }
    }
    if (ts_svc__rotation_find_state(st, TS_SVC_KEY_ACTIVE))
        return TS_OK;
    const char *base = ts_svc_p11_key_label_configured(t);
    char alg[8];
    ts_status rc = label_kid(t, base, kid, alg, sizeof alg, err);
    if (rc != TS_OK)
        return rc;
    ts_svc_rotation_key *k = ts_svc__rotation_find(st, kid);
    if (!k) {
        if (!(k = ts_svc__rotation_append(st, err)))
            return err && err->code ? err->code : TS_ELIMIT;
        snprintf(k->kid, sizeof k->kid, "%s", kid);
        snprintf(k->label, sizeof k->label, "%s", base);
        snprintf(k->alg, sizeof k->alg, "%s", alg);
        k->created = now;
    }
    k->state = TS_SVC_KEY_ACTIVE;
    k->activated = now;
    k->deactivated = k->retires_at = 0;
    *changed = true;
    return TS_OK;
}

/* A label no object of the token has: <pkcs11KeyLabel>.<now>, else .<now>.<n>. */
static ts_status new_label(ts_svc_p11 *t, int64_t now, char *out, size_t cap, ts_error *err)
{
    const char *base = ts_svc_p11_key_label_configured(t);
    for (unsigned n = 1; n <= 16; n++) {
        int w = n == 1 ? snprintf(out, cap, "%s.%lld", base, (long long)now)
                       : snprintf(out, cap, "%s.%lld.%u", base, (long long)now, n);
        if (w < 0 || (size_t)w >= cap)
            return ts_error_set(err, TS_ELIMIT, "pkcs11KeyLabel",
                                "too long to derive the labels of rotated keys from");
        bool used = true;
        ts_status rc = ts_svc_p11_label_used(t, out, &used, err);
        if (rc != TS_OK)
            return rc;
        if (!used)
            return TS_OK;
    }
    return ts_error_set(err, TS_ELIMIT, "pkcs11KeyLabel", "no free label for a new key");
}

static ts_status make_key(void *ud, ts_svc_rotation_state *st, const ts_svc_rotation_policy *p,
                          const ts_svc_rotation_key *active, int64_t now, ts_svc_rotation_key **out,
                          ts_error *err)
{
    ts_svc_p11 *t = ud;
    ts_jws_alg alg = ts_svc__rotation_new_alg(p, active);
    char label[sizeof st->keys[0].label], kid[TS_JOSE_THUMBPRINT_LEN + 1], an[8];
    ts_status rc;
    if ((rc = new_label(t, now, label, sizeof label, err)) != TS_OK ||
        (rc = ts_svc_p11_generate(t, alg, label, err)) != TS_OK ||
        (rc = label_kid(t, label, kid, an, sizeof an, err)) != TS_OK)
        return rc;
    ts_svc_rotation_key *k = ts_svc__rotation_append(st, err);
    if (!k)
        return err && err->code ? err->code : TS_ELIMIT;
    snprintf(k->kid, sizeof k->kid, "%s", kid);
    snprintf(k->label, sizeof k->label, "%s", label);
    snprintf(k->alg, sizeof k->alg, "%s", an);
    k->state = TS_SVC_KEY_NEXT;
    k->created = now;
    *out = k;
    return TS_OK;
}

/* The state file's active entry is what every replica signs with: nothing else to move. */
static ts_status promote_key(void *ud, const ts_svc_rotation_key *k, ts_error *err)
{
    (void)ud;
    (void)k;
    (void)err;
    return TS_OK;
}

/* archive: the key stays in the token, no longer published (the state says retired); delete:
 * its objects are destroyed. */
static ts_status retire_key(void *ud, ts_svc_rotation_key *k, bool del, ts_error *err)
{
    return del ? ts_svc_p11_destroy(ud, k->label, NULL, err) : TS_OK;
}

ts_status ts_svc_rotation_step_token(const char *dir, ts_svc_p11 *token,
                                     const ts_svc_rotation_policy *p, int64_t now, unsigned flags,
                                     ts_svc_rotation_report *out, ts_error *err)
{
    ts_svc_rotation_report r;
    memset(&r, 0, sizeof r);
    if (out)
        *out = r;
    if (!dir || !*dir || !token || !p)
        return ts_error_set(err, TS_EINVAL, "key rotation", "no state directory or token");
    ts_status rc = TS_OK;
    int fd = ts_svc__rotation_lock(dir, err);
    if (fd < 0)
        return err && err->code ? err->code : TS_EIO;
    ts_svc_rotation_state *s = calloc(1, sizeof *s);
    if (!s) {
        close(fd);
        return ts_error_set(err, TS_ENOMEM, dir, "out of memory");
    }
    if ((rc = ts_svc__rotation_load(dir, s, err)) == TS_OK &&
        (rc = reconcile(s, token, now, &r.changed, err)) == TS_OK) {
        const ts_svc__rotation_ops ops = {token, make_key, promote_key, retire_key};
        rc = ts_svc__rotation_advance(&ops, s, p, now, flags, &r, err);
        /* What was done stands even when a later part failed (a token that cannot generate):
         * a key destroyed must not be looked for again, an adopted key stays adopted. */
        if (r.changed) {
            ts_error e;
            ts_error_clear(&e);
            ts_status sv = ts_svc__rotation_save(dir, s, rc == TS_OK ? err : &e);
            if (rc == TS_OK)
                rc = sv;
        }
        const ts_svc_rotation_key *a = ts_svc__rotation_find_state(s, TS_SVC_KEY_ACTIVE);
        if (a)
            snprintf(r.active_kid, sizeof r.active_kid, "%s", a->kid);
    }
    free(s);
    close(fd); /* releases the lock */
    if (out)
        *out = r;
    return rc;
}

ts_status ts_svc_rotation_list_token(const char *dir, ts_svc_p11 *token, ts_svc_rotation_key *keys,
                                     size_t cap, size_t *n, ts_error *err)
{
    *n = 0;
    ts_svc_rotation_state *s = calloc(1, sizeof *s);
    if (!s)
        return ts_error_set(err, TS_ENOMEM, dir, "out of memory");
    bool changed = false;
    ts_status rc = ts_svc__rotation_load(dir, s, err);
    if (rc == TS_OK)
        rc = reconcile(s, token, (int64_t)time(NULL), &changed, err);
    for (size_t i = 0; rc == TS_OK && i < s->n && *n < cap; i++)
        keys[(*n)++] = s->keys[i];
    free(s);
    return rc;
}
