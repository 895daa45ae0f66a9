/* The client registry: parsing the `clients` setting, Basic credentials, constant-time checks.
 * Secrets never stay in memory as text: only their SHA-256 digests are kept, and every buffer
 * that held one is wiped. */
#define _GNU_SOURCE

#include "clients.h"

#include <ctype.h>
#include <errno.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "common/file.h"

typedef struct entry {
    char id[TS_SVC_CLIENT_ID_MAX + 1];
    unsigned char digest[SHA256_DIGEST_LENGTH];
    bool introspect, revoke_any;
} entry;

struct ts_svc_clients {
    entry *v;
    size_t n;
    /* Compared against when the client is unknown, so that an unknown id costs the same. */
    unsigned char decoy[SHA256_DIGEST_LENGTH];
};

static void digest_of(const char *secret, size_t len, unsigned char out[SHA256_DIGEST_LENGTH])
{
    SHA256((const unsigned char *)secret, len, out);
}

static bool id_ok(const char *id)
{
    size_t l = strlen(id);
    if (l == 0 || l > TS_SVC_CLIENT_ID_MAX)
        return false;
    for (const char *p = id; *p; p++)
        if (*p <= ' ' || *p > '~' || *p == ':')
            return false;
    return true;
}

static bool secret_ok(const char *s, size_t l)
{
    if (l < TS_SVC_CLIENT_SECRET_MIN || l > TS_SVC_CLIENT_SECRET_MAX)
        return false;
    for (size_t i = 0; i < l; i++)
        if ((unsigned char)s[i] < 0x20 || (unsigned char)s[i] > 0x7e)
            return false; /* RFC 6749 Appendix A.2: VSCHAR; anything else could never authenticate
                           */
    return true;
}

/* A secret file is as sensitive as a signing key: its owner alone may read it. */
static ts_status read_secret_file(const char *path, bool allow_insecure,
                                  unsigned char digest[SHA256_DIGEST_LENGTH], ts_error *err)
{
    struct stat sb;
    if (stat(path, &sb) != 0)
        return ts_error_set(err, TS_EIO, path, "cannot read client secret file: %s",
                            strerror(errno));
    if ((sb.st_mode & 077) != 0 && !allow_insecure)
        return ts_error_set(err, TS_EINVAL, path,
                            "the client secret may be read by %s (mode %04o): chmod 600 it, or "
                            "set allowInsecureKeyPermissions",
                            (sb.st_mode & 007) ? "every user" : "its group",
                            (unsigned)(sb.st_mode & 07777));
    char *text = NULL;
    size_t len = 0;
    ts_status st = ts_common__read_file(path, TS_SVC_CLIENT_SECRET_MAX + 2, TS_COMMON__READ_NO_NUL,
                                        &text, &len, err);
    if (st != TS_OK)
        return st;
    if (len && text[len - 1] == '\n')
        len--;
    if (len && text[len - 1] == '\r')
        len--;
    if (secret_ok(text, len))
        digest_of(text, len, digest);
    else
        st = ts_error_set(err, TS_EINVAL, path,
                          "a client secret is %u..%u printable ASCII characters (RFC 6749 VSCHAR)",
                          TS_SVC_CLIENT_SECRET_MIN, TS_SVC_CLIENT_SECRET_MAX);
    OPENSSL_cleanse(text, len);
    free(text);
    return st;
}

