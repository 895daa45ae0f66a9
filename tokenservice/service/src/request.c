/* Who is asking: the request id, the socket peer and the limiter key. */
#define _GNU_SOURCE

#include "svc_internal.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>

#include <openssl/rand.h>

void ts_svc__request_id(struct MHD_Connection *conn, char out[TS_SVC_REQ_ID_MAX + 1])
{
    const char *h = MHD_lookup_connection_value(conn, MHD_HEADER_KIND, "X-Request-Id");
    if (h) {
        size_t l = strlen(h);
        bool ok = l > 0 && l <= TS_SVC_REQ_ID_MAX;
        for (size_t i = 0; ok && i < l; i++) {
            char c = h[i];
            ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                 c == '-' || c == '_' || c == '.';
        }
        if (ok) {
            memcpy(out, h, l + 1);
            return;
        }
    }
    unsigned char b[12];
    if (RAND_bytes(b, sizeof b) != 1)
        memset(b, 0, sizeof b);
    for (size_t i = 0; i < sizeof b; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

void ts_svc__peer_address(struct MHD_Connection *conn, char *out, size_t cap)
{
    const union MHD_ConnectionInfo *ci =
        MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
    out[0] = '\0';
    if (!ci || !ci->client_addr)
        return;
    const struct sockaddr *sa = ci->client_addr;
    if (sa->sa_family == AF_INET) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        inet_ntop(AF_INET, &in->sin_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_INET6) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        inet_ntop(AF_INET6, &in6->sin6_addr, out, (socklen_t)cap);
    } else if (sa->sa_family == AF_UNIX) {
        snprintf(out, cap, "unix");
    }
}

/* The last X-Forwarded-For header line of a request (libmicrohttpd's lookup returns the first). */
static enum MHD_Result last_xff(void *cls, enum MHD_ValueKind kind, const char *key,
                                const char *value)
{
    (void)kind;
    if (key && value && strcasecmp(key, "X-Forwarded-For") == 0)
        *(const char **)cls = value;
    return MHD_YES;
}

/* The limiter key: the socket peer, or, when the peer is the configured trusted proxy, the
 * address that proxy appended last to X-Forwarded-For. Several header lines form one list
 * (RFC 9110 §5.3), so the proxy's entry is the last entry of the last line; every earlier entry,
 * and every earlier line, may have been written by the client and is never believed. */
void ts_svc__client_key(const ts_svc *s, struct MHD_Connection *conn, const req *rq, char *out,
                        size_t cap)
{
    snprintf(out, cap, "%s", rq->peer);
    if (!s->cfg.trusted_proxy[0] || strcmp(rq->peer, s->cfg.trusted_proxy) != 0)
        return;
    const char *xff = NULL;
    MHD_get_connection_values(conn, MHD_HEADER_KIND, last_xff, &xff);
    if (!xff)
        return;
    const char *last = strrchr(xff, ',');
    last = last ? last + 1 : xff;
    while (*last == ' ' || *last == '\t')
        last++;
    char cand[INET6_ADDRSTRLEN + 1];
    size_t l = strcspn(last, " \t");
    if (l == 0 || l >= sizeof cand)
        return;
    memcpy(cand, last, l);
    cand[l] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, cand, buf) == 1 || inet_pton(AF_INET6, cand, buf) == 1)
        snprintf(out, cap, "%s", cand);
}

uint64_t ts_svc__mono_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (uint64_t)t.tv_sec * 1000u + (uint64_t)t.tv_nsec / 1000000u;
}
