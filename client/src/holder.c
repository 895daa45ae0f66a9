/* The published token and a read side that takes no lock: the cache hit of
 * ts_client_token_get(). A reader announces itself in a counter of its own (one stripe per
 * thread, on its own cache line, in the epoch's parity), loads the pointer, copies the token
 * and leaves. A writer swaps the pointer, then waits twice for readers to drain: once for the
 * parity that was current, once for the other, flipping the epoch before each wait so that
 * new readers count into the parity not being waited for. A reader that loaded the old
 * pointer counted itself in before the swap (both are sequentially consistent), so one of the
 * two waits sees it; after both, the old token has no reader and is wiped and freed.
 * Readers thus write only their own line: the hit scales with threads instead of bouncing one
 * reference count between cores, and ThreadSanitizer sees every access ordered. */
#define _POSIX_C_SOURCE 200809L
#include "client_internal.h"

#include <sched.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "common/mem.h"

/* Threads take stripes in turn, so that up to TS_CLIENT__STRIPES threads never share one. A
 * process-wide hint, not state: any stripe is correct, distinct ones are only faster. */
static atomic_uint next_stripe;
static _Thread_local unsigned my_stripe; /* stripe + 1; 0: not yet chosen */

static unsigned stripe_of_thread(void)
{
    if (!my_stripe)
        my_stripe =
            atomic_fetch_add_explicit(&next_stripe, 1, memory_order_relaxed) % TS_CLIENT__STRIPES +
            1;
    return my_stripe - 1;
}

void ts_client__holder_init(ts_client__holder *h)
{
    atomic_init(&h->cur, NULL);
    atomic_init(&h->epoch, 0);
    for (unsigned p = 0; p < 2; p++)
        for (unsigned s = 0; s < TS_CLIENT__STRIPES; s++)
            atomic_init(&h->readers[p][s].n, 0);
}

void ts_client__holder_cleanup(ts_client__holder *h)
{
    ts_client__snap_free(atomic_exchange(&h->cur, NULL));
}

const ts_client__snap *ts_client__read_begin(ts_client__holder *h, ts_client__guard *g)
{
    g->stripe = stripe_of_thread();
    g->parity = atomic_load(&h->epoch) & 1u;
    atomic_fetch_add(&h->readers[g->parity][g->stripe].n, 1);
    return atomic_load(&h->cur);
}

void ts_client__read_end(ts_client__holder *h, const ts_client__guard *g)
{
    atomic_fetch_sub_explicit(&h->readers[g->parity][g->stripe].n, 1, memory_order_release);
}

/* Wait until no reader counts in @p parity. Readers stay for one copy of a token, so this is
 * short; it yields, then sleeps, rather than burn a core a descheduled reader needs. */
static void drain(ts_client__holder *h, unsigned parity)
{
    for (unsigned s = 0; s < TS_CLIENT__STRIPES; s++) {
        unsigned spins = 0;
        while (atomic_load_explicit(&h->readers[parity][s].n, memory_order_acquire) != 0) {
            if (++spins < 64) {
                sched_yield();
            } else {
                struct timespec d = {0, 50 * 1000};
                nanosleep(&d, NULL);
            }
        }
    }
}

void ts_client__publish(ts_client__holder *h, ts_client__snap *s)
{
    ts_client__snap *old = atomic_exchange(&h->cur, s);
    if (!old)
        return;
    for (int round = 0; round < 2; round++) {
        unsigned e = atomic_fetch_add(&h->epoch, 1);
        drain(h, e & 1u);
    }
    ts_client__snap_free(old);
}

ts_client__snap *ts_client__snap_new(const char *token, size_t len)
{
    ts_client__snap *s = calloc(1, sizeof *s + len + 1);
    if (!s)
        return NULL;
    memcpy(s->token, token, len);
    s->token[len] = '\0';
    s->len = len;
    return s;
}

void ts_client__snap_free(ts_client__snap *s)
{
    if (!s)
        return;
    ts_common__memzero(s->token, s->len);
    free(s);
}
