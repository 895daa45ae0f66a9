/* Client addresses for the per-address limit: what counts as "one client" and how many
 * connections each has open.
 *
 * One client is an IPv4 address, or an IPv6 prefix (a /64 by default): an IPv6 host is given a
 * whole /64 and can pick any of its 2^64 addresses for each connection, so counting single IPv6
 * addresses would give it no limit at all. IPv4-mapped IPv6 addresses (::ffff:a.b.c.d, from a
 * dual-stack socket) count as the IPv4 address they are. Unix-socket peers have no address and
 * count as one client.
 *
 * The counts live in an open-addressed table whose hash is keyed with a random seed per table,
 * so that a client holding many prefixes cannot pick ones that collide into a long probe run. */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/un.h>
#include <time.h>

#include "common/hash.h"
#include "mhd_internal.h"

struct ts_mhd__addr_slot {
    ts_mhd__addr_key key;
    unsigned count; /* 0: free slot */
};

void ts_mhd__addr_key_of(const struct sockaddr *sa, socklen_t len, unsigned v6_prefix,
                         ts_mhd__addr_key *out)
{
    memset(out, 0, sizeof *out);
    if (!sa || len < (socklen_t)sizeof(sa_family_t)) {
        out->family = TS_MHD__FAM_OTHER;
        return;
    }
    if (sa->sa_family == AF_INET && len >= (socklen_t)sizeof(struct sockaddr_in)) {
        const struct sockaddr_in *in = (const struct sockaddr_in *)(const void *)sa;
        out->family = TS_MHD__FAM_V4;
        memcpy(out->bytes, &in->sin_addr, 4);
        return;
    }
    if (sa->sa_family == AF_INET6 && len >= (socklen_t)sizeof(struct sockaddr_in6)) {
        const struct sockaddr_in6 *in6 = (const struct sockaddr_in6 *)(const void *)sa;
        const uint8_t *b = in6->sin6_addr.s6_addr;
        static const uint8_t mapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
        if (memcmp(b, mapped, sizeof mapped) == 0) {
            out->family = TS_MHD__FAM_V4;
            memcpy(out->bytes, b + 12, 4);
            return;
        }
        out->family = TS_MHD__FAM_V6;
        unsigned full = v6_prefix / 8, rest = v6_prefix % 8;
        memcpy(out->bytes, b, full);
        if (rest && full < 16)
            out->bytes[full] = (uint8_t)(b[full] & (0xffu << (8 - rest)));
        return;
    }
    out->family = sa->sa_family == AF_UNIX ? TS_MHD__FAM_UNIX : TS_MHD__FAM_OTHER;
}

void ts_mhd__addr_key_str(const ts_mhd__addr_key *k, unsigned v6_prefix, char *out, size_t cap)
{
    char buf[INET6_ADDRSTRLEN + 8] = "other";
    if (k->family == TS_MHD__FAM_V4) {
        inet_ntop(AF_INET, k->bytes, buf, sizeof buf);
    } else if (k->family == TS_MHD__FAM_V6) {
        char a[INET6_ADDRSTRLEN] = "";
        inet_ntop(AF_INET6, k->bytes, a, sizeof a);
        snprintf(buf, sizeof buf, "%s/%u", a, v6_prefix);
    } else if (k->family == TS_MHD__FAM_UNIX) {
        snprintf(buf, sizeof buf, "unix");
    }
    snprintf(out, cap, "%s", buf);
}

static size_t slot_of(const ts_mhd__addr_table *t, const ts_mhd__addr_key *k)
{
    uint64_t a, b;
    memcpy(&a, k->bytes, 8);
    memcpy(&b, k->bytes + 8, 8);
    uint64_t h = ts_common__mix64(a ^ t->seed[0]) ^
                 ts_common__mix64(b ^ t->seed[1] ^ ((uint64_t)k->family << 56));
    return (size_t)(ts_common__mix64(h) & (t->cap - 1));
}