static ts_status parse_one(json_t *o, size_t i, bool allow_insecure, entry *e, ts_error *err)
{
    char where[64];
    snprintf(where, sizeof where, "clients[%zu]", i);
    if (!json_is_object(o))
        return ts_error_set(err, TS_EINVAL, where, "must be an object");
    const char *k;
    json_t *v;
    json_object_foreach(o, k, v)
    {
        if (strcmp(k, "client_id") != 0 && strcmp(k, "client_secret") != 0 &&
            strcmp(k, "client_secret_file") != 0 && strcmp(k, "introspect") != 0 &&
            strcmp(k, "revoke_any") != 0)
            return ts_error_set(err, TS_EINVAL, where, "unknown member '%.64s'", k);
    }
    const char *id = json_string_value(json_object_get(o, "client_id"));
    if (!id || !id_ok(id))
        return ts_error_set(err, TS_EINVAL, where,
                            "client_id must be 1..%u printable ASCII characters without ':'",
                            TS_SVC_CLIENT_ID_MAX);
    snprintf(e->id, sizeof e->id, "%s", id);
    json_t *intro = json_object_get(o, "introspect"), *any = json_object_get(o, "revoke_any");
    if ((intro && !json_is_boolean(intro)) || (any && !json_is_boolean(any)))
        return ts_error_set(err, TS_EINVAL, where, "introspect and revoke_any are booleans");
    e->introspect = json_is_true(intro);
    e->revoke_any = json_is_true(any);
    json_t *sec = json_object_get(o, "client_secret"),
           *file = json_object_get(o, "client_secret_file");
    if ((sec != NULL) == (file != NULL))
        return ts_error_set(err, TS_EINVAL, where,
                            "give exactly one of client_secret and client_secret_file");
    if (file) {
        if (!json_is_string(file) || !*json_string_value(file))
            return ts_error_set(err, TS_EINVAL, where, "client_secret_file must be a path");
        return read_secret_file(json_string_value(file), allow_insecure, e->digest, err);
    }
    if (!json_is_string(sec) || !secret_ok(json_string_value(sec), json_string_length(sec)))
        return ts_error_set(err, TS_EINVAL, where,
                            "client_secret must be %u..%u printable ASCII characters",
                            TS_SVC_CLIENT_SECRET_MIN, TS_SVC_CLIENT_SECRET_MAX);
    digest_of(json_string_value(sec), json_string_length(sec), e->digest);
    return TS_OK;
}

/* jansson keeps the secrets of the parsed document in its strings: wipe them before release. */
static void wipe_secrets(json_t *doc)
{
    size_t i;
    json_t *o;
    json_array_foreach(doc, i, o)
    {
        json_t *s = json_object_get(o, "client_secret");
        if (json_is_string(s)) {
            size_t l = json_string_length(s);
            OPENSSL_cleanse((char *)(uintptr_t)json_string_value(s), l);
        }
    }
}

ts_status ts_svc_clients_parse(const char *json, size_t len, bool allow_insecure,
                               ts_svc_clients **out, ts_error *err)
{
    *out = NULL;
    ts_svc_clients *c = calloc(1, sizeof *c);
    if (!c)
        return ts_error_set(err, TS_ENOMEM, "clients", "out of memory");
    /* A random decoy: no secret can be chosen to match it. */
    if (RAND_bytes(c->decoy, sizeof c->decoy) != 1) {
        free(c);
        return ts_error_set(err, TS_EINTERNAL, "clients", "no random bytes");
    }
    if (len == 0) {
        *out = c;
        return TS_OK;
    }
    json_error_t je;
    json_t *doc = json_loadb(json, len, JSON_REJECT_DUPLICATES, &je);
    ts_status st = TS_OK;
    if (!json_is_array(doc))
        st = ts_error_set(err, TS_EINVAL, "clients", "must be a JSON array");
    else if (json_array_size(doc) > TS_SVC_CLIENTS_MAX_N)
        st = ts_error_set(err, TS_ELIMIT, "clients", "more than %u clients", TS_SVC_CLIENTS_MAX_N);
    else if (json_array_size(doc) && !(c->v = calloc(json_array_size(doc), sizeof *c->v)))
        st = ts_error_set(err, TS_ENOMEM, "clients", "out of memory");
    size_t i;
    json_t *o;
    if (st == TS_OK)
        json_array_foreach(doc, i, o)
        {
            if ((st = parse_one(o, i, allow_insecure, &c->v[i], err)) != TS_OK)
                break;
            for (size_t j = 0; j < i && st == TS_OK; j++)
                if (strcmp(c->v[j].id, c->v[i].id) == 0)
                    st = ts_error_set(err, TS_EINVAL, "clients", "client_id '%s' given twice",
                                      c->v[i].id);
            if (st != TS_OK)
                break;
            c->n++;
        }
    if (doc)
        wipe_secrets(doc);
    json_decref(doc);
    if (st != TS_OK) {
        ts_svc_clients_free(c);
        return st;
    }
    *out = c;
    return TS_OK;
}

