/* Running the gateway (gateway.h): the start-up order (decision core, admin listener, HTTP
 * check listener, gRPC listener), the one "listening" line that names every bound port (the
 * tests and operators read it; each listener may ask for port 0), the signal loop (SIGHUP
 * reloads, SIGTERM and SIGINT stop), systemd's notifications and watchdog (common/notify.h,
 * as the agent sends them), the TLS pair's reloads (SIGHUP, and a look at its files every
 * TS_COMMON__TLS_CHECK_S seconds), and the stop in reverse order. Also --check: the core built once
 * with read-only keys, and the TLS pair loaded once. */
#define _POSIX_C_SOURCE 200809L

#include <signal.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "admin.h"
#include "common/notify.h"
#include "core.h"
#include "gateway.h"
#include "grpc_server.h"
#include "gw_tls.h"
#include "http_front.h"

/* One log line on stderr, JSON or text like the core's: @p fields is either "" or a JSON
 * member list (",\"port\":1") for json and "key=value" pairs for text. Never a token. */
static void log_line(const ts_gateway_config *cfg, const char *level, const char *msg,
                     const char *json_fields, const char *text_fields)
{
    char ts[32];
    struct timespec now;
    struct tm tm;
    clock_gettime(CLOCK_REALTIME, &now);
    gmtime_r(&now.tv_sec, &tm);
    strftime(ts, sizeof ts, "%Y-%m-%dT%H:%M:%SZ", &tm);
    if (strcmp(cfg->log_format, "text") == 0)
        fprintf(stderr, "%s %-5s %s%s%s\n", ts, level, msg, *text_fields ? " " : "", text_fields);
    else
        fprintf(stderr, "{\"time\":\"%s\",\"level\":\"%s\",\"msg\":\"%s\"%s}\n", ts, level, msg,
                json_fields);
    fflush(stderr);
}

/* The error's text as a JSON string body: quotes, backslashes and controls left out. */
static void plain(const char *in, char *out, size_t cap)
{
    size_t o = 0;
    for (; *in && o + 1 < cap; in++)
        if (*in != '"' && *in != '\\' && (unsigned char)*in >= 0x20)
            out[o++] = *in;
    out[o] = '\0';
}

static void admin_metrics(void *ud, ts_common__secbuf *out)
{
    ts_gateway__core_metrics(ud, out);
}

static ts_status admin_jwks(void *ud, ts_common__secbuf *out, ts_error *err)
{
    return ts_gateway__core_jwks(ud, out, err);
}

ts_status ts_gateway_check(const ts_gateway_config *cfg, ts_error *err)
{
    ts_gateway__core_options opts = TS_GATEWAY__CORE_OPTIONS_INIT;
    opts.read_only_keys = true;
    ts_gateway__core *core = ts_gateway__core_new(cfg, &opts, err);
    if (!core)
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    ts_gateway__core_free(core);
    /* The TLS pair and client CAs too, as a run would load them. */
    ts_gateway__tls *tls = NULL;
    ts_common__tls_info ti;
    ts_status st = ts_gateway__tls_new(cfg, NULL, &tls, &ti, err);
    ts_gateway__tls_free(tls);
    return st;
}

/* The error of one reloaded part as log fields, @p prefix before "where" and "error". */
static void error_fields(const char *prefix, const ts_error *err, char *j, size_t jcap, char *t,
                         size_t tcap)
{
    char where[sizeof err->where], text[sizeof err->msg];
    plain(err->where, where, sizeof where);
    plain(err->msg, text, sizeof text);
    snprintf(j, jcap, ",\"%swhere\":\"%s\",\"%serror\":\"%s\"", prefix, where, prefix, text);
    snprintf(t, tcap, " %swhere=%s %serror=\"%s\"", prefix, where, prefix, text);
}

static const char *reload_msg(bool policy, bool keys)
{
    if (policy && keys)
        return "reloaded";
    if (keys)
        return "reload failed: the running policy is kept, the keys are reloaded";
    if (policy)
        return "reload failed: the running keys are kept, the policy is reloaded";
    return "reload failed: the running policy and keys are kept";
}

/* SIGHUP: the policy and the keys again, each on its own; a part that fails keeps its running
 * version and the log line says exactly which (docs/gateway.md):
 *   "reloaded"                                                         both, info
 *   "reload failed: the running policy is kept, the keys are reloaded" error
 *   "reload failed: the running keys are kept, the policy is reloaded" error
 *   "reload failed: the running policy and keys are kept"              error
 * each with the policy_version in force, "policy" and "keys" ("reloaded" or "kept"), and the
 * failure's "where" and "error" ("keys_where" and "keys_error" for the keys when both fail).
 * systemd sees the unit "reloading" from RELOADING=1 until READY=1, which follows whatever the
 * outcome: the gateway keeps answering either way. */
