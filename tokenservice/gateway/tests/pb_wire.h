/* A protobuf wire writer for the gateway's tests, written from the encoding spec
 * (varints, length-delimited fields) and so independent of protobuf-c's packer: bytes built
 * with it check our field numbers and wire types, not protobuf-c against itself. */
#ifndef TS_GATEWAY_TEST_PB_WIRE_H
#define TS_GATEWAY_TEST_PB_WIRE_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

typedef struct wbuf {
    uint8_t b[32768]; /* a CheckRequest past the decoder's 64 KiB floor at 8 times its size */
    size_t n;
} wbuf;

static inline void put_varint(wbuf *w, uint64_t v)
{
    if (w->n + 10 > sizeof w->b)
        abort();
    do {
        uint8_t c = (uint8_t)(v & 0x7f);
        v >>= 7;
        w->b[w->n++] = (uint8_t)(c | (v ? 0x80 : 0));
    } while (v);
}

static inline void put_bytes(wbuf *w, unsigned field, const void *p, size_t n)
{
    put_varint(w, (uint64_t)field << 3 | 2);
    put_varint(w, n);
    if (w->n + n > sizeof w->b)
        abort();
    memcpy(w->b + w->n, p, n);
    w->n += n;
}

static inline void put_str(wbuf *w, unsigned field, const char *s)
{
    put_bytes(w, field, s, strlen(s));
}

static inline void put_msg(wbuf *w, unsigned field, const wbuf *m)
{
    put_bytes(w, field, m->b, m->n);
}

static inline void put_uint(wbuf *w, unsigned field, uint64_t v)
{
    put_varint(w, (uint64_t)field << 3);
    put_varint(w, v);
}

static inline void put_pair(wbuf *w, unsigned field, const char *k, const char *v)
{
    wbuf e = {.n = 0};
    put_str(&e, 1, k);
    put_str(&e, 2, v);
    put_msg(w, field, &e);
}

/* CheckRequest{attributes{source{address{socket_address{address, port}}}, request{http}}},
 * with @p http already encoded and @p ac_extra appended to AttributeContext. */
static inline void wrap_http(wbuf *out, const wbuf *http, const wbuf *ac_extra)
{
    wbuf sa = {.n = 0}, addr = {.n = 0}, peer = {.n = 0}, req = {.n = 0}, ac = {.n = 0};
    put_str(&sa, 2, "10.0.0.1");
    put_uint(&sa, 3, 443);
    put_msg(&addr, 1, &sa);
    put_msg(&peer, 1, &addr);
    put_msg(&ac, 1, &peer);
    put_msg(&req, 2, http);
    put_msg(&ac, 4, &req);
    if (ac_extra) {
        memcpy(ac.b + ac.n, ac_extra->b, ac_extra->n);
        ac.n += ac_extra->n;
    }
    out->n = 0;
    put_msg(out, 1, &ac);
}

#endif