void ts_svc_clients_free(ts_svc_clients *c)
{
    if (!c)
        return;
    if (c->v)
        OPENSSL_cleanse(c->v, c->n * sizeof *c->v);
    free(c->v);
    free(c);
}

size_t ts_svc_clients_count(const ts_svc_clients *c)
{
    return c ? c->n : 0;
}

/* Basic credentials ------------------------------------------------------------------------ */

static int b64_value(unsigned char ch)
{
    if (ch >= 'A' && ch <= 'Z')
        return ch - 'A';
    if (ch >= 'a' && ch <= 'z')
        return ch - 'a' + 26;
    if (ch >= '0' && ch <= '9')
        return ch - '0' + 52;
    if (ch == '+')
        return 62;
    if (ch == '/')
        return 63;
    return -1;
}

/* Standard base64 with padding (RFC 4648 §4); @p out holds at least len/4*3 bytes. */
static bool b64_decode(const char *in, size_t len, unsigned char *out, size_t *olen)
{
    if (len == 0 || len % 4 != 0)
        return false;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        int v[4];
        size_t pad = 0;
        for (size_t j = 0; j < 4; j++) {
            unsigned char ch = (unsigned char)in[i + j];
            if (ch == '=' && i + 4 == len && j >= 2) {
                v[j] = 0;
                pad++;
            } else if (pad || (v[j] = b64_value(ch)) < 0) {
                return false; /* data after padding, or not base64 */
            }
        }
        uint32_t w =
            (uint32_t)v[0] << 18 | (uint32_t)v[1] << 12 | (uint32_t)v[2] << 6 | (uint32_t)v[3];
        out[o++] = (unsigned char)(w >> 16);
        if (pad < 2)
            out[o++] = (unsigned char)(w >> 8);
        if (pad < 1)
            out[o++] = (unsigned char)w;
    }
    *olen = o;
    return true;
}

static int hex_value(unsigned char ch)
{
    if (ch >= '0' && ch <= '9')
        return ch - '0';
    ch = (unsigned char)(ch | 0x20);
    return ch >= 'a' && ch <= 'f' ? ch - 'a' + 10 : -1;
}

/* application/x-www-form-urlencoded decoding of one part into @p out (@p cap bytes with NUL). */
static bool form_decode(const unsigned char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char ch = in[i];
        if (ch == '+') {
            ch = ' ';
        } else if (ch == '%') {
            int hi = i + 2 < len ? hex_value(in[i + 1]) : -1;
            int lo = i + 2 < len ? hex_value(in[i + 2]) : -1;
            if (hi < 0 || lo < 0)
                return false;
            ch = (unsigned char)(hi << 4 | lo);
            i += 2;
        }
        if (ch < ' ' || ch == 0x7f || o + 1 >= cap)
            return false;
        out[o++] = (char)ch;
    }
    out[o] = '\0';
    return true;
}

