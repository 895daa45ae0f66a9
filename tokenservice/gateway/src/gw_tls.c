/* The gateway's TLS (gw_tls.h): the process's pair, the client CA bundle, and the session
 * options of each listener made from them. */
#define _POSIX_C_SOURCE 200809L

#include "gw_tls.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/file.h"

/* A CA bundle of a few hundred certificates at most. */
#define CA_MAX_BYTES (1024u * 1024u)

struct ts_gateway__tls {
    ts_common__tls *pair;
    ts_common__tls_trust *clients; /* tls_client_ca_file's CAs; NULL: none asked for */
    char ca_file[TS_GATEWAY_PATH];
    ts_common__file_id ca_seen; /* at the last read, good or not */
    ts_common__tls_conn_options http, grpc;
    struct MHD_OptionItem mhd[3];
};

static void set_ptr_option(struct MHD_OptionItem *o, enum MHD_OPTION opt, void *ptr)
{
    o->option = opt;
    o->value = 0;
    o->ptr_value = ptr;
}

/* Read tls_client_ca_file; errors name the setting and keep the reason. */
static ts_status read_cas(const ts_gateway__tls *t, char **pem, size_t *len, ts_error *err)
{
    ts_status st =
        ts_common__read_file(t->ca_file, CA_MAX_BYTES, TS_COMMON__READ_NO_NUL, pem, len, err);
    if (st != TS_OK && err) {
        char msg[sizeof err->msg];
        snprintf(msg, sizeof msg, "%s", err->msg);
        ts_error_clear(err);
        ts_error_set(err, st, "tls_client_ca_file", "tls_client_ca_file: %s: %s", t->ca_file, msg);
    }
    return st;
}

static ts_status client_cas(ts_gateway__tls *t, ts_error *err)
{
    char *pem = NULL;
    size_t len = 0;
    t->ca_seen = ts_common__file_id_of(t->ca_file);
    ts_status st = read_cas(t, &pem, &len, err);
    if (st == TS_OK && !(t->clients = ts_common__tls_trust_new("tls_client_ca_file", pem, len,
                                                               ts_common__tls_cert_callback, err)))
        st = err && err->code != TS_OK ? err->code : TS_EINVAL;
    free(pem);
    return st;
}

ts_status ts_gateway__tls_new(const ts_gateway_config *cfg,
                              ts_common__tls_handshake_counters *counters, ts_gateway__tls **out,
                              ts_common__tls_info *info, ts_error *err)
{
    *out = NULL;
    if (!cfg->tls_cert_file[0])
        return TS_OK;
    ts_gateway__tls *t = calloc(1, sizeof *t);
    if (!t)
        return ts_error_set(err, TS_ENOMEM, "tls_cert_file", "out of memory");
    t->pair = ts_common__tls_new(cfg->tls_cert_file, cfg->tls_key_file, false, "tls_cert_file",
                                 "tls_key_file", info, err);
    if (!t->pair) {
        free(t);
        return err && err->code != TS_OK ? err->code : TS_EINVAL;
    }
    ts_common__tls_client_auth auth = TS_COMMON__TLS_CLIENT_NONE;
    if (cfg->tls_client_ca_file[0]) {
        snprintf(t->ca_file, sizeof t->ca_file, "%s", cfg->tls_client_ca_file);
        ts_status st = client_cas(t, err);
        if (st != TS_OK) {
            ts_gateway__tls_free(t);
            return st;
        }
        auth = strcmp(cfg->tls_client_auth, "request") == 0 ? TS_COMMON__TLS_CLIENT_REQUEST
                                                            : TS_COMMON__TLS_CLIENT_REQUIRE;
    }
    gnutls_certificate_credentials_t cred = ts_common__tls_credentials(t->pair);
    gnutls_priority_t prio = ts_common__tls_priority(t->pair);
    const gnutls_datum_t *tk = ts_common__tls_ticket_key(t->pair);
    t->http = (ts_common__tls_conn_options){cred, prio, NULL, auth, tk, counters, t->clients};
    /* gRPC clients (Envoy, grpc-js) offer h2 and nothing else over TLS. */
    t->grpc = (ts_common__tls_conn_options){cred, prio, "h2", auth, tk, counters, t->clients};
    /* A function pointer travels in the option's data pointer, as libmicrohttpd reads it. */
    gnutls_certificate_retrieve_function2 *cb = ts_common__tls_cert_callback;
    void *cbp;
    _Static_assert(sizeof cbp == sizeof cb, "function and data pointers differ in size");
    memcpy(&cbp, &cb, sizeof cbp);
    set_ptr_option(&t->mhd[0], MHD_OPTION_HTTPS_CERT_CALLBACK, cbp);
    set_ptr_option(&t->mhd[1], MHD_OPTION_HTTPS_PRIORITIES,
                   (void *)(uintptr_t)TS_COMMON__TLS_PRIORITIES);
    set_ptr_option(&t->mhd[2], MHD_OPTION_END, NULL);
    *out = t;
    return TS_OK;
}

void ts_gateway__tls_free(ts_gateway__tls *t)
{
    if (!t)
        return;
    ts_common__tls_trust_free(t->clients);
    ts_common__tls_free(t->pair);
    free(t);
}

const ts_common__tls_conn_options *ts_gateway__tls_http(const ts_gateway__tls *t)
{
    return t ? &t->http : NULL;
}

const ts_common__tls_conn_options *ts_gateway__tls_grpc(const ts_gateway__tls *t)
{
    return t ? &t->grpc : NULL;
}

unsigned ts_gateway__tls_mhd_flags(const ts_gateway__tls *t)
{
    return t ? (unsigned)MHD_USE_TLS : 0u;
}

static const struct MHD_OptionItem no_options[] = {{MHD_OPTION_END, 0, NULL}};

const struct MHD_OptionItem *ts_gateway__tls_mhd_options(const ts_gateway__tls *t)
{
    return t ? t->mhd : no_options;
}

ts_status ts_gateway__tls_reload(ts_gateway__tls *t, bool only_if_changed,
                                 ts_common__tls_info *info, ts_error *err)
{
    return ts_common__tls_reload(t->pair, only_if_changed, info, err);
}

ts_status ts_gateway__tls_reload_client_cas(ts_gateway__tls *t, bool only_if_changed, bool *changed,
                                            unsigned *count, ts_error *err)
{
    *changed = false;
    *count = 0;
    if (!t || !t->clients)
        return TS_OK;
    /* The same look as the pair's: a rename, a secret volume's ..data swap, an edit. */
    ts_common__file_id now = ts_common__file_id_of(t->ca_file);
    if (only_if_changed && ts_common__file_id_same(&now, &t->ca_seen))
        return TS_OK;
    t->ca_seen = now;
    char *pem = NULL;
    size_t len = 0;
    ts_status st = read_cas(t, &pem, &len, err);
    if (st == TS_OK)
        st = ts_common__tls_trust_replace(t->clients, pem, len, changed, err);
    free(pem);
    if (st == TS_OK)
        *count = ts_common__tls_trust_count(t->clients);
    return st;
}
