/* Opaque tokens, their SHA-256 hashes, log prefixes and random record ids. */
#include "store_internal.h"

#include <string.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#define TOKEN_BYTES 32
#define ID_BYTES 16
#define MAX_HASH_INPUT (64u * 1024u)

static void hex_encode(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 0x0f];
    }
    out[2 * n] = '\0';
}

static ts_status random_hex(unsigned char *buf, size_t n, char *out, ts_error *err)
{
    if (RAND_bytes(buf, (int)n) != 1) {
        unsigned long e = ERR_get_error();
        char why[128];
        ERR_error_string_n(e, why, sizeof why);
        ERR_clear_error();
        out[0] = '\0';
        return ts_error_set(err, TS_EINTERNAL, "RAND_bytes", "random generator failed: %s", why);
    }
    hex_encode(buf, n, out);
    return TS_OK;
}

ts_status ts_store_token_generate(char out[TS_STORE_TOKEN_LEN + 1], ts_error *err)
{
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_store_token_generate", "out is NULL");
    unsigned char raw[TOKEN_BYTES];
    ts_status st = random_hex(raw, sizeof raw, out, err);
    OPENSSL_cleanse(raw, sizeof raw);
    if (st != TS_OK)
        memset(out, 0, TS_STORE_TOKEN_LEN + 1);
    return st;
}

ts_status ts_store__new_id(const char *prefix, char out[TS_STORE_ID_MAX + 1], ts_error *err)
{
    unsigned char raw[ID_BYTES];
    size_t plen = strlen(prefix);
    if (plen + 2 * ID_BYTES > TS_STORE_ID_MAX)
        return ts_error_set(err, TS_EINTERNAL, "ts_store__new_id", "id prefix too long");
    memcpy(out, prefix, plen);
    return random_hex(raw, sizeof raw, out + plen, err);
}

ts_status ts_store_token_hash(const char *token, size_t len, char out[TS_STORE_HASH_LEN + 1],
                              ts_error *err)
{
    if (!out)
        return ts_error_set(err, TS_EINVAL, "ts_store_token_hash", "out is NULL");
    out[0] = '\0';
    if (!token && len > 0)
        return ts_error_set(err, TS_EINVAL, "ts_store_token_hash", "token is NULL");
    if (len > MAX_HASH_INPUT)
        return ts_error_set(err, TS_EINVAL, "ts_store_token_hash",
                            "token of %zu bytes exceeds the %u-byte limit", len, MAX_HASH_INPUT);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    if (EVP_Digest(token ? token : "", len, md, &mdlen, EVP_sha256(), NULL) != 1 || mdlen != 32) {
        ERR_clear_error();
        return ts_error_set(err, TS_EINTERNAL, "EVP_Digest", "SHA-256 failed");
    }
    hex_encode(md, mdlen, out);
    return TS_OK;
}

void ts_store_hash_prefix(const char *hash, char out[TS_STORE_PREFIX_LEN + 1])
{
    if (!out)
        return;
    size_t n = 0;
    if (hash)
        while (n < TS_STORE_PREFIX_LEN && hash[n])
            n++;
    if (n < TS_STORE_PREFIX_LEN)
        n = 0;
    memcpy(out, hash ? hash : "", n);
    out[n] = '\0';
}

bool ts_store_hash_is_valid(const char *s)
{
    if (!s)
        return false;
    size_t i = 0;
    for (; s[i]; i++) {
        if (i >= TS_STORE_HASH_LEN)
            return false;
        char c = s[i];
        if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
            return false;
    }
    return i == TS_STORE_HASH_LEN;
}

void ts_store__wipe(void *p, size_t n)
{
    if (p && n)
        OPENSSL_cleanse(p, n);
}
