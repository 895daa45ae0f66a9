/* common/pool.h: connections are handed out in arrival order (a thread arriving while others
   wait cannot take a released connection first), slots are bounded and handed over, and many
   threads taking turns on a small pool never exceed it. */
#include <pthread.h>
#include <sched.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>

#include "common/pool.h"

typedef struct taker {
    ts_common__pool *pool;
    void *got;         /* what take() returned */
    atomic_int done;   /* take() returned */
    atomic_int *order; /* shared counter of returns */
    int rank;          /* this taker's place among the returns */
} taker;

static void *take_thread(void *arg)
{
    taker *t = arg;
    t->got = ts_common__pool_take(t->pool);
    t->rank = atomic_fetch_add(t->order, 1);
    atomic_store(&t->done, 1);
    return NULL;
}

/* Wait until at least @p n (1 or 2) threads are queued in @p p. */
static void wait_queued(ts_common__pool *p, int n)
{
    for (;;) {
        pthread_mutex_lock(&p->mu);
        /* The waiter layout is private: head and tail tell none, one, or more. */
        int q = p->head == NULL ? 0 : (p->head == p->tail ? 1 : 2);
        pthread_mutex_unlock(&p->mu);
        if (q >= n)
            return;
        sched_yield();
    }
}

static void start(pthread_t *th, taker *t, ts_common__pool *p, atomic_int *order)
{
    t->pool = p;
    t->got = NULL;
    atomic_store(&t->done, 0);
    t->order = order;
    assert_int_equal(pthread_create(th, NULL, take_thread, t), 0);
}

static void test_slots_then_idle(void **state)
{
    (void)state;
    ts_common__pool p;
    assert_true(ts_common__pool_init(&p, 2));
    int a = 1, b = 2;
    /* An empty pool gives slots, up to its size. */
    assert_null(ts_common__pool_take(&p));
    assert_null(ts_common__pool_take(&p));
    assert_int_equal(p.n_open, 2);
    ts_common__pool_give(&p, &a);
    ts_common__pool_give(&p, &b);
    /* Then idle items, and no new slot while any is idle. */
    void *x = ts_common__pool_take(&p);
    void *y = ts_common__pool_take(&p);
    assert_true((x == &a && y == &b) || (x == &b && y == &a));
    /* A failed open gives its slot back: the next take gets a slot again. */
    ts_common__pool_slot_free(&p);
    assert_int_equal(p.n_open, 1);
    assert_null(ts_common__pool_take(&p));
    ts_common__pool_give(&p, x);
    ts_common__pool_give(&p, &b);
    ts_common__pool_destroy(&p, NULL);
}

static void test_arrival_order(void **state)
{
    (void)state;
    ts_common__pool p;
    assert_true(ts_common__pool_init(&p, 1));
    int item = 7;
    assert_null(ts_common__pool_take(&p)); /* the only slot */
    atomic_int order = 0;
    taker first, second;
    pthread_t t1, t2;
    start(&t1, &first, &p, &order);
    wait_queued(&p, 1);
    start(&t2, &second, &p, &order);
    wait_queued(&p, 2);
    /* Released while two wait: the first waiter gets it. */
    ts_common__pool_give(&p, &item);
    pthread_join(t1, NULL);
    assert_ptr_equal(first.got, &item);
    assert_int_equal(atomic_load(&second.done), 0);
    /* A taker arriving now queues behind the second (under a plain mutex and condition
       variable it could take the next released item first). */
    taker late;
    pthread_t t3;
    start(&t3, &late, &p, &order);
    wait_queued(&p, 2);
    ts_common__pool_give(&p, first.got);
    pthread_join(t2, NULL);
    assert_ptr_equal(second.got, &item);
    assert_int_equal(atomic_load(&late.done), 0);
    /* A freed slot goes to the waiter too, as a slot (NULL), without growing the pool. */
    ts_common__pool_slot_free(&p);
    pthread_join(t3, NULL);
    assert_null(late.got);
    assert_int_equal(p.n_open, 1);
    assert_true(first.rank < second.rank && second.rank < late.rank);
    ts_common__pool_give(&p, &item);
    ts_common__pool_destroy(&p, NULL);
}

/* Threads taking turns on 3 items: never more than 3 handed out at once. */
typedef struct churn {
    ts_common__pool *pool;
    atomic_int *out, *peak;
    int items[3];
    atomic_int opened;
} churn;

static void *churn_thread(void *arg)
{
    churn *c = arg;
    for (int i = 0; i < 2000; i++) {
        int *it = ts_common__pool_take(c->pool);
        if (!it) /* a slot: "open" the next of the three items */
            it = &c->items[atomic_fetch_add(&c->opened, 1)];
        int now = atomic_fetch_add(c->out, 1) + 1;
        int pk = atomic_load(c->peak);
        while (now > pk && !atomic_compare_exchange_weak(c->peak, &pk, now)) {
        }
        atomic_fetch_sub(c->out, 1);
        ts_common__pool_give(c->pool, it);
    }
    return NULL;
}

static void test_bounded_under_churn(void **state)
{
    (void)state;
    ts_common__pool p;
    assert_true(ts_common__pool_init(&p, 3));
    atomic_int out = 0, peak = 0;
    churn c = {.pool = &p, .out = &out, .peak = &peak};
    atomic_store(&c.opened, 0);
    pthread_t th[8];
    for (int i = 0; i < 8; i++)
        assert_int_equal(pthread_create(&th[i], NULL, churn_thread, &c), 0);
    for (int i = 0; i < 8; i++)
        pthread_join(th[i], NULL);
    assert_true(atomic_load(&peak) >= 1 && atomic_load(&peak) <= 3);
    assert_true(atomic_load(&c.opened) <= 3);
    assert_int_equal(p.n_open, (size_t)atomic_load(&c.opened));
    assert_int_equal(p.n_idle, p.n_open);
    assert_null(p.head);
    ts_common__pool_destroy(&p, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_slots_then_idle),
        cmocka_unit_test(test_arrival_order),
        cmocka_unit_test(test_bounded_under_churn),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
