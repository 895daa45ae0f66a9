/* Life cycle: listeners, start, the run loop (signals, expiry collection), drain, free. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include "mappings_cache.h"
#include "mgmt.h"
#include "notify_svc.h"
#include "keys_p11uri.h"
#include "keys_rotation.h"
#include "oidc_shared.h"
#include "tls.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "common/listen.h"

static ts_svc_rotation_policy rotation_policy(const ts_svc_config *c)
{
    ts_svc_rotation_policy p = {0};
    p.interval_s = c->key_rotation_interval_s;
    p.prepublish_s = c->key_rotation_prepublish_s;
    /* The longest lifetime of a token the service signs from its key directory, plus the
     * replicas' leeway: what a retiring key waits for. */
    p.token_lifetime_s = c->access_ttl_s + TS_SVC_KEY_LEEWAY_S;
    p.retire_delete = strcmp(c->key_rotation_retire, "delete") == 0;
    p.alg =
        c->algorithm[0] ? ts_jws_alg_parse(c->algorithm, strlen(c->algorithm)) : TS_JWS_ALG_UNKNOWN;
    p.allow_insecure = c->allow_insecure_key_permissions;
    return p;
}

/* One automatic rotation step (keys_rotation.c; keys_rotation_token.c when the keys are in a
 * token, whose state is in s->cfg.key_dir), logged when it did something. */
static ts_status rotation_step(ts_svc *s, const ts_svc_config *c, bool *changed, ts_error *err)
{
    ts_svc_rotation_policy p = rotation_policy(c);
    ts_svc_rotation_report r;
    struct ts_svc_p11 *token = s->keys ? ts_svc_keyring_token(s->keys) : NULL;
    ts_status st = token ? ts_svc_rotation_step_token(s->cfg.key_dir, token, &p,
                                                      (int64_t)time(NULL), 0, &r, err)
                         : ts_svc_rotation_step(c->key_dir, &p, (int64_t)time(NULL), 0, &r, err);
    if (changed)
        *changed = st == TS_OK && r.changed;
    if (st != TS_OK || !(r.generated[0] || r.promoted[0] || r.retired))
        return st;
    json_t *f = json_object();
    if (r.generated[0])
        json_object_set_new(f, "next_kid", json_string(r.generated));
    if (r.promoted[0])
        json_object_set_new(f, "kid", json_string(r.promoted));
    if (r.demoted[0])
        json_object_set_new(f, "retiring_kid", json_string(r.demoted));
    json_object_set_new(f, "retired", json_integer((json_int_t)r.retired));
    json_object_set_new(f, "next_step_at", json_integer((json_int_t)r.next_action_at));
    ts_svc__log_event(s, "info", "key rotation step", f);
    return TS_OK;
}

static void rotation_failed(ts_svc *s, const ts_error *e)
{
    json_t *f = json_object();
    json_object_set_new(f, "reason", json_string(e->msg));
    json_object_set_new(f, "where", json_string(e->where));
    ts_svc__log_event(s, "warn", "key rotation step failed; the current keys stay", f);
}

