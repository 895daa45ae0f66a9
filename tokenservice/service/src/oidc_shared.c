/* The upstream provider configuration shared through the store. The admin API of any replica
 * writes a new version (a compare-and-set in the store, audited in the same transaction); each
 * replica polls the store every TS_SVC_OIDC_POLL_S seconds and applies a newer version, so a
 * change reaches every replica within about that time without a restart. A poll is one short
 * query of one row that transfers the document only after a change. The document holds client
 * secrets: only its version is ever logged. */
#define _GNU_SOURCE

#include "oidc_shared.h"

#include "svc_internal.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/crypto.h>

struct ts_svc_oidc_poll {
    pthread_t th;
    pthread_mutex_t mu;
    pthread_cond_t cv; /* on CLOCK_MONOTONIC */
    bool stop;
    /* A stored version this replica could not build (for example written by a newer
     * tokensmith): not fetched again every poll, only a later version is. Under admin_mu. */
    int64_t bad_version;
    /* Failures since the last warning; logged at most every TS_SVC_OIDC_WARN_EVERY_S. */
    unsigned failures;
    bool warned_ever;
    struct timespec last_warn;
    char reason[sizeof((ts_error *)0)->where + sizeof((ts_error *)0)->msg + 4];
};

static double mono_s(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

/* Fetch and apply a stored version greater than @p have. *applied receives the version
 * installed (0: nothing newer). On a document that does not build, *bad receives its version. */
static ts_status refresh(ts_svc *s, int64_t have, int64_t *applied, int64_t *bad, ts_error *err)
{
    *applied = 0;
    *bad = 0;
    char *doc = NULL;
    size_t len = 0;
    ts_store_oidc_config_meta m;
    ts_status st = ts_store_oidc_config_get(s->store, have, &doc, &len, &m, err);
    if (st != TS_OK || !doc)
        return st;
    oidc_gen *g = NULL;
    ts_error e;
    ts_error_clear(&e);
    st = ts_svc__gen_build_text(&s->cfg, doc, len, "admin", &g, &e);
    OPENSSL_cleanse(doc, len);
    ts_free(doc);
    if (st != TS_OK) {
        *bad = m.version;
        /* The parser's message might quote part of the document: name only where it failed. */
        return ts_error_set(err, st, "oidc_config",
                            "stored provider configuration version %lld is invalid (%s at %s)",
                            (long long)m.version, ts_status_str(st), e.where);
    }
    ts_svc__gen_install(s, g);
    s->oidc_version = m.version;
    *applied = m.version;
    json_t *f = json_object();
    json_object_set_new(f, "oidc_version", json_integer((json_int_t)m.version));
    json_object_set_new(f, "updated_by", json_string(m.updated_by));
    json_object_set_new(f, "updated_at", json_integer((json_int_t)m.updated_at));
    json_object_set_new(f, "oidc_providers",
                        json_integer(g ? (json_int_t)ts_oidc_config_count(g->cfg) : 0));
    ts_svc__log_event(s, "info", "oidc configuration applied from the store", f);
    return TS_OK;
}

ts_status ts_svc__oidc_shared_refresh_locked(ts_svc *s, ts_error *err)
{
    int64_t applied = 0, bad = 0;
    int64_t have = s->oidc_version;
    if (s->oidc_poll && s->oidc_poll->bad_version > have)
        have = s->oidc_poll->bad_version;
    ts_status st = refresh(s, have, &applied, &bad, err);
    if (bad && s->oidc_poll)
        s->oidc_poll->bad_version = bad;
    return st;
}

static void note_failure(ts_svc *s, const ts_error *e)
{
    struct ts_svc_oidc_poll *p = s->oidc_poll;
    p->failures++;
    snprintf(p->reason, sizeof p->reason, "%s: %s", e->where, e->msg);
    double now = mono_s();
    double last = (double)p->last_warn.tv_sec + (double)p->last_warn.tv_nsec / 1e9;
    if (p->warned_ever && now - last < TS_SVC_OIDC_WARN_EVERY_S)
        return;
    json_t *f = json_object();
    json_object_set_new(f, "failures", json_integer((json_int_t)p->failures));
    json_object_set_new(f, "reason", json_string(p->reason));
    json_object_set_new(f, "oidc_version", json_integer((json_int_t)s->oidc_version));
    ts_svc__log_event(s, "warn",
                      "shared oidc configuration could not be refreshed; the current one stays", f);
    p->failures = 0;
    p->warned_ever = true;
    clock_gettime(CLOCK_MONOTONIC, &p->last_warn);
}

static void *poll_main(void *arg)
{
    ts_svc *s = arg;
    struct ts_svc_oidc_poll *p = s->oidc_poll;
    pthread_mutex_lock(&p->mu);
    while (!p->stop) {
        struct timespec until;
        clock_gettime(CLOCK_MONOTONIC, &until);
        until.tv_sec += TS_SVC_OIDC_POLL_S;
        while (!p->stop && pthread_cond_timedwait(&p->cv, &p->mu, &until) == 0) {
        }
        if (p->stop)
            break;
        pthread_mutex_unlock(&p->mu);
        ts_error e;
        ts_error_clear(&e);
        /* One configuration change at a time: the admin API and SIGHUP take the same lock. */
        pthread_mutex_lock(&s->admin_mu);
        if (ts_svc__oidc_shared_refresh_locked(s, &e) != TS_OK)
            note_failure(s, &e);
        pthread_mutex_unlock(&s->admin_mu);
        pthread_mutex_lock(&p->mu);
    }
    pthread_mutex_unlock(&p->mu);
    return NULL;
}

/* A state file from before the configuration moved into the store: copy it in, once (a
 * compare-and-set from version 0, so replicas starting together migrate it once). */
static ts_status migrate_state_file(ts_svc *s, ts_error *err)
{
    /* With no stored version, a configuration set through the admin API came from the file. */
    oidc_gen *g = ts_svc__gen_acquire(s);
    bool from_file = g && strcmp(g->source, "admin") == 0;
    char *text = from_file ? ts_oidc_config_to_json(g->cfg, true, err) : NULL;
    ts_svc__gen_release(s, g);
    if (!from_file)
        return TS_OK;
    if (!text)
        return err && err->code != TS_OK ? err->code : TS_ENOMEM;
    size_t len = strlen(text);
    int64_t v = 0;
    ts_error e;
    ts_error_clear(&e);
    ts_status st =
        ts_store_oidc_config_put(s->store, text, len, 0, (int64_t)time(NULL), "state-file",
                                 "{\"status\":\"migrated_from_state_file\"}", &v, &e);
    OPENSSL_cleanse(text, len);
    ts_free(text);
    if (st != TS_OK && st != TS_ECYCLE) { /* ECYCLE: another replica stored one first */
        if (err)
            *err = e;
        return st;
    }
    if (st == TS_OK) {
        json_t *f = json_object();
        json_object_set_new(f, "state_file", json_string(s->oidc_state));
        json_object_set_new(f, "oidc_version", json_integer((json_int_t)v));
        ts_svc__log_event(s, "info",
                          "oidc state file copied into the store; the store's configuration is "
                          "used from now on",
                          f);
    }
    return ts_svc__oidc_shared_refresh_locked(s, err);
}

ts_status ts_svc__oidc_shared_start(ts_svc *s, ts_error *err)
{
    pthread_mutex_lock(&s->admin_mu);
    ts_status st = ts_svc__oidc_shared_refresh_locked(s, err);
    if (st == TS_OK && s->oidc_version == 0)
        st = migrate_state_file(s, err);
    pthread_mutex_unlock(&s->admin_mu);
    if (st != TS_OK)
        return st;
    struct ts_svc_oidc_poll *p = calloc(1, sizeof *p);
    if (!p)
        return ts_error_set(err, TS_ENOMEM, "oidc", "out of memory");
    pthread_condattr_t ca;
    pthread_condattr_init(&ca);
    pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
    pthread_cond_init(&p->cv, &ca);
    pthread_condattr_destroy(&ca);
    pthread_mutex_init(&p->mu, NULL);
    pthread_mutex_lock(&s->admin_mu);
    s->oidc_poll = p;
    pthread_mutex_unlock(&s->admin_mu);
    if (pthread_create(&p->th, NULL, poll_main, s) != 0) {
        pthread_mutex_lock(&s->admin_mu);
        s->oidc_poll = NULL;
        pthread_mutex_unlock(&s->admin_mu);
        pthread_cond_destroy(&p->cv);
        pthread_mutex_destroy(&p->mu);
        free(p);
        return ts_error_set(err, TS_EINTERNAL, "oidc", "cannot start the configuration poll");
    }
    return TS_OK;
}

void ts_svc__oidc_shared_stop(ts_svc *s)
{
    struct ts_svc_oidc_poll *p = s ? s->oidc_poll : NULL;
    if (!p)
        return;
    pthread_mutex_lock(&p->mu);
    p->stop = true;
    pthread_cond_signal(&p->cv);
    pthread_mutex_unlock(&p->mu);
    pthread_join(p->th, NULL);
    s->oidc_poll = NULL;
    pthread_cond_destroy(&p->cv);
    pthread_mutex_destroy(&p->mu);
    free(p);
}