ts_status ts_svc_basic_decode(const char *hdr, size_t len, char id[TS_SVC_CLIENT_ID_MAX + 1],
                              char secret[TS_SVC_CLIENT_SECRET_MAX + 1])
{
    id[0] = secret[0] = '\0';
    if (len < 6 || strncasecmp(hdr, "Basic ", 6) != 0)
        return TS_ENOTFOUND;
    if (len > TS_SVC_BASIC_MAX)
        return TS_EINVAL;
    size_t i = 6;
    while (i < len && hdr[i] == ' ')
        i++;
    size_t end = len;
    while (end > i && hdr[end - 1] == ' ')
        end--;
    unsigned char buf[TS_SVC_BASIC_MAX];
    size_t n = 0;
    ts_status st = TS_EINVAL;
    if (b64_decode(hdr + i, end - i, buf, &n)) {
        const unsigned char *colon = memchr(buf, ':', n);
        /* The id may not be empty; an escaped ':' inside either part stays data. */
        if (colon && colon != buf &&
            form_decode(buf, (size_t)(colon - buf), id, TS_SVC_CLIENT_ID_MAX + 1) &&
            form_decode(colon + 1, n - (size_t)(colon + 1 - buf), secret,
                        TS_SVC_CLIENT_SECRET_MAX + 1))
            st = TS_OK;
    }
    OPENSSL_cleanse(buf, sizeof buf);
    if (st != TS_OK) {
        OPENSSL_cleanse(secret, TS_SVC_CLIENT_SECRET_MAX + 1);
        id[0] = '\0';
    }
    return st;
}

/* Authentication --------------------------------------------------------------------------- */

ts_svc_auth ts_svc_clients_authenticate(const ts_svc_clients *c, const char *authorization,
                                        const char *form_id, const char *form_secret,
                                        ts_svc_client *who, bool *basic)
{
    memset(who, 0, sizeof *who);
    if (basic)
        *basic = false;
    char id[TS_SVC_CLIENT_ID_MAX + 1], secret[TS_SVC_CLIENT_SECRET_MAX + 1];
    const char *use_id = form_id, *use_secret = form_secret;
    if (authorization) {
        ts_status st = ts_svc_basic_decode(authorization, strlen(authorization), id, secret);
        if (st != TS_ENOTFOUND) {
            if (basic)
                *basic = true;
            if (st != TS_OK)
                return TS_SVC_AUTH_MALFORMED;
            /* One method per request (RFC 6749 §2.3): a form secret besides Basic, or a form
             * client_id naming someone else, is refused. */
            if (form_secret || (form_id && strcmp(form_id, id) != 0)) {
                OPENSSL_cleanse(secret, sizeof secret);
                return TS_SVC_AUTH_MALFORMED;
            }
            use_id = id;
            use_secret = secret;
        }
    }
    if (!use_secret) {
        if (!use_id)
            return TS_SVC_AUTH_NONE;
        /* A public caller naming itself; a registered client must prove it is that client. */
        for (size_t i = 0; c && i < c->n; i++)
            if (strcmp(c->v[i].id, use_id) == 0)
                return TS_SVC_AUTH_BAD;
        return TS_SVC_AUTH_NONE;
    }
    if (!use_id || !*use_id) {
        OPENSSL_cleanse(secret, sizeof secret);
        return TS_SVC_AUTH_MALFORMED;
    }
    unsigned char d[SHA256_DIGEST_LENGTH];
    digest_of(use_secret, strlen(use_secret), d);
    OPENSSL_cleanse(secret, sizeof secret);
    const entry *found = NULL;
    for (size_t i = 0; c && i < c->n; i++)
        if (strcmp(c->v[i].id, use_id) == 0)
            found = &c->v[i];
    /* Digests are compared in constant time; an unknown client is compared with the decoy. */
    static const unsigned char none[SHA256_DIGEST_LENGTH];
    const unsigned char *want = found ? found->digest : (c ? c->decoy : none);
    bool match = CRYPTO_memcmp(d, want, sizeof d) == 0 && found;
    OPENSSL_cleanse(d, sizeof d);
    if (!match)
        return TS_SVC_AUTH_BAD;
    snprintf(who->id, sizeof who->id, "%s", found->id);
    who->introspect = found->introspect;
    who->revoke_any = found->revoke_any;
    return TS_SVC_AUTH_OK;
}