static bool same(const ts_mhd__addr_key *x, const ts_mhd__addr_key *y)
{
    return x->family == y->family && memcmp(x->bytes, y->bytes, sizeof x->bytes) == 0;
}

bool ts_mhd__addr_table_init(ts_mhd__addr_table *t, size_t expect)
{
    memset(t, 0, sizeof *t);
    size_t cap = 64;
    while (cap < 2 * expect && cap < ((size_t)1 << 24))
        cap *= 2;
    t->slots = calloc(cap, sizeof *t->slots);
    if (!t->slots)
        return false;
    t->cap = cap;
    if (getrandom(t->seed, sizeof t->seed, GRND_NONBLOCK) != (ssize_t)sizeof t->seed) {
        /* No entropy yet (early boot): a clock-based seed still differs per process. */
        struct timespec ts;
        clock_gettime(CLOCK_MONOTONIC, &ts);
        t->seed[0] = ts_common__mix64((uint64_t)ts.tv_nsec ^ (uint64_t)(uintptr_t)t);
        t->seed[1] = ts_common__mix64((uint64_t)ts.tv_sec ^ t->seed[0]);
    }
    return true;
}

void ts_mhd__addr_table_cleanup(ts_mhd__addr_table *t)
{
    free(t->slots);
    memset(t, 0, sizeof *t);
}

unsigned ts_mhd__addr_table_get(const ts_mhd__addr_table *t, const ts_mhd__addr_key *k)
{
    for (size_t i = slot_of(t, k);; i = (i + 1) & (t->cap - 1)) {
        if (t->slots[i].count == 0)
            return 0;
        if (same(&t->slots[i].key, k))
            return t->slots[i].count;
    }
}

static bool grow(ts_mhd__addr_table *t)
{
    ts_mhd__addr_table bigger = *t;
    bigger.cap = t->cap * 2;
    bigger.slots = calloc(bigger.cap, sizeof *bigger.slots);
    if (!bigger.slots)
        return false;
    for (size_t i = 0; i < t->cap; i++) {
        if (!t->slots[i].count)
            continue;
        size_t j = slot_of(&bigger, &t->slots[i].key);
        while (bigger.slots[j].count)
            j = (j + 1) & (bigger.cap - 1);
        bigger.slots[j] = t->slots[i];
    }
    free(t->slots);
    *t = bigger;
    return true;
}

bool ts_mhd__addr_table_inc(ts_mhd__addr_table *t, const ts_mhd__addr_key *k)
{
    /* Keep the load at or under one half, so that probe runs stay short. */
    if (2 * (t->used + 1) > t->cap && !grow(t))
        return false;
    size_t i = slot_of(t, k);
    while (t->slots[i].count && !same(&t->slots[i].key, k))
        i = (i + 1) & (t->cap - 1);
    if (t->slots[i].count == 0) {
        t->slots[i].key = *k;
        t->used++;
    }
    t->slots[i].count++;
    return true;
}

void ts_mhd__addr_table_dec(ts_mhd__addr_table *t, const ts_mhd__addr_key *k)
{
    size_t i = slot_of(t, k);
    while (t->slots[i].count && !same(&t->slots[i].key, k))
        i = (i + 1) & (t->cap - 1);
    if (t->slots[i].count == 0 || --t->slots[i].count > 0)
        return;
    /* Backward-shift deletion: move later members of the probe run into the hole, so that no
     * lookup stops early at it (no tombstones to accumulate under connection churn). */
    t->used--;
    size_t hole = i;
    for (size_t j = (i + 1) & (t->cap - 1); t->slots[j].count; j = (j + 1) & (t->cap - 1)) {
        size_t home = slot_of(t, &t->slots[j].key);
        /* j may move to the hole unless its home lies cyclically in (hole, j]. */
        bool stays = hole <= j ? (hole < home && home <= j) : (hole < home || home <= j);
        if (stays)
            continue;
        t->slots[hole] = t->slots[j];
        t->slots[j].count = 0;
        hole = j;
    }
}