ts_svc *ts_svc_start(const ts_svc_config *c, ts_error *err)
{
    ts_svc *s = calloc(1, sizeof *s);
    if (!s) {
        ts_error_set(err, TS_ENOMEM, "serve", "out of memory");
        return NULL;
    }
    s->cfg = *c;
    /* ts_svc_run() takes SIGHUP (reload) with sigtimedwait(): block it here, before any thread
     * starts, so that no thread dies of its default action. SIGTERM and SIGINT are the
     * caller's to block (see server.h). */
    sigset_t hup;
    sigemptyset(&hup);
    sigaddset(&hup, SIGHUP);
    pthread_sigmask(SIG_BLOCK, &hup, NULL);
    s->text_logs = strcmp(c->log_format, "text") == 0;
    pthread_mutex_init(&s->oidc_mu, NULL);
    pthread_mutex_init(&s->admin_mu, NULL);
    snprintf(s->oidc_state, sizeof s->oidc_state, "%s/%s", c->home, TS_SVC_OIDC_STATE_FILE);
    /* The clients of /oauth/revoke and /oauth/introspect: from here on their secrets exist
     * only as digests, so the service's copy of the setting is wiped. */
    ts_status cst = ts_svc_clients_parse(s->cfg.clients, strlen(s->cfg.clients),
                                         c->allow_insecure_key_permissions, &s->clients, err);
    OPENSSL_cleanse(s->cfg.clients, sizeof s->cfg.clients);
    if (cst != TS_OK)
        goto fail;
    if (ts_svc__load_oidc(s, err) != TS_OK)
        goto fail;
    ts_jws_alg want =
        c->algorithm[0] ? ts_jws_alg_parse(c->algorithm, strlen(c->algorithm)) : TS_JWS_ALG_UNKNOWN;
    /* keyBackend pkcs11: the service's key_dir is where the token's rotation state is (keyDir,
     * else <home>/keys); read when present, written only by rotation steps. */
    bool in_token = ts_svc_p11_is_uri(c->key_file);
    if (in_token && ts_svc_rotation_dir(c->key_dir, c->home, s->cfg.key_dir, sizeof s->cfg.key_dir,
                                        err) != TS_OK)
        goto fail;
    /* keys.rotation: the directory is brought to a state every replica agrees on (active.pem
     * a symlink, rotation.json) before its keys are read. */
    if (!in_token && c->key_rotation_interval_s > 0 && rotation_step(s, c, NULL, err) != TS_OK)
        goto fail;
    s->keys = ts_svc_keyring_open(s->cfg.key_file, s->cfg.key_dir, want,
                                  c->allow_insecure_key_permissions, err);
    if (!s->keys)
        goto fail;
    /* A token's step needs the token open: taken after the keyring, whose keys are read again
     * when it changed something. A step that fails (a token that cannot generate keys) is
     * logged and the key that signs stays, as in a running service. */
    bool stepped = false;
    ts_error se;
    ts_error_clear(&se);
    if (in_token && c->key_rotation_interval_s > 0 && rotation_step(s, c, &stepped, &se) != TS_OK)
        rotation_failed(s, &se);
    if (stepped && ts_svc_keyring_reload(s->keys, NULL, &se) != TS_OK)
        rotation_failed(s, &se);
    ts_store_options so = TS_STORE_OPTIONS_INIT;
    so.path = c->store;
    /* One connection per worker thread plus the background thread (collection, key
     * publication, the provider poll), unless configured: with replicas on one PostgreSQL
     * server, replicas x connections must fit its max_connections. */
    so.max_connections = c->store_max_connections ? c->store_max_connections
                         : c->threads + 1 > 64    ? 64
                                                  : c->threads + 1;
    so.pg_connect_timeout_s = (unsigned)c->store_connect_timeout_s;
    so.pg_statement_timeout_ms = (unsigned)c->store_statement_timeout_s * 1000u;
    so.redeem_retry_grace_s = c->redeem_retry_grace_s;
    so.gc_retention_s = c->record_retention_s;
    so.audit_retention_s = c->audit_retention_s;
    so.audit_max_rows = c->audit_max_rows;
    so.replay_audit_interval_s = c->replay_audit_interval_s;
    s->store = ts_store_new(&so, err);
    if (!s->store)
        goto fail;
    /* Keys are published before the listener answers: once /health says ready, a token this
     * replica signs verifies against every replica's JWKS (keys_published.c). */
    ts_svc_keys_report kp;
    if (ts_svc_keyring_attach(s->keys, s->store, c->access_ttl_s + TS_SVC_KEY_LEEWAY_S,
                              TS_SVC_KEY_REPUBLISH_S, &kp, err) != TS_OK)
        goto fail;
    /* The providers shared through the store win over the state file and the configuration
     * file; a poll applies newer versions other replicas write (oidc_shared.c). */
    if (ts_svc__oidc_shared_start(s, err) != TS_OK)
        goto fail;
    /* The token mappings the exchange applies: read once now, then at most every
     * TS_SVC_MAPS_REFRESH_MS by the exchanges themselves (mappings_cache.c). */
    if (ts_svc__maps_start(s, err) != TS_OK)
        goto fail;
    ts_store_limiter_options lo = TS_STORE_LIMITER_OPTIONS_INIT;
    s->limiter = ts_store_limiter_new(&lo, err);
    if (!s->limiter)
        goto fail;
    /* The socket is bound before the daemon starts, so that a derived issuer can carry the
     * port the kernel chose (listen on port 0) before the first request is answered. */
    int lfd = -1;
    if (ts_common__listen_bind(c->listen, "listen", &lfd, &s->port, err) != TS_OK)
        goto fail;
    if (c->issuer_follows_listen) {
        char *colon = strrchr(s->cfg.issuer, ':');
        if (colon && strcmp(colon, ":0") == 0)
            snprintf(colon, sizeof s->cfg.issuer - (size_t)(colon - s->cfg.issuer), ":%u",
                     (unsigned)s->port);
    }
    s->metadata = ts_svc__build_metadata(&s->cfg);
    if (s->metadata && ts_svc__tls_start(s, err) != TS_OK) {
        close(lfd);
        goto fail;
    }
    if (!s->metadata) {
        close(lfd);
        ts_error_set(err, TS_ENOMEM, "serve", "out of memory");
        goto fail;
    }
    /* A pool thread serves its connections one request at a time, so a request that waits on
     * the store holds up the others of its thread; a thread per connection lets them queue
     * for the store instead, in arrival order (common/pool.h). */
    unsigned flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_AUTO | MHD_USE_ITC |
                     (c->thread_per_connection ? MHD_USE_THREAD_PER_CONNECTION : 0u) |
                     ts_svc__tls_flags(s);
    if (!(s->limits =
              ts_svc__new_limits(s, c->max_connections_per_address, c->max_connections, err))) {
        close(lfd);
        goto fail;
    }
    ts_svc__tls_tickets(s, flags, s->limits);
    /* libmicrohttpd's own limit sits above ours (it is split among the pool's threads), so
     * that ours decides and is counted. */
    s->mhd = MHD_start_daemon(
        flags, 0, ts_mhd_limits_accept, s->limits, ts_mhd_limits_handler, s->limits,
        MHD_OPTION_ARRAY, ts_mhd_limits_mhd_options(s->limits), MHD_OPTION_ARRAY,
        ts_svc__tls_options(s), MHD_OPTION_LISTEN_SOCKET, (MHD_socket)lfd,
        MHD_OPTION_THREAD_POOL_SIZE, c->thread_per_connection ? 0u : (unsigned int)c->threads,
        MHD_OPTION_CONNECTION_LIMIT, (unsigned int)c->max_connections + 64u * c->threads,
        MHD_OPTION_CONNECTION_MEMORY_LIMIT, (size_t)c->max_header_bytes,
        MHD_OPTION_UNESCAPE_CALLBACK, ts_authz_mhd_strict_unescape, NULL, MHD_OPTION_END);
    if (!s->mhd) {
        int e = errno;
        close(lfd); /* on success the daemon owns it */
        ts_error_set(err, TS_EIO, "listen", "cannot serve on %s: %s", c->listen,
                     e ? strerror(e) : "libmicrohttpd refused the options");
        goto fail;
    }
    if (c->admin_listen[0] && ts_svc__start_admin(s, err) != TS_OK)
        goto fail;
    if (c->management_listen[0] && ts_svc__mgmt_start(s, err) != TS_OK)
        goto fail;
    if (ts_svc__metrics_listen_start(s, err) != TS_OK) /* metricsListen: none when empty */
        goto fail;
    json_t *f = json_object();
    json_object_set_new(f, "listen", json_string(c->listen));
    json_object_set_new(f, "port", json_integer(s->port));
    json_object_set_new(f, "issuer", json_string(s->cfg.issuer));
    ts_svc__tls_log_fields(s, f);
    json_object_set_new(f, "kid", json_string(ts_jwk_kid(ts_svc_keyring_active(s->keys))));
    json_object_set_new(f, "alg", json_string(ts_jws_alg_name(ts_svc_keyring_alg(s->keys))));
    json_object_set_new(f, "keys_published",
                        json_integer((json_int_t)ts_svc_keyring_count(s->keys)));
    json_object_set_new(f, "key_path", json_string(ts_svc_keyring_active_path(s->keys)));
    json_object_set_new(f, "keys_served", json_integer((json_int_t)kp.served));
    json_object_set_new(f, "keys_of_other_replicas", json_integer((json_int_t)kp.foreign));
    char store_at[TS_SVC_PATH];
    ts_store_path_redact(c->store, store_at, sizeof store_at); /* never a conninfo's password */
    json_object_set_new(f, "store", json_string(store_at));
    json_object_set_new(f, "threads", json_integer(c->threads));
    json_object_set_new(f, "thread_per_connection", json_boolean(c->thread_per_connection));
    json_object_set_new(f, "oidc_providers",
                        json_integer(s->oidc ? (json_int_t)ts_oidc_config_count(s->oidc->cfg) : 0));
    if (s->admin) {
        json_object_set_new(f, "admin_listen", json_string(c->admin_listen));
        json_object_set_new(f, "admin_port", json_integer(s->admin_port));
        json_object_set_new(
            f, "admin_tls",
            json_boolean(ts_svc__tls_listener_flags(s, TS_SVC_LISTENER_ADMIN) != 0u));
    }
    if (s->mgmt) {
        json_object_set_new(f, "management_listen", json_string(c->management_listen));
        json_object_set_new(f, "management_port", json_integer(ts_svc__mgmt_port(s)));
    }
    if (s->metrics_http) {
        json_object_set_new(f, "metrics_listen", json_string(c->metrics_listen));
        json_object_set_new(f, "metrics_port", json_integer(ts_svc__metrics_listen_port(s)));
    }
    ts_svc__log_event(s, "info", "listening", f);
    return s;
fail:
    ts_svc_free(s);
    return NULL;
}

