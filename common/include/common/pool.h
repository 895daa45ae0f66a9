/*
 * A bounded pool of connections (or any items) handed out in arrival order. Private to
 * tokensmith.
 *
 * Why not a mutex and one condition variable: a releasing thread signals one waiter, but any
 * thread that arrives before that waiter runs takes the connection first, so under load a few
 * requests wait many turns while others wait none: the tail latency of the whole service. Here a
 * released connection (or a freed slot) goes straight to the thread that has waited longest, and
 * a thread that arrives while others wait queues behind them.
 *
 * The pool holds opaque items; it never opens or closes them. ts_common__pool_take() either
 * hands over an idle item or gives the caller a slot: the right to open one more item, which it
 * then either gives back with ts_common__pool_give() like any item, or, when opening failed,
 * returns with ts_common__pool_slot_free(). An item found unusable is closed by its holder, who
 * then calls ts_common__pool_slot_free() (or keeps the slot and opens a replacement).
 *
 * Thread-safety: every call may come from any thread, except init and destroy.
 */
#ifndef TS_COMMON_POOL_H
#define TS_COMMON_POOL_H

#include <pthread.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ts_common__pool_waiter ts_common__pool_waiter;

typedef struct ts_common__pool {
    pthread_mutex_t mu;
    void **idle; /* capacity max */
    size_t n_idle;
    size_t n_open; /* idle + handed out + slots being opened */
    size_t max;
    ts_common__pool_waiter *head, *tail; /* threads waiting, oldest first */
} ts_common__pool;

/** Prepare @p p for at most @p max items (max >= 1). Returns false when out of memory. */
bool ts_common__pool_init(ts_common__pool *p, size_t max);

/** Close every idle item with @p close_item (may be NULL) and free the pool's memory. No item
 *  may be handed out and no thread may be waiting. */
void ts_common__pool_destroy(ts_common__pool *p, void (*close_item)(void *));

/** Wait for an idle item or a free slot, in arrival order. Returns the item, or NULL for a
 *  slot: the caller must open an item, then give it back or free the slot. */
void *ts_common__pool_take(ts_common__pool *p);

/** Give back @p item (taken, or opened in a slot): to the longest-waiting thread, else idle. */
void ts_common__pool_give(ts_common__pool *p, void *item);

/** Give up a slot (an item that failed to open, or one closed as unusable): to the
 *  longest-waiting thread, which then opens an item in it. */
void ts_common__pool_slot_free(ts_common__pool *p);

#endif