static void reload(const ts_gateway_config *cfg, ts_gateway__core *core)
{
    ts_common__notify("RELOADING=1");
    ts_gateway__reload_report rep;
    bool all = ts_gateway__core_reload(core, &rep) == TS_OK;
    bool policy = rep.policy == TS_OK, keys = rep.keys == TS_OK;
    char pv[65], j[1280], t[1280], ej[2][560], et[2][560];
    ts_gateway__core_policy_version(core, pv);
    ej[0][0] = ej[1][0] = et[0][0] = et[1][0] = '\0';
    if (!policy)
        error_fields("", &rep.policy_err, ej[0], sizeof ej[0], et[0], sizeof et[0]);
    if (!keys)
        error_fields(policy ? "" : "keys_", &rep.keys_err, ej[1], sizeof ej[1], et[1],
                     sizeof et[1]);
    const char *p = policy ? "reloaded" : "kept", *k = keys ? "reloaded" : "kept";
    snprintf(j, sizeof j, ",\"policy_version\":\"%s\",\"policy\":\"%s\",\"keys\":\"%s\"%s%s", pv, p,
             k, ej[0], ej[1]);
    snprintf(t, sizeof t, "policy_version=%s policy=%s keys=%s%s%s", pv, p, k, et[0], et[1]);
    log_line(cfg, all ? "info" : "error", reload_msg(policy, keys), j, t);
    ts_common__notify("READY=1");
}

/* The pair's log fields: serial, subject, expiry, key type, chain length (no key material). */
static void tls_fields(const ts_common__tls_info *ti, char *j, size_t jcap, char *t, size_t tcap)
{
    char subject[sizeof ti->subject];
    plain(ti->subject, subject, sizeof subject);
    snprintf(j, jcap,
             ",\"tls_serial\":\"%s\",\"tls_subject\":\"%s\",\"tls_not_after\":%lld,"
             "\"tls_key_type\":\"%s\",\"tls_chain\":%u",
             ti->serial, subject, (long long)ti->not_after, ti->key_type, ti->chain);
    snprintf(t, tcap,
             "tls_serial=%s tls_subject=\"%s\" tls_not_after=%lld tls_key_type=%s tls_chain=%u",
             ti->serial, subject, (long long)ti->not_after, ti->key_type, ti->chain);
}

/* The client CA bundle after the pair, each on its own: new CAs are logged with their count;
 * a bundle refused with the reason, and the running CAs stay. */
static void reload_client_cas(const ts_gateway_config *cfg, ts_gateway__tls *tls, bool forced)
{
    ts_error err;
    ts_error_clear(&err);
    char j[1024], t[1024];
    bool changed = false;
    unsigned count = 0;
    if (ts_gateway__tls_reload_client_cas(tls, !forced, &changed, &count, &err) != TS_OK) {
        error_fields("", &err, j, sizeof j, t, sizeof t);
        log_line(cfg, "error", "tls client CA reload failed: the running CAs are kept", j, t + 1);
        return;
    }
    if (!changed)
        return;
    snprintf(j, sizeof j, ",\"tls_client_cas\":%u", count);
    snprintf(t, sizeof t, "tls_client_cas=%u", count);
    log_line(cfg, "info", "tls client CAs reloaded", j, t);
}

/* SIGHUP (@p forced) or the periodic look: a new pair is logged with its serial; one refused
 * is logged with the reason, and the running pair stays (docs/gateway.md, "TLS"). */
static void reload_tls(const ts_gateway_config *cfg, ts_gateway__tls *tls, bool forced)
{
    if (!tls)
        return;
    reload_client_cas(cfg, tls, forced);
    ts_common__tls_info ti;
    ts_error err;
    ts_error_clear(&err);
    char j[1024], t[1024];
    if (ts_gateway__tls_reload(tls, !forced, &ti, &err) != TS_OK) {
        error_fields("", &err, j, sizeof j, t, sizeof t);
        log_line(cfg, "error", "tls reload failed: the running certificate is kept", j, t + 1);
        return;
    }
    if (!ti.changed)
        return;
    tls_fields(&ti, j, sizeof j, t, sizeof t);
    log_line(cfg, "info", "tls certificate reloaded", j, t);
}