uint16_t ts_svc_port(const ts_svc *s)
{
    return s ? s->port : 0;
}

/* The JWKS refresher's failures since the last minute, as one warning (it serves the last
 * document it could build meanwhile). */
static void keys_warn(ts_svc *s)
{
    char reason[400];
    unsigned n = ts_svc_keyring_take_failures(s->keys, reason, sizeof reason);
    if (n == 0)
        return;
    json_t *f = json_object();
    json_object_set_new(f, "failures", json_integer((json_int_t)n));
    json_object_set_new(f, "reason", json_string(reason));
    ts_svc__log_event(s, "warn", "published keys could not be refreshed; serving the last JWKS", f);
}

/* SIGHUP or a rotation step, keys: read the key file or directory again; a changed set is
 * published, then used. */
static void reload_keys(ts_svc *s, const char *why)
{
    ts_svc_keys_report r;
    ts_error e;
    ts_error_clear(&e);
    json_t *f = json_object();
    json_object_set_new(f, strcmp(why, "SIGHUP") == 0 ? "signal" : "cause", json_string(why));
    if (ts_svc_keyring_reload(s->keys, &r, &e) != TS_OK) {
        json_object_set_new(f, "reason", json_string(e.msg));
        json_object_set_new(f, "where", json_string(e.where));
        ts_svc__log_event(s, "warn", "key reload failed; the previous keys stay", f);
        return;
    }
    json_object_set_new(f, "changed", json_boolean(r.changed));
    json_object_set_new(f, "kid", json_string(r.active_kid));
    json_object_set_new(f, "keys", json_integer((json_int_t)ts_svc_keyring_count(s->keys)));
    json_object_set_new(f, "keys_published", json_integer((json_int_t)r.published));
    if (r.changed)
        json_object_set_new(f, "keys_served", json_integer((json_int_t)r.served));
    ts_svc__log_event(s, "info", "keys reloaded", f);
    ts_svc__mgmt_keys_changed(s); /* the management API's keys file, when it has one */
}

