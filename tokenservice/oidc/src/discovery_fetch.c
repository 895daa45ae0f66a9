/* One OpenID Provider discovery document, fetched and checked (OpenID Connect Discovery 1.0
   §4): the URL derived from the issuer, the answer bounded, the document's issuer identical to
   the one asked for, its endpoints https:// (http:// only on loopback). The relying party
   (discovery.c) and the gateway's trust entries without a jwks_uri both start from here. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>

#include "oidc_internal.h"

#define DEFAULT_TIMEOUT_MS 5000u

char *ts_oidc__discovery_url(const char *issuer)
{
    /* "A trailing / of the issuer is removed before the suffix is appended" (§4). */
    size_t il = strlen(issuer);
    while (il > 0 && issuer[il - 1] == '/')
        il--;
    static const char wk[] = "/.well-known/openid-configuration";
    char *url = malloc(il + sizeof wk);
    if (url) {
        memcpy(url, issuer, il);
        memcpy(url + il, wk, sizeof wk);
    }
    return url;
}

/* A URL member: https:// (http:// only on loopback); absent is fine unless @p required. */
static ts_status dup_url(const json_t *doc, const char *field, bool required, const char *where,
                         char **out, ts_error *err)
{
    *out = NULL;
    const json_t *v = json_object_get(doc, field);
    if (!v && !required)
        return TS_OK;
    const char *s = json_string_value(v);
    if (!s || !*s || !ts_oidc__url_allowed(s))
        return ts_error_set(err, TS_EINVAL, where,
                            "%s must be an https:// URL (http:// only on loopback)", field);
    if (!(*out = strdup(s)))
        return ts_error_set(err, TS_ENOMEM, where, "out of memory");
    return TS_OK;
}

/* GET the document: HTTP 200 and a JSON object, repeated members refused. */
static ts_status fetch_doc(const char *url, unsigned timeout_ms, json_t **doc, ts_error *err)
{
    *doc = NULL;
    ts_oidc__http_req rq = {
        .url = url, .timeout_ms = timeout_ms, .max_body = TS_OIDC_MAX_DOC_BYTES};
    long status = 0;
    char *body = NULL;
    size_t n = 0;
    ts_status st = ts_oidc__http(&rq, &status, &body, &n, err);
    if (st == TS_OK && status != 200)
        st = ts_error_set(err, TS_EIO, url, "discovery answered HTTP status %ld", status);
    if (st == TS_OK) {
        json_error_t je;
        /* Repeated members are refused (a second "issuer" or "jwks_uri" must not win). */
        json_t *j = json_loadb(body, n, JSON_REJECT_DUPLICATES, &je);
        if (json_is_object(j))
            *doc = j;
        else {
            st = ts_error_set(err, TS_EPARSE, url, "discovery document is not a JSON object: %s",
                              j ? "wrong type" : je.text);
            json_decref(j);
        }
    }
    free(body);
    return st;
}

ts_status ts_oidc_discovery_fetch(const char *issuer, unsigned timeout_ms, ts_oidc_discovery *out,
                                  ts_error *err)
{
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_oidc_discovery_fetch", "NULL out parameter");
    memset(out, 0, sizeof *out);
    if (!issuer || !*issuer || strlen(issuer) > TS_OIDC_MAX_STRING)
        return ts_error_set(err, TS_EINVAL, "issuer", "no issuer, or one over %u bytes",
                            TS_OIDC_MAX_STRING);
    /* The configuration's rule for issuers (docs/oidc.md): what is asked for over the network
       is never plain http:// to another host, and a query or fragment would end up in the
       middle of the well-known URL. */
    if (!ts_oidc__url_allowed(issuer) || strpbrk(issuer, "?#"))
        return ts_error_set(err, TS_EINVAL, "issuer",
                            "must be an https:// URL (http:// only on loopback) without query or "
                            "fragment");
    if (timeout_ms > TS_OIDC_MAX_TIMEOUT_MS)
        return ts_error_set(err, TS_EINVAL, "timeout_ms", "more than %u ms",
                            TS_OIDC_MAX_TIMEOUT_MS);
    char *url = ts_oidc__discovery_url(issuer);
    if (!url)
        return ts_error_set(err, TS_ENOMEM, "discovery", "out of memory");
    json_t *doc = NULL;
    ts_status st = fetch_doc(url, timeout_ms ? timeout_ms : DEFAULT_TIMEOUT_MS, &doc, err);
    if (st == TS_OK) {
        const char *iss = json_string_value(json_object_get(doc, "issuer"));
        /* OpenID Connect Discovery §4.3: identical, trailing slash included. */
        if (!iss || strcmp(iss, issuer) != 0)
            st = ts_error_set(err, TS_EINVAL, url,
                              "discovery issuer \"%.100s\" differs from the configured \"%.100s\"",
                              iss ? iss : "(missing)", issuer);
    }
    if (st == TS_OK)
        st = dup_url(doc, "jwks_uri", true, url, &out->jwks_uri, err);
    if (st == TS_OK)
        st = dup_url(doc, "introspection_endpoint", false, url, &out->introspection_endpoint, err);
    json_decref(doc);
    free(url);
    if (st != TS_OK)
        ts_oidc_discovery_cleanup(out);
    return st;
}

void ts_oidc_discovery_cleanup(ts_oidc_discovery *d)
{
    if (!d)
        return;
    free(d->jwks_uri);
    free(d->introspection_endpoint);
    memset(d, 0, sizeof *d);
}