static int64_t mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* Until SIGTERM or SIGINT (the caller blocked these three in every thread: they arrive here
 * and nowhere else): SIGHUP reloads. With systemd's watchdog on, WATCHDOG=1 goes out every
 * interval from this same loop (sigtimedwait's timeout, no thread of its own), so a reload
 * that hangs also stops the beat and systemd restarts the gateway. */
static void signal_loop(const ts_gateway_config *cfg, ts_gateway__core *core, ts_gateway__tls *tls)
{
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGTERM);
    sigaddset(&set, SIGINT);
    sigaddset(&set, SIGHUP);
    int64_t wd = ts_common__watchdog_interval_ms(), next_wd = mono_ms();
    const int64_t tls_every = TS_COMMON__TLS_CHECK_S * INT64_C(1000);
    int64_t next_tls = tls ? mono_ms() + tls_every : INT64_MAX;
    for (;;) {
        int sig;
        int64_t until = wd && next_wd < next_tls ? next_wd : next_tls;
        if (until != INT64_MAX) {
            int64_t wait = until - mono_ms();
            if (wait < 0)
                wait = 0;
            struct timespec to = {(time_t)(wait / 1000), (long)(wait % 1000) * 1000000L};
            sig = sigtimedwait(&set, NULL, &to); /* -1: the timeout (EAGAIN) or EINTR */
        } else {
            sig = sigwaitinfo(&set, NULL);
        }
        if (sig == SIGTERM || sig == SIGINT)
            return;
        if (sig == SIGHUP) {
            reload(cfg, core);
            reload_tls(cfg, tls, true);
        }
        if (tls && mono_ms() >= next_tls) {
            reload_tls(cfg, tls, false);
            next_tls = mono_ms() + tls_every;
        }
        if (wd && mono_ms() >= next_wd) {
            ts_common__notify("WATCHDOG=1");
            next_wd = mono_ms() + wd;
        }
    }
}

ts_status ts_gateway_run(const ts_gateway_config *cfg, ts_error *err)
{
    ts_gateway__http_front *http = NULL;
    ts_gateway__grpc_server *grpc = NULL;
    ts_gateway__admin *admin = NULL;
    ts_gateway__tls *tls = NULL;
    ts_common__tls_info ti;
    ts_status st = TS_OK;
    ts_gateway__core_options opts = TS_GATEWAY__CORE_OPTIONS_INIT;
    ts_gateway__core *core = ts_gateway__core_new(cfg, &opts, err);
    if (!core)
        return err && err->code != TS_OK ? err->code : TS_EINTERNAL;
    ts_gateway__checker checker = {ts_gateway__check, core};
    ts_gateway__admin_source src = {admin_metrics, admin_jwks, core, ts_gateway__core_guard(core)};
    if (ts_gateway__tls_new(cfg, ts_gateway__core_tls_counters(core), &tls, &ti, err) != TS_OK ||
        !(admin = ts_gateway__admin_start_tls(cfg->admin_listen, src, tls, err)) ||
        !(http = ts_gateway__http_front_start_tls(cfg, checker, ts_gateway__tls_http(tls), err)) ||
        (cfg->grpc_listen[0] && !(grpc = ts_gateway__grpc_server_start_tls(
                                      cfg, checker, ts_gateway__tls_grpc(tls), err)))) {
        st = err && err->code != TS_OK ? err->code : TS_EIO;
        goto stop;
    }
    char pv[65], j[256], t[256];
    unsigned gp = grpc ? ts_gateway__grpc_server_port(grpc) : 0u;
    ts_gateway__core_policy_version(core, pv);
    snprintf(j, sizeof j,
             ",\"port\":%u,\"grpc_port\":%u,\"admin_port\":%u,\"policy_version\":\"%s\"",
             ts_gateway__http_front_port(http), gp, ts_gateway__admin_port(admin), pv);
    snprintf(t, sizeof t, "port=%u grpc_port=%u admin_port=%u policy_version=%s",
             ts_gateway__http_front_port(http), gp, ts_gateway__admin_port(admin), pv);
    log_line(cfg, "info", "listening", j, t);
    if (tls) {
        char tj[1024], tt[1024];
        tls_fields(&ti, tj, sizeof tj, tt, sizeof tt);
        log_line(cfg, "info", "tls", tj, tt);
    }
    ts_common__notify("READY=1"); /* every listener answers from here on */
    signal_loop(cfg, core, tls);
    ts_common__notify("STOPPING=1");
    log_line(cfg, "info", "stopping", "", "");
stop:
    ts_gateway__grpc_server_stop(grpc);
    ts_gateway__http_front_stop(http);
    ts_gateway__admin_stop(admin);
    ts_gateway__tls_free(tls); /* after every listener that used it */
    ts_gateway__core_free(core);
    return st;
}