static int rotation_state_stat(const ts_svc *s, struct stat *sb)
{
    char path[TS_SVC_PATH + 32];
    snprintf(path, sizeof path, "%s/%s", s->cfg.key_dir, TS_SVC_ROTATION_STATE_FILE);
    return stat(path, sb);
}

/* keys.rotation, every check: take a step if one is due (the directory's lock makes one replica
 * take it), and reload the keys when the state file changed, whoever changed it. */
static void rotation_check(ts_svc *s, struct stat *seen)
{
    ts_error e;
    ts_error_clear(&e);
    if (rotation_step(s, &s->cfg, NULL, &e) != TS_OK)
        rotation_failed(s, &e);
    struct stat now;
    if (rotation_state_stat(s, &now) != 0)
        return;
    /* The state file is replaced by rename: a new inode or time means a new state. */
    if (now.st_ino != seen->st_ino || now.st_mtim.tv_sec != seen->st_mtim.tv_sec ||
        now.st_mtim.tv_nsec != seen->st_mtim.tv_nsec || now.st_size != seen->st_size) {
        *seen = now;
        reload_keys(s, "key rotation");
    }
}

static void collect(ts_svc *s)
{
    ts_store_gc_counts n;
    ts_error e;
    ts_error_clear(&e);
    if (ts_store_collect_expired(s->store, (int64_t)time(NULL), &n, &e) != TS_OK) {
        json_t *f = json_object();
        json_object_set_new(f, "reason", json_string(e.msg));
        ts_svc__log_event(s, "warn", "store collection failed", f);
        return;
    }
    if (n.bootstrap_tokens || n.families || n.audit_records || n.issued || n.revocations) {
        json_t *f = json_object();
        json_object_set_new(f, "bootstrap_tokens", json_integer((json_int_t)n.bootstrap_tokens));
        json_object_set_new(f, "families", json_integer((json_int_t)n.families));
        json_object_set_new(f, "audit_records", json_integer((json_int_t)n.audit_records));
        json_object_set_new(f, "issued_tokens", json_integer((json_int_t)n.issued));
        json_object_set_new(f, "revocations", json_integer((json_int_t)n.revocations));
        ts_svc__log_event(s, "info", "expired records collected", f);
    }
}

