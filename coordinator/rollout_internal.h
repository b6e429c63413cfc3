/* SPDX-License-Identifier: MIT */
/*
 * Shared between rollout.c (the decisions) and rollout_run.c (the loop's
 * handles: timers, signals, the gate's control file, progress and the
 * summary). Not for other modules.
 */
#ifndef ETX_COORDINATOR_ROLLOUT_INTERNAL_H
#define ETX_COORDINATOR_ROLLOUT_INTERNAL_H

#include <stdbool.h>

#include "coordinator/hostrun.h"
#include "coordinator/rollout.h"

enum rollout_phase {
    PH_BATCH = 0, /* hosts of r->batch are driven */
    PH_BAKE,      /* the batch is healthy; its bake time and checks run */
    PH_GATE,      /* waiting for `etxroll continue` or `abort` */
    PH_PAUSE,     /* the pause between two batches */
    PH_ROLLBACK,  /* putting hosts back, batch r->rb_batch */
    PH_END,       /* over: handles closing */
};

struct etx_rollout {
    const struct etx_rollout_opts *o;
    struct etx_hostrun_env env;
    struct etx_hostrun **hosts; /* rollout order (bp->order) */
    size_t n;
    size_t batch; /* the current batch, from 0 */
    long rb_batch;
    unsigned failures;
    bool halted, aborted;
    bool starting;  /* hosts are being started or halted in a loop */
    bool bake_over; /* the bake's timer fired (checks may still run) */
    enum rollout_phase phase;
    enum etx_rollout_result result;
    FILE *summary;
    uv_timer_t timer; /* bake, pause, gate polls */
    uv_timer_t tick;  /* the progress line on a terminal */
    uv_signal_t sigint, sigterm;
    uv_signal_t sigpipe; /* caught: a lost agent is EPIPE, not death */
    uint64_t started_ms;
};

/* Start the timers and signal watchers. */
void etx_rollout__handles_start(struct etx_rollout *r);

/* Close every handle and every host (async); the loop then ends. */
void etx_rollout__stop(struct etx_rollout *r);

/* Free r after the loop ended (hosts free themselves). */
void etx_rollout__free(struct etx_rollout *r);

void etx_rollout__timer_cb(uv_timer_t *t);
void etx_rollout__timer_fired(struct etx_rollout *r);

/* Read the gate's control file; answer when it says something. */
void etx_rollout__gate_poll(struct etx_rollout *r);
void etx_rollout__gate_answer(struct etx_rollout *r, bool go_on);

void etx_rollout__halt(struct etx_rollout *r, const char *reason);

/* The table of hosts: name, batch, state, attempts, last error. */
void etx_rollout__summary(const struct etx_rollout *r, FILE *out);

#endif /* ETX_COORDINATOR_ROLLOUT_INTERNAL_H */
