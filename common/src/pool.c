/* A bounded pool handed out in arrival order (common/pool.h). */
#include "common/pool.h"

#include <stdlib.h>

/* A waiting thread, on its own stack: whoever serves it fills in what it gets, dequeues it and
 * wakes it through its own condition variable, so that exactly that thread wakes. */
struct ts_common__pool_waiter {
    pthread_cond_t cv;
    bool served;
    void *item; /* NULL with served: a slot */
    ts_common__pool_waiter *next;
};

bool ts_common__pool_init(ts_common__pool *p, size_t max)
{
    *p = (ts_common__pool){.max = max ? max : 1};
    p->idle = calloc(p->max, sizeof *p->idle);
    if (!p->idle)
        return false;
    pthread_mutex_init(&p->mu, NULL);
    return true;
}

void ts_common__pool_destroy(ts_common__pool *p, void (*close_item)(void *))
{
    if (!p->idle)
        return;
    for (size_t i = 0; i < p->n_idle; i++)
        if (close_item)
            close_item(p->idle[i]);
    free(p->idle);
    p->idle = NULL;
    pthread_mutex_destroy(&p->mu);
}

/* Hand @p item (NULL: a slot) to the oldest waiter; false when nobody waits. Under p->mu. */
static bool serve_oldest(ts_common__pool *p, void *item)
{
    ts_common__pool_waiter *w = p->head;
    if (!w)
        return false;
    p->head = w->next;
    if (!p->head)
        p->tail = NULL;
    w->item = item;
    w->served = true;
    pthread_cond_signal(&w->cv);
    return true;
}

void *ts_common__pool_take(ts_common__pool *p)
{
    pthread_mutex_lock(&p->mu);
    /* While anyone waits, nothing is idle and every slot is taken (each give and each freed
     * slot goes to a waiter first), so a newcomer queues: it cannot overtake. */
    if (!p->head) {
        if (p->n_idle > 0) {
            void *item = p->idle[--p->n_idle];
            pthread_mutex_unlock(&p->mu);
            return item;
        }
        if (p->n_open < p->max) {
            p->n_open++;
            pthread_mutex_unlock(&p->mu);
            return NULL;
        }
    }
    ts_common__pool_waiter w = {.served = false};
    pthread_cond_init(&w.cv, NULL);
    if (p->tail)
        p->tail->next = &w;
    else
        p->head = &w;
    p->tail = &w;
    while (!w.served)
        pthread_cond_wait(&w.cv, &p->mu);
    pthread_mutex_unlock(&p->mu);
    pthread_cond_destroy(&w.cv);
    return w.item;
}

void ts_common__pool_give(ts_common__pool *p, void *item)
{
    pthread_mutex_lock(&p->mu);
    if (!serve_oldest(p, item))
        p->idle[p->n_idle++] = item;
    pthread_mutex_unlock(&p->mu);
}

void ts_common__pool_slot_free(ts_common__pool *p)
{
    pthread_mutex_lock(&p->mu);
    if (!serve_oldest(p, NULL)) /* a waiter keeps the slot: n_open is unchanged */
        p->n_open--;
    pthread_mutex_unlock(&p->mu);
}