/* SIGHUP: reload what can change without a restart — the keys (reload_keys()) and the upstream
 * provider configuration (the store's shared one; without one the admin state file, or the
 * configuration's providers).
 * Listeners and the other settings were read at start and need a restart; the log line says
 * so. Never exits. */
static void reload(ts_svc *s)
{
    const char *source = NULL;
    ts_error e;
    ts_error_clear(&e);
    ts_status st = ts_svc__reload_oidc(s, &source, &e);
    json_t *f = json_object();
    json_object_set_new(f, "signal", json_string("SIGHUP"));
    if (st != TS_OK) {
        json_object_set_new(f, "reason", json_string(e.msg));
        json_object_set_new(f, "where", json_string(e.where));
        ts_svc__log_event(s, "warn", "reload failed; the previous configuration stays", f);
        return;
    }
    oidc_gen *g = ts_svc__gen_acquire(s);
    json_object_set_new(f, "oidc_providers",
                        json_integer(g ? (json_int_t)ts_oidc_config_count(g->cfg) : 0));
    json_object_set_new(f, "oidc_source", json_string(source ? source : "none"));
    ts_svc__gen_release(s, g);
    json_object_set_new(f, "unchanged_until_restart",
                        json_string("listeners, store and the other settings"));
    ts_svc__log_event(s, "info", "reloaded", f);
}

static void sleep_ms(long ms)
{
    struct timespec d = {ms / 1000, (ms % 1000) * 1000000L};
    nanosleep(&d, NULL);
}

