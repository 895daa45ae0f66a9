/* The graph's fields, shared by rt_graph.c (its life) and rt_sched.c (its refresh thread).
 * Private to the agent library. */
#ifndef TS_AGENT_RT_GRAPH_H
#define TS_AGENT_RT_GRAPH_H

#include "rt_internal.h"

struct ts_agent__graph {
    const ts_agent_config *cfg; /* borrowed; outlives the graph */
    ts_agent__log *log;
    ts_agent__graph_hooks hooks;
    ts_agent__slot *slots;            /* per source */
    size_t n_slots;                   /* slots initialised */
    ts_agent__client **clients;       /* per source: oauth2 and tokensmith, else NULL */
    ts_agent__sink_stats *sink_stats; /* per sink */
    ts_agent__uds **uds;              /* per sink: uds, else NULL */
    /* The refresh thread's own: when each source is due (Unix ms) and its random state. */
    int64_t *due_ms;
    uint64_t rng;
    pthread_t thread;
    bool started;
    pthread_mutex_t mu; /* stop_req, kick, and the wait */
    pthread_cond_t cv;
    bool stop_req, kick;
    atomic_bool stop; /* ends an http fetch in flight */
    atomic_int_fast64_t heartbeat_ms;
};

/** The refresh thread marks its progress (monotonic ms), or that it is waiting. */
void ts_agent__graph_beat(ts_agent__graph *g, bool waiting);

#endif