void ts_svc_run(ts_svc *s)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    /* Every listener accepts from here on (ts_svc_start() started them all). */
    ts_svc_notify wd = {0};
    ts_svc__notify_ready(&wd, s->port);
    collect(s);
    bool rotating = s->cfg.key_rotation_interval_s > 0;
    struct stat seen;
    if (!rotating || rotation_state_stat(s, &seen) != 0)
        memset(&seen, 0, sizeof seen);
    time_t last_collect = time(NULL), last_rotation = time(NULL);
    int sig;
    for (;;) {
        /* With keys.rotation the loop also wakes every check interval. */
        struct timespec t = {ts_svc__tls_on(s) ? TS_SVC_TLS_CHECK_S
                             : rotating        ? TS_SVC_ROTATION_CHECK_S
                                               : 60,
                             0};
        sig = ts_svc__notify_sigwait(&wd, &set, &t); /* sends WATCHDOG=1 when due */
        if (sig == SIGTERM || sig == SIGINT)
            break;
        if (sig == SIGHUP) {
            ts_svc__notify_reloading();
            reload_keys(s, "SIGHUP");
            ts_svc__tls_reload(s, true);
            reload(s);
            ts_svc__notify_reloaded();
        } else if (sig < 0 && errno == EAGAIN) {
            ts_svc__tls_reload(s, false);
            /* Keys other replicas published since: the management API's keys file follows. */
            ts_svc__mgmt_keys_changed(s);
            /* The loop wakes more often with TLS: rotation keeps its own pace. */
            if (rotating && time(NULL) - last_rotation >= TS_SVC_ROTATION_CHECK_S - 1) {
                last_rotation = time(NULL);
                rotation_check(s, &seen);
            }
            /* Once a minute, as before rotation existed (a second early is on time). */
            if (time(NULL) - last_collect >= 59) {
                last_collect = time(NULL);
                collect(s);
                keys_warn(s);
            }
        }
    }
    ts_svc__notify_stopping();
    json_t *f = json_object();
    json_object_set_new(f, "signal", json_string(sig == SIGTERM ? "SIGTERM" : "SIGINT"));
    ts_svc__log_event(s, "info", "shutting down", f);
    /* Stop accepting; let requests in flight finish, for at most 10 s. Idle keep-alive
     * connections do not hold the drain: they are closed when the daemon stops, and answers
     * given meanwhile say Connection: close. */
    atomic_store(&s->draining, true);
    ts_svc__mgmt_stop(s);
    ts_svc__metrics_listen_stop(s);
    if (s->admin) {
        MHD_stop_daemon(s->admin);
        s->admin = NULL;
    }
    MHD_socket ls = MHD_quiesce_daemon(s->mhd);
    for (int i = 0; i < 200 && atomic_load(&s->inflight) > 0; i++)
        sleep_ms(50);
    MHD_stop_daemon(s->mhd);
    s->mhd = NULL;
    if (ls != MHD_INVALID_SOCKET)
        close(ls);
    ts_svc__log_event(s, "info", "stopped", NULL);
}

void ts_svc_free(ts_svc *s)
{
    if (!s)
        return;
    ts_svc__mgmt_stop(s); /* before the main listener: its gate reads this service's keys */
    ts_svc__metrics_listen_stop(s);
    if (s->admin)
        MHD_stop_daemon(s->admin);
    if (s->admin_unix)
        unlink(s->cfg.admin_listen + 5);
    if (s->mhd)
        MHD_stop_daemon(s->mhd);
    ts_svc__tls_stop(s); /* after its daemon: no handshake asks for the certificate any more */
    ts_mhd_limits_free(s->admin_limits); /* after their daemons: joins the watchdogs */
    ts_mhd_limits_free(s->limits);
    ts_svc__oidc_shared_stop(s); /* it uses the store and the generation */
    ts_svc__maps_stop(s);        /* after the listeners: no exchange runs any more */
    ts_svc__gen_install(s, NULL);
    pthread_mutex_destroy(&s->oidc_mu);
    pthread_mutex_destroy(&s->admin_mu);
    ts_store_limiter_free(s->limiter);
    ts_svc_keyring_detach(s->keys); /* its refresher uses the store */
    ts_store_free(s->store);
    ts_svc_keyring_free(s->keys);
    ts_svc_clients_free(s->clients);
    free(s->metadata);
    free(s);
}
